// SQLite safety: a database file copied byte by byte while a writer runs can be torn (and its
// WAL holds committed data the main file lacks). So databases are read through SQLite's online
// backup API, which yields a consistent snapshot of every committed transaction, and restored
// files are checked with PRAGMA integrity_check before they replace anything.
import { closeSync, openSync, readSync } from "node:fs";

const MAGIC = Buffer.from("SQLite format 3\0", "latin1");
/** Files SQLite keeps next to a database; the backup already contains what they hold. */
export const SQLITE_SIDECARS = ["-wal", "-shm", "-journal"] as const;

type Db = import("better-sqlite3").Database;

async function openDb(file: string, opts: { readonly?: boolean } = {}): Promise<Db> {
  // Loaded lazily: the native module costs start-up time every other command would pay.
  const { default: Database } = await import("better-sqlite3");
  return new Database(file, { fileMustExist: true, timeout: 10_000, readonly: opts.readonly ?? false });
}

/** Do these first bytes of a file start with the SQLite header? */
export const isSqliteHeader = (head: Uint8Array) => head.length >= MAGIC.length && MAGIC.equals(head.subarray(0, MAGIC.length));

/**
 * Does the file start with the SQLite header? Synchronous: three system calls on a local file,
 * where an async round trip through the thread pool would cost more than the work.
 */
export function isSqliteFile(abs: string): boolean {
  let fd: number;
  try {
    fd = openSync(abs, "r");
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(MAGIC.length);
    return readSync(fd, buf, 0, buf.length, 0) === MAGIC.length && buf.equals(MAGIC);
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Consistent copy of a live database to `dest` (a new file). */
export async function snapshotSqlite(src: string, dest: string): Promise<void> {
  const db = await openDb(src);
  try {
    // One step for all pages: the copy runs inside a single read transaction, so a writer in
    // another process cannot make it restart forever, and the result is one consistent state.
    await db.backup(dest, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
}

/** PRAGMA integrity_check on a (restored) database file: "ok" or the first problems found. */
export async function integrityCheck(file: string): Promise<string> {
  let db: Db;
  try {
    db = await openDb(file);
  } catch (e) {
    return `cannot open: ${(e as Error).message}`;
  }
  try {
    const rows = db.pragma("integrity_check") as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join("; ");
  } catch (e) {
    return (e as Error).message;
  } finally {
    db.close();
  }
}
