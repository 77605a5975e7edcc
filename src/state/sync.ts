// `state sync` and the fallback of `state up`: restore when the local dir is empty, then push
// after `writeBackMs` without file events (rclone's --vfs-write-back), and a full pass every
// `intervalMs` whatever happens (so a constantly busy SQLite writer is still saved at least
// that often). Passes never overlap; a trigger during a pass schedules one more. flush() stops
// the timers and runs a last pass: that is what SIGTERM does.
import { type FSWatcher, watch } from "node:fs";
import type { ClawkeepError } from "../errors.js";
import type { StateContext } from "./crypt.js";
import { createProgress } from "./progress.js";
import { pull } from "./pull.js";
import { push } from "./push.js";
import { isEmptyDir, STATE_DIR } from "./scan.js";
import type { Summary } from "./transfer.js";

export interface SyncOptions {
  local: string;
  delete: boolean;
  transfers: number;
  writeBackMs: number;
  intervalMs: number;
  log: (line: string) => void;
  /**
   * Push nothing until release(): `up` with a readiness probe holds every push (the catch-up
   * pass included) until the command is ready, so a gateway that fails to start leaves the
   * remote exactly as it was.
   */
  hold?: boolean;
  /** Top-level directories not synced (see scanLocal). */
  exclude?: readonly string[];
}

const VERIFY_EVERY = 10;

export class SyncLoop {
  #watcher: FSWatcher | undefined;
  #idle: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #passes = 0;
  #held: boolean;
  lastError: unknown;

  constructor(
    private readonly ctx: StateContext,
    private readonly o: SyncOptions,
  ) {
    this.#held = o.hold === true;
  }

  /** True while pushes are held (see SyncOptions.hold). */
  get held(): boolean {
    return this.#held;
  }

  /** Ends the hold and runs the pass that was held back. */
  release(): Promise<void> {
    if (!this.#held) return Promise.resolve();
    this.#held = false;
    return this.trigger();
  }

  /** Restore if empty (else push what changed while we were down), then start watching. */
  async start(): Promise<Summary | undefined> {
    let restored: Summary | undefined;
    if (await isEmptyDir(this.o.local)) {
      try {
        restored = await pull(this.ctx, { ...this.#opts(), delete: false });
        this.o.log(`restored ${restored.transferred} files (${restored.bytes} bytes) from ${this.ctx.remote.label}`);
      } catch (e) {
        // A file:// remote that does not exist yet is a first boot, not a failure (a missing
        // bucket is still an error: buckets are never created for you).
        if ((e as ClawkeepError).code !== "not_found") throw e;
        this.o.log(`nothing to restore: ${this.ctx.remote.label} does not exist yet`);
      }
    } else if (!this.#held) await this.#pass(true); // else release() pushes
    this.#watcher = watch(this.o.local, { recursive: true }, (_ev, name) => {
      const n = String(name ?? "");
      if (n === STATE_DIR || n.startsWith(`${STATE_DIR}/`) || n.endsWith("-shm")) return;
      if (this.o.exclude?.some((x) => n === x || n.startsWith(`${x}/`))) return;
      clearTimeout(this.#idle);
      this.#idle = setTimeout(() => this.trigger(), this.o.writeBackMs);
    });
    this.#watcher.on("error", (e) => this.o.log(`watch error: ${e.message}; relying on the periodic pass`));
    this.#interval = setInterval(() => this.trigger(), this.o.intervalMs);
    return restored;
  }

  #opts() {
    return { local: this.o.local, delete: this.o.delete, transfers: this.o.transfers, progress: createProgress("quiet"), exclude: this.o.exclude };
  }

  async #pass(verifyRemote = false): Promise<void> {
    try {
      // Every VERIFY_EVERY-th pass stats every object of a directory remote instead of trusting
      // the manifest for unchanged files, so an object replaced or damaged behind our back is
      // sent again within that many passes (docs/state.md).
      const verify = verifyRemote || ++this.#passes % VERIFY_EVERY === 0;
      const s = await push(this.ctx, { ...this.#opts(), verifyRemote: verify });
      this.lastError = undefined;
      if (s.transferred || s.deleted) this.o.log(`pushed ${s.transferred} files (${s.bytes} bytes), deleted ${s.deleted}, in ${s.seconds.toFixed(2)} s`);
    } catch (e) {
      // Keep running: the next pass retries. The error is reported, without secrets.
      this.lastError = e;
      this.o.log(`push failed: ${(e as Error).message}`);
    }
  }

  /** Run a pass now, or right after the current one. */
  trigger(): Promise<void> {
    if (this.#stopped && this.#running === undefined) return Promise.resolve();
    if (this.#held) return Promise.resolve(); // release() runs a full pass
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#pass();
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /**
   * Stop watching, wait for a running pass, then one final pass. Throws if that fails. While
   * held, nothing is pushed: local changes stay local, for the next boot to push.
   */
  async flush(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    clearTimeout(this.#idle);
    clearInterval(this.#interval);
    await this.#running;
    if (this.#held) return;
    await this.#pass();
    if (this.lastError) throw this.lastError;
  }
}
