import { hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { deriveRcloneKeysSync } from "../../src/crypto/rclone/keys.js";
import { obscure, reveal } from "../../src/crypto/rclone/obscure.js";
import { deriveStateKeys, resolveCryptSecrets, StateKeyError } from "../../src/state/keys.js";
import { caseById, hex, vectors } from "../helpers/rclone-vectors.js";

const H = caseById("H_hkdf_master_key_style");
const MK = vectors.hkdf_example.master_key;

describe("seed-000 state key derivation", () => {
  it("matches the H_hkdf_master_key_style vector", () => {
    expect(H.master_key).toBe(MK);
    const k = deriveStateKeys(MK);
    expect(k.rcloneCryptPassword).toBe(vectors.hkdf_example.password);
    expect(k.rcloneCryptSalt).toBe(vectors.hkdf_example.password2);
    expect(k.rcloneCryptPassword).toBe(H.config.password);
    expect(k.rcloneCryptSalt).toBe(H.config.password2);
  });

  it("derives the gateway token with its own info string, 32 bytes base64", () => {
    const k = deriveStateKeys(MK);
    const expected = Buffer.from(hkdfSync("sha256", Buffer.from(MK), Buffer.alloc(0), Buffer.from("gateway-auth-token"), 32));
    expect(Buffer.from(k.gatewayAuthToken, "base64")).toEqual(expected);
    // Cross-checked with an independent HKDF (Python hmac/hashlib).
    expect(k.gatewayAuthToken).toBe("rv/S77nlUgGP1+NHsdhcuCjLjgJVTyYKYO0/m/PWfYw=");
    expect(new Set([k.gatewayAuthToken, k.rcloneCryptPassword, k.rcloneCryptSalt]).size).toBe(3);
  });

  it("uses the master key's UTF-8 bytes as given (no trimming, no base64 decoding)", () => {
    expect(deriveStateKeys("abc ")).not.toEqual(deriveStateKeys("abc"));
    const b64 = Buffer.alloc(32, 7).toString("base64");
    const direct = Buffer.from(hkdfSync("sha256", Buffer.from(b64, "utf8"), Buffer.alloc(0), Buffer.from("rclone-crypt-password"), 32));
    expect(deriveStateKeys(b64).rcloneCryptPassword).toBe(direct.toString("base64"));
  });

  it("derived passwords give case H's rclone keys", () => {
    const k = deriveStateKeys(MK);
    const rk = deriveRcloneKeysSync(k.rcloneCryptPassword, k.rcloneCryptSalt);
    expect(rk.dataKey).toEqual(hex(H.derived.data_key_hex));
    expect(rk.nameKey).toEqual(hex(H.derived.name_key_hex));
  });
});

describe("resolveCryptSecrets", () => {
  it("derives both from MASTER_KEY and hands rclone obscured forms", () => {
    const r = resolveCryptSecrets({ MASTER_KEY: MK });
    expect(Buffer.from(r.password).toString()).toBe(H.config.password);
    expect(Buffer.from(r.password2).toString()).toBe(H.config.password2);
    expect(reveal(r.passwordObscured)).toBe(H.config.password);
    expect(reveal(r.password2Obscured ?? "")).toBe(H.config.password2);
    expect([r.passwordSource, r.password2Source]).toEqual(["master-key", "master-key"]);
    expect(r.gatewayAuthToken).toBe(deriveStateKeys(MK).gatewayAuthToken);
  });

  it("RCLONE_CRYPT_PASSWORD / PASSWORD2 override the derived values after reveal", () => {
    const r = resolveCryptSecrets({
      MASTER_KEY: MK,
      RCLONE_CRYPT_PASSWORD: H.config.password_obscured,
      RCLONE_CRYPT_PASSWORD2: obscure("other salt"),
    });
    expect(Buffer.from(r.password).toString()).toBe(H.config.password);
    expect(Buffer.from(r.password2).toString()).toBe("other salt");
    expect(r.passwordObscured).toBe(H.config.password_obscured);
    expect([r.passwordSource, r.password2Source]).toEqual(["env-override", "env-override"]);
  });

  it("works without MASTER_KEY (default salt, no gateway token)", () => {
    const a = caseById("A_standard_base32_default_salt");
    const r = resolveCryptSecrets({ RCLONE_CRYPT_PASSWORD: a.config.password_obscured });
    expect(Buffer.from(r.password).toString()).toBe(a.config.password);
    expect(r.password2).toHaveLength(0);
    expect(r.password2Obscured).toBeUndefined();
    expect(r.password2Source).toBe("rclone-default");
    expect(r.gatewayAuthToken).toBeUndefined();
    expect(deriveRcloneKeysSync(r.password, r.password2).dataKey).toEqual(hex(a.derived.data_key_hex));
  });

  it("refuses to run with no password at all, and rejects unobscured overrides", () => {
    expect(() => resolveCryptSecrets({})).toThrow(StateKeyError);
    expect(() => resolveCryptSecrets({ MASTER_KEY: "" })).toThrow(StateKeyError);
    expect(() => resolveCryptSecrets({ RCLONE_CRYPT_PASSWORD: H.config.password })).toThrowError(
      expect.objectContaining({ code: "rclone_bad_obscured" }) as Error,
    );
  });
});
