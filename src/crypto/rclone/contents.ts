// rclone crypt file contents (reference §2): a 32-byte header (`RCLONE\0\0` + random 24-byte
// nonce) then 64 KiB plaintext pieces, each sealed as NaCl secretbox (tag first) under a nonce
// that counts up as a 192-bit little-endian integer. There is no length field or end marker,
// so the ciphertext size alone determines the plaintext size and a cut at a chunk boundary is
// undetectable — a property of the format, not of this code.
import { randomBytes } from "node:crypto";
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

/** Build the 32-byte header for a nonce (random unless given). */
export function makeHeader(nonce?: Uint8Array): { header: Uint8Array; nonce: Uint8Array } {
  const n = nonce === undefined ? new Uint8Array(randomBytes(NONCE_SIZE)) : Uint8Array.from(nonce);
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

/** Seal one plaintext piece (1..65536 bytes): output is tag || ciphertext. */
export function sealChunk(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Uint8Array {
  return xsalsa20poly1305(key, Uint8Array.from(nonce)).encrypt(plain);
}

/**
 * Open one sealed chunk. A tag-only chunk is refused even though secretbox would accept it as
 * an empty message: rclone never writes one, so it can only mean truncation. Nothing is
 * returned unless the tag verifies.
 */
export function openChunk(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, index: number): Uint8Array {
  if (sealed.length <= CHUNK_TAG_SIZE) {
    throw new RcloneCryptError("rclone_truncated", `chunk ${index} is too short to hold any data`);
  }
  try {
    return xsalsa20poly1305(key, Uint8Array.from(nonce)).decrypt(sealed);
  } catch {
    throw new RcloneCryptError("rclone_auth_failed", `chunk ${index} failed authentication (wrong key or corrupted data)`);
  }
}

/** Encrypt a whole buffer into an rclone crypt object. */
export function encryptContents(key: Uint8Array, plaintext: Uint8Array, options: EncryptOptions = {}): Uint8Array {
  checkDataKey(key);
  const { header, nonce } = makeHeader(options.nonce);
  const out = new Uint8Array(encryptedSize(plaintext.length));
  out.set(header);
  let o = HEADER_SIZE;
  for (let p = 0; p < plaintext.length; p += CHUNK_PLAIN_SIZE) {
    const sealed = sealChunk(key, nonce, plaintext.subarray(p, p + CHUNK_PLAIN_SIZE));
    out.set(sealed, o);
    o += sealed.length;
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
    const plain = openChunk(key, nonce, ciphertext.subarray(c, c + CHUNK_CIPHER_SIZE), index++);
    out.set(plain, o);
    o += plain.length;
    nonceIncrement(nonce);
  }
  return out;
}
