// Streaming rclone crypt contents (reference §2), for objects too big to hold in memory. Each
// direction is a small state machine that holds at most one chunk of pending input; the
// Transform and async-generator front-ends are thin wrappers around it, and the byte layout is
// the same as the whole-buffer helpers in contents.ts (the tests compare them).
import { Transform, type TransformCallback } from "node:stream";
import {
  CHUNK_CIPHER_SIZE,
  CHUNK_PLAIN_SIZE,
  checkDataKey,
  type EncryptOptions,
  HEADER_SIZE,
  makeHeader,
  nonceIncrement,
  openChunk,
  parseHeader,
  sealChunk,
} from "./contents.js";
import { RcloneCryptError } from "./errors.js";

// Collects input into fixed-size pieces without ever holding more than one piece.
class Framer {
  readonly #buf: Uint8Array;
  #len = 0;

  constructor(size: number) {
    this.#buf = new Uint8Array(size);
  }

  get length(): number {
    return this.#len;
  }

  /** Feed `data`; `emit` gets each completed piece (a view that is reused afterwards). */
  push(data: Uint8Array, emit: (piece: Uint8Array) => void): void {
    let off = 0;
    while (off < data.length) {
      const take = Math.min(this.#buf.length - this.#len, data.length - off);
      this.#buf.set(data.subarray(off, off + take), this.#len);
      this.#len += take;
      off += take;
      if (this.#len === this.#buf.length) {
        this.#len = 0;
        emit(this.#buf);
      }
    }
  }

  /** Take what is left (possibly empty) and reset. */
  drain(): Uint8Array {
    const rest = this.#buf.slice(0, this.#len);
    this.#len = 0;
    return rest;
  }
}

/** Receives output pieces as soon as they exist; each piece is a fresh array. */
export type Sink = (piece: Uint8Array) => void;

/** Incremental encryptor: `write` plaintext, then `end`; ciphertext goes to the sink. */
export class ContentEncryptor {
  readonly #key: Uint8Array;
  readonly #nonce: Uint8Array;
  readonly #framer = new Framer(CHUNK_PLAIN_SIZE);
  #header: Uint8Array | undefined;

  constructor(key: Uint8Array, options: EncryptOptions = {}) {
    checkDataKey(key);
    this.#key = Uint8Array.from(key);
    const { header, nonce } = makeHeader(options.nonce);
    this.#header = header;
    this.#nonce = nonce;
  }

  #start(sink: Sink): void {
    if (this.#header !== undefined) {
      sink(this.#header);
      this.#header = undefined;
    }
  }

  #seal(piece: Uint8Array, sink: Sink): void {
    sink(sealChunk(this.#key, this.#nonce, piece));
    nonceIncrement(this.#nonce);
  }

  write(data: Uint8Array, sink: Sink): void {
    this.#start(sink);
    this.#framer.push(data, (piece) => this.#seal(piece, sink));
  }

  end(sink: Sink): void {
    this.#start(sink);
    const rest = this.#framer.drain();
    // A zero-length piece is never written: an empty file is the bare header.
    if (rest.length > 0) this.#seal(rest, sink);
  }
}

/**
 * Incremental decryptor: a chunk's plaintext reaches the sink only after its tag verified, and
 * chunks before a bad one are delivered before the error is thrown.
 */
export class ContentDecryptor {
  readonly #key: Uint8Array;
  #nonce: Uint8Array | undefined;
  #framer = new Framer(HEADER_SIZE);
  #index = 0;
  #failed = false;

  constructor(key: Uint8Array) {
    checkDataKey(key);
    this.#key = Uint8Array.from(key);
  }

  #piece(piece: Uint8Array, sink: Sink): void {
    if (this.#nonce === undefined) {
      this.#nonce = parseHeader(piece);
      this.#framer = new Framer(CHUNK_CIPHER_SIZE);
      return;
    }
    sink(openChunk(this.#key, this.#nonce, piece, this.#index++));
    nonceIncrement(this.#nonce);
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

  write(data: Uint8Array, sink: Sink): void {
    this.#guard(() => {
      let off = 0;
      // The header framer is swapped for the chunk framer mid-buffer, so feed the header part first.
      if (this.#nonce === undefined) {
        off = Math.min(HEADER_SIZE - this.#framer.length, data.length);
        this.#framer.push(data.subarray(0, off), (p) => this.#piece(p, sink));
      }
      this.#framer.push(data.subarray(off), (p) => this.#piece(p, sink));
    });
  }

  end(sink: Sink): void {
    this.#guard(() => {
      if (this.#nonce === undefined) throw new RcloneCryptError("rclone_truncated", "file is too short to be encrypted");
      const rest = this.#framer.drain();
      if (rest.length > 0) sink(openChunk(this.#key, this.#nonce, rest, this.#index++));
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
