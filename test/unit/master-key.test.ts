import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadMasterKey } from "../../src/keys/master.js";
import { ClawkeepError } from "../../src/errors.js";
import { redact } from "../../src/redacted.js";

const dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), "ck-master-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function failure(fn: () => unknown): ClawkeepError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ClawkeepError);
    expect((e as ClawkeepError).code).toBe("config_invalid");
    return e as ClawkeepError;
  }
  throw new Error("expected config_invalid");
}

describe("loadMasterKey", () => {
  it("creates <data-dir>/master.key, mode 0600, base64 of 32 bytes and a newline, when missing and create is true", () => {
    const dataDir = path.join(newDir(), "data");
    const m = loadMasterKey({ masterKey: undefined, dataDir }, { create: true });
    const file = path.join(dataDir, "master.key");
    expect(m).toMatchObject({ origin: "created", file });
    expect(m.key.length).toBe(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o077).toBe(0);
    const text = readFileSync(file, "utf8");
    expect(text).toBe(`${m.key.toString("base64")}\n`);
    // The next start reads the same key back.
    const again = loadMasterKey({ masterKey: undefined, dataDir }, { create: true });
    expect(again.origin).toBe("file");
    expect(again.key.equals(m.key)).toBe(true);
  });

  it("refuses when the file is missing and create is false, and creates nothing", () => {
    const dataDir = newDir();
    const e = failure(() => loadMasterKey({ masterKey: undefined, dataDir }, { create: false }));
    expect(e.message).toMatch(/^CLAWKEEP_MASTER_KEY:/);
    expect(existsSync(path.join(dataDir, "master.key"))).toBe(false);
  });

  it.each([0o640, 0o604, 0o660, 0o644])("refuses a key file with mode %o (readable beyond its owner)", (mode) => {
    const dataDir = newDir();
    const file = path.join(dataDir, "master.key");
    const key = Buffer.alloc(32, 9).toString("base64");
    writeFileSync(file, `${key}\n`);
    chmodSync(file, mode);
    const e = failure(() => loadMasterKey({ masterKey: undefined, dataDir }, { create: true }));
    expect(e.message).toContain("chmod 600");
    expect(e.message).not.toContain(key);
  });

  it("prefers CLAWKEEP_MASTER_KEY over the file, and never creates a file then", () => {
    const dataDir = newDir();
    const key = Buffer.alloc(32, 3);
    const m = loadMasterKey({ masterKey: redact(key.toString("base64")), dataDir }, { create: true });
    expect(m.origin).toBe("env");
    expect(m.key.equals(key)).toBe(true);
    expect(existsSync(path.join(dataDir, "master.key"))).toBe(false);
  });

  it("accepts base64url and unpadded base64", () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xf8 + i));
    for (const text of [key.toString("base64url"), key.toString("base64").replace(/=+$/, "")]) {
      expect(loadMasterKey({ masterKey: redact(text), dataDir: newDir() }, { create: false }).key.equals(key)).toBe(true);
    }
  });

  it.each([
    ["not base64", "this is not base64!!"],
    ["wrong length (16 bytes)", Buffer.alloc(16, 5).toString("base64")],
    ["wrong length (33 bytes)", Buffer.alloc(33, 5).toString("base64")],
  ])("rejects %s in CLAWKEEP_MASTER_KEY, naming the variable without echoing the value", (_what, value) => {
    const e = failure(() => loadMasterKey({ masterKey: redact(value), dataDir: newDir() }, { create: false }));
    expect(e.message).toMatch(/^CLAWKEEP_MASTER_KEY:/);
    expect(e.message).not.toContain(value);
  });

  it("rejects a key file that does not hold 32 bytes, naming the file without echoing its content", () => {
    const dataDir = newDir();
    const file = path.join(dataDir, "master.key");
    const value = Buffer.alloc(31, 1).toString("base64");
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    const e = failure(() => loadMasterKey({ masterKey: undefined, dataDir }, { create: false }));
    expect(e.message).toContain(file);
    expect(e.message).not.toContain(value);
  });
});
