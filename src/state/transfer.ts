// Shared pieces of push and pull: run summaries, byte counting for progress and size checks,
// and turning low-level failures into clear ClawkeepErrors (never echoing keys or contents).
import { Transform, type TransformCallback } from "node:stream";
import { isRcloneCryptError } from "../crypto/rclone/index.js";
import { ClawkeepError } from "../errors.js";

export interface Summary {
  direction: "push" | "pull";
  remote: string;
  files: number;
  transferred: number;
  deleted: number;
  skipped: number;
  bytes: number;
  seconds: number;
  /** Remote objects whose names do not decrypt with our keys: left alone, never deleted. */
  undecryptable: number;
  /** Files that changed while being read; they are sent again on the next run. */
  changedDuringRead: number;
}

/** Passes bytes through, counting them, keeping the first 16 and reporting each piece. */
export class Counter extends Transform {
  count = 0;
  /** The first bytes that went through (up to 16): enough to recognise a SQLite file. */
  head: Buffer = Buffer.alloc(0);

  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.head.length < 16) this.head = Buffer.concat([this.head, chunk.subarray(0, 16 - this.head.length)]);
    this.count += chunk.length;
    this.onBytes(chunk.length);
    cb(null, chunk);
  }
}

export function transferError(e: unknown, what: string): Error {
  if (e instanceof ClawkeepError) return e;
  if (isRcloneCryptError(e)) {
    const why =
      e.code === "rclone_auth_failed"
        ? "failed authentication (corrupted, or encrypted with other keys)"
        : e.code === "rclone_truncated"
          ? "is truncated"
          : e.code === "rclone_bad_magic"
            ? "is not an rclone crypt object"
            : `could not be decrypted (${e.code})`;
    return new ClawkeepError("integrity_error", `remote object for ${what} ${why}`, { cause: e });
  }
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") return new ClawkeepError("unavailable", `disk full while transferring ${what}`, { cause: e });
  if (code === "EACCES" || code === "EPERM") return new ClawkeepError("unavailable", `permission denied while transferring ${what}`, { cause: e });
  return new ClawkeepError("unavailable", `transfer of ${what} failed: ${(e as Error).message ?? String(e)}`, { cause: e });
}

/** `src.pipe(t)`, but an error in `src` also fails `t` (plain pipe() would leave it hanging). */
export function chain<T extends NodeJS.ReadWriteStream & { destroy(e?: Error): unknown }>(src: NodeJS.ReadableStream & { on(ev: "error", f: (e: Error) => void): unknown }, t: T): T {
  src.on("error", (e: Error) => t.destroy(e));
  return src.pipe(t);
}
