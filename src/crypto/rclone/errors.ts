// Typed failures for the rclone crypt/obscure code (reference §2 "Decryption rules", §3.1
// "Decoding validation", §7 "Reveal"). Callers branch on `code`, which is stable; messages are
// for humans and must never carry key material, passwords or plaintext.

export type RcloneErrorCode =
  /** Fewer than 32 bytes, or a final chunk with no room for data after its tag. */
  | "rclone_truncated"
  /** The 8-byte header magic is not `RCLONE\0\0`. */
  | "rclone_bad_magic"
  /** A chunk's Poly1305 tag did not verify (wrong key or damaged data). */
  | "rclone_auth_failed"
  /** An encrypted name that does not decode, has a bad length or bad padding. */
  | "rclone_bad_name"
  /** A plaintext name rclone cannot represent (too long for EME). */
  | "rclone_name_too_long"
  /** A decrypted name whose bytes are not UTF-8 while a string was requested. */
  | "rclone_name_not_utf8"
  /** An obscured value that is not unpadded base64url of at least 16 bytes. */
  | "rclone_bad_obscured"
  /** A caller-side mistake: wrong key or nonce length, impossible size, and the like. */
  | "rclone_bad_argument";

export class RcloneCryptError extends Error {
  readonly code: RcloneErrorCode;

  constructor(code: RcloneErrorCode, message: string) {
    super(message);
    this.name = "RcloneCryptError";
    this.code = code;
  }
}

export function isRcloneCryptError(e: unknown, code?: RcloneErrorCode): e is RcloneCryptError {
  return e instanceof RcloneCryptError && (code === undefined || e.code === code);
}
