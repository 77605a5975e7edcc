// The two secretbox implementations (libsodium through sodium-native, and @noble/ciphers as the
// fallback) must give the same bytes, and both must reproduce every chunk rclone itself wrote.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  CHUNK_CIPHER_SIZE,
  CHUNK_PLAIN_SIZE,
  CHUNK_TAG_SIZE,
  HEADER_SIZE,
  nobleSecretbox,
  nonceIncrement,
  parseHeader,
  type SecretboxBackend,
  secretbox,
  sodiumSecretbox,
} from "../../src/crypto/rclone/contents.js";
import { hex, keysOf, sameBytes, vectorBytes, vectors } from "../helpers/rclone-vectors.js";

const rand = (n: number) => new Uint8Array(randomBytes(n));

// Encrypt a whole object chunk by chunk with one backend (the layout of contents.ts).
function encryptWith(b: SecretboxBackend, key: Uint8Array, nonce0: Uint8Array, plain: Uint8Array): Uint8Array {
  const nonce = Uint8Array.from(nonce0);
  const parts: Uint8Array[] = [Uint8Array.of(0x52, 0x43, 0x4c, 0x4f, 0x4e, 0x45, 0, 0), nonce0];
  for (let p = 0; p < plain.length; p += CHUNK_PLAIN_SIZE) {
    const piece = plain.subarray(p, p + CHUNK_PLAIN_SIZE);
    const out = new Uint8Array(piece.length + CHUNK_TAG_SIZE);
    b.seal(out, piece, nonce, key);
    parts.push(out);
    nonceIncrement(nonce);
  }
  return new Uint8Array(Buffer.concat(parts));
}

describe("secretbox backends", () => {
  it("sodium-native loads here and is the one in use", () => {
    expect(sodiumSecretbox()?.name).toBe("sodium-native");
    expect(secretbox.name).toBe("sodium-native");
  });

  const sodium = sodiumSecretbox() as SecretboxBackend;

  it("sodium and noble seal to identical bytes and open each other's output", () => {
    for (const n of [1, 15, 16, 17, 1000, CHUNK_PLAIN_SIZE - 1, CHUNK_PLAIN_SIZE]) {
      const key = rand(32);
      const nonce = rand(24);
      const plain = rand(n);
      const a = new Uint8Array(n + 16);
      const b = new Uint8Array(n + 16);
      sodium.seal(a, plain, nonce, key);
      nobleSecretbox.seal(b, plain, nonce, key);
      expect(sameBytes(a, b)).toBe("same");
      const pa = new Uint8Array(n);
      const pb = new Uint8Array(n);
      expect(sodium.open(pa, b, nonce, key)).toBe(true);
      expect(nobleSecretbox.open(pb, a, nonce, key)).toBe(true);
      expect(sameBytes(pa, plain)).toBe("same");
      expect(sameBytes(pb, plain)).toBe("same");
      a[n % (n + 16)] = (a[n % (n + 16)] ?? 0) ^ 1;
      expect(sodium.open(pa, a, nonce, key)).toBe(false);
      expect(nobleSecretbox.open(pb, a, nonce, key)).toBe(false);
    }
  });

  it("both backends reproduce every object rclone wrote, byte for byte", () => {
    let checked = 0;
    for (const c of vectors.cases) {
      const { dataKey } = keysOf(c);
      for (const f of c.files) {
        const enc = vectorBytes(f.encrypted_file);
        const plain = vectorBytes(f.plain_file);
        const nonce = hex(f.nonce_hex);
        expect(parseHeader(enc)).toEqual(nonce);
        for (const b of [sodium, nobleSecretbox]) expect(sameBytes(encryptWith(b, dataKey, nonce, plain), enc)).toBe("same");
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(HEADER_SIZE + CHUNK_CIPHER_SIZE).toBe(65584);
  });
});
