// `state push`: make the remote mirror the local state dir. Only paths whose local signature or
// remote version changed since the manifest last saw them are sent; uploads stream through the
// encryptor concurrently; SQLite databases are sent as backup-API snapshots; remote objects
// with no local counterpart are deleted afterwards (unless disabled), and only when every
// upload succeeded. Objects whose names do not decrypt are never touched.
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { ClawkeepError } from "../errors.js";
import { listPlain, putPlain, removePlain, type StateContext } from "./crypt.js";
import { loadManifest, manifestSaver, stateDir } from "./manifest.js";
import { type Progress, runPool } from "./progress.js";
import { type LocalEntry, scanLocal } from "./scan.js";
import { snapshotSqlite } from "./sqlite.js";
import { chain, Counter, type Summary, transferError } from "./transfer.js";

export interface PushOptions {
  local: string;
  delete: boolean;
  transfers: number;
  progress: Progress;
}

export async function push(ctx: StateContext, o: PushOptions): Promise<Summary> {
  const t0 = Date.now();
  const st = await stat(o.local).catch(() => undefined);
  if (!st?.isDirectory()) throw new ClawkeepError("not_found", `local directory ${o.local} does not exist`);
  await ctx.remote.check({ create: true });
  const m = await loadManifest(o.local, ctx.remote.label, ctx.keyId);
  const local = await scanLocal(o.local, (p, sig) => (m.files[p]?.sig === sig ? m.files[p]?.kind : undefined));
  const { files: remote, undecryptable } = await listPlain(ctx);

  const todo: LocalEntry[] = [];
  let skipped = 0;
  for (const e of local.values()) {
    const r = remote.get(e.path);
    const known = m.files[e.path];
    if (known && r && known.sig === e.sig && known.version === r.obj.version) {
      skipped++;
    } else if (!known && r && e.kind !== "sqlite" && r.plainSize === e.size && r.obj.mtimeMs !== undefined && Math.abs(r.obj.mtimeMs - e.mtimeMs) < 1) {
      // Same size and mtime as an object we did not write (e.g. rclone did): adopt it.
      m.files[e.path] = { sig: e.sig, kind: e.kind, version: r.obj.version };
      skipped++;
    } else todo.push(e);
  }
  const gone = o.delete ? [...remote.values()].filter((r) => !local.has(r.path)) : [];

  const saver = manifestSaver(o.local, m);
  let bytes = 0;
  let changed = 0;
  await o.progress.start(todo.length, todo.reduce((a, e) => a + e.size, 0));
  try {
    await runPool(todo, o.transfers, async (e) => {
      try {
        const r = await uploadOne(ctx, o, e);
        bytes += r.bytes;
        if (r.version === undefined) changed++;
        else m.files[e.path] = { sig: e.sig, kind: e.kind, version: r.version };
        saver.touch();
        o.progress.file("uploaded", e.path, r.bytes);
      } catch (err) {
        throw transferError(err, e.path);
      }
    });
    await runPool(gone, o.transfers, async (r) => {
      await removePlain(ctx, r);
      delete m.files[r.path];
      o.progress.file("deleted", r.path, 0);
    });
  } finally {
    o.progress.stop();
    for (const p of Object.keys(m.files)) if (!local.has(p) && !remote.has(p)) delete m.files[p];
    await saver.flush();
  }
  return {
    direction: "push",
    remote: ctx.remote.label,
    files: local.size,
    transferred: todo.length - changed,
    deleted: gone.length,
    skipped,
    bytes,
    seconds: (Date.now() - t0) / 1000,
    undecryptable,
    changedDuringRead: changed,
  };
}

/** Upload one entry; `version` is undefined when the file changed while it was read. */
async function uploadOne(ctx: StateContext, o: PushOptions, e: LocalEntry): Promise<{ bytes: number; version: string | undefined }> {
  const count = new Counter((n) => o.progress.bytes(n));
  if (e.kind === "link") {
    const version = await putPlain(ctx, e.path, chain(Readable.from([Buffer.from(e.target ?? "")]), count), e.size, e.mtimeMs);
    return { bytes: count.count, version };
  }
  if (e.kind === "sqlite") {
    const tmpDir = path.join(stateDir(o.local), "snapshots");
    await mkdir(tmpDir, { recursive: true });
    const snap = path.join(tmpDir, `${randomBytes(8).toString("hex")}.db`);
    try {
      await snapshotSqlite(e.abs, snap);
      const size = (await stat(snap)).size;
      const version = await putPlain(ctx, e.path, chain(createReadStream(snap, { highWaterMark: 1 << 20 }), count), size, e.mtimeMs);
      return { bytes: count.count, version };
    } finally {
      await rm(snap, { force: true });
    }
  }
  // Read through one descriptor and only the size we scanned, then check the file did not
  // change meanwhile; if it did, the object is still a whole file, but we send it again later.
  const fh = await open(e.abs, "r");
  const body = e.size === 0 ? Readable.from([]) : fh.createReadStream({ start: 0, end: e.size - 1, highWaterMark: 1 << 20, autoClose: false });
  try {
    const version = await putPlain(ctx, e.path, chain(body, count), e.size, e.mtimeMs);
    const after = await lstat(e.abs).catch(() => undefined);
    const same = count.count === e.size && after !== undefined && after.size === e.size && after.mtimeMs === e.mtimeMs;
    return { bytes: count.count, version: same ? version : undefined };
  } finally {
    await fh.close();
  }
}
