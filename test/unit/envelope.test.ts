import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { randomBytes } from "node:crypto";
import { encodeAad, open, seal, EnvelopeError, ENVELOPE_OVERHEAD, type AadContext } from "../../src/crypto/envelope.js";

const key = randomBytes(32);
type SecretCtx = Extract<AadContext, { kind: "secret" }>;
const ctxArb: fc.Arbitrary<SecretCtx> = fc.record({
  kind: fc.constant("secret" as const),
  user: fc.string({ minLength: 1, maxLength: 30 }),
  agent: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/),
  name: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/),
  version: fc.integer({ min: 1, max: 1_000_000 }),
  epoch: fc.integer({ min: 1, max: 10_000 }),
  blobId: fc.stringMatching(/^[0-9a-f]{32}$/),
});

describe("secret envelope (AES-256-GCM, versioned, AAD-bound)", () => {
  it("open(seal(x)) = x for any value and context", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), ctxArb, (pt, ctx) => {
        const env = seal(key, pt, ctx);
        expect(env.length).toBe(pt.length + ENVELOPE_OVERHEAD);
        expect(Buffer.compare(open(key, env, ctx), Buffer.from(pt))).toBe(0);
      }),
    );
  });

  it("any single-byte mutation of the envelope fails to open", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 256 }), ctxArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (pt, ctx, pos, delta) => {
        const env = seal(key, pt, ctx);
        const i = pos % env.length;
        env[i] = (env[i]! + delta) & 0xff;
        expect(() => open(key, env, ctx)).toThrow(EnvelopeError);
      }),
    );
  });

  it("any change to one AAD field fails to open", () => {
    const fields = ["user", "agent", "name", "version", "epoch", "blobId"] as const;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), ctxArb, fc.constantFrom(...fields), (pt, ctx, field) => {
        const env = seal(key, pt, ctx);
        const other = { ...ctx } as Record<string, unknown>;
        const cur = other[field];
        other[field] = typeof cur === "number" ? cur + 1 : `${String(cur)}x`;
        expect(() => open(key, env, other as AadContext)).toThrow(EnvelopeError);
      }),
    );
  });

  it("any single-byte mutation of the encoded AAD changes it (no two contexts share an encoding)", () => {
    fc.assert(
      fc.property(ctxArb, ctxArb, (a, b) => {
        const h = Buffer.from("CKS\x01", "latin1");
        const same = JSON.stringify(a) === JSON.stringify(b);
        expect(encodeAad(h, a).equals(encodeAad(h, b))).toBe(same);
      }),
    );
  });

  it("a DEK envelope does not open as a secret envelope, nor under another key", () => {
    const ctx: AadContext = { kind: "dek", user: "usr_1", epoch: 1 };
    const env = seal(key, randomBytes(32), ctx);
    expect(() => open(key, env, { kind: "secret", user: "usr_1", agent: "a", name: "B", version: 1, epoch: 1, blobId: "x" })).toThrow(EnvelopeError);
    expect(() => open(randomBytes(32), env, ctx)).toThrow(EnvelopeError);
  });

  it("rejects truncated and foreign input as malformed", () => {
    const ctx: AadContext = { kind: "dek", user: "u", epoch: 1 };
    expect(() => open(key, Buffer.alloc(10), ctx)).toThrow(/malformed/);
    expect(() => open(key, Buffer.alloc(64, 1), ctx)).toThrow(/malformed/);
  });
});
