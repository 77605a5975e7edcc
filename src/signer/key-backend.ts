import { ed25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { wipe } from "../crypto/bytes.js";
import { ClawkeepError } from "../errors.js";
import { generateKey, publicKeyOf, signDigestSecp256k1, signEd25519, type Curve } from "./curves.js";
import { openSealedKey, sealPrivateKey, type SealingKey } from "./sealed-key.js";
import type { SignThread } from "./sign-thread.js";

// Where private keys are used (SIGNER_MODE). The sign flow above this never touches a key: it
// asks a backend to make one (getting back the public key and a sealed backup to store), to sign
// a prepared input, or to take a backup in again. `worker` opens the backup in this process for
// one signature; `enclave` (./enclave-client.ts) sends the request to signerd, whose sealing key
// this process never has.

export interface KeyCtx {
  user: string;
  identityId: string;
  curve: Curve;
}

export type Signature = { curve: "secp256k1"; signature: Uint8Array; r: Uint8Array; s: Uint8Array; recovery: number } | { curve: "ed25519"; signature: Uint8Array };

export interface KeyBackend {
  mode: "worker" | "enclave";
  generate(ctx: KeyCtx): Promise<{ publicKey: Uint8Array; sealed: string; keyId: string }>;
  /** Signs `input` with the key whose backup is `sealed` and whose public key is `publicKeyHex`. */
  sign(ctx: KeyCtx, publicKeyHex: string, sealed: string, input: Uint8Array): Promise<Signature>;
  /** Takes a backup in: throws sealed_key_incompatible if this backend cannot open it; may hand back a resealed one. */
  restore(ctx: KeyCtx, publicKeyHex: string, sealed: string): Promise<{ format: string; resealed?: { sealed: string; keyId: string } }>;
  /** The identity was destroyed: drop whatever is held for it. */
  forget(ctx: KeyCtx): Promise<void>;
}

const pubHex = (curve: Curve, sk: Uint8Array) => Buffer.from(publicKeyOf(curve, sk)).toString("hex");

export function signWith(curve: Curve, sk: Uint8Array, input: Uint8Array): Signature {
  return curve === "secp256k1" ? { curve, ...signDigestSecp256k1(sk, input) } : { curve, signature: signEd25519(sk, input) };
}

/** Checks a signature made elsewhere against the identity's public key: a signer that answers with anything else is not believed. */
export function verifySignature(curve: Curve, publicKeyHex: string, input: Uint8Array, sig: Signature): boolean {
  try {
    const pub = Buffer.from(publicKeyHex, "hex");
    if (sig.curve !== curve) return false;
    if (sig.curve === "ed25519") return ed25519.verify(sig.signature, input, pub);
    if (sig.signature.length !== 65 || sig.signature[64] !== 27 + sig.recovery || input.length !== 32) return false;
    const compact = sig.signature.subarray(0, 64);
    // The r and s answered beside the signature must be its own halves, not other bytes.
    if (!Buffer.from(compact.subarray(0, 32)).equals(sig.r) || !Buffer.from(compact.subarray(32)).equals(sig.s)) return false;
    const parsed = secp256k1.Signature.fromBytes(compact, "compact");
    if (parsed.hasHighS()) return false;
    // Recovering Q = r⁻¹(s·R − e·G) and finding the identity's key is a full ECDSA verification
    // (and checks the recovery id too), at the cost of one verification instead of two.
    const rec = parsed.addRecoveryBit(sig.recovery).recoverPublicKey(input);
    return Buffer.from(rec.toBytes(false)).toString("hex") === publicKeyHex;
  } catch {
    return false;
  }
}

/**
 * Worker mode: sealing keys (the primary first) held by this process. With `thread`, the
 * signatures themselves are computed on it (./sign-thread.ts), off the event loop.
 */
export function workerBackend(sealingKeys: SealingKey[], thread?: SignThread): KeyBackend {
  const primary = sealingKeys[0];
  if (!primary) throw new Error("worker mode needs a sealing key");
  // Backups already found to hold the key their row names. Deriving a public key costs as much
  // as the signature itself, and an authenticated decryption of the same bytes under the same
  // sealing key always yields the same key, so the check is done once per (backup, key, public
  // key). Only ciphertext and public values are kept here; bounded, oldest dropped first.
  const checked = new Set<string>();
  const CHECKED_MAX = 10_000;
  const opened = (ctx: KeyCtx, publicKeyHex: string, sealed: string) => {
    const o = openSealedKey(sealingKeys, ctx, sealed);
    const memo = `${o.keyId}\n${ctx.identityId}\n${ctx.curve}\n${publicKeyHex}\n${sealed}`;
    if (checked.has(memo)) return o;
    // Defence in depth, and the only binding the seed's AAD-less formats have: the key must be
    // the one whose public key the (MAC'd) row records.
    if (pubHex(ctx.curve, o.privateKey) !== publicKeyHex) {
      wipe(o.privateKey);
      throw new ClawkeepError("integrity_error", "stored data failed its integrity check");
    }
    if (checked.size >= CHECKED_MAX) checked.delete(checked.values().next().value!);
    checked.add(memo);
    return o;
  };
  return {
    mode: "worker",
    async generate(ctx) {
      const sk = generateKey(ctx.curve);
      try {
        return { publicKey: publicKeyOf(ctx.curve, sk), sealed: sealPrivateKey(primary, ctx, sk), keyId: primary.keyId };
      } finally {
        wipe(sk);
      }
    },
    async sign(ctx, publicKeyHex, sealed, input) {
      const { privateKey } = opened(ctx, publicKeyHex, sealed);
      // The thread takes the key (moved, then zeroed here and there); this process keeps no copy.
      if (thread) return thread.sign(ctx.curve, privateKey, input);
      try {
        return signWith(ctx.curve, privateKey, input);
      } finally {
        wipe(privateKey);
      }
    },
    async restore(ctx, publicKeyHex, sealed) {
      const o = opened(ctx, publicKeyHex, sealed);
      try {
        return o.primary ? { format: o.format } : { format: o.format, resealed: { sealed: sealPrivateKey(primary, ctx, o.privateKey), keyId: primary.keyId } };
      } finally {
        wipe(o.privateKey);
      }
    },
    async forget() {},
  };
}
