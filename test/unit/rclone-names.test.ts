import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emeTransform } from "../../src/crypto/rclone/eme.js";
import { RcloneNameCipher } from "../../src/crypto/rclone/names.js";
import { addVersionTag, stripVersionTag } from "../../src/crypto/rclone/name-version.js";
import { caseById, hex, keysOf, vectors, type VectorCase } from "../helpers/rclone-vectors.js";

function cipherFor(c: VectorCase): RcloneNameCipher {
  return new RcloneNameCipher(keysOf(c), {
    filenameEncryption: c.config.filename_encryption,
    directoryNameEncryption: c.config.directory_name_encryption,
    filenameEncoding: c.config.filename_encoding,
  });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe("rclone names: every vector case, both directions", () => {
  for (const c of vectors.cases) {
    describe(c.id, () => {
      const nc = cipherFor(c);
      it("name_vectors (rclone backend encode) match exactly", () => {
        for (const v of c.name_vectors) {
          expect(nc.encryptFilePath(v.plain), v.plain).toBe(v.encrypted);
          expect(nc.decryptFilePath(v.encrypted), v.encrypted).toBe(v.plain);
        }
      });
      it("file paths rclone wrote on disk", () => {
        for (const f of c.files) {
          expect(nc.encryptFilePath(f.plain_path)).toBe(f.encrypted_path);
          expect(nc.decryptFilePath(f.encrypted_path)).toBe(f.plain_path);
        }
      });
      it("directory paths rclone created", () => {
        for (const d of c.dirs) {
          expect(nc.encryptDirPath(d.plain_dir)).toBe(d.encrypted_dir);
          expect(nc.decryptDirPath(d.encrypted_dir)).toBe(d.plain_dir);
        }
      });
    });
  }

  it("crafted and negative objects' names (keys of case A)", () => {
    const nc = cipherFor(caseById("A_standard_base32_default_salt"));
    for (const f of [...vectors.crafted, ...vectors.negative]) {
      expect(nc.encryptFilePath(f.plain_path)).toBe(f.encrypted_path);
      expect(nc.decryptFilePath(f.encrypted_path)).toBe(f.plain_path);
    }
  });

  it("all-zero keys from an empty password", () => {
    const z = vectors.empty_password_zero_keys;
    const nc = new RcloneNameCipher({ nameKey: hex(z.name_key_hex), nameTweak: hex(z.name_tweak_hex) });
    for (const v of z.name_vectors) {
      expect(nc.encryptFilePath(v.plain)).toBe(v.encrypted);
      expect(nc.decryptFilePath(v.encrypted)).toBe(v.plain);
    }
  });
});

describe("rclone names: properties and rejects", () => {
  const A = caseById("A_standard_base32_default_salt");
  const std = cipherFor(A);
  const encodings = ["base32", "base64", "base32768"] as const;

  it("EME is a length-preserving permutation for 1..128 blocks", () => {
    const { nameKey, nameTweak } = keysOf(A);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }).chain((m) => fc.uint8Array({ minLength: 16 * m, maxLength: 16 * m })), (p) => {
        const c = emeTransform(nameKey, nameTweak, p, "encrypt");
        expect(c).toHaveLength(p.length);
        expect(emeTransform(nameKey, nameTweak, c, "decrypt")).toEqual(p);
      }),
      { numRuns: 50 },
    );
  });

  it("raw-byte segments round-trip in every encoding, including non-UTF-8 bytes", () => {
    for (const filenameEncoding of encodings) {
      const nc = new RcloneNameCipher(keysOf(A), { filenameEncoding });
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (b) => {
          expect(nc.decryptSegmentBytes(nc.encryptSegmentBytes(b))).toEqual(b);
        }),
        { numRuns: 60 },
      );
    }
  });

  it("string paths round-trip in every mode", () => {
    const seg = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((s) => !s.includes("/"));
    const modes = [
      ...encodings.map((e) => ({ filenameEncoding: e })),
      { filenameEncryption: "obfuscate" as const },
      { filenameEncryption: "off" as const },
      { directoryNameEncryption: false },
    ];
    for (const opts of modes) {
      const nc = new RcloneNameCipher(keysOf(A), opts);
      fc.assert(
        fc.property(fc.array(seg, { minLength: 1, maxLength: 4 }), (segs) => {
          const p = segs.join("/");
          expect(nc.decryptFilePath(nc.encryptFilePath(p))).toBe(p);
          expect(nc.decryptDirPath(nc.encryptDirPath(p))).toBe(p);
        }),
        { numRuns: 60 },
      );
    }
  });

  it("encrypted base32 lengths follow ceil(8P/5) and 143 bytes is the 255-char limit", () => {
    expect(std.encryptSegment("x".repeat(143))).toHaveLength(231);
    expect(std.encryptSegment("x".repeat(144))).toHaveLength(256);
    expect(std.encryptSegment("x".repeat(2047)).length).toBe(Math.ceil((8 * 2048) / 5));
    expect(codeOf(() => std.encryptSegment("x".repeat(2048)))).toBe("rclone_name_too_long");
  });

  it("base32 decoding is case-insensitive like rclone's", () => {
    expect(std.decryptSegment("EC246HUKQI06HEBPL4I8L4E250")).toBe("a");
  });

  it.each([
    ["not base32", "ec246hukqi06hebpl4i8l4e25!"],
    ["explicit padding", "ec246hukqi06hebpl4i8l4e250======"],
    ["letters beyond v", "ec246hukqi06hebpl4i8l4e25z"],
    ["impossible length", "ec246hukqi06hebpl4i8l4e25"],
    ["not a multiple of 16 bytes", "ec246hukqi06hebpl4i8"],
    ["bad PKCS#7 padding (valid EME of garbage)", "00000000000000000000000000"],
    ["a plain name", "file.txt"],
  ])("rejects %s with rclone_bad_name", (_l, name) => {
    expect(codeOf(() => std.decryptFilePath(name))).toBe("rclone_bad_name");
  });

  it("names longer than 2048 decoded bytes are rejected", () => {
    const tooLong = "0".repeat(Math.ceil((8 * 2064) / 5));
    expect(codeOf(() => std.decryptSegment(tooLong))).toBe("rclone_bad_name");
  });

  it("a decrypted name that is not UTF-8 fails only the string API", () => {
    const enc = std.encryptSegmentBytes(Uint8Array.of(0x66, 0xff));
    expect(std.decryptSegmentBytes(enc)).toEqual(Uint8Array.of(0x66, 0xff));
    expect(codeOf(() => std.decryptSegment(enc))).toBe("rclone_name_not_utf8");
  });

  it("base64 and base32768 decoders reject foreign text", () => {
    const b64 = new RcloneNameCipher(keysOf(A), { filenameEncoding: "base64" });
    const b32k = new RcloneNameCipher(keysOf(A), { filenameEncoding: "base32768" });
    expect(codeOf(() => b64.decryptSegment("cwRDR9TUgGi5eakkipHCKA=="))).toBe("rclone_bad_name");
    expect(codeOf(() => b64.decryptSegment("cwRDR9TUgGi5eakkipHCK+"))).toBe("rclone_bad_name");
    expect(codeOf(() => b32k.decryptSegment("abc"))).toBe("rclone_bad_name");
    // A 7-bit final character anywhere but last is invalid.
    expect(codeOf(() => b32k.decryptSegment("ɟ忢㜑ꄺ湦氫贄潵㠂㪿"))).toBe("rclone_bad_name");
  });

  it("off mode refuses names without a real .bin suffix", () => {
    const off = new RcloneNameCipher(keysOf(A), { filenameEncryption: "off" });
    expect(codeOf(() => off.decryptFilePath(".bin"))).toBe("rclone_bad_name");
    expect(codeOf(() => off.decryptFilePath("x.txt"))).toBe("rclone_bad_name");
    expect(codeOf(() => off.decryptFilePath("-v2001-02-03-040506-789.bin"))).toBe("rclone_bad_name");
    expect(off.decryptFilePath("d/x.bin")).toBe("d/x");
  });

  it("obfuscate mode rejects names without a rotation prefix and keeps the documented example", () => {
    const ob = new RcloneNameCipher(keysOf(A), { filenameEncryption: "obfuscate" });
    expect(ob.encryptFilePath("!bang & spaces (1).md")).toBe("63.!!xwJC & OLwyAO (9).Iz");
    expect(codeOf(() => ob.decryptFilePath("noprefix"))).toBe("rclone_bad_name");
    expect(codeOf(() => ob.decryptFilePath("x1.abc"))).toBe("rclone_bad_name");
    expect(ob.decryptFilePath("!.raw")).toBe("raw");
  });

  it("version tags: only valid times at the end of the stem are kept in clear", () => {
    expect(stripVersionTag("report-v2001-02-03-040506-789.txt")).toEqual({ name: "report.txt", tag: "-v2001-02-03-040506-789" });
    expect(stripVersionTag("x-v2001-02-30-040506-789.txt")).toBeUndefined();
    expect(stripVersionTag("x-v2000-02-29-235959-000")).toEqual({ name: "x", tag: "-v2000-02-29-235959-000" });
    expect(stripVersionTag("x-v1900-02-29-000000-000")).toBeUndefined();
    expect(stripVersionTag("x-v2001-13-01-000000-000")).toBeUndefined();
    expect(stripVersionTag("x-v2001-01-01-240000-000")).toBeUndefined();
    expect(stripVersionTag("-v2001-01-01-000000-000x.txt")).toBeUndefined();
    expect(addVersionTag(".hidden", "-v2001-01-01-000000-000")).toBe(".hidden-v2001-01-01-000000-000");
    // Directory segments never get the special case.
    const enc = std.encryptFilePath("d-v2001-02-03-040506-789/f");
    expect(enc.split("/")[0]).not.toContain("-v2001");
  });
});
