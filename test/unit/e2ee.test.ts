import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { E2eeError, isE2ee, openE2ee, openE2eeText, parseE2ee, sealE2ee, serializeE2ee } from "../../src/crypto/e2ee/index.js";
import { AGENT_VECTOR_DIR, buildAgentVectors, renderVector } from "../helpers/agent-vectors.js";

// The E2EE envelope: round trip, tampering, wrong passphrase or context, and the committed
// vectors (made with node:crypto from the spec) opened by the WebCrypto code.

const reason = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(E2eeError);
    return (e as E2eeError).reason;
  }
  return "ok";
};

describe("E2EE envelope v1", () => {
  it("round trips text and bytes, with a fresh salt and IV each time", async () => {
    const a = await sealE2ee("pass phrase", "héllo wörld", { context: "bot/KEY" });
    const b = await sealE2ee("pass phrase", "héllo wörld", { context: "bot/KEY" });
    expect(a.salt).not.toBe(b.salt);
    expect(a.iv).not.toBe(b.iv);
    expect(a.iter).toBeGreaterThanOrEqual(600_000);
    expect(await openE2eeText("pass phrase", serializeE2ee(a), { context: "bot/KEY" })).toBe("héllo wörld");
    const bin = new Uint8Array([0, 255, 1, 2, 3]);
    expect(await openE2ee("p", await sealE2ee("p", bin))).toEqual(bin);
    expect(isE2ee(serializeE2ee(a))).toBe(true);
    expect(isE2ee("plain value")).toBe(false);
    expect(isE2ee('{"alg":"x"}')).toBe(false);
  });

  it("a flipped bit anywhere in salt, iv or ct fails to open; a changed header is refused", async () => {
    const e = await sealE2ee("pw", "secret", { context: "c" });
    for (const field of ["salt", "iv", "ct"] as const) {
      const raw = Buffer.from(e[field], "base64");
      for (const i of [0, raw.length - 1]) {
        const t = Buffer.from(raw);
        t[i]! ^= 0x01;
        expect(await reason(openE2ee("pw", { ...e, [field]: t.toString("base64") }, { context: "c" })), `${field}[${i}]`).toBe("auth_failed");
      }
    }
    expect(await reason(openE2ee("pw", { ...e, iter: e.iter + 1 }, { context: "c" }))).toBe("auth_failed");
    expect(await reason(openE2ee("pw", { ...e, v: 2 as 1 }, { context: "c" }))).toBe("unsupported");
    expect(await reason(openE2ee("pw", { ...e, alg: "A128GCM" as "A256GCM" }, { context: "c" }))).toBe("unsupported");
    expect(await reason(openE2ee("pw", serializeE2ee(e).slice(0, -5), { context: "c" }))).toBe("malformed");
    expect(await reason(openE2ee("pw", { ...e, ct: "AAAA" }, { context: "c" }))).toBe("malformed");
  });

  it("a wrong passphrase or a wrong context fails to open", async () => {
    const e = await sealE2ee("right", "secret", { context: "bot/A" });
    expect(await reason(openE2ee("wrong", e, { context: "bot/A" }))).toBe("auth_failed");
    expect(await reason(openE2ee("right", e, { context: "bot/B" }))).toBe("auth_failed");
    expect(await reason(openE2ee("right", e))).toBe("auth_failed");
  });

  it("refuses to seal with fewer than 600,000 iterations or an empty passphrase", async () => {
    await expect(sealE2ee("p", "x", { iterations: 599_999 })).rejects.toThrow(RangeError);
    await expect(sealE2ee("", "x")).rejects.toThrow(RangeError);
  });

  it("the module imports nothing from Node (it is the browser's code too)", () => {
    const dir = path.resolve(import.meta.dirname, "../../src/crypto/e2ee");
    for (const f of readdirSync(dir)) {
      const text = readFileSync(path.join(dir, f), "utf8");
      expect(text, f).not.toMatch(/from\s+"(node:|[a-z@])/);
      expect(text, f).not.toMatch(/\bBuffer\b|\bprocess\./);
    }
  });
});

describe("agent vectors (test/vectors/agents)", () => {
  const built = buildAgentVectors();
  it("the committed files are exactly what the generator produces", () => {
    const files = readdirSync(AGENT_VECTOR_DIR).filter((f) => f.endsWith(".json")).sort();
    expect(files).toEqual(Object.keys(built).map((n) => `${n}.json`).sort());
    for (const [name, v] of Object.entries(built)) expect(readFileSync(path.join(AGENT_VECTOR_DIR, `${name}.json`), "utf8"), name).toBe(renderVector(v));
  });

  for (const [name, v] of Object.entries(built).filter(([n]) => n.startsWith("e2ee-"))) {
    it(`${name}: open() gives ${String(v.expect)}`, async () => {
      const p = openE2eeText(v.passphrase as string, v.envelope as string, { context: v.context as string });
      if (v.expect === "ok") expect(await p).toBe(v.plaintext);
      else expect(await reason(p)).toBe(v.expect);
    });
  }

  it("e2ee-ok is reproduced by sealE2ee with the same fixed salt and IV", async () => {
    const v = built["e2ee-ok"]!;
    const salt = Uint8Array.from({ length: 16 }, (_, i) => i);
    const iv = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);
    const e = await sealE2ee(v.passphrase as string, v.plaintext as string, { context: v.context as string, fixedSaltAndIv: { salt, iv } });
    expect(serializeE2ee(e)).toBe(v.envelope);
    expect(serializeE2ee(parseE2ee(v.envelope))).toBe(v.envelope);
  });
});
