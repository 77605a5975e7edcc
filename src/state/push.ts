// `state push`: make the remote mirror the local state dir. Only paths whose local signature or
// remote version changed since the manifest last saw them are sent; uploads stream through the
// encryptor concurrently; SQLite databases are sent as backup-API snapshots; remote objects
// with no local counterpart are deleted afterwards (unless disabled), and only when every
// upload succeeded. Objects whose names do not decrypt are never touched.
import { randomBytes } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { mkdir, open, rm, stat } from "node:fs/promises";
import path from "node:path";
import { ClawkeepError } from "../errors.js";
import { type CryptKeys, listRemote, objectName, plainEmptyDirs, plainListing, putEncrypted, putSmall, removePlain, type StateContext } from "./crypt.js";
import { EncryptedFileReader } from "./file-reader.js";
import { loadManifest, type Manifest, type ManifestEntry, manifestSaver, stateDir, trustManifest } from "./manifest.js";
import { type Progress, runPool } from "./progress.js";
import { type Kind, type LocalDirs, type LocalEntry, notSqlite, scanLocal, SQLITE_QUIET_SIG } from "./scan.js";
import { isSqliteHeader, snapshotSqlite } from "./sqlite.js";
import { type Summary, transferError } from "./transfer.js";

export interface PushOptions {
  local: string;
  delete: boolean;
  transfers: number;
  progress: Progress;
  /** Stat every object of a directory remote, even those the manifest vouches for. */
  verifyRemote?: boolean;
  /** Top-level directories not synced (see scanLocal). */
  exclude?: readonly string[];
}

/** Files up to this size are read, encrypted and stored in one piece, without streams. */
const SMALL_FILE = 1 << 20;

export async function push(ctx: StateContext, o: PushOptions): Promise<Summary> {
  const t0 = Date.now();
  const st = await stat(o.local).catch(() => undefined);
  if (!st?.isDirectory()) throw new ClawkeepError("not_found", `local directory ${o.local} does not exist`);
  await ctx.remote.check({ create: true });
  // The scan and then the listing run while the keys are derived (scrypt, in the thread
  // pool); the manifest's remote half is trusted only once the keys are known to be the ones
  // it was made with. Scan first: an object whose local file is unchanged since the manifest
  // recorded it, and whose name is still listed, is taken at its recorded version without a
  // stat on a directory remote (unless verifyRemote) — see docs/state.md for the trade-off.
  const raw = await loadManifest(o.local, ctx.remote.label);
  const dirs: LocalDirs = { all: new Set(), empty: [] };
  const local = await scanLocal(o.local, (p, sig) => (raw.files[p]?.sig === sig ? raw.files[p]?.kind : undefined), dirs, o.exclude);
  const unchanged = new Map<string, string>();
  const byEnc = new Map<string, string>();
  for (const p in raw.files) {
    const f = raw.files[p] as ManifestEntry;
    if (f.enc === undefined) continue;
    byEnc.set(f.enc, p);
    if (!o.verifyRemote && local.get(p)?.sig === f.sig) unchanged.set(f.enc, f.version);
  }
  const remoteEmpty: string[] = [];
  const [objs, keys] = await Promise.all([listRemote(ctx, { trusted: (k) => unchanged.get(k), emptyDirs: remoteEmpty }), ctx.keys]);
  const m = trustManifest(raw, keys.keyId);
  let dirty = m !== raw;
  const { files: remote, undecryptable } = plainListing(keys, ctx.remote.label, objs, m, m === raw ? byEnc : undefined);

  const todo: LocalEntry[] = [];
  let skipped = 0;
  for (const e of local.values()) {
    const r = remote.get(e.path);
    const known = m.files[e.path];
    if (known && r && known.sig === e.sig && known.version === r.obj.version) {
      if (known.enc === undefined) {
        known.enc = r.obj.key; // a manifest from before names were recorded
        dirty = true;
      }
      skipped++;
    } else if (!known && r && r.plainSize === e.size && r.obj.mtimeMs !== undefined && Math.abs(r.obj.mtimeMs - e.mtimeMs) < 1 && notSqlite(e)) {
      // Same size and mtime as an object we did not write (e.g. rclone did): adopt it.
      m.files[e.path] = { sig: e.sig, kind: e.kind, version: r.obj.version, enc: r.obj.key };
      dirty = true;
      skipped++;
    } else todo.push(e);
  }
  const gone = o.delete ? [...remote.values()].filter((r) => !local.has(r.path)) : [];

  const saver = manifestSaver(o.local, m);
  let bytes = 0;
  let changed = 0;
  await o.progress.start(todo.length, todo.reduce((a, e) => a + e.size, 0));
  // Small files do synchronous local I/O (see readSmall): give timers, signals and progress
  // output a turn of the event loop every few milliseconds.
  let lastYield = Date.now();
  try {
    await runPool(todo, o.transfers, async (e) => {
      if (Date.now() - lastYield >= 5) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = Date.now();
      }
      try {
        const r = await uploadOne(ctx, keys, m, o, e);
        bytes += r.bytes;
        if (r.version === undefined) changed++;
        else m.files[e.path] = { sig: r.sig, kind: r.kind, version: r.version, enc: r.enc };
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
    await syncEmptyDirs(ctx, keys, dirs, remoteEmpty, o.delete);
  } finally {
    o.progress.stop();
    for (const p of Object.keys(m.files)) {
      if (!local.has(p) && !remote.has(p)) {
        delete m.files[p];
        dirty = true;
      }
    }
    // Nothing recorded changed: spare serialising the whole manifest to find that out.
    if (dirty || todo.length > 0 || gone.length > 0) await saver.flush();
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

/**
 * Empty directories, as rclone's --create-empty-src-dirs keeps them: a local empty directory
 * exists on the remote as an (encrypted) directory, and one gone locally is removed (when
 * deletions propagate, and only if still empty). Only on remotes with directories.
 */
async function syncEmptyDirs(ctx: StateContext, keys: CryptKeys, dirs: LocalDirs, remoteEmpty: readonly string[], del: boolean): Promise<void> {
  const remote = ctx.remote;
  if (!remote.mkdir || !remote.rmdir) return;
  const there = plainEmptyDirs(keys, remoteEmpty);
  if (del) for (const [p, k] of there) if (!dirs.all.has(p)) await remote.rmdir(k);
  for (const p of dirs.empty) {
    if (there.has(p)) continue;
    // An object under that name (kept by --no-delete) wins: a directory is only a convenience.
    await remote.mkdir(keys.names.encryptDirPath(p)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST" && e.code !== "ENOTDIR") throw e;
    });
  }
}

interface Uploaded {
  bytes: number;
  /** Undefined when the file changed while it was read. */
  version: string | undefined;
  enc: string;
  /** What was sent: differs from the scan's for a small file found to be a database. */
  kind: Kind;
  sig: string;
}

/**
 * Read up to `size` (at most SMALL_FILE) bytes of a local file and stat it on the same
 * descriptor afterwards. Synchronous on purpose: for a small file the thread-pool round trips
 * of four async calls cost far more than the reads themselves; the caller yields between files.
 */
function readSmall(abs: string, size: number): { body: Buffer; after: Stats } {
  const fd = openSync(abs, "r");
  try {
    const buf = Buffer.allocUnsafeSlow(size);
    let n = 0;
    while (n < size) {
      const got = readSync(fd, buf, n, size - n, n);
      if (got === 0) break;
      n += got;
    }
    return { body: buf.subarray(0, n), after: fstatSync(fd) };
  } finally {
    closeSync(fd);
  }
}

/** Upload one entry to its encrypted name. */
async function uploadOne(ctx: StateContext, keys: CryptKeys, m: Manifest, o: PushOptions, e: LocalEntry): Promise<Uploaded> {
  const enc = objectName(keys, m, e.path);
  if (e.kind === "link") {
    const body = Buffer.from(e.target ?? "");
    const version = await putSmall(ctx, keys, enc, body, e.mtimeMs);
    o.progress.bytes(body.length);
    return { bytes: body.length, version, enc, kind: e.kind, sig: e.sig };
  }
  if (e.kind === "sqlite") return uploadSqlite(ctx, keys, o, e, enc, e.sig);
  // Read through one descriptor and only the size we scanned, then check on that descriptor
  // that the file did not change meanwhile; if it did, the object is still a whole file, but
  // we send it again later.
  const same = (read: number, after: Stats) => read === e.size && after.size === e.size && after.mtimeMs === e.mtimeMs;
  if (e.size <= SMALL_FILE) {
    const { body, after } = readSmall(e.abs, e.size);
    // A database the scan did not sniff (no sidecar then): never sent byte by byte.
    if (e.unsniffed && isSqliteHeader(body)) return uploadSqlite(ctx, keys, o, e, enc, e.sig + SQLITE_QUIET_SIG);
    o.progress.bytes(body.length);
    const version = await putSmall(ctx, keys, enc, body, e.mtimeMs);
    return { bytes: body.length, version: same(body.length, after) ? version : undefined, enc, kind: e.kind, sig: e.sig };
  }
  const fh = await open(e.abs, "r");
  try {
    const reader = new EncryptedFileReader(fh, e.size, keys.dataKey, (n) => o.progress.bytes(n));
    const version = await putEncrypted(ctx, enc, reader, e.size, e.mtimeMs);
    return { bytes: reader.bytesRead, version: same(reader.bytesRead, await fh.stat()) ? version : undefined, enc, kind: e.kind, sig: e.sig };
  } finally {
    await fh.close();
  }
}

/** A SQLite database is sent as a backup-API snapshot, never as its live file. */
async function uploadSqlite(ctx: StateContext, keys: CryptKeys, o: PushOptions, e: LocalEntry, enc: string, sig: string): Promise<Uploaded> {
  const tmpDir = path.join(stateDir(o.local), "snapshots");
  await mkdir(tmpDir, { recursive: true });
  const snap = path.join(tmpDir, `${randomBytes(8).toString("hex")}.db`);
  try {
    await snapshotSqlite(e.abs, snap);
    const fh = await open(snap, "r");
    try {
      const size = (await fh.stat()).size;
      const reader = new EncryptedFileReader(fh, size, keys.dataKey, (n) => o.progress.bytes(n));
      const version = await putEncrypted(ctx, enc, reader, size, e.mtimeMs);
      return { bytes: reader.bytesRead, version, enc, kind: "sqlite", sig };
    } finally {
      await fh.close();
    }
  } finally {
    await rm(snap, { force: true });
  }
}
