// rclone `obscure` / `reveal` (reference §7). This is deliberately *not* security: the AES key
// is public and compiled into every rclone build. We need it because rclone only accepts
// passwords in obscured form (config file and RCLONE_CRYPT_* variables, reference §5), so we
// must produce values rclone reveals to the same bytes, and read values rclone produced.
import { createCipheriv, randomBytes } from "node:crypto";
import { RcloneCryptError } from "./errors.js";

const OBSCURE_KEY = Buffer.from("9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638", "hex");
const IV_BYTES = 16;
// Unpadded base64url only: anything else (padding, '+', '/') is not something rclone wrote.
const BASE64URL_RAW = /^[A-Za-z0-9_-]*$/;

// Node's aes-256-ctr treats the whole 16-byte IV as one big-endian counter, which is what Go's
// cipher.NewCTR does; a 64-bit counter would diverge once the low half wraps.
function ctr(iv: Uint8Array, data: Uint8Array): Buffer {
  const c = createCipheriv("aes-256-ctr", OBSCURE_KEY, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/**
 * Obscure a value the way `rclone obscure` does. `iv` exists for test vectors only; leave it
 * out in real use so every call gets a fresh random IV.
 */
export function obscure(plain: string | Uint8Array, iv?: Uint8Array): string {
  const bytes = typeof plain === "string" ? Buffer.from(plain, "utf8") : plain;
  const nonce = iv ?? randomBytes(IV_BYTES);
  if (nonce.length !== IV_BYTES) {
    throw new RcloneCryptError("rclone_bad_argument", "obscure IV must be 16 bytes");
  }
  return Buffer.concat([nonce, ctr(nonce, bytes)]).toString("base64url");
}

/** Reveal to raw bytes: rclone hands these bytes to scrypt unchanged, UTF-8 or not. */
export function revealBytes(obscured: string): Uint8Array {
  // Length ≡ 1 (mod 4) cannot come out of any base64 encoder.
  if (!BASE64URL_RAW.test(obscured) || obscured.length % 4 === 1) {
    throw new RcloneCryptError("rclone_bad_obscured", "obscured value is not unpadded base64url");
  }
  const raw = Buffer.from(obscured, "base64url");
  if (raw.length < IV_BYTES) {
    throw new RcloneCryptError("rclone_bad_obscured", "obscured value is too short to hold an IV");
  }
  return Uint8Array.from(ctr(raw.subarray(0, IV_BYTES), raw.subarray(IV_BYTES)));
}

/** Reveal to a string; fails if the revealed bytes are not valid UTF-8. */
export function reveal(obscured: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(revealBytes(obscured));
  } catch (e) {
    if (e instanceof RcloneCryptError) throw e;
    throw new RcloneCryptError("rclone_bad_obscured", "revealed value is not valid UTF-8");
  }
}
