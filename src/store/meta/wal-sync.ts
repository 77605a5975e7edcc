import { open, type FileHandle } from "node:fs/promises";

// Durability for SQLite without blocking the event loop. The connection runs WAL with
// synchronous=NORMAL, so a commit writes its frames to the WAL without fsync; before a write is
// acknowledged, `sync()` fdatasyncs the WAL file from libuv's thread pool. That is the same
// guarantee synchronous=FULL gives (WAL synced after each commit), but one sync covers every
// commit made before it started, and the main thread keeps serving while the disk works.
// (fsync on any descriptor of a file flushes the file's dirty pages, whichever descriptor wrote
// them; SQLite syncs the WAL itself before each checkpoint, so checkpoints lose nothing.)
export interface WalSync {
  (): Promise<void>;
  /** Waits for syncs under way and closes the WAL descriptor. */
  close(): Promise<void>;
}

export function createWalSync(walPath: string): WalSync {
  let fh: FileHandle | undefined;
  let inflight: Promise<void> | undefined;
  let queued: Promise<void> | undefined;

  const run = (): Promise<void> => {
    const p = (async () => {
      fh ??= await open(walPath, "r");
      await fh.datasync();
    })().finally(() => {
      if (inflight === p) inflight = undefined;
    });
    inflight = p;
    return p;
  };

  const sync = (() => {
    // A sync already under way may have started before the caller's commit, so it cannot be
    // trusted to cover it: callers share the next one instead.
    if (queued) return queued;
    if (!inflight) return run();
    const q: Promise<void> = inflight
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return run();
      });
    queued = q;
    return q;
  }) as WalSync;
  sync.close = async () => {
    await Promise.allSettled([queued, inflight]);
    const h = fh;
    fh = undefined;
    await h?.close();
  };
  return sync;
}
