import { describe, expect, it } from "vitest";
import { inspect } from "node:util";
import { Redacted } from "../../src/redacted.js";
import { constantTimeEqual } from "../../src/crypto/bytes.js";

describe("Redacted<T>", () => {
  it("never prints its value, however it is printed", () => {
    const r = new Redacted("s3cr3t-value");
    for (const s of [String(r), `${r}`, JSON.stringify({ r }), inspect(r), inspect({ deep: { r } })]) expect(s).not.toContain("s3cr3t");
    expect(r.unwrap()).toBe("s3cr3t-value");
  });
});

describe("constantTimeEqual", () => {
  it("compares strings and bytes of any length", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual(Buffer.from([1, 2]), Buffer.from([1, 2]))).toBe(true);
    expect(constantTimeEqual("", "")).toBe(true);
  });
});
