// The storage behind a state remote, seen as a flat set of objects named by (encrypted)
// relative paths. Two backends: a local directory (file://) and an S3 bucket prefix (s3://).
// Encryption lives one layer up (crypt.ts), so both backends only ever see ciphertext.
import type { Readable } from "node:stream";
import { ClawkeepError } from "../errors.js";

export interface RemoteObject {
  /** Path relative to the remote root, `/`-separated. */
  readonly key: string;
  /** Stored (encrypted) size in bytes. */
  readonly size: number;
  /** Modification time as the backend reports it in a listing (undefined if the listing lacks it). */
  readonly mtimeMs: number | undefined;
  /**
   * Changes whenever the object is replaced: the ETag on S3, size+mtime on a directory. Used to
   * notice remote changes without downloading.
   */
  readonly version: string;
}

export interface ListOptions {
  /**
   * The version the caller recorded for a key it still trusts, or undefined. A backend whose
   * listing lacks versions (a directory: one stat per object) may report such a key with that
   * version, without the stat, as long as the name is still listed. S3 ignores it: its
   * listing carries ETags anyway.
   */
  trusted?: (key: string) => string | undefined;
  /** Filled with the keys of directories that hold no object, where the backend has directories. */
  emptyDirs?: string[];
}

export interface GetResult {
  readonly body: Readable;
  readonly size: number;
  /** The plaintext file's mtime as recorded at upload (rclone's convention per backend). */
  readonly mtimeMs: number | undefined;
}

export interface Remote {
  /** For messages: never includes credentials. */
  readonly label: string;
  /** Fails with a clear error when the remote does not exist or cannot be reached. */
  check(opts: { create: boolean }): Promise<void>;
  list(o?: ListOptions): AsyncIterable<RemoteObject>;
  /** The same listing in one array, where the backend can build it cheaper than one by one. */
  listAll?(o?: ListOptions): Promise<RemoteObject[]>;
  get(key: string): Promise<GetResult>;
  /**
   * Store `body` (a stream, or a small object already in memory) under `key` so a reader sees
   * either the old object or the whole new one, never a partial one. `mtimeMs` is the
   * plaintext's mtime, kept the way rclone keeps it. Returns the new object's version.
   */
  put(key: string, body: Readable | Uint8Array, size: number, mtimeMs: number): Promise<string>;
  delete(key: string): Promise<void>;
  /**
   * Only on backends with real directories (rclone's --create-empty-src-dirs convention; S3 in
   * rclone 1.60 has no empty directories either): create the directory `key`, with parents.
   */
  mkdir?(key: string): Promise<void>;
  /** Remove the directory `key` if it is empty, and the parents that leaves empty. */
  rmdir?(key: string): Promise<void>;
  close(): void;
}

/** `file:///abs/path` or `s3://bucket/prefix`; S3 settings come from the seed's variables. */
export async function openRemote(url: string, env: NodeJS.ProcessEnv): Promise<Remote> {
  if (url.startsWith("file://")) {
    const { FileRemote } = await import("./remote-file.js");
    return new FileRemote(fileUrlPath(url));
  }
  if (url.startsWith("s3://")) {
    const { S3Remote } = await import("./remote-s3.js");
    return S3Remote.open(url, env);
  }
  throw new ClawkeepError("config_invalid", "--remote: expected file:///path or s3://bucket/prefix");
}

function fileUrlPath(url: string): string {
  let p: string;
  try {
    p = decodeURIComponent(new URL(url).pathname);
  } catch {
    throw new ClawkeepError("config_invalid", "--remote: not a valid file:// URL");
  }
  if (!p.startsWith("/") || p === "/") throw new ClawkeepError("config_invalid", "--remote: file:// needs an absolute directory path");
  return p.replace(/\/+$/, "");
}

/** The remote URL from --remote, else s3:// from S3_BUCKET (the seed's switch for S3 mode). */
export function remoteUrlFrom(opt: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (opt !== undefined && opt !== "") return opt;
  if (env.S3_BUCKET) return `s3://${env.S3_BUCKET}/${env.S3_PREFIX || "openclaw-state"}`;
  return undefined;
}
