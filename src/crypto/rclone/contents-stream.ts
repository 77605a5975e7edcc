// Streaming rclone crypt contents (reference §2), for objects too big to hold in memory. Each
// direction is a small state machine that holds at most one chunk of pending input and seals or
// opens whole chunks straight from the caller's buffer into one output piece per call; the
// Transform and async-generator front-ends are thin wrappers around it, and the byte layout is
// the same as the whole-buffer helpers in contents.ts (the tests compare them).
import { Transform, type TransformCallback } from "node:stream";
import {
  CHUNK_CIPHER_SIZE,
  CHUNK_PLAIN_SIZE,
  CHUNK_TAG_SIZE,
  checkDataKey,
  type EncryptOptions,
  HEADER_SIZE,
  makeHeader,
  nonceIncrement,
  openChunkInto,
  parseHeader,
  sealChunkInto,
} from "./contents.js";
import { RcloneCryptError } from "./errors.js";

// Output pieces are fully overwritten, so they need not be zero-filled first.
const alloc = (n: number): Uint8Array => Buffer.allocUnsafeSlow(n);

/**
 * Receives output pieces as soon as they exist; each piece is a fresh array the receiver may
 * keep. One `write` yields at most one piece (plus the header on the first call), covering
 * every chunk the input completed, so large writes cost one allocation and no copying.
 */
export type Sink = (piece: Uint8Array) => void;

/** Incremental encryptor: `write` plaintext, then `end`; ciphertext goes to the sink. */
export class ContentEncryptor {
  readonly #key: Uint8Array;
  readonly #nonce: Uint8Array;
  // A chunk's worth of input that has not completed a chunk yet (at most one chunk is held).
  readonly #pending = new Uint8Array(CHUNK_PLAIN_SIZE);
  #pendingLen = 0;
  #header: Uint8Array | undefined;

  constructor(key: Uint8Array, options: EncryptOptions = {}) {
    checkDataKey(key);
    this.#key = Uint8Array.from(key);
    const { header, nonce } = makeHeader(options.nonce);
    this.#header = header;
    this.#nonce = nonce;
  }

  #seal(plain: Uint8Array, out: Uint8Array, o: number): number {
    sealChunkInto(this.#key, this.#nonce, plain, out.subarray(o, o + plain.length + CHUNK_TAG_SIZE));
    nonceIncrement(this.#nonce);
    return o + plain.length + CHUNK_TAG_SIZE;
  }

  // A new output piece with the header in front if it has not been sent yet.
  #open(body: number): { out: Uint8Array; o: number } {
    const h = this.#header;
    this.#header = undefined;
    const out = alloc((h?.length ?? 0) + body);
    if (h) out.set(h);
    return { out, o: h?.length ?? 0 };
  }

  write(data: Uint8Array, sink: Sink): void {
    const full = Math.floor((this.#pendingLen + data.length) / CHUNK_PLAIN_SIZE);
    let off = 0;
    if (full > 0 || this.#header) {
      const { out } = this.#open(full * CHUNK_CIPHER_SIZE);
      let o = out.length - full * CHUNK_CIPHER_SIZE;
      if (full > 0) {
        if (this.#pendingLen > 0) {
          off = CHUNK_PLAIN_SIZE - this.#pendingLen;
          this.#pending.set(data.subarray(0, off), this.#pendingLen);
          this.#pendingLen = 0;
          o = this.#seal(this.#pending, out, o);
        }
        // Whole chunks are sealed straight from the caller's buffer, with no copy.
        while (data.length - off >= CHUNK_PLAIN_SIZE) {
          o = this.#seal(data.subarray(off, off + CHUNK_PLAIN_SIZE), out, o);
          off += CHUNK_PLAIN_SIZE;
        }
      }
      if (out.length > 0) sink(out);
    }
    this.#pending.set(data.subarray(off), this.#pendingLen);
    this.#pendingLen += data.length - off;
  }

  end(sink: Sink): void {
    // A zero-length piece is never written: an empty file is the bare header.
    const n = this.#pendingLen;
    const { out, o } = this.#open(n > 0 ? n + CHUNK_TAG_SIZE : 0);
    if (n > 0) this.#seal(this.#pending.subarray(0, n), out, o);
    this.#pendingLen = 0;
    if (out.length > 0) sink(out);
  }
}

/**
 * Incremental decryptor: a chunk's plaintext reaches the sink only after its tag verified, and
 * chunks before a bad one are delivered before the error is thrown.
 */
export class ContentDecryptor {
  readonly #key: Uint8Array;
  #nonce: Uint8Array | undefined;
  readonly #header = new Uint8Array(HEADER_SIZE);
  #headerLen = 0;
  // A sealed chunk that the input has not completed yet.
  readonly #pending = new Uint8Array(CHUNK_CIPHER_SIZE);
  #pendingLen = 0;
  #index = 0;
  #failed = false;

  constructor(key: Uint8Array) {
    checkDataKey(key);
    this.#key = Uint8Array.from(key);
  }

  // After one failure the stream is dead: later input must not produce plaintext either.
  #guard(fn: () => void): void {
    if (this.#failed) throw new RcloneCryptError("rclone_bad_argument", "decryptor already failed");
    try {
      fn();
    } catch (e) {
      this.#failed = true;
      throw e;
    }
  }

  #openInto(sealed: Uint8Array, out: Uint8Array, o: number): number {
    const n = Math.max(0, sealed.length - CHUNK_TAG_SIZE);
    openChunkInto(this.#key, this.#nonce as Uint8Array, sealed, this.#index, out.subarray(o, o + n));
    this.#index++;
    nonceIncrement(this.#nonce as Uint8Array);
    return o + n;
  }

  write(data: Uint8Array, sink: Sink): void {
    this.#guard(() => {
      let off = 0;
      if (this.#nonce === undefined) {
        off = Math.min(HEADER_SIZE - this.#headerLen, data.length);
        this.#header.set(data.subarray(0, off), this.#headerLen);
        this.#headerLen += off;
        if (this.#headerLen < HEADER_SIZE) return;
        this.#nonce = parseHeader(this.#header);
      }
      const full = Math.floor((this.#pendingLen + data.length - off) / CHUNK_CIPHER_SIZE);
      if (full > 0) {
        const out = alloc(full * CHUNK_PLAIN_SIZE);
        let o = 0;
        try {
          if (this.#pendingLen > 0) {
            const take = CHUNK_CIPHER_SIZE - this.#pendingLen;
            this.#pending.set(data.subarray(off, off + take), this.#pendingLen);
            off += take;
            this.#pendingLen = 0;
            o = this.#openInto(this.#pending, out, o);
          }
          while (data.length - off >= CHUNK_CIPHER_SIZE) {
            o = this.#openInto(data.subarray(off, off + CHUNK_CIPHER_SIZE), out, o);
            off += CHUNK_CIPHER_SIZE;
          }
        } catch (e) {
          // Deliver the chunks that verified (as a copy: the rest of `out` is uninitialised).
          if (o > 0) sink(out.slice(0, o));
          throw e;
        }
        sink(out);
      }
      this.#pending.set(data.subarray(off), this.#pendingLen);
      this.#pendingLen += data.length - off;
    });
  }

  end(sink: Sink): void {
    this.#guard(() => {
      if (this.#nonce === undefined) throw new RcloneCryptError("rclone_truncated", "file is too short to be encrypted");
      const n = this.#pendingLen;
      this.#pendingLen = 0;
      if (n === 0) return;
      if (n <= CHUNK_TAG_SIZE) throw new RcloneCryptError("rclone_truncated", `chunk ${this.#index} is too short to hold any data`);
      const out = alloc(n - CHUNK_TAG_SIZE);
      this.#openInto(this.#pending.subarray(0, n), out, 0);
      sink(out);
    });
  }
}

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  throw new RcloneCryptError("rclone_bad_argument", "stream input must be bytes");
}

class CoreTransform extends Transform {
  readonly #core: ContentEncryptor | ContentDecryptor;

  constructor(core: ContentEncryptor | ContentDecryptor) {
    super();
    this.#core = core;
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.#core.write(toBytes(chunk), (piece) => this.push(piece));
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.#core.end((piece) => this.push(piece));
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

/** A Transform from plaintext bytes to an rclone crypt object. */
export function createEncryptStream(key: Uint8Array, options: EncryptOptions = {}): Transform {
  return new CoreTransform(new ContentEncryptor(key, options));
}

/** A Transform from an rclone crypt object to plaintext; errors with a typed RcloneCryptError. */
export function createDecryptStream(key: Uint8Array): Transform {
  return new CoreTransform(new ContentDecryptor(key));
}

// Run one core step and yield what it produced; output that preceded a failure is yielded
// before the error is rethrown, matching what the Transform delivers.
function* drive(step: (sink: Sink) => void): Generator<Uint8Array, void, undefined> {
  const out: Uint8Array[] = [];
  let failure: { error: unknown } | undefined;
  try {
    step((piece) => out.push(piece));
  } catch (error) {
    failure = { error };
  }
  yield* out;
  if (failure !== undefined) throw failure.error;
}

// Feed large inputs one chunk-sized slice at a time so at most a couple of output pieces are
// pending between yields, however big the caller's buffers are.
function* slices(data: Uint8Array): Generator<Uint8Array, void, undefined> {
  for (let off = 0; off < data.length; off += CHUNK_CIPHER_SIZE) yield data.subarray(off, off + CHUNK_CIPHER_SIZE);
}

/** Async-generator form of the encryptor. */
export async function* encryptStream(
  key: Uint8Array,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: EncryptOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const core = new ContentEncryptor(key, options);
  for await (const data of source) {
    for (const slice of slices(data)) yield* drive((sink) => core.write(slice, sink));
  }
  yield* drive((sink) => core.end(sink));
}

/** Async-generator form of the decryptor. */
export async function* decryptStream(
  key: Uint8Array,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array, void, undefined> {
  const core = new ContentDecryptor(key);
  for await (const data of source) {
    for (const slice of slices(data)) yield* drive((sink) => core.write(slice, sink));
  }
  yield* drive((sink) => core.end(sink));
}
