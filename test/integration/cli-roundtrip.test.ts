import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { tempDir } from "../helpers/runtime.js";
import { runCli, startServer, type ServerProc } from "../helpers/proc.js";

// The real `clawkeep serve` process driven by the real CLI, as a user would.

let dir: string;
let server: ServerProc;
let env: Record<string, string>;

beforeAll(async () => {
  dir = tempDir();
  server = await startServer(dir);
  const admin = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: server.adminToken() };
  const created = await runCli(["user", "create", "alice", "--json"], { env: admin });
  expect(created.code).toBe(0);
  const j = JSON.parse(created.stdout.toString()) as { user: { name: string }; token: string };
  expect(j.user.name).toBe("alice");
  expect(j.token).toMatch(/^ck_[A-Za-z0-9_-]{43}$/);
  env = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: j.token };
  expect((await runCli(["agent", "create", "bot"], { env })).code).toBe(0);
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("first start", () => {
  it("creates master.key and admin.token 0600 and says to back the key up", () => {
    expect(statSync(path.join(dir, "master.key")).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, "admin.token")).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, "clawkeep.db")).mode & 0o077).toBe(0);
    expect(server.output()).toMatch(/BACK IT UP/);
    expect(server.output()).not.toContain(server.adminToken());
  });

  it("answers /health", async () => {
    const r = await fetch(`${server.url}/health`);
    expect(await r.json()).toEqual({ ok: true, service: "clawkeep" });
  });
});

describe("secrets through the CLI", () => {
  it("text values over several versions", async () => {
    for (const v of ["first", "second value", "third\nwith newline\n"]) {
      const put = await runCli(["secret", "put", "bot/OPENAI_API_KEY"], { env, input: v });
      expect(put.code, put.stderr).toBe(0);
    }
    const latest = await runCli(["secret", "get", "bot/OPENAI_API_KEY"], { env });
    expect(latest.stdout.toString()).toBe("third\nwith newline\n");
    const v1 = await runCli(["secret", "get", "bot/OPENAI_API_KEY", "--version", "1"], { env });
    expect(v1.stdout.toString()).toBe("first");
    const j = await runCli(["secret", "get", "bot/OPENAI_API_KEY", "--version", "2", "--json"], { env });
    expect(JSON.parse(j.stdout.toString())).toMatchObject({ agent: "bot", name: "OPENAI_API_KEY", version: 2, encoding: "utf8", value: "second value" });
    const versions = await runCli(["secret", "versions", "bot/OPENAI_API_KEY", "--json"], { env });
    expect((JSON.parse(versions.stdout.toString()) as { versions: { version: number }[] }).versions.map((v) => v.version)).toEqual([1, 2, 3]);
  });

  it("binary values, byte for byte, from stdin and from a file", async () => {
    const bin = Buffer.concat([Buffer.from([0, 255, 0, 10, 13]), randomBytes(4096)]);
    const put = await runCli(["secret", "put", "bot/BLOB"], { env, input: bin });
    expect(put.code, put.stderr).toBe(0);
    const got = await runCli(["secret", "get", "bot/BLOB"], { env });
    expect(got.stdout.equals(bin)).toBe(true);
    const file = path.join(dir, "value.bin");
    const bin2 = randomBytes(65536);
    writeFileSync(file, bin2);
    expect((await runCli(["secret", "put", "bot/BLOB", "--from-file", file], { env })).code).toBe(0);
    expect((await runCli(["secret", "get", "bot/BLOB"], { env })).stdout.equals(bin2)).toBe(true);
    const j = JSON.parse((await runCli(["secret", "get", "bot/BLOB", "--version", "1", "--json"], { env })).stdout.toString());
    expect(j.encoding).toBe("base64");
    expect(Buffer.from(j.value, "base64").equals(bin)).toBe(true);
  });

  it("ls shows names and versions, never values", async () => {
    const ls = await runCli(["secret", "ls", "--json"], { env });
    const j = JSON.parse(ls.stdout.toString()) as { secrets: { agent: string; name: string; version: number }[] };
    expect(j.secrets.map((s) => `${s.agent}/${s.name}@${s.version}`)).toEqual(["bot/BLOB@2", "bot/OPENAI_API_KEY@3"]);
    expect(ls.stdout.toString()).not.toContain("third");
    const text = await runCli(["secret", "ls", "bot"], { env });
    expect(text.stdout.toString()).toMatch(/bot\/OPENAI_API_KEY\tv3/);
  });

  it("rm tombstones: latest is gone (exit 3), history stays, a new put resumes", async () => {
    expect((await runCli(["secret", "rm", "bot/OPENAI_API_KEY"], { env })).code).toBe(0);
    const gone = await runCli(["secret", "get", "bot/OPENAI_API_KEY"], { env });
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/not_found/);
    const versions = JSON.parse((await runCli(["secret", "versions", "bot/OPENAI_API_KEY", "--json"], { env })).stdout.toString());
    expect(versions.versions.at(-1)).toMatchObject({ version: 4, deleted: true });
    expect((await runCli(["secret", "put", "bot/OPENAI_API_KEY"], { env, input: "again" })).code).toBe(0);
    expect((await runCli(["secret", "get", "bot/OPENAI_API_KEY"], { env })).stdout.toString()).toBe("again");
  });

  it("never takes a value from argv, and exit codes are stable", async () => {
    const extra = await runCli(["secret", "put", "bot/X", "inline-value"], { env });
    expect(extra.code).toBe(2);
    expect((await runCli(["secret", "get", "bot/bad-name"], { env })).code).toBe(2);
    expect((await runCli(["secret", "get", "bot/X"], { env: { ...env, CLAWKEEP_TOKEN: `ck_${"x".repeat(43)}` } })).code).toBe(4);
    expect((await runCli(["secret", "get", "bot/X"], { env: { ...env, CLAWKEEP_ADDR: "http://127.0.0.1:1" } })).code).toBe(6);
    expect((await runCli(["--version"])).stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("audit verify (online and offline) and export", async () => {
    // A user learns whether the chain is intact and when it was checked, not its length (which
    // tells of every user's activity); the admin gets the count.
    const mine = await runCli(["audit", "verify"], { env });
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout.toString()).toMatch(/^audit log intact \(checked \d{4}-\d\d-\d\dT[\d:.]+Z\)\n$/);
    const online = await runCli(["audit", "verify"], { env: { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: server.adminToken() } });
    expect(online.code, online.stderr).toBe(0);
    const offline = await runCli(["audit", "verify", "--data-dir", dir], {});
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout.toString()).toMatch(/intact: \d+ events/);
    const exp = await runCli(["audit", "export", "--format", "jsonl"], { env });
    const lines = exp.stdout.toString().trim().split("\n").map((l) => JSON.parse(l) as { action: string });
    expect(lines.some((e) => e.action === "BlobWritten")).toBe(true);
    expect(lines.some((e) => e.action === "SecretRead")).toBe(true);
    expect(lines.some((e) => e.action === "SecretDeleted")).toBe(true);
  });
});

describe("bad config fails at start, naming the variable", () => {
  for (const [k, v] of [
    ["CLAWKEEP_PORT", "eighty"],
    ["CLAWKEEP_MASTER_KEY", "c2hvcnQ="],
    ["CLAWKEEP_DATABASE_URL", "mysql://db"],
    ["CLAWKEEP_MAX_SECRET_BYTES", "-5"],
  ] as const) {
    it(`${k}=${v}`, async () => {
      const d = tempDir();
      const r = await runCli(["serve", "--data-dir", d], { env: { [k]: v } });
      rmSync(d, { recursive: true, force: true });
      expect(r.code).toBe(7);
      expect(r.stderr).toContain(k);
      if (k === "CLAWKEEP_MASTER_KEY") expect(r.stderr).not.toContain(v);
    });
  }
});
