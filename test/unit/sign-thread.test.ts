import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { generateKey, signDigestSecp256k1, signEd25519 } from "../../src/signer/curves.js";
import { createSignThread } from "../../src/signer/sign-thread.js";

// Worker-mode signatures are made on a thread whose code calls @noble/curves itself. Both curves
// sign deterministically (RFC 6979 for secp256k1, RFC 8032 for ed25519), so the thread must give
// exactly the bytes curves.ts gives on the event loop, for any key and input.

const thread = createSignThread();
afterAll(() => thread.close());

describe("sign thread", () => {
  it("gives the same signatures as curves.ts, byte for byte, and zeroes the key it was given", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 0, maxLength: 300 }), async (digest, message) => {
        const sk = generateKey("secp256k1");
        const expected = signDigestSecp256k1(sk, digest);
        const given = Uint8Array.from(sk);
        const got = await thread.sign("secp256k1", given, digest);
        expect(got).toEqual({ curve: "secp256k1", ...expected });
        expect(given.every((b) => b === 0)).toBe(true);

        const ed = generateKey("ed25519");
        const edGot = await thread.sign("ed25519", Uint8Array.from(ed), message);
        expect(edGot).toEqual({ curve: "ed25519", signature: signEd25519(ed, message) });
      }),
      { numRuns: 40 },
    );
  });

  it("many signatures at once each come back to their own caller", async () => {
    const keys = Array.from({ length: 32 }, () => generateKey("secp256k1"));
    const digests = keys.map((_, i) => new Uint8Array(32).fill(i + 1));
    const sigs = await Promise.all(keys.map((k, i) => thread.sign("secp256k1", Uint8Array.from(k), digests[i]!)));
    sigs.forEach((s, i) => expect(s).toEqual({ curve: "secp256k1", ...signDigestSecp256k1(keys[i]!, digests[i]!) }));
  });

  it("refuses a secp256k1 input that is not a 32-byte digest; a stopped thread fails what it owed and the next signature starts a new one", async () => {
    const refused = generateKey("secp256k1");
    await expect(thread.sign("secp256k1", refused, new Uint8Array(31))).rejects.toThrow(/32 bytes/);
    expect(refused.every((b) => b === 0)).toBe(true); // zeroed on the refusal too
    const t = createSignThread();
    const owed = expect(t.sign("secp256k1", generateKey("secp256k1"), new Uint8Array(32).fill(7))).rejects.toMatchObject({ code: "unavailable" });
    await t.close();
    await owed;
    const k = generateKey("secp256k1");
    expect(await t.sign("secp256k1", Uint8Array.from(k), new Uint8Array(32).fill(9))).toEqual({ curve: "secp256k1", ...signDigestSecp256k1(k, new Uint8Array(32).fill(9)) });
    await t.close();
  });
});
