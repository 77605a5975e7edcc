import { ClawkeepError } from "../../errors.js";

/** A unique-constraint violation, as SQLite ("UNIQUE constraint failed") or PostgreSQL ("duplicate key value … unique constraint") reports it. */
export const isUniqueViolation = (e: unknown): boolean => /UNIQUE|unique|duplicate key/.test(String((e as Error | undefined)?.message));


type Raw = { code?: unknown; errno?: unknown; syscall?: unknown; address?: unknown; port?: unknown; hostname?: unknown; path?: unknown; message?: unknown; cause?: unknown };

const REASON: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "is a directory",
};

/** A short human phrase for a Node system error code (ENOENT → "no such file or directory"). */
export const reasonOf = (code: unknown): string => (typeof code === "string" && REASON[code]) || (typeof code === "string" ? code : "error");

/**
 * Turns what a meta-store driver or the file system throws on a misconfigured or unreachable
 * store into a coded error that says what to check. Operators meet these at start-up and in the
 * offline commands; the raw driver text ("connect ECONNREFUSED", "no such table", an errno) tells
 * a newcomer neither what is wrong nor which setting to change. Connection strings are never
 * echoed: they may carry a password. Undefined when the error is not one of these.
 */
export function describeStorageError(e: unknown): ClawkeepError | undefined {
  const r = (e ?? {}) as Raw;
  const code = typeof r.code === "string" ? r.code : undefined;
  const msg = typeof r.message === "string" ? r.message : "";
  const opts = { cause: e };
  // PostgreSQL answers with a five-character SQLSTATE.
  if (code === "3D000") return new ClawkeepError("config_invalid", `CLAWKEEP_DATABASE_URL: ${msg} on that PostgreSQL server (create it first, e.g. with createdb)`, opts);
  if (code === "28P01" || code === "28000") return new ClawkeepError("config_invalid", `CLAWKEEP_DATABASE_URL: PostgreSQL refused the login (${msg})`, opts);
  if (code === "42P01" || /no such table/.test(msg)) {
    return new ClawkeepError("config_invalid", "the meta store holds no Clawkeep data (no tables): check --data-dir / CLAWKEEP_DATABASE_URL, or run `clawkeep migrate` to create one", opts);
  }
  if (code === "SQLITE_CANTOPEN") return new ClawkeepError("config_invalid", "CLAWKEEP_DATABASE_URL: the SQLite database cannot be opened (does its directory exist, and may this user write there?)", opts);
  if (code === "SQLITE_READONLY") return new ClawkeepError("config_invalid", "CLAWKEEP_DATABASE_URL: the SQLite database is read-only for this user", opts);
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") return new ClawkeepError("integrity_error", "CLAWKEEP_DATABASE_URL: the file is not a readable SQLite database", opts);
  if (code === "SQLITE_BUSY") return new ClawkeepError("unavailable", "the SQLite database is locked by another process; try again", opts);
  if (/timeout expired|connection timeout/i.test(msg)) return new ClawkeepError("unavailable", "CLAWKEEP_DATABASE_URL: PostgreSQL did not answer in time", opts);
  if (code && (r.syscall === "connect" || r.syscall === "getaddrinfo" || r.syscall === "read")) {
    const where = typeof r.address === "string" ? ` at ${r.address}${r.port ? `:${String(r.port)}` : ""}` : typeof r.hostname === "string" ? ` at ${r.hostname}` : "";
    return new ClawkeepError("unavailable", `cannot reach the meta store${where} (${reasonOf(code)}): is PostgreSQL running, and is CLAWKEEP_DATABASE_URL right?`, opts);
  }
  if (code && typeof r.path === "string" && REASON[code]) {
    const kind = code === "ENOSPC" ? "unavailable" : "config_invalid";
    return new ClawkeepError(kind, `${r.path}: ${reasonOf(code)}${code === "EACCES" || code === "EPERM" ? " (check the owner and mode of the data dir)" : ""}`, opts);
  }
  return undefined;
}
