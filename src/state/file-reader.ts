// Reads a local file as its rclone crypt object: large sequential reads (4 MiB) into one reused
// buffer, whole 64 KiB chunks sealed straight from it into one output piece per read. Memory
// per transfer is bounded by the read buffer plus the stream's high-water mark, and the
// consumer's pace drives the reads (backpressure). Stops at `size` bytes: a file that grew
// since it was scanned is sent as it was at that size, and one that shrank ends early —
// `bytesRead` tells the caller which happened.
import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { ContentEncryptor } from "../crypto/rclone/index.js";

export const READ_SIZE = 4 << 20;

export class EncryptedFileReader extends Readable {
  bytesRead = 0;
  readonly #fh: FileHandle;
  readonly #size: number;
  readonly #enc: ContentEncryptor;
  readonly #onBytes: (n: number) => void;
  #buf: Buffer | undefined;

  constructor(fh: FileHandle, size: number, dataKey: Uint8Array, onBytes: (n: number) => void) {
    super({ highWaterMark: READ_SIZE });
    this.#fh = fh;
    this.#size = size;
    this.#enc = new ContentEncryptor(dataKey);
    this.#onBytes = onBytes;
  }

  override _read(): void {
    this.#fill().catch((e: Error) => this.destroy(e));
  }

  async #fill(): Promise<void> {
    // Loop until something was pushed: a short read may complete no chunk.
    for (;;) {
      const want = Math.min(READ_SIZE, this.#size - this.bytesRead);
      const buf = (this.#buf ??= Buffer.allocUnsafeSlow(Math.max(1, Math.min(READ_SIZE, this.#size))));
      const n = want > 0 ? (await this.#fh.read(buf, 0, want, this.bytesRead)).bytesRead : 0;
      if (this.destroyed) return;
      if (n === 0) {
        this.#enc.end((p) => this.push(p));
        this.push(null);
        return;
      }
      this.bytesRead += n;
      this.#onBytes(n);
      let pushed = false;
      this.#enc.write(buf.subarray(0, n), (p) => {
        pushed = true;
        this.push(p);
      });
      if (pushed) return;
    }
  }
}
