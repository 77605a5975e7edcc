// Typed access to the rclone 1.60.1 vectors (copied from shared/reference/rclone-vectors so a
// fresh clone in CI has them). Only the fields the tests read are typed.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "rclone-vectors");

export interface VectorKeys {
  scrypt_salt_hex: string;
  data_key_hex: string;
  name_key_hex: string;
  name_tweak_hex: string;
}
export interface VectorFile {
  plain_path: string;
  plain_file: string;
  plain_size: number;
  encrypted_path: string;
  encrypted_file: string;
  encrypted_size: number;
  nonce_hex: string;
}
export interface NameVector {
  plain: string;
  encrypted: string;
}
export interface VectorCase {
  id: string;
  config: {
    filename_encryption: "standard" | "off" | "obfuscate";
    directory_name_encryption: boolean;
    filename_encoding: "base32" | "base64" | "base32768";
    password: string;
    password_obscured: string;
    password2: string;
    password2_obscured: string | null;
  };
  derived: VectorKeys;
  files: VectorFile[];
  dirs: { plain_dir: string; encrypted_dir: string }[];
  name_vectors: NameVector[];
  master_key?: string;
}
export interface Vectors {
  cases: VectorCase[];
  empty_password_zero_keys: {
    password: string;
    password_obscured: string;
    data_key_hex: string;
    name_key_hex: string;
    name_tweak_hex: string;
    name_vectors: NameVector[];
  };
  crafted: (VectorFile & { keys_from_case: string; description: string })[];
  negative: { description: string; keys_from_case: string; encrypted_path: string; encrypted_file: string; plain_path: string; rclone_error: string }[];
  obscure: { plain: string; obscured: string; iv_hex: string; kind: string }[];
  hkdf_example: { master_key: string; password: string; password2: string };
}

export const vectors: Vectors = JSON.parse(readFileSync(join(VECTOR_DIR, "vectors.json"), "utf8")) as Vectors;

export function vectorBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(join(VECTOR_DIR, rel)));
}

export function hex(h: string): Uint8Array {
  return Uint8Array.from(Buffer.from(h, "hex"));
}

export function caseById(id: string): VectorCase {
  const c = vectors.cases.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no vector case ${id}`);
  return c;
}

export function keysOf(c: { derived: VectorKeys } | VectorCase) {
  return {
    dataKey: hex(c.derived.data_key_hex),
    nameKey: hex(c.derived.name_key_hex),
    nameTweak: hex(c.derived.name_tweak_hex),
  };
}

/**
 * Byte equality without vitest's element-wise deep equal (which is very slow on 64 KiB+ arrays).
 * On mismatch the message names the lengths and the first differing offset, never the bytes.
 */
export function sameBytes(actual: Uint8Array, expected: Uint8Array): string {
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)) return "same";
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  return `differ: lengths ${actual.length}/${expected.length}, first difference at ${i}`;
}
