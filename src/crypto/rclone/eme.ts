// EME wide-block mode (Halevi–Rogaway "ECB-Mix-ECB") as rclone uses it for file names, following
// reference §3.2 step by step. No maintained npm package implements EME, so this is the one
// mode we write ourselves; AES itself comes from node:crypto (ECB, no padding). Whole-name
// diffusion is the point: a shared plaintext prefix must not leak a shared ciphertext prefix.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { RcloneCryptError } from "./errors.js";

const BLOCK = 16;
const MAX_BLOCKS = 128;

export type EmeDirection = "encrypt" | "decrypt";

// Multiply by x in GF(2^128) with EME's little-endian byte order: byte 0 is least significant.
function double(x: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  let carry = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = x[i] ?? 0;
    out[i] = ((b << 1) | carry) & 0xff;
    carry = b >>> 7;
  }
  if (carry === 1) out[0] = (out[0] ?? 0) ^ 0x87;
  return out;
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

// ECB is per-block independent and keeps no state between blocks, so one cipher object per
// key and direction serves every call: update() without final() (no padding, so OpenSSL holds
// nothing back). Each "apply A to every block" step is then a single OpenSSL call.
interface Ecb {
  update(data: Uint8Array): Buffer;
}

function ecb(key: Uint8Array, decrypt: boolean): Ecb {
  const c = decrypt ? createDecipheriv("aes-256-ecb", key, null) : createCipheriv("aes-256-ecb", key, null);
  c.setAutoPadding(false);
  return c;
}

function block(buf: Uint8Array, j: number): Uint8Array {
  return buf.subarray(j * BLOCK, (j + 1) * BLOCK);
}

/** EME under one AES-256 key and 16-byte tweak; reuses its AES state across names. */
export class EmeCipher {
  readonly #tweak: Uint8Array;
  readonly #enc: Ecb;
  readonly #dec: Ecb;
  // L_0 = 2·AES(0): the masks always come from AES *encryption* of zero.
  readonly #l0: Uint8Array;

  constructor(key: Uint8Array, tweak: Uint8Array) {
    if (key.length !== 32) throw new RcloneCryptError("rclone_bad_argument", "EME key must be 32 bytes");
    if (tweak.length !== BLOCK) throw new RcloneCryptError("rclone_bad_argument", "EME tweak must be 16 bytes");
    this.#tweak = Uint8Array.from(tweak);
    this.#enc = ecb(key, false);
    this.#dec = ecb(key, true);
    this.#l0 = double(new Uint8Array(this.#enc.update(new Uint8Array(BLOCK))));
  }

  /** Transform `data` (1..128 whole 16-byte blocks); output has the same length. */
  transform(data: Uint8Array, direction: EmeDirection): Uint8Array {
    const m = data.length / BLOCK;
    if (!Number.isInteger(m) || m < 1 || m > MAX_BLOCKS) {
      throw new RcloneCryptError("rclone_bad_argument", "EME input must be 1..128 whole 16-byte blocks");
    }
    const a = direction === "decrypt" ? this.#dec : this.#enc;
    const tweak = this.#tweak;

    // Step 1: L_j = 2^(j+1)·AES(0).
    const masks: Uint8Array[] = [];
    let l = this.#l0;
    for (let j = 0; j < m; j++) {
      masks.push(l);
      l = double(l);
    }

    // Step 2: X_j = A(P_j ⊕ L_j), all blocks in one call.
    const masked = new Uint8Array(data.length);
    for (let j = 0; j < m; j++) masked.set(xor(block(data, j), masks[j] as Uint8Array), j * BLOCK);
    const x = a.update(masked);

    // Steps 3–4: MP = T ⊕ ⊕X_j, MC = A(MP).
    let mp = tweak;
    for (let j = 0; j < m; j++) mp = xor(mp, block(x, j));
    const mc = a.update(mp);

    // Step 5: Y_j = X_j ⊕ 2^j·M for j ≥ 1, with M doubled cumulatively.
    const y = new Uint8Array(data.length);
    let mask = xor(mp, mc);
    let y0 = xor(mc, tweak);
    for (let j = 1; j < m; j++) {
      mask = double(mask);
      const yj = xor(block(x, j), mask);
      y.set(yj, j * BLOCK);
      y0 = xor(y0, yj);
    }
    // Step 6: Y_0 closes the XOR sum.
    y.set(y0, 0);

    // Step 7: C_j = A(Y_j) ⊕ L_j.
    const c = a.update(y);
    const out = new Uint8Array(data.length);
    for (let j = 0; j < m; j++) out.set(xor(block(c, j), masks[j] as Uint8Array), j * BLOCK);
    return out;
  }
}

/**
 * Transform `data` (1..128 whole 16-byte blocks) with EME under AES-256 `key` and 16-byte
 * `tweak`. Output has the same length. Decryption runs the same steps with AES decryption.
 */
export function emeTransform(key: Uint8Array, tweak: Uint8Array, data: Uint8Array, direction: EmeDirection): Uint8Array {
  return new EmeCipher(key, tweak).transform(data, direction);
}
