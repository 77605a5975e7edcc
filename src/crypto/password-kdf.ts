import { createHmac, hkdfSync } from "node:crypto";
import argon2 from "argon2";

// The password-derived credential mode (seed 001 §3, option B; docs/formats.md §17). A user's
// credential password goes through Argon2id (RFC 9106) with a per-user random salt; the 32-byte
// output is never stored. Two independent keys come from it with HKDF-SHA256: one seals values
// (envelope kind 'P'), one makes the verifier that tells a wrong password apart from a right one.
// The server keeps salt, parameters and verifier only, so without the password nothing opens.

export interface Argon2Params {
  memoryKib: number;
  iterations: number;
  parallelism: number;
}

/** The seed's parameters, and the floor: nothing weaker is accepted on set or on use. */
export const ARGON2ID_PARAMS: Argon2Params = { memoryKib: 65_536, iterations: 3, parallelism: 4 };
// Ceilings, so a row edited in the database cannot make a derivation take minutes or gigabytes.
const MAX = { memoryKib: 1_048_576, iterations: 20, parallelism: 16 };
export const SALT_BYTES = 16;

export function checkParams(p: Argon2Params): boolean {
  const ok = (v: number, lo: number, hi: number) => Number.isSafeInteger(v) && v >= lo && v <= hi;
  return ok(p.memoryKib, ARGON2ID_PARAMS.memoryKib, MAX.memoryKib) && ok(p.iterations, ARGON2ID_PARAMS.iterations, MAX.iterations) && ok(p.parallelism, ARGON2ID_PARAMS.parallelism, MAX.parallelism);
}

/** Argon2id(password as NFC-normalised UTF-8, salt) → 32 bytes. Runs on libuv's thread pool. */
export async function argon2idRoot(password: string, salt: Uint8Array, p: Argon2Params): Promise<Buffer> {
  if (!checkParams(p)) throw new RangeError("argon2id parameters out of range");
  if (salt.length !== SALT_BYTES) throw new RangeError(`salt must be ${SALT_BYTES} bytes`);
  return argon2.hash(Buffer.from(password.normalize("NFC"), "utf8"), {
    type: argon2.argon2id,
    memoryCost: p.memoryKib,
    timeCost: p.iterations,
    parallelism: p.parallelism,
    salt: Buffer.from(salt),
    hashLength: 32,
    raw: true,
  });
}

const expand = (root: Uint8Array, info: string): Buffer => Buffer.from(hkdfSync("sha256", root, new Uint8Array(0), info, 32));

/** The sealing key and the verifier for `userId`, from the Argon2id output (which the caller wipes). */
export function passwordKeys(root: Uint8Array, userId: string): { key: Buffer; verifier: string } {
  const key = expand(root, "clawkeep/credential-password/key/v1");
  const vk = expand(root, "clawkeep/credential-password/verifier/v1");
  const verifier = createHmac("sha256", vk).update(`clawkeep/credential-password/verifier/v1\n${userId}`, "utf8").digest("hex");
  vk.fill(0);
  return { key, verifier };
}
