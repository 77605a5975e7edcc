// What a newcomer sees when a command goes wrong (docs/newcomer-walkthrough.md): one line with a
// stable code, a documented exit status, no stack trace, no driver text, nothing secret echoed,
// and nothing changed. Storage-related failures run on both back ends.
import { createServer, type Server } from "node:http";
import { chmodSync, existsSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, createPgDatabase, PG_AVAILABLE } from "../helpers/backends.js";
import { cliAgent, cliUser, runCli, startServer, type CliResult, type ServerProc } from "../helpers/proc.js";
import { createUser, putSecret, startTestEnv, tempDir, type TestEnv } from "../helpers/runtime.js";

/** The bar every failure here must meet. */
function expectCoded(r: CliResult, exit: number, code: string, secrets: string[] = []) {
  const err = r.stderr.toString();
  expect(r.code, err).toBe(exit);
  expect(err).toMatch(new RegExp(`^clawkeep: ${code}: \\S`));
  expect(err).not.toMatch(/\n\s+at |Error:|Usage:|ECONNREFUSED|ENOENT|TypeError|ZodError/);
  for (const s of secrets) {
    expect(err).not.toContain(s);
    expect(r.stdout.toString()).not.toContain(s);
  }
}

describe("client commands, used wrongly", () => {
  const dir = tempDir("ck-newcomer-");
  let server: ServerProc;
  let user: Record<string, string>;
  let other: Server;
  let otherUrl: string;
  beforeAll(async () => {
    server = await startServer(path.join(dir, "data"));
    user = await cliUser(server, "alice");
    await cliAgent(user, "bot");
    other = createServer((_req, res) => res.writeHead(404, { "content-type": "text/html" }).end("<h1>not here</h1>"));
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    otherUrl = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await server.stop();
    await new Promise((r) => other.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("no server at CLAWKEEP_ADDR: unavailable, exit 6, says what to check", async () => {
    const r = await runCli(["secret", "ls"], { env: { ...user, CLAWKEEP_ADDR: "http://127.0.0.1:1" } });
    expectCoded(r, 6, "unavailable", [user.CLAWKEEP_TOKEN!]);
    expect(r.stderr).toContain("is `clawkeep serve` running, and is CLAWKEEP_ADDR right?");
  });

  it("CLAWKEEP_ADDR at another HTTP service: unavailable, not 'error: HTTP 404'", async () => {
    const r = await runCli(["secret", "ls"], { env: { ...user, CLAWKEEP_ADDR: otherUrl } });
    expectCoded(r, 6, "unavailable", [user.CLAWKEEP_TOKEN!]);
    expect(r.stderr).toContain("not as a Clawkeep server");
  });

  it("no token, and a refused token, name the setting to fix", async () => {
    const none = await runCli(["secret", "ls"], { env: { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: "" } });
    expectCoded(none, 4, "unauthorized");
    expect(none.stderr).toContain("set CLAWKEEP_TOKEN or CLAWKEEP_TOKEN_FILE");
    const bad = `ck_${"y".repeat(43)}`;
    const refused = await runCli(["secret", "ls"], { env: { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: bad } });
    expectCoded(refused, 4, "unauthorized", [bad]);
    expect(refused.stderr).toContain("the token in CLAWKEEP_TOKEN was refused");
  });

  it("a token that cannot be one (pasted with 'Bearer ', a line break inside) is config_invalid, never echoed", async () => {
    for (const t of [`Bearer ${user.CLAWKEEP_TOKEN}`, `${user.CLAWKEEP_TOKEN}\nx`]) {
      const r = await runCli(["secret", "ls"], { env: { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: t } });
      expectCoded(r, 7, "config_invalid", [user.CLAWKEEP_TOKEN!]);
    }
  });

  it("CLAWKEEP_TOKEN_FILE: readable by others, empty, or missing is refused with exit 7", async () => {
    const file = path.join(dir, "token");
    writeFileSync(file, `${user.CLAWKEEP_TOKEN}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    const env = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: "", CLAWKEEP_TOKEN_FILE: file };
    const open = await runCli(["secret", "ls"], { env });
    expectCoded(open, 7, "config_invalid", [user.CLAWKEEP_TOKEN!]);
    expect(open.stderr).toContain("chmod 600");
    writeFileSync(file, "\n");
    chmodSync(file, 0o600);
    expectCoded(await runCli(["secret", "ls"], { env }), 7, "config_invalid");
    expectCoded(await runCli(["secret", "ls"], { env: { ...env, CLAWKEEP_TOKEN_FILE: path.join(dir, "nope") } }), 7, "config_invalid");
  });

  it("a value in argv or as --value=… is refused without echoing it, and nothing is stored", async () => {
    const value = "sk-newcomer-argv-4f1d";
    expectCoded(await runCli(["secret", "put", "bot/KEY", value], { env: user }), 2, "bad_request", [value]);
    const opt = await runCli(["secret", "put", "bot/KEY", `--value=${value}`], { env: user });
    expectCoded(opt, 2, "bad_request", [value]);
    expect(opt.stderr).toContain("clawkeep secret put --help");
    expectCoded(await runCli(["secret", "versions", "bot/KEY"], { env: user }), 3, "not_found");
  });

  it("an empty value (an unset variable piped in) is refused unless --allow-empty", async () => {
    expectCoded(await runCli(["secret", "put", "bot/EMPTY"], { env: user, input: "" }), 2, "bad_request");
    expectCoded(await runCli(["secret", "versions", "bot/EMPTY"], { env: user }), 3, "not_found");
    expect((await runCli(["secret", "put", "bot/EMPTY", "--allow-empty"], { env: user, input: "" })).code).toBe(0);
  });

  it("usage errors are one coded line with a pointer to --help, not the whole help", async () => {
    for (const args of [["secret", "put"], ["secret", "ls", "--all"], ["secrets", "ls"], ["token", "create", "--ttl", "abc"]]) {
      expectCoded(await runCli(args, { env: user }), 2, "bad_request");
    }
    expectCoded(await runCli(["secret", "put", "bot/K", "--from-file", path.join(dir, "missing")], { env: user }), 2, "bad_request");
  });
});

describe("serve, started wrongly", () => {
  const dir = tempDir("ck-newcomer-serve-");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a port in use is found before anything is created (exit 7)", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = String((busy.address() as { port: number }).port);
    try {
      const data = path.join(dir, "busy");
      const r = await runCli(["serve", "--data-dir", data, "--port", port]);
      expectCoded(r, 7, "config_invalid");
      expect(r.stderr).toContain("already in use");
      expect(existsSync(data)).toBe(false);
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it.runIf(PG_AVAILABLE)("PostgreSQL down, or its database missing: coded, no password echoed, nothing created", async () => {
    const down = path.join(dir, "pg-down");
    const r = await runCli(["serve", "--data-dir", down, "--port", "0"], { env: { CLAWKEEP_DATABASE_URL: "postgres://clawkeep:pw-4c9e1a@127.0.0.1:1/clawkeep" } });
    expectCoded(r, 6, "unavailable", ["pw-4c9e1a"]);
    expect(r.stderr).toContain("CLAWKEEP_DATABASE_URL");
    expect(existsSync(down)).toBe(false);
    const db = await createPgDatabase();
    try {
      const missing = new URL(db.url);
      missing.pathname = "/ck_no_such_database";
      const m = await runCli(["serve", "--data-dir", path.join(dir, "pg-missing"), "--port", "0"], { env: { CLAWKEEP_DATABASE_URL: missing.toString() } });
      expectCoded(m, 7, "config_invalid");
      // An empty database is not a deployment: offline commands say so instead of "relation … does not exist".
      expectCoded(await runCli(["backup", "--out", path.join(dir, "b.jsonl")], { env: { CLAWKEEP_DATABASE_URL: db.url } }), 7, "config_invalid");
      expect(existsSync(path.join(dir, "b.jsonl"))).toBe(false);
    } finally {
      await db.drop();
    }
  });
});

describe("operator commands on a data dir that does not exist", () => {
  const dir = tempDir("ck-newcomer-ops-");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("neither create it nor blame master.key (exit 7)", async () => {
    const nope = path.join(dir, "typo");
    for (const args of [["audit", "verify"], ["audit", "checkpoint"], ["backup", "--out", path.join(dir, "x.jsonl")], ["blobs", "sweep"], ["epoch", "ls", "--all"]]) {
      const r = await runCli([...args, "--data-dir", nope]);
      expectCoded(r, 7, "config_invalid");
      expect(r.stderr).toContain("--data-dir");
      expect(existsSync(nope)).toBe(false);
    }
    const restore = await runCli(["restore", "--data-dir", nope, "--in", path.join(dir, "missing.jsonl")]);
    expectCoded(restore, 2, "bad_request");
    expect(existsSync(nope)).toBe(false);
  });
});

for (const backend of BACKENDS) {
  describe(`${backend.name}: a wrong master key`, () => {
    let env: TestEnv;
    const other = Buffer.alloc(32, 9).toString("base64");
    beforeAll(async () => {
      env = await startTestEnv({}, undefined, backend);
      await putSecret(env, await createUser(env, "alice"), "bot/K", "v");
    });
    afterAll(async () => env.close());

    it("is refused by serve and by the offline commands, which change nothing (exit 7)", async () => {
      const cli = { ...env.storageEnv, CLAWKEEP_MASTER_KEY: other };
      const serve = await runCli(["serve", "--data-dir", env.dir, "--port", "0"], { env: cli });
      expectCoded(serve, 7, "config_invalid", [other, env.masterKey]);
      expect(serve.stderr).toContain("is not this store's master key");
      for (const args of [["audit", "verify", "--data-dir", env.dir], ["epoch", "ls", "--all", "--data-dir", env.dir]]) {
        expectCoded(await runCli(args, { env: cli }), 7, "config_invalid", [other, env.masterKey]);
      }
      const ok = await runCli(["audit", "verify", "--data-dir", env.dir], { env: { ...env.storageEnv, CLAWKEEP_MASTER_KEY: env.masterKey } });
      expect(ok.code, ok.stderr).toBe(0);
    });

    it("an unreachable blob store is 'unavailable' with what to check, credentials never echoed", async () => {
      const broken: Record<string, string> = { ...env.storageEnv, CLAWKEEP_MASTER_KEY: env.masterKey };
      if (backend.blobs === "s3") Object.assign(broken, { S3_ENDPOINT: "http://127.0.0.1:1", S3_MAX_ATTEMPTS: "1" });
      else broken.CLAWKEEP_BLOB_URL = "s3://ck-nowhere/x";
      const r = await runCli(["blobs", "sweep", "--data-dir", env.dir, "--dry-run"], { env: { S3_ENDPOINT: "http://127.0.0.1:1", S3_MAX_ATTEMPTS: "1", AWS_ACCESS_KEY_ID: "k", AWS_SECRET_ACCESS_KEY: "secret-9d2e", ...broken } });
      expectCoded(r, 6, "unavailable", ["secret-9d2e", env.storageEnv.AWS_SECRET_ACCESS_KEY ?? "secret-9d2e"]);
      expect(r.stderr).toContain("S3_ENDPOINT");
    });
  });
}
