import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { generateKey, publicKeyOf, signDigestSecp256k1, signEd25519 } from "../../src/signer/curves.js";
import { verifySignature, type Signature } from "../../src/signer/key-backend.js";

// In enclave mode the API believes a signature from signerd only if verifySignature accepts it
// for the identity's public key. It checks secp256k1 signatures by recovering the key (one
// verification's cost); these are the answers a lying signer could give, each refused.

const N = secp256k1.Point.CURVE().n;
const pubHex = (sk: Uint8Array) => Buffer.from(publicKeyOf("secp256k1", sk)).toString("hex");
const be32 = (x: bigint) => Buffer.from(x.toString(16).padStart(64, "0"), "hex");

describe("verifySignature (signatures signerd returns)", () => {
  it("accepts every honest secp256k1 signature and refuses each forgery of it", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat({ max: 63 }), (digest, bit) => {
        const sk = generateKey("secp256k1");
        const pub = pubHex(sk);
        const s = signDigestSecp256k1(sk, digest);
        const good: Signature = { curve: "secp256k1", ...s };
        expect(verifySignature("secp256k1", pub, digest, good)).toBe(true);

        // Another identity's key, another digest, a flipped bit, the other recovery id.
        expect(verifySignature("secp256k1", pubHex(generateKey("secp256k1")), digest, good)).toBe(false);
        const other = Uint8Array.from(digest);
        other[bit % 32]! ^= 1 << (bit % 8);
        expect(verifySignature("secp256k1", pub, other, good)).toBe(false);
        const flipped = Uint8Array.from(s.signature);
        flipped[bit]! ^= 1;
        expect(verifySignature("secp256k1", pub, digest, { ...good, signature: flipped, r: flipped.subarray(0, 32), s: flipped.subarray(32, 64) })).toBe(false);
        const rec = 1 - s.recovery;
        const sig2 = Uint8Array.from(s.signature);
        sig2[64] = 27 + rec;
        expect(verifySignature("secp256k1", pub, digest, { ...good, signature: sig2, recovery: rec })).toBe(false);

        // The high-s twin is a valid ECDSA signature (with the other recovery id), refused: the
        // signer promises low s.
        const highS = N - BigInt(`0x${Buffer.from(s.s).toString("hex")}`);
        const twin = new Uint8Array(65);
        twin.set(s.r, 0);
        twin.set(be32(highS), 32);
        twin[64] = 27 + rec;
        expect(verifySignature("secp256k1", pub, digest, { curve: "secp256k1", signature: twin, r: twin.subarray(0, 32), s: twin.subarray(32, 64), recovery: rec })).toBe(false);

        // r and s answered beside the signature must be its own halves; v must match the id.
        expect(verifySignature("secp256k1", pub, digest, { ...good, r: Uint8Array.from(s.s) })).toBe(false);
        const badV = Uint8Array.from(s.signature);
        badV[64] = 0;
        expect(verifySignature("secp256k1", pub, digest, { ...good, signature: badV })).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it("ed25519: accepts the honest signature, refuses another key, message or curve", () => {
    const sk = generateKey("ed25519");
    const pub = Buffer.from(publicKeyOf("ed25519", sk)).toString("hex");
    const msg = Buffer.from("solana message bytes");
    const sig: Signature = { curve: "ed25519", signature: signEd25519(sk, msg) };
    expect(verifySignature("ed25519", pub, msg, sig)).toBe(true);
    expect(verifySignature("ed25519", Buffer.from(publicKeyOf("ed25519", generateKey("ed25519"))).toString("hex"), msg, sig)).toBe(false);
    expect(verifySignature("ed25519", pub, Buffer.from("another message"), sig)).toBe(false);
    expect(verifySignature("secp256k1", pub, msg, sig)).toBe(false);
  });
});
