import { describe, expect, it } from "vitest";
import {
  CHUNK_CIPHER_SIZE,
  decryptContents,
  decryptedSize,
  encryptContents,
  encryptedSize,
  nonceAdd,
  nonceIncrement,
  parseHeader,
} from "../../src/crypto/rclone/contents.js";
import { decryptStream } from "../../src/crypto/rclone/contents-stream.js";
import { caseById, hex, keysOf, vectorBytes, sameBytes, vectors } from "../helpers/rclone-vectors.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of gen) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}

describe("rclone contents: every file rclone wrote", () => {
  for (const c of vectors.cases) {
    const { dataKey } = keysOf(c);
    for (const f of c.files) {
      it(`${c.id}: ${f.encrypted_file} (${f.plain_size} bytes)`, async () => {
        const enc = vectorBytes(f.encrypted_file);
        const plain = vectorBytes(f.plain_file);
        expect(enc).toHaveLength(f.encrypted_size);
        expect(encryptedSize(f.plain_size)).toBe(f.encrypted_size);
        expect(decryptedSize(f.encrypted_size)).toBe(f.plain_size);
        expect(parseHeader(enc)).toEqual(hex(f.nonce_hex));
        expect(sameBytes(decryptContents(dataKey, enc), plain)).toBe("same");
        expect(sameBytes(await collect(decryptStream(dataKey, [enc])), plain)).toBe("same");
        // With the object's own nonce our encryption must be byte-identical (what cryptcheck relies on).
        expect(sameBytes(encryptContents(dataKey, plain, { nonce: hex(f.nonce_hex) }), enc)).toBe("same");
      });
    }
  }
});

describe("rclone contents: crafted nonce-carry objects rclone read back", () => {
  const { dataKey } = keysOf(caseById("A_standard_base32_default_salt"));
  for (const f of vectors.crafted) {
    it(f.description, () => {
      const enc = vectorBytes(f.encrypted_file);
      const plain = vectorBytes(f.plain_file);
      expect(sameBytes(decryptContents(dataKey, enc), plain)).toBe("same");
      expect(sameBytes(encryptContents(dataKey, plain, { nonce: hex(f.nonce_hex) }), enc)).toBe("same");
    });
  }
});

describe("rclone contents: damaged objects rclone refuses", () => {
  const { dataKey } = keysOf(caseById("A_standard_base32_default_salt"));
  // rclone 1.60 reports tail-chunk failures as "unexpected EOF"; we say what actually failed.
  const expected: Record<string, string> = {
    "N_negative/00.bin": "rclone_truncated",
    "N_negative/01.bin": "rclone_bad_magic",
    "N_negative/02.bin": "rclone_truncated",
    "N_negative/03.bin": "rclone_auth_failed",
    "N_negative/04.bin": "rclone_auth_failed",
    "N_negative/05.bin": "rclone_auth_failed",
  };
  for (const n of vectors.negative) {
    it(`${n.description} → ${expected[n.encrypted_file]}`, async () => {
      const enc = vectorBytes(n.encrypted_file);
      expect(codeOf(() => decryptContents(dataKey, enc))).toBe(expected[n.encrypted_file]);
      const out: Uint8Array[] = [];
      let code: string | undefined;
      try {
        for await (const p of decryptStream(dataKey, [enc])) out.push(p);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      expect(code).toBe(expected[n.encrypted_file]);
      expect(out).toEqual([]);
    });
  }

  it("error messages carry no key or nonce material", () => {
    try {
      decryptContents(dataKey, vectorBytes("N_negative/05.bin"));
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).not.toContain(Buffer.from(dataKey).toString("hex").slice(0, 8));
      expect(msg).toMatch(/chunk 0 failed authentication/);
    }
  });

  it("a wrong key fails authentication", () => {
    const f = caseById("A_standard_base32_default_salt").files[1];
    if (f === undefined) throw new Error("missing vector");
    expect(codeOf(() => decryptContents(new Uint8Array(32), vectorBytes(f.encrypted_file)))).toBe("rclone_auth_failed");
  });
});

describe("rclone contents: sizes and nonce arithmetic", () => {
  it.each([
    [0, 32],
    [1, 49],
    [65535, 65583],
    [65536, 65584],
    [65537, 65601],
    [200000, 200096],
    // 16 full chunks: 32 + 16·65552. The reference's prose example says 1049120, which
    // contradicts its own formula; rclone 1.60.1 writes 1048864 bytes for a 1 MiB file.
    [1048576, 1048864],
  ])("plaintext %i ↔ encrypted %i", (n, s) => {
    expect(encryptedSize(n)).toBe(s);
    expect(decryptedSize(s)).toBe(n);
  });

  it("impossible encrypted sizes are rclone_truncated", () => {
    for (const s of [0, 31, 33, 48, 32 + CHUNK_CIPHER_SIZE + 16]) {
      expect(codeOf(() => decryptedSize(s)), String(s)).toBe("rclone_truncated");
    }
    expect(decryptedSize(32 + CHUNK_CIPHER_SIZE)).toBe(65536);
  });

  it("increments as a 192-bit little-endian counter with carry and full wrap", () => {
    const n = hex("ffffff0102030405060708090a0b0c0d0e0f101112131415");
    nonceIncrement(n);
    expect(Buffer.from(n).toString("hex")).toBe("0000000202030405060708090a0b0c0d0e0f101112131415");
    const all = new Uint8Array(24).fill(0xff);
    nonceIncrement(all);
    expect(all).toEqual(new Uint8Array(24));
  });

  it("nonceAdd seeks like repeated increments", () => {
    const start = hex("fe" + "ff".repeat(22) + "00");
    const stepped = Uint8Array.from(start);
    for (let i = 0; i < 300; i++) nonceIncrement(stepped);
    expect(nonceAdd(start, 300)).toEqual(stepped);
    expect(nonceAdd(new Uint8Array(24).fill(0xff), 1n)).toEqual(new Uint8Array(24));
    expect(nonceAdd(start, 0)).toEqual(start);
  });

  it("an empty plaintext is the bare header; random nonces differ", () => {
    const key = new Uint8Array(32).fill(1);
    const a = encryptContents(key, new Uint8Array(0));
    const b = encryptContents(key, new Uint8Array(0));
    expect(a).toHaveLength(32);
    expect(Buffer.from(a.subarray(0, 8)).toString("hex")).toBe("52434c4f4e450000");
    expect(a).not.toEqual(b);
    expect(sameBytes(decryptContents(key, a), new Uint8Array(0))).toBe("same");
  });

  it("rejects bad key and nonce lengths", () => {
    expect(codeOf(() => encryptContents(new Uint8Array(16), new Uint8Array(1)))).toBe("rclone_bad_argument");
    expect(codeOf(() => encryptContents(new Uint8Array(32), new Uint8Array(1), { nonce: new Uint8Array(12) }))).toBe(
      "rclone_bad_argument",
    );
  });
});
