import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sameBytes } from "../helpers/rclone-vectors.js";
import { CHUNK_CIPHER_SIZE, CHUNK_PLAIN_SIZE, decryptContents, encryptContents } from "../../src/crypto/rclone/contents.js";
import {
  ContentDecryptor,
  createDecryptStream,
  createEncryptStream,
  decryptStream,
  encryptStream,
} from "../../src/crypto/rclone/contents-stream.js";

const C = CHUNK_PLAIN_SIZE;
const key = new Uint8Array(randomBytes(32));
// Plaintext is derived from a seed so shrinking stays cheap and sizes can reach 3 chunks.
const sizeArb = fc.oneof(
  fc.constantFrom(0, 1, C - 1, C, C + 1, 3 * C + 5),
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: -3, max: 3 })).map(([k, d]) => Math.max(0, k * C + d)),
  fc.integer({ min: 0, max: 3 * C + 100 }),
);
const nonceArb = fc.uint8Array({ minLength: 24, maxLength: 24 });

function plaintextOf(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// Cut a buffer at arbitrary points to exercise the framer.
function split(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    parts.push(buf.subarray(prev, p));
    prev = p;
  }
  return parts;
}

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of gen) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}

describe("rclone contents properties", () => {
  it("decrypt(encrypt(x)) = x around chunk boundaries", () => {
    fc.assert(
      fc.property(sizeArb, fc.integer(), (size, seed) => {
        const x = plaintextOf(size, seed);
        expect(sameBytes(decryptContents(key, encryptContents(key, x)), x)).toBe("same");
      }),
      { numRuns: 40 },
    );
  });

  it("streaming output is byte-identical to whole-buffer output, for any input split", async () => {
    await fc.assert(
      fc.asyncProperty(sizeArb, fc.integer(), nonceArb, fc.array(fc.nat(), { maxLength: 8 }), async (size, seed, nonce, cuts) => {
        const x = plaintextOf(size, seed);
        const whole = encryptContents(key, x, { nonce });
        const streamed = await collect(encryptStream(key, split(x, cuts), { nonce }));
        expect(sameBytes(streamed, whole)).toBe("same");
        expect(sameBytes(await collect(decryptStream(key, split(whole, cuts))), x)).toBe("same");
      }),
      { numRuns: 40 },
    );
  });

  it("node Transform streams match the whole-buffer helpers", async () => {
    const nonce = new Uint8Array(randomBytes(24));
    const x = plaintextOf(3 * C + 5, 7);
    const enc: Buffer[] = [];
    await pipeline(Readable.from(split(x, [1, 1000, C + 3])), createEncryptStream(key, { nonce }), async (src) => {
      for await (const b of src as AsyncIterable<Buffer>) enc.push(b);
    });
    const whole = encryptContents(key, x, { nonce });
    expect(sameBytes(new Uint8Array(Buffer.concat(enc)), whole)).toBe("same");
    const dec: Buffer[] = [];
    await pipeline(Readable.from(split(whole, [5, 40, CHUNK_CIPHER_SIZE])), createDecryptStream(key), async (src) => {
      for await (const b of src as AsyncIterable<Buffer>) dec.push(b);
    });
    expect(sameBytes(new Uint8Array(Buffer.concat(dec)), x)).toBe("same");
  });

  it("a Transform surfaces a typed error on damaged input", async () => {
    const bad = encryptContents(key, plaintextOf(100, 1));
    bad[50] = (bad[50] ?? 0) ^ 1;
    await expect(pipeline(Readable.from([bad]), createDecryptStream(key), async (src) => {
      for await (const _ of src as AsyncIterable<Buffer>) void _;
    })).rejects.toMatchObject({ code: "rclone_auth_failed" });
  });

  it("any single flipped byte is rejected, and no plaintext of the bad chunk is emitted", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 * C + 50 }),
        fc.integer(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (size, seed, posSeed, mask) => {
          const x = plaintextOf(size, seed);
          const enc = encryptContents(key, x);
          const pos = posSeed % enc.length;
          enc[pos] = (enc[pos] ?? 0) ^ mask;
          const want = pos < 8 ? "rclone_bad_magic" : "rclone_auth_failed";
          expect(() => decryptContents(key, enc)).toThrowError(expect.objectContaining({ code: want }) as Error);

          // Streaming: only whole chunks before the damaged one may come out.
          const badChunk = pos < 32 ? 0 : Math.floor((pos - 32) / CHUNK_CIPHER_SIZE);
          const dec = new ContentDecryptor(key);
          const out: Uint8Array[] = [];
          let code: string | undefined;
          try {
            for (const part of split(enc, [posSeed, 7])) dec.write(part, (p) => out.push(p));
            dec.end((p) => out.push(p));
          } catch (e) {
            code = (e as { code?: string }).code;
          }
          expect(code).toBe(want);
          const emitted = Buffer.concat(out);
          expect(emitted.length).toBe(pos < 8 ? 0 : badChunk * C);
          expect(sameBytes(new Uint8Array(emitted), x.subarray(0, emitted.length))).toBe("same");
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the async generator yields verified chunks before a damaged one, then throws", async () => {
    const x = plaintextOf(2 * C + 9, 11);
    const enc = encryptContents(key, x);
    const at = 32 + CHUNK_CIPHER_SIZE + 20;
    enc[at] = (enc[at] ?? 0) ^ 0x80;
    const got: Uint8Array[] = [];
    await expect(
      (async () => {
        for await (const p of decryptStream(key, [enc])) got.push(p);
      })(),
    ).rejects.toMatchObject({ code: "rclone_auth_failed", message: "chunk 1 failed authentication (wrong key or corrupted data)" });
    expect(got).toHaveLength(1);
    expect(sameBytes(got[0] ?? new Uint8Array(0), x.subarray(0, C))).toBe("same");
  });

  it("a failed decryptor stays failed", () => {
    const enc = encryptContents(key, plaintextOf(10, 3));
    enc[40] = (enc[40] ?? 0) ^ 1;
    const dec = new ContentDecryptor(key);
    const sink = () => undefined;
    dec.write(enc, sink);
    expect(() => dec.end(sink)).toThrowError(expect.objectContaining({ code: "rclone_auth_failed" }) as Error);
    expect(() => dec.write(new Uint8Array(1), sink)).toThrow();
  });

  it("streaming decryption of a too-short object is rclone_truncated", async () => {
    await expect(collect(decryptStream(key, [new Uint8Array(20)]))).rejects.toMatchObject({ code: "rclone_truncated" });
    const tagOnly = encryptContents(key, plaintextOf(C + 10, 1)).subarray(0, 32 + CHUNK_CIPHER_SIZE + 16);
    await expect(collect(decryptStream(key, [tagOnly]))).rejects.toMatchObject({ code: "rclone_truncated" });
  });
});
