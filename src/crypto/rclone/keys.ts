// Key derivation for rclone crypt (reference §1). rclone stretches the revealed `password`
// with scrypt over `password2` (or a fixed default salt) into 80 bytes and slices them into
// the contents key, the EME name key and the EME tweak. Byte compatibility depends on the
// exact parameters below, so none of them is configurable.
import { scrypt, scryptSync } from "node:crypto";
import { RcloneCryptError } from "./errors.js";

export interface RcloneKeys {
  /** XSalsa20-Poly1305 key for file contents. */
  readonly dataKey: Uint8Array;
  /** AES-256 key used by EME (and by the obfuscate mode's rotation). */
  readonly nameKey: Uint8Array;
  /** 16-byte EME tweak. */
  readonly nameTweak: Uint8Array;
}

/** rclone's built-in salt, used whenever password2 is empty. */
export const RCLONE_DEFAULT_SALT: Uint8Array = Uint8Array.from(
  Buffer.from("a80df43a8fbd0308a7cab83e581f86b1", "hex"),
);

const KEY_MATERIAL_BYTES = 80;
// 128·N·r = 16 MiB is needed; give headroom above Node's 32 MiB default so a future change
// of the default cannot make derivation fail.
const SCRYPT_OPTIONS = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** Passwords are byte strings in rclone: a revealed value need not be UTF-8. */
export type PasswordInput = string | Uint8Array;

function toBytes(v: PasswordInput): Uint8Array {
  return typeof v === "string" ? new TextEncoder().encode(v) : v;
}

function saltFor(password2: PasswordInput | undefined): Uint8Array {
  const s = password2 === undefined ? new Uint8Array(0) : toBytes(password2);
  return s.length === 0 ? RCLONE_DEFAULT_SALT : s;
}

function split(km: Uint8Array): RcloneKeys {
  if (km.length !== KEY_MATERIAL_BYTES) {
    throw new RcloneCryptError("rclone_bad_argument", "key material must be 80 bytes");
  }
  return {
    dataKey: km.slice(0, 32),
    nameKey: km.slice(32, 64),
    nameTweak: km.slice(64, 80),
  };
}

/**
 * Derive the three keys from the *revealed* password and password2.
 * An empty password yields all-zero keys, exactly as rclone does (it skips scrypt).
 */
export async function deriveRcloneKeys(password: PasswordInput, password2?: PasswordInput): Promise<RcloneKeys> {
  const pw = toBytes(password);
  if (pw.length === 0) return split(new Uint8Array(KEY_MATERIAL_BYTES));
  const salt = saltFor(password2);
  const km = await new Promise<Buffer>((resolve, reject) => {
    scrypt(pw, salt, KEY_MATERIAL_BYTES, SCRYPT_OPTIONS, (err, key) => (err ? reject(err) : resolve(key)));
  });
  return split(Uint8Array.from(km));
}

/** Synchronous twin of {@link deriveRcloneKeys}; blocks the event loop for ~50 ms. */
export function deriveRcloneKeysSync(password: PasswordInput, password2?: PasswordInput): RcloneKeys {
  const pw = toBytes(password);
  if (pw.length === 0) return split(new Uint8Array(KEY_MATERIAL_BYTES));
  return split(Uint8Array.from(scryptSync(pw, saltFor(password2), KEY_MATERIAL_BYTES, SCRYPT_OPTIONS)));
}
