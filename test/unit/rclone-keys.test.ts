import { describe, expect, it } from "vitest";
import { deriveRcloneKeys, deriveRcloneKeysSync, RCLONE_DEFAULT_SALT } from "../../src/crypto/rclone/keys.js";
import { revealBytes } from "../../src/crypto/rclone/obscure.js";
import { hex, vectors } from "../helpers/rclone-vectors.js";

describe("rclone key derivation (scrypt)", () => {
  it("default salt matches the manifest constant", () => {
    expect(Buffer.from(RCLONE_DEFAULT_SALT).toString("hex")).toBe("a80df43a8fbd0308a7cab83e581f86b1");
  });

  for (const c of vectors.cases) {
    it(`${c.id}: plain passwords give the documented keys`, async () => {
      const k = await deriveRcloneKeys(c.config.password, c.config.password2);
      expect(Buffer.from(k.dataKey).toString("hex")).toBe(c.derived.data_key_hex);
      expect(Buffer.from(k.nameKey).toString("hex")).toBe(c.derived.name_key_hex);
      expect(Buffer.from(k.nameTweak).toString("hex")).toBe(c.derived.name_tweak_hex);
    });

    it(`${c.id}: revealing rclone's obscured config gives the same keys`, () => {
      const pw2 = c.config.password2_obscured === null ? undefined : revealBytes(c.config.password2_obscured);
      const k = deriveRcloneKeysSync(revealBytes(c.config.password_obscured), pw2);
      expect(k.dataKey).toEqual(hex(c.derived.data_key_hex));
      expect(k.nameTweak).toEqual(hex(c.derived.name_tweak_hex));
    });
  }

  it("an empty (obscured-empty) password yields all-zero keys without scrypt", async () => {
    const z = vectors.empty_password_zero_keys;
    const k = await deriveRcloneKeys(revealBytes(z.password_obscured));
    expect(k.dataKey).toEqual(hex(z.data_key_hex));
    expect(k.nameKey).toEqual(hex(z.name_key_hex));
    expect(k.nameTweak).toEqual(hex(z.name_tweak_hex));
  });

  it("empty password2 and missing password2 both select the default salt", () => {
    const a = deriveRcloneKeysSync("x", "");
    const b = deriveRcloneKeysSync("x");
    const c = deriveRcloneKeysSync("x", RCLONE_DEFAULT_SALT);
    expect(a).toEqual(b);
    expect(a).toEqual(c);
  });
});
