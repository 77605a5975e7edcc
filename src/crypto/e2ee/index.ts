// End-to-end encrypted values (docs/formats.md, "E2EE envelope v1"). WebCrypto only
// (globalThis.crypto.subtle), no Node imports or Node-only globals, so this exact file runs in the
// browser (bundled as-is) and in Node 20: an envelope sealed on either side opens on the other.
//
// Key: PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) from the passphrase, a random 16-byte salt, ≥ 600,000
// iterations (OWASP 2023 for PBKDF2-SHA256). Cipher: AES-256-GCM (NIST SP 800-38D) with a random
// 96-bit IV chosen here. The AAD binds the format version, the iteration count and an optional
// context (e.g. "AGENT/NAME"), so a server that swaps two envelopes between names, or rewrites
// the header, makes them fail to open.

export const E2EE_VERSION = 1;
export const E2EE_ALG = "A256GCM";
export const E2EE_KDF = "PBKDF2-SHA256";
export const MIN_ITERATIONS = 600_000;
// Upper bound on open: a hostile envelope must not be able to make a reader spin for minutes.
export const MAX_ITERATIONS = 10_000_000;
const SALT_LEN = 16;
const IV_LEN = 12;
const TAG_LEN = 16;

export interface E2eeEnvelope {
  v: 1;
  alg: "A256GCM";
  kdf: "PBKDF2-SHA256";
  iter: number;
  salt: string;
  iv: string;
  ct: string;
}

export class E2eeError extends Error {
  constructor(readonly reason: "malformed" | "unsupported" | "auth_failed") {
    super(`e2ee envelope ${reason}`);
    this.name = "E2eeError";
  }
}

const subtle = () => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error("WebCrypto (crypto.subtle) is not available: a browser needs a secure context (https or localhost)");
  return s;
};

const utf8 = new TextEncoder();
// WebCrypto wants buffers backed by a plain ArrayBuffer; copying also detaches us from callers'.
type Bytes = Uint8Array<ArrayBuffer>;
const own = (u: Uint8Array): Bytes => new Uint8Array(u);

export function toB64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
export function fromB64(s: string): Bytes {
  if (!B64_RE.test(s)) throw new E2eeError("malformed");
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The additional authenticated data: "clawkeep-e2ee/v1\n<iter>\n<context>" in UTF-8. */
export const e2eeAad = (iter: number, context: string): Bytes => utf8.encode(`clawkeep-e2ee/v1\n${iter}\n${context}`);

async function deriveKey(passphrase: string, salt: Uint8Array, iter: number): Promise<CryptoKey> {
  if (passphrase.length === 0) throw new RangeError("the passphrase is empty");
  const s = subtle();
  const base = await s.importKey("raw", utf8.encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return s.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: own(salt), iterations: iter }, base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

export interface SealOptions {
  /** Bound into the AAD, not stored: the opener must pass the same string. */
  context?: string;
  iterations?: number;
  /** Test vectors only: fixed salt and IV. Never set these in real use. */
  fixedSaltAndIv?: { salt: Uint8Array; iv: Uint8Array };
}

export async function sealE2ee(passphrase: string, plaintext: Uint8Array | string, opts: SealOptions = {}): Promise<E2eeEnvelope> {
  const iter = opts.iterations ?? MIN_ITERATIONS;
  if (!Number.isSafeInteger(iter) || iter < MIN_ITERATIONS || iter > MAX_ITERATIONS) throw new RangeError("iterations out of range");
  const salt = own(opts.fixedSaltAndIv?.salt ?? globalThis.crypto.getRandomValues(new Uint8Array(SALT_LEN)));
  const iv = own(opts.fixedSaltAndIv?.iv ?? globalThis.crypto.getRandomValues(new Uint8Array(IV_LEN)));
  if (salt.length !== SALT_LEN || iv.length !== IV_LEN) throw new RangeError("salt must be 16 bytes and iv 12");
  const key = await deriveKey(passphrase, salt, iter);
  const pt = typeof plaintext === "string" ? utf8.encode(plaintext) : own(plaintext);
  const ct = new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv, additionalData: e2eeAad(iter, opts.context ?? ""), tagLength: 128 }, key, pt));
  return { v: 1, alg: E2EE_ALG, kdf: E2EE_KDF, iter, salt: toB64(salt), iv: toB64(iv), ct: toB64(ct) };
}

/** Parses and checks an envelope's shape without any key: no decryption happens here. */
export function parseE2ee(input: string | unknown): E2eeEnvelope {
  let o: unknown = input;
  if (typeof input === "string") {
    try {
      o = JSON.parse(input);
    } catch {
      throw new E2eeError("malformed");
    }
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new E2eeError("malformed");
  const e = o as Record<string, unknown>;
  const keys = Object.keys(e).sort().join(",");
  if (keys !== "alg,ct,iter,iv,kdf,salt,v") throw new E2eeError("malformed");
  if (e.v !== E2EE_VERSION || e.alg !== E2EE_ALG || e.kdf !== E2EE_KDF) throw new E2eeError("unsupported");
  if (typeof e.iter !== "number" || !Number.isSafeInteger(e.iter) || e.iter < MIN_ITERATIONS || e.iter > MAX_ITERATIONS) throw new E2eeError("unsupported");
  if (typeof e.salt !== "string" || typeof e.iv !== "string" || typeof e.ct !== "string") throw new E2eeError("malformed");
  if (fromB64(e.salt).length !== SALT_LEN || fromB64(e.iv).length !== IV_LEN || fromB64(e.ct).length < TAG_LEN) throw new E2eeError("malformed");
  return e as unknown as E2eeEnvelope;
}

/** True when a stored value is an E2EE envelope (by shape alone; nothing is opened). */
export function isE2ee(value: string): boolean {
  if (!value.startsWith("{") || !value.includes('"alg"')) return false;
  try {
    parseE2ee(value);
    return true;
  } catch {
    return false;
  }
}

/** The canonical serialisation: fields in the order of the spec, no whitespace. */
export const serializeE2ee = (e: E2eeEnvelope): string =>
  JSON.stringify({ v: e.v, alg: e.alg, kdf: e.kdf, iter: e.iter, salt: e.salt, iv: e.iv, ct: e.ct });

export async function openE2ee(passphrase: string, envelope: string | E2eeEnvelope, opts: { context?: string } = {}): Promise<Uint8Array> {
  const e = parseE2ee(envelope);
  const key = await deriveKey(passphrase, fromB64(e.salt), e.iter);
  try {
    const pt = await subtle().decrypt(
      { name: "AES-GCM", iv: fromB64(e.iv), additionalData: e2eeAad(e.iter, opts.context ?? ""), tagLength: 128 },
      key,
      fromB64(e.ct),
    );
    return new Uint8Array(pt);
  } catch {
    throw new E2eeError("auth_failed");
  }
}

export const openE2eeText = async (passphrase: string, envelope: string | E2eeEnvelope, opts: { context?: string } = {}): Promise<string> =>
  new TextDecoder("utf-8", { fatal: true }).decode(await openE2ee(passphrase, envelope, opts));
