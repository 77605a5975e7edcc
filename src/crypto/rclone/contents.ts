// rclone crypt file contents (reference §2): a 32-byte header (`RCLONE\0\0` + random 24-byte
// nonce) then 64 KiB plaintext pieces, each sealed as NaCl secretbox (tag first) under a nonce
// that counts up as a 192-bit little-endian integer. There is no length field or end marker,
// so the ciphertext size alone determines the plaintext size and a cut at a chunk boundary is
// undetectable — a property of the format, not of this code.
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { RcloneCryptError } from "./errors.js";

export const RCLONE_MAGIC: Uint8Array = Uint8Array.of(0x52, 0x43, 0x4c, 0x4f, 0x4e, 0x45, 0x00, 0x00);
export const HEADER_SIZE = 32;
export const NONCE_SIZE = 24;
export const CHUNK_PLAIN_SIZE = 65536;
export const CHUNK_TAG_SIZE = 16;
export const CHUNK_CIPHER_SIZE = CHUNK_PLAIN_SIZE + CHUNK_TAG_SIZE;

export interface EncryptOptions {
  /**
   * Initial nonce. Only for reproducing vectors and for `cryptcheck`-style verification: reusing
   * a nonce under the same key destroys confidentiality. Omit it to get a fresh random nonce.
   */
  readonly nonce?: Uint8Array;
}

/** Add `k` to a 24-byte little-endian counter, returning a new array (wraps modulo 2^192). */
export function nonceAdd(nonce: Uint8Array, k: number | bigint): Uint8Array {
  if (nonce.length !== NONCE_SIZE) throw new RcloneCryptError("rclone_bad_argument", "nonce must be 24 bytes");
  const out = Uint8Array.from(nonce);
  let carry = BigInt(k);
  if (carry < 0n) throw new RcloneCryptError("rclone_bad_argument", "nonce offset must not be negative");
  for (let i = 0; i < NONCE_SIZE && carry > 0n; i++) {
    const sum = BigInt(out[i] ?? 0) + (carry & 0xffn);
    out[i] = Number(sum & 0xffn);
    carry = (carry >> 8n) + (sum >> 8n);
  }
  return out;
}

/** Increment a 24-byte little-endian counter in place (the per-chunk step). */
export function nonceIncrement(nonce: Uint8Array): void {
  for (let i = 0; i < NONCE_SIZE; i++) {
    const v = ((nonce[i] ?? 0) + 1) & 0xff;
    nonce[i] = v;
    if (v !== 0) return;
  }
}

/** Encrypted size for a plaintext of `n` bytes. */
export function encryptedSize(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RcloneCryptError("rclone_bad_argument", "size must be a non-negative integer");
  const full = Math.floor(n / CHUNK_PLAIN_SIZE);
  const rem = n % CHUNK_PLAIN_SIZE;
  return HEADER_SIZE + full * CHUNK_CIPHER_SIZE + (rem > 0 ? rem + CHUNK_TAG_SIZE : 0);
}

/** Plaintext size for an encrypted object of `s` bytes; throws `rclone_truncated` if impossible. */
export function decryptedSize(s: number): number {
  if (!Number.isSafeInteger(s) || s < 0) throw new RcloneCryptError("rclone_bad_argument", "size must be a non-negative integer");
  const body = s - HEADER_SIZE;
  if (body < 0) throw new RcloneCryptError("rclone_truncated", "file is too short to be encrypted");
  const full = Math.floor(body / CHUNK_CIPHER_SIZE);
  const rem = body % CHUNK_CIPHER_SIZE;
  if (rem > 0 && rem <= CHUNK_TAG_SIZE) {
    throw new RcloneCryptError("rclone_truncated", "last chunk is too short to hold any data");
  }
  return full * CHUNK_PLAIN_SIZE + (rem > 0 ? rem - CHUNK_TAG_SIZE : 0);
}

export function checkDataKey(key: Uint8Array): void {
  if (key.length !== 32) throw new RcloneCryptError("rclone_bad_argument", "data key must be 32 bytes");
}

// Random nonces are taken from a block of CSPRNG output drawn 256 nonces at a time (one
// system call instead of one per file); each slice is used once and wiped from the block.
const NONCES_PER_DRAW = 256;
let noncePool: Buffer = Buffer.alloc(0);
let noncePos = 0;

function randomNonce(): Uint8Array {
  if (noncePos + NONCE_SIZE > noncePool.length) {
    noncePool = randomBytes(NONCE_SIZE * NONCES_PER_DRAW);
    noncePos = 0;
  }
  const n = Uint8Array.from(noncePool.subarray(noncePos, noncePos + NONCE_SIZE));
  noncePool.fill(0, noncePos, noncePos + NONCE_SIZE);
  noncePos += NONCE_SIZE;
  return n;
}

/** Build the 32-byte header for a nonce (random unless given). */
export function makeHeader(nonce?: Uint8Array): { header: Uint8Array; nonce: Uint8Array } {
  const n = nonce === undefined ? randomNonce() : Uint8Array.from(nonce);
  if (n.length !== NONCE_SIZE) throw new RcloneCryptError("rclone_bad_argument", "nonce must be 24 bytes");
  const header = new Uint8Array(HEADER_SIZE);
  header.set(RCLONE_MAGIC);
  header.set(n, RCLONE_MAGIC.length);
  return { header, nonce: n };
}

/** Validate a header and return a copy of its nonce. */
export function parseHeader(header: Uint8Array): Uint8Array {
  if (header.length < HEADER_SIZE) throw new RcloneCryptError("rclone_truncated", "file is too short to be encrypted");
  for (let i = 0; i < RCLONE_MAGIC.length; i++) {
    if (header[i] !== RCLONE_MAGIC[i]) {
      throw new RcloneCryptError("rclone_bad_magic", "not an rclone crypt file (bad magic)");
    }
  }
  return header.slice(RCLONE_MAGIC.length, HEADER_SIZE);
}

/**
 * NaCl secretbox (XSalsa20-Poly1305, tag first — exactly rclone's chunk layout). Two
 * implementations give identical bytes (test/unit/rclone-secretbox.test.ts checks it):
 * libsodium through sodium-native (~1.7 GB/s per core) and @noble/ciphers in plain JavaScript
 * (~110 MB/s). sodium-native ships prebuilt binaries; noble is kept only as the fallback for a
 * platform where the native module does not load, so Clawkeep still works there, just slower.
 */
export interface SecretboxBackend {
  readonly name: "sodium-native" | "noble";
  /** Seal `plain` into `out` (`out.length === plain.length + 16`). */
  seal(out: Uint8Array, plain: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;
  /** Open `sealed` into `out` (`out.length === sealed.length - 16`); false if the tag fails. */
  open(out: Uint8Array, sealed: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean;
}

export const nobleSecretbox: SecretboxBackend = {
  name: "noble",
  seal(out, plain, nonce, key) {
    out.set(xsalsa20poly1305(key, Uint8Array.from(nonce)).encrypt(plain));
  },
  open(out, sealed, nonce, key) {
    try {
      out.set(xsalsa20poly1305(key, Uint8Array.from(nonce)).decrypt(sealed));
      return true;
    } catch {
      return false;
    }
  },
};

interface SodiumNative {
  crypto_secretbox_easy(c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  crypto_secretbox_open_easy(m: Uint8Array, c: Uint8Array, n: Uint8Array, k: Uint8Array): boolean;
}

// Loaded on first use, not at import: the native module costs ~10-25 ms of start-up, which a
// command that encrypts nothing (a no-change re-sync, a listing) should not pay.
let sodium: SecretboxBackend | null | undefined;

/** libsodium, or undefined when sodium-native could not be loaded. Loads it on first call. */
export function sodiumSecretbox(): SecretboxBackend | undefined {
  if (sodium === undefined) {
    try {
      const na = createRequire(import.meta.url)("sodium-native") as SodiumNative;
      sodium = {
        name: "sodium-native",
        seal: (out, plain, nonce, key) => na.crypto_secretbox_easy(out, plain, nonce, key),
        open: (out, sealed, nonce, key) => na.crypto_secretbox_open_easy(out, sealed, nonce, key),
      };
    } catch {
      sodium = null;
    }
  }
  return sodium ?? undefined;
}

const backend = () => sodiumSecretbox() ?? nobleSecretbox;

/** The implementation in use: libsodium when it loads, noble otherwise (chosen on first use). */
export const secretbox: SecretboxBackend = {
  get name() {
    return backend().name;
  },
  seal: (out, plain, nonce, key) => backend().seal(out, plain, nonce, key),
  open: (out, sealed, nonce, key) => backend().open(out, sealed, nonce, key),
};

/** Seal one plaintext piece into `out` (exactly `plain.length + 16` bytes): tag || ciphertext. */
export function sealChunkInto(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array, out: Uint8Array): void {
  secretbox.seal(out, plain, nonce, key);
}

/** Seal one plaintext piece (1..65536 bytes): output is tag || ciphertext. */
export function sealChunk(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Uint8Array {
  const out = new Uint8Array(plain.length + CHUNK_TAG_SIZE);
  secretbox.seal(out, plain, nonce, key);
  return out;
}

/**
 * Open one sealed chunk into `out` (exactly `sealed.length - 16` bytes). A tag-only chunk is
 * refused even though secretbox would accept it as an empty message: rclone never writes one,
 * so it can only mean truncation. `out` holds nothing meaningful unless this returns.
 */
export function openChunkInto(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, index: number, out: Uint8Array): void {
  if (sealed.length <= CHUNK_TAG_SIZE) {
    throw new RcloneCryptError("rclone_truncated", `chunk ${index} is too short to hold any data`);
  }
  if (!secretbox.open(out, sealed, nonce, key)) {
    throw new RcloneCryptError("rclone_auth_failed", `chunk ${index} failed authentication (wrong key or corrupted data)`);
  }
}

/** Open one sealed chunk; nothing is returned unless the tag verifies. */
export function openChunk(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, index: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, sealed.length - CHUNK_TAG_SIZE));
  openChunkInto(key, nonce, sealed, index, out);
  return out;
}

/** Encrypt a whole buffer into an rclone crypt object. */
export function encryptContents(key: Uint8Array, plaintext: Uint8Array, options: EncryptOptions = {}): Uint8Array {
  checkDataKey(key);
  const { header, nonce } = makeHeader(options.nonce);
  const out = new Uint8Array(encryptedSize(plaintext.length));
  out.set(header);
  let o = HEADER_SIZE;
  for (let p = 0; p < plaintext.length; p += CHUNK_PLAIN_SIZE) {
    const plain = plaintext.subarray(p, p + CHUNK_PLAIN_SIZE);
    sealChunkInto(key, nonce, plain, out.subarray(o, o + plain.length + CHUNK_TAG_SIZE));
    o += plain.length + CHUNK_TAG_SIZE;
    nonceIncrement(nonce);
  }
  return out;
}

/** Decrypt a whole rclone crypt object. Fails before returning anything if any chunk fails. */
export function decryptContents(key: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  checkDataKey(key);
  const nonce = parseHeader(ciphertext);
  const out = new Uint8Array(decryptedSize(ciphertext.length));
  let o = 0;
  let index = 0;
  for (let c = HEADER_SIZE; c < ciphertext.length; c += CHUNK_CIPHER_SIZE) {
    const sealed = ciphertext.subarray(c, c + CHUNK_CIPHER_SIZE);
    const n = Math.max(0, sealed.length - CHUNK_TAG_SIZE);
    openChunkInto(key, nonce, sealed, index++, out.subarray(o, o + n));
    o += n;
    nonceIncrement(nonce);
  }
  return out;
}
