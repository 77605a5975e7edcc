import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isRcloneCryptError } from "../../src/crypto/rclone/errors.js";
import { obscure, reveal, revealBytes } from "../../src/crypto/rclone/obscure.js";
import { hex, vectors } from "../helpers/rclone-vectors.js";

describe("rclone obscure/reveal", () => {
  for (const v of vectors.obscure) {
    it(`reveals ${v.obscured.slice(0, 12)}… (${v.kind.split(":")[0]})`, () => {
      expect(reveal(v.obscured)).toBe(v.plain);
    });
    if (v.kind.includes("fixed IV")) {
      it(`obscure with fixed IV ${v.iv_hex} matches exactly`, () => {
        expect(obscure(v.plain, hex(v.iv_hex))).toBe(v.obscured);
      });
    }
  }

  it("reveals every obscured password stored in the cases", () => {
    for (const c of vectors.cases) {
      expect(reveal(c.config.password_obscured)).toBe(c.config.password);
      if (c.config.password2_obscured !== null) expect(reveal(c.config.password2_obscured)).toBe(c.config.password2);
    }
    expect(reveal(vectors.empty_password_zero_keys.password_obscured)).toBe("");
  });

  it("obscure('') is a bare 22-char IV and output lengths follow ceil(4(16+n)/3)", () => {
    expect(obscure("")).toHaveLength(22);
    expect(obscure("hunter2")).toHaveLength(Math.ceil((4 * 23) / 3));
  });

  it("round-trips arbitrary bytes with fresh IVs", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const o1 = obscure(b);
        expect(revealBytes(o1)).toEqual(b);
        expect(o1).toMatch(/^[A-Za-z0-9_-]+$/);
      }),
    );
    expect(obscure("same")).not.toBe(obscure("same"));
  });

  it.each([
    ["padding", "AAAAAAAAAAAAAAAAAAAAAA=="],
    ["standard alphabet", "AAAAAAAAAAAAAAAAAAAAAA+/"],
    ["too short", "AAAAAAAAAAAAAAAAAAAA"],
    ["impossible length", "AAAAAAAAAAAAAAAAAAAAAAAAA"],
    ["plain base64 HKDF output", "yOnsi0TXcOayyxHVNP57oe9n6FTQCdVF1yp6aI2RC9E="],
  ])("rejects %s with rclone_bad_obscured", (_label, input) => {
    expect(() => revealBytes(input)).toThrowError(expect.objectContaining({ code: "rclone_bad_obscured" }) as Error);
  });

  it("rejects a revealed value that is not UTF-8 only in the string form", () => {
    const o = obscure(Uint8Array.of(0xff, 0xfe));
    expect(revealBytes(o)).toEqual(Uint8Array.of(0xff, 0xfe));
    try {
      reveal(o);
      expect.unreachable();
    } catch (e) {
      expect(isRcloneCryptError(e, "rclone_bad_obscured")).toBe(true);
    }
  });
});
