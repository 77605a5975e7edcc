import { createDecipheriv } from "node:crypto";
import { EnvelopeError, open, seal } from "../crypto/envelope.js";
import { derivePurposeKey } from "../crypto/hkdf.js";
import { ClawkeepError } from "../errors.js";
import type { Curve } from "./curves.js";

// Signer private keys at rest (docs/formats.md §19). Written in one versioned format:
//
//   ck-sk1.<key id>.<base64url of envelope 'K'>
//
// the envelope binding (user, identity id, curve) as AAD, so a sealed key copied onto another
// identity's row fails to open. Read, besides, the formats of the seed's table, which carry no
// AAD and no key id: worker `{iv}:{ciphertext+tag}` (WebCrypto) and the enclave's local fallback
// `{iv}:{ciphertext}:{tag}` (Node), AES-256-GCM, parts in hex or base64 (told apart by the IV's
// length: 24 hex or 16 base64 characters). An Evervault ciphertext opens only inside that
// enclave: it is reported as incompatible (HTTP 409), as the seed's mode switch expects.

export interface SealingKey {
  keyId: string;
  key: Buffer;
}

export type SealedFormat = "ck-sk1" | "worker-v0" | "enclave-local-v0";

const PREFIX = "ck-sk1.";

/** Key id of an explicit sealing key (WORKER_SEALING_KEY): names it without revealing it. */
export const sealingKeyId = (key: Uint8Array): string => `w${derivePurposeKey(key, "keyId").subarray(0, 8).toString("hex")}`;

export function sealPrivateKey(k: SealingKey, ctx: { user: string; identityId: string; curve: Curve }, privateKey: Uint8Array): string {
  const env = seal(k.key, privateKey, { kind: "signing-key", ...ctx });
  return `${PREFIX}${k.keyId}.${env.toString("base64url")}`;
}

export function formatOf(sealed: string): SealedFormat | "evervault" | "unknown" {
  if (sealed.startsWith(PREFIX)) return "ck-sk1";
  if (/^ev:/i.test(sealed)) return "evervault";
  const parts = sealed.split(":");
  if (parts.length === 2) return "worker-v0";
  if (parts.length === 3) return "enclave-local-v0";
  return "unknown";
}

export function keyIdOf(sealed: string): string | undefined {
  if (!sealed.startsWith(PREFIX)) return undefined;
  return sealed.slice(PREFIX.length).split(".")[0];
}

const incompatible = (why: string) =>
  new ClawkeepError("sealed_key_incompatible", `the stored key cannot be opened by this signer (${why}); see docs/signer.md, "Switching signer modes"`);

function decodePart(s: string, hexLen: number, b64Len: number): Buffer | undefined {
  if (s.length === hexLen && /^[0-9a-fA-F]+$/.test(s)) return Buffer.from(s, "hex");
  if (s.length === b64Len && /^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) return Buffer.from(s, "base64");
  return undefined;
}

const anyEncoding = (s: string): Buffer | undefined =>
  /^(?:[0-9a-fA-F]{2})+$/.test(s) ? Buffer.from(s, "hex") : /^[A-Za-z0-9+/_-]+={0,2}$/.test(s) ? Buffer.from(s, "base64") : undefined;

function gcmOpen(key: Buffer, iv: Buffer, ct: Buffer, tag: Buffer): Buffer | undefined {
  try {
    const d = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 });
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ct), d.final()]);
  } catch {
    return undefined;
  }
}

/** The seed's plaintext is the private key itself: 32 raw bytes or its hex (0x optional). */
function legacyPlaintext(p: Buffer): Buffer | undefined {
  if (p.length === 32) return p;
  const t = p.toString("utf8").trim().replace(/^0x/, "");
  return /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : undefined;
}

/**
 * Opens a sealed key with any of `keys` (primary first). `primary` tells the caller whether it
 * is already in the current format under the primary key, i.e. whether a reseal has work to do.
 */
export function openSealedKey(
  keys: SealingKey[],
  ctx: { user: string; identityId: string; curve: Curve },
  sealed: string,
): { privateKey: Buffer; format: SealedFormat; keyId: string; primary: boolean } {
  const format = formatOf(sealed);
  if (format === "evervault") throw incompatible("an Evervault ciphertext opens only inside its enclave");
  if (format === "unknown") throw incompatible("unrecognised format");
  if (format === "ck-sk1") {
    const [keyId, body] = sealed.slice(PREFIX.length).split(".");
    const k = keys.find((x) => x.keyId === keyId);
    if (!k || body === undefined) throw incompatible(`sealed under key ${keyId ?? "?"}, which this signer does not hold`);
    try {
      return { privateKey: open(k.key, Buffer.from(body, "base64url"), { kind: "signing-key", ...ctx }), format, keyId: k.keyId, primary: k === keys[0] };
    } catch (e) {
      if (e instanceof EnvelopeError) throw new ClawkeepError("integrity_error", "stored data failed its integrity check");
      throw e;
    }
  }
  const parts = sealed.split(":");
  const iv = decodePart(parts[0]!, 24, 16);
  if (!iv) throw incompatible("malformed IV");
  let ct: Buffer | undefined;
  let tag: Buffer | undefined;
  if (format === "worker-v0") {
    const all = anyEncoding(parts[1]!);
    if (!all || all.length < 17) throw incompatible("malformed ciphertext");
    [ct, tag] = [all.subarray(0, all.length - 16), all.subarray(all.length - 16)];
  } else {
    ct = anyEncoding(parts[1]!);
    tag = decodePart(parts[2]!, 32, 24);
    if (!ct || !tag) throw incompatible("malformed ciphertext or tag");
  }
  for (const k of keys) {
    const p = gcmOpen(k.key, iv, ct, tag);
    const key = p && legacyPlaintext(p);
    if (key) return { privateKey: Buffer.from(key), format, keyId: k.keyId, primary: false };
  }
  throw incompatible(format === "enclave-local-v0" ? "an enclave-mode key, sealed by the enclave's own key" : "no sealing key this signer holds opens it");
}
