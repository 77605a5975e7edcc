import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Transaction, computeAddress, verifyMessage, recoverAddress, Wallet } from "ethers";
import nacl from "tweetnacl";
import { base58 } from "@scure/base";
import { serializeTransaction, type Hex } from "viem";
import { addressOf, generateKey, publicKeyOf, signDigestSecp256k1, signEd25519 } from "../../src/signer/curves.js";
import { preparePayload } from "../../src/signer/payloads.js";

// Property tests over random keys and payloads: what the signer makes, a library that did not
// make it accepts (ethers for secp256k1 / EVM, tweetnacl for ed25519).

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}` as Hex;

describe("signer properties", () => {
  it("secp256k1: the address matches ethers, EIP-191 signatures over random bytes verify, s is low", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (msg) => {
        const sk = generateKey("secp256k1");
        const address = addressOf("secp256k1", publicKeyOf("secp256k1", sk));
        expect(address).toBe(computeAddress(hex(sk)));
        const p = preparePayload({ kind: "eip191", message_hex: hex(msg) }, "secp256k1", address);
        const s = signDigestSecp256k1(sk, p.signingInput);
        expect(verifyMessage(msg, hex(s.signature))).toBe(address);
        expect(BigInt(hex(s.s)) <= 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("EVM transactions with random fields: the signed transaction recovers to the signer and keeps every field", () => {
    const big = (max: bigint) => fc.bigInt({ min: 0n, max });
    fc.assert(
      fc.property(
        fc.record({ chainId: fc.integer({ min: 1, max: 2 ** 31 }), nonce: fc.integer({ min: 0, max: 2 ** 31 }), value: big(10n ** 24n), gas: big(30_000_000n), fee: big(10n ** 12n), tip: big(10n ** 9n), data: fc.uint8Array({ maxLength: 100 }) }),
        (f) => {
          const sk = generateKey("secp256k1");
          const address = addressOf("secp256k1", publicKeyOf("secp256k1", sk));
          const unsigned = Transaction.from({ type: 2, chainId: f.chainId, nonce: f.nonce, to: Wallet.createRandom().address, value: f.value, gasLimit: f.gas, maxFeePerGas: f.fee + f.tip, maxPriorityFeePerGas: f.tip, data: hex(f.data) });
          const p = preparePayload({ kind: "evm_transaction", transaction: unsigned.unsignedSerialized }, "secp256k1", address);
          expect(p.preview.value_wei).toBe(f.value.toString());
          const s = signDigestSecp256k1(sk, p.signingInput);
          const signed = Transaction.from(serializeTransaction(p.evmTx!, { r: hex(s.r), s: hex(s.s), yParity: s.recovery }));
          expect(signed.from).toBe(address);
          expect([signed.chainId, signed.nonce, signed.value, signed.data]).toEqual([BigInt(f.chainId), f.nonce, f.value, hex(f.data)]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("blind secp256k1 digests recover to the signer", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (d) => {
        const sk = generateKey("secp256k1");
        expect(recoverAddress(hex(d), hex(signDigestSecp256k1(sk, d).signature))).toBe(computeAddress(hex(sk)));
      }),
      { numRuns: 60 },
    );
  });

  it("ed25519: the address is the base58 public key, and signatures over random bytes verify with tweetnacl", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 1232 }), (msg) => {
        const sk = generateKey("ed25519");
        const pub = publicKeyOf("ed25519", sk);
        expect(base58.decode(addressOf("ed25519", pub))).toEqual(pub);
        // tweetnacl's own key from the same seed is the same key.
        expect(nacl.sign.keyPair.fromSeed(sk).publicKey).toEqual(pub);
        expect(nacl.sign.detached.verify(msg, signEd25519(sk, msg), pub)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("the same payload always has the same hashes; any change to it changes the payload hash", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ minLength: 1, maxLength: 5 }), (m, extra) => {
        const a = preparePayload({ kind: "eip191", message: m }, "secp256k1", "0x0");
        const b = preparePayload({ kind: "eip191", message: m }, "secp256k1", "0x0");
        const c = preparePayload({ kind: "eip191", message: m + extra }, "secp256k1", "0x0");
        expect([a.payloadHash, a.previewHash]).toEqual([b.payloadHash, b.previewHash]);
        expect(c.payloadHash).not.toBe(a.payloadHash);
      }),
      { numRuns: 100 },
    );
  });
});
