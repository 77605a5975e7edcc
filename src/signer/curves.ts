import { ed25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { base58 } from "@scure/base";
import { publicKeyToAddress } from "viem/accounts";

// The two curves an identity can hold, through @noble/curves (audited); nothing here is a
// hand-written primitive. secp256k1 keys give an EVM address (the last 20 bytes of the Keccak-256
// of the uncompressed public key, EIP-55 checksummed); ed25519 keys give a Solana address (the
// base58 of the public key).

export type Curve = "secp256k1" | "ed25519";
export const CURVES: readonly Curve[] = ["secp256k1", "ed25519"];

export function generateKey(curve: Curve): Uint8Array {
  return curve === "secp256k1" ? secp256k1.utils.randomSecretKey() : ed25519.utils.randomSecretKey();
}

export function isValidKey(curve: Curve, key: Uint8Array): boolean {
  if (key.length !== 32) return false;
  return curve === "secp256k1" ? secp256k1.utils.isValidSecretKey(key) : true;
}

export function publicKeyOf(curve: Curve, key: Uint8Array): Uint8Array {
  return curve === "secp256k1" ? secp256k1.getPublicKey(key, false) : ed25519.getPublicKey(key);
}

export function addressOf(curve: Curve, publicKey: Uint8Array): string {
  if (curve === "ed25519") return base58.encode(publicKey);
  return publicKeyToAddress(`0x${Buffer.from(publicKey).toString("hex")}`);
}

/**
 * secp256k1 over a 32-byte digest: RFC 6979 nonces, low-s (EIP-2), with the recovery id, laid
 * out as Ethereum expects: r (32) || s (32) || v (27 + recovery).
 */
export function signDigestSecp256k1(key: Uint8Array, digest: Uint8Array): { signature: Uint8Array; r: Uint8Array; s: Uint8Array; recovery: number } {
  if (digest.length !== 32) throw new RangeError("digest must be 32 bytes");
  return fromRecovered(secp256k1.sign(digest, key, { prehash: false, lowS: true, format: "recovered" }));
}

/** @noble/curves' "recovered" form (recovery id || r || s) in the layout above. */
export function fromRecovered(rec: Uint8Array): { signature: Uint8Array; r: Uint8Array; s: Uint8Array; recovery: number } {
  if (rec.length !== 65) throw new RangeError("a recovered signature is 65 bytes");
  const recovery = rec[0]!;
  const r = rec.subarray(1, 33);
  const s = rec.subarray(33, 65);
  const signature = new Uint8Array(65);
  signature.set(r, 0);
  signature.set(s, 32);
  signature[64] = 27 + recovery;
  return { signature, r, s, recovery };
}

export function signEd25519(key: Uint8Array, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, key);
}
