// Walks the local state directory into entries keyed by the *remote* plain path: a symlink
// `a/b` becomes `a/b.rclonelink` holding the link target, as rclone's --links does. SQLite
// databases are recognised by their header (sniffed only when a file is new or changed) and
// their -wal/-shm/-journal sidecars are folded into the database's signature instead of being
// synced: the backup snapshot already includes what they hold.
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { opendir } from "node:fs/promises";
import path from "node:path";
import { isSqliteFile, SQLITE_SIDECARS } from "./sqlite.js";

const SIG_SIDECARS = ["-wal", "-journal"] as const;
const STAT_BATCH = 1024;
/** Signature suffix of a database with no WAL or journal beside it (as restored). */
export const SQLITE_QUIET_SIG = "|-|-";
const NO_SIDE = "-|-";

export type Kind = "file" | "link" | "sqlite";
export const LINK_SUFFIX = ".rclonelink";
/** Our own bookkeeping inside the state dir (manifest, staging, snapshots); never synced. */
export const STATE_DIR = ".clawkeep-state";

export interface LocalEntry {
  /** Remote plain path (with `.rclonelink` for links). */
  readonly path: string;
  /** Local absolute path of the file or link. */
  readonly abs: string;
  readonly kind: Kind;
  readonly size: number;
  readonly mtimeMs: number;
  /** Changes whenever the content may have changed (size, mtime, and the WAL's for SQLite). */
  readonly sig: string;
  readonly target?: string;
  /**
   * A small new or changed file whose header was not read by the scan: it is a plain file
   * unless its bytes start with the SQLite header (see {@link notSqlite}).
   */
  readonly unsniffed?: boolean;
}

/** Files up to this size with no sidecar have their SQLite header checked when read for upload. */
export const DEFER_SNIFF_MAX = 1 << 20;

/** Is this entry surely not a SQLite database? Reads the header of an unsniffed file. */
export const notSqlite = (e: LocalEntry) => e.kind !== "sqlite" && !(e.unsniffed === true && isSqliteFile(e.abs));

/** What a previous run learnt about a path with a given signature (spares re-sniffing). */
export type KnownKind = (path: string, sig: string) => Kind | undefined;

/** The directories a scan found (remote plain paths), and which of them hold nothing synced. */
export interface LocalDirs {
  all: Set<string>;
  empty: string[];
}

/**
 * `exclude`: top-level directory names left out of the sync (a gateway's regenerable caches and
 * lock files): never scanned, so never pushed, and with `delete` their remote copies go.
 */
export async function scanLocal(dir: string, known: KnownKind = () => undefined, dirs?: LocalDirs, exclude: readonly string[] = []): Promise<Map<string, LocalEntry>> {
  const root = path.resolve(dir); // no trailing slash: paths below are built by concatenation
  const raw = new Map<string, { abs: string; size: number; mtimeMs: number; link?: string }>();
  // Paths with a file named like one of their SQLite sidecars beside them.
  const withSide = new Set<string>();
  // Synchronous on purpose: the state dir is a local directory, where lstat is a few
  // microseconds and an async call's thread-pool round trip costs several times that (and
  // contends with the remote listing running at the same time). The event loop gets a turn
  // every STAT_BATCH entries.
  let n = 0;
  // Returns whether anything was found below `rel`, so empty directories can be reported.
  async function walk(rel: string): Promise<boolean> {
    let any = false;
    const prefix = rel === "" ? "" : `${rel}/`;
    for (const e of readdirSync(rel === "" ? root : `${root}/${rel}`, { withFileTypes: true })) {
      if (rel === "" && (e.name === STATE_DIR || (exclude.includes(e.name) && e.isDirectory()))) continue;
      const p = prefix + e.name;
      const abs = `${root}/${p}`;
      if (e.isDirectory()) {
        dirs?.all.add(p);
        if (await walk(p)) any = true;
        else dirs?.empty.push(p);
        continue;
      }
      any = true;
      if (e.isSymbolicLink()) {
        const st = lstatSync(abs, { throwIfNoEntry: false });
        let target: string | undefined;
        try {
          target = readlinkSync(abs);
        } catch {
          /* gone since the directory was read */
        }
        if (st && target !== undefined) raw.set(p, { abs, size: Buffer.byteLength(target), mtimeMs: st.mtimeMs, link: target });
      } else if (e.isFile()) {
        const st = lstatSync(abs, { throwIfNoEntry: false });
        if (st) raw.set(p, { abs, size: st.size, mtimeMs: st.mtimeMs });
        for (const s of SQLITE_SIDECARS) if (e.name.endsWith(s)) withSide.add(p.slice(0, -s.length));
      }
      if (++n % STAT_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return any;
  }
  await walk("");

  const out = new Map<string, LocalEntry>();
  const sidecars = new Set<string>();
  const sniff: { p: string; abs: string; size: number; mtimeMs: number; sig: string; sideSig: string }[] = [];
  const add = (p: string, abs: string, size: number, mtimeMs: number, kind: Kind, sig: string, sideSig: string) => {
    if (kind === "sqlite") {
      sig = `${sig}|${sideSig}`;
      for (const s of SQLITE_SIDECARS) sidecars.add(p + s);
    }
    out.set(p, { path: p, abs, kind, size, mtimeMs, sig });
  };
  for (const [p, r] of raw) {
    if (r.link !== undefined) {
      const rp = p + LINK_SUFFIX;
      out.set(rp, { path: rp, abs: r.abs, kind: "link", size: r.size, mtimeMs: r.mtimeMs, sig: `${r.size}:${r.mtimeMs}`, target: r.link });
      continue;
    }
    const sig = `${r.size}:${r.mtimeMs}`;
    if (!withSide.has(p)) {
      // The common case, kept lean (it runs for every file on every pass): no sidecar.
      const kind = known(p, sig) ?? known(p, sig + SQLITE_QUIET_SIG) ?? (r.size < 512 ? "file" : undefined);
      if (kind === undefined && r.size <= DEFER_SNIFF_MAX) {
        // New or changed small file: the upload reads it whole anyway and checks the header
        // then (push: switching to a snapshot), which saves an open and a read here.
        out.set(p, { path: p, abs: r.abs, kind: "file", size: r.size, mtimeMs: r.mtimeMs, sig, unsniffed: true });
      } else if (kind === undefined) sniff.push({ p, abs: r.abs, size: r.size, mtimeMs: r.mtimeMs, sig, sideSig: NO_SIDE });
      else add(p, r.abs, r.size, r.mtimeMs, kind, sig, NO_SIDE);
      continue;
    }
    // -shm is only a shared-memory index that readers (our own backup included) touch: leaving
    // it out of the signature keeps a quiet database from looking changed after every pass.
    const side = SIG_SIDECARS.map((s) => raw.get(p + s));
    const sideSig = side.map((s) => (s ? `${s.size}:${s.mtimeMs}` : "-")).join("|");
    // With a sidecar beside it, a file may be a database in use whose main file does not change
    // (WAL mode): an earlier "file" verdict is not trusted then, and the header is read now.
    const kind = known(p, `${sig}|${sideSig}`) ?? (r.size >= 512 ? undefined : "file");
    if (kind === undefined) sniff.push({ p, abs: r.abs, size: r.size, mtimeMs: r.mtimeMs, sig, sideSig });
    else add(p, r.abs, r.size, r.mtimeMs, kind, sig, sideSig);
  }
  // New or changed files are sniffed for the SQLite header.
  for (const f of sniff) add(f.p, f.abs, f.size, f.mtimeMs, isSqliteFile(f.abs) ? "sqlite" : "file", f.sig, f.sideSig);
  for (const s of sidecars) out.delete(s);
  return out;
}

/** Is the directory empty, apart from our bookkeeping? */
export async function isEmptyDir(root: string): Promise<boolean> {
  const dir = await opendir(root).catch(() => undefined);
  if (!dir) return true;
  for await (const e of dir) {
    // Leaving the loop early closes the handle (for-await calls return()).
    if (e.name !== STATE_DIR) return false;
  }
  return true;
}
