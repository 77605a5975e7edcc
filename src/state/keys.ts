// Seed 000 key derivation ("Key management" in seeds/000): one MASTER_KEY feeds HKDF-SHA256
// (empty salt, 32 bytes, standard base64 output) for each purpose, and RCLONE_CRYPT_PASSWORD /
// RCLONE_CRYPT_PASSWORD2 may override the crypt password/salt. The overrides are the real
// rclone backend variables (reference §5), so they hold *obscured* values and we reveal them.
import { hkdfSync } from "node:crypto";
import { obscure, revealBytes } from "../crypto/rclone/obscure.js";

export interface StateKeys {
  /** Plain (not obscured) crypt password, standard base64 of 32 HKDF bytes. */
  readonly rcloneCryptPassword: string;
  /** Plain crypt salt (rclone's password2), standard base64 of 32 HKDF bytes. */
  readonly rcloneCryptSalt: string;
  readonly gatewayAuthToken: string;
}

// The info strings are part of the on-disk contract: changing one orphans every stored object.
const INFO = {
  rcloneCryptPassword: "rclone-crypt-password",
  rcloneCryptSalt: "rclone-crypt-salt",
  gatewayAuthToken: "gateway-auth-token",
} as const;

function derive(ikm: Buffer, info: string): string {
  return Buffer.from(hkdfSync("sha256", ikm, Buffer.alloc(0), Buffer.from(info, "utf8"), 32)).toString("base64");
}

/** HKDF input is the MASTER_KEY string's UTF-8 bytes as given (not base64-decoded, not trimmed). */
export function deriveStateKeys(masterKey: string): StateKeys {
  if (masterKey.length === 0) throw new Error("MASTER_KEY is empty");
  const ikm = Buffer.from(masterKey, "utf8");
  return {
    rcloneCryptPassword: derive(ikm, INFO.rcloneCryptPassword),
    rcloneCryptSalt: derive(ikm, INFO.rcloneCryptSalt),
    gatewayAuthToken: derive(ikm, INFO.gatewayAuthToken),
  };
}

export type KeySource = "master-key" | "env-override" | "rclone-default";

export interface ResolvedCryptSecrets {
  /** Revealed password bytes, ready for deriveRcloneKeys. */
  readonly password: Uint8Array;
  /** Revealed password2 bytes; empty means rclone's default salt. */
  readonly password2: Uint8Array;
  /** Obscured forms to hand to rclone (an override is passed through verbatim). */
  readonly passwordObscured: string;
  /** Undefined when password2 is empty: rclone must then fall back to its default salt. */
  readonly password2Obscured: string | undefined;
  readonly passwordSource: Exclude<KeySource, "rclone-default">;
  readonly password2Source: KeySource;
  /** Only available when MASTER_KEY is set. */
  readonly gatewayAuthToken: string | undefined;
}

export class StateKeyError extends Error {
  readonly code = "state_keys_missing";
}

type Env = Readonly<Record<string, string | undefined>>;

// An empty variable is treated as unset: an obscured empty password would silently select
// all-zero keys (reference §1), which is never what an operator means.
function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

/**
 * Decide the crypt password and salt from an environment object: an RCLONE_CRYPT_PASSWORD(2)
 * override wins, otherwise the MASTER_KEY derivation, otherwise (salt only) rclone's default.
 */
export function resolveCryptSecrets(env: Env): ResolvedCryptSecrets {
  const masterKey = nonEmpty(env.MASTER_KEY);
  const derived = masterKey === undefined ? undefined : deriveStateKeys(masterKey);
  const pwOverride = nonEmpty(env.RCLONE_CRYPT_PASSWORD);
  const pw2Override = nonEmpty(env.RCLONE_CRYPT_PASSWORD2);

  let password: Uint8Array;
  let passwordObscured: string;
  let passwordSource: ResolvedCryptSecrets["passwordSource"];
  if (pwOverride !== undefined) {
    password = revealBytes(pwOverride);
    passwordObscured = pwOverride;
    passwordSource = "env-override";
  } else if (derived !== undefined) {
    password = Buffer.from(derived.rcloneCryptPassword, "utf8");
    passwordObscured = obscure(password);
    passwordSource = "master-key";
  } else {
    throw new StateKeyError("neither MASTER_KEY nor RCLONE_CRYPT_PASSWORD is set");
  }

  let password2: Uint8Array = new Uint8Array(0);
  let password2Obscured: string | undefined;
  let password2Source: KeySource = "rclone-default";
  if (pw2Override !== undefined) {
    password2 = revealBytes(pw2Override);
    password2Obscured = pw2Override;
    password2Source = "env-override";
  } else if (derived !== undefined) {
    password2 = Buffer.from(derived.rcloneCryptSalt, "utf8");
    password2Obscured = obscure(password2);
    password2Source = "master-key";
  }

  return {
    password,
    password2,
    passwordObscured,
    password2Obscured,
    passwordSource,
    password2Source,
    gatewayAuthToken: derived?.gatewayAuthToken,
  };
}
