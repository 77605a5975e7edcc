import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { EnvelopeError, open } from "../../src/crypto/envelope.js";
import { derivePurposeKey, PURPOSES, type Purpose } from "../../src/crypto/hkdf.js";
import { sha256 } from "../../src/crypto/bytes.js";
import { buildHandshake } from "../../src/agents/signing.js";
import { openPointer } from "../../src/vault/sealed.js";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, tempDir, startTestEnv, type TestEnv, filesUnder as files } from "../helpers/runtime.js";
import { cliAgent, cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";

// The password-derived credential mode (seed 001 §3 option B, formats §17): a value sealed under a
// key from the user's credential password (Argon2id) inside the usual epoch-DEK envelope. It
// round-trips with the password; without it, or with a wrong one, nothing is returned (stable
// codes, audited); with the database, the blobs and the master key — everything the server has —
// it still does not open; and erasure destroys it like any other value.

const PASSWORD = "correct horse battery staple ✓";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const withPassword = (p: string) => ({ "x-clawkeep-credential-password": b64(p) });
const PASSWORD_MODE = { "x-clawkeep-credential-mode": "password" };

function haystack(e: TestEnv): { where: string; bytes: Buffer }[] {
  const h = [e.dir, ...e.storageDirs].flatMap(files).map((f) => ({ where: f, bytes: readFileSync(f) }));
  if (e.backend.dialect === "postgres") h.push({ where: "pg_dump", bytes: execFileSync("pg_dump", ["--data-only", e.storageEnv.CLAWKEEP_DATABASE_URL!], { maxBuffer: 256 << 20 }) });
  h.push({ where: "log", bytes: Buffer.from(e.logs()) });
  return h;
}
const forms = (s: string) => [Buffer.from(s), Buffer.from(Buffer.from(s).toString("hex")), Buffer.from(Buffer.from(s).toString("base64"))];

describe.each(BACKENDS)("password-derived credential mode ($name)", (backend) => {
  let env: TestEnv;
  let alice: string;
  let aliceId: string;
  let bob: string;
  let agent: { agent_id: string; agent_secret: string };
  const canary = `PWMODE_CANARY_${randomBytes(12).toString("hex")}`;

  const put = (token: string, ref: string, value: string, headers: Record<string, string>) =>
    env.app.inject({ method: "PUT", url: `/v1/secrets/${ref}`, headers: { ...bearer(token), "content-type": "application/octet-stream", ...headers }, payload: value });
  const get = (token: string, ref: string, headers: Record<string, string> = {}) => env.app.inject({ method: "GET", url: `/v1/secrets/${ref}`, headers: { ...bearer(token), ...headers } });
  const events = async (action: string) => (await env.rt.audit.list({ limit: 5000 })).filter((e) => e.action === action);
  const agentToken = async () =>
    (await env.app.inject({ method: "POST", url: "/v1/agents/handshake", headers: { "content-type": "application/json" }, payload: buildHandshake(agent.agent_id, agent.agent_secret) })).json().agent_token as string;

  beforeAll(async () => {
    env = await startTestEnv({}, undefined, backend);
    alice = await createUser(env, "alice");
    bob = await createUser(env, "bob");
    aliceId = (await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(alice) })).json().user.id;
    agent = (await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(alice), payload: { name: "billing-bot" } })).json();
    expect((await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(bob), payload: { name: "billing-bot" } })).statusCode).toBe(201);
  });
  afterAll(async () => env?.close());

  it("the password is set once, with the seed's Argon2id parameters; only salt, parameters and a verifier are kept", async () => {
    const status = () => env.app.inject({ method: "GET", url: "/v1/credential-password", headers: bearer(alice) });
    expect((await status()).json()).toEqual({ set: false, kdf: null });
    const setTo = (password: string) => env.app.inject({ method: "PUT", url: "/v1/credential-password", headers: bearer(alice), payload: { password } });
    expect((await setTo("short")).json().error.code).toBe("bad_request");
    const r = await setTo(PASSWORD);
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toEqual({ set: true, kdf: { alg: "argon2id", memory_kib: 65536, iterations: 3, parallelism: 4 } });
    expect((await setTo(`${PASSWORD}-again`)).json().error.code).toBe("conflict");
    expect((await status()).json().set).toBe(true);
    const raw = await env.raw();
    const rows = await raw.all<Record<string, unknown>>("select * from credential_passwords");
    await raw.close();
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0]!).sort()).toEqual(["created_at", "iterations", "memory_kib", "parallelism", "salt", "user_id", "verifier"]);
    expect(Buffer.from(String(rows[0]!.salt), "base64")).toHaveLength(16);
  });

  it("round-trips with the password, and records the mode on the version", async () => {
    const w = await put(alice, "billing-bot/PROVIDER_KEY", canary, { ...PASSWORD_MODE, ...withPassword(PASSWORD) });
    expect(w.statusCode, w.body).toBe(201);
    expect(w.json().mode).toBe("password");
    const r = await get(alice, "billing-bot/PROVIDER_KEY", withPassword(PASSWORD));
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ value: canary, mode: "password", version: 1 });
    const v = (await env.app.inject({ method: "GET", url: "/v1/secrets/billing-bot/PROVIDER_KEY/versions", headers: bearer(alice) })).json();
    expect(v.versions).toEqual([expect.objectContaining({ version: 1, mode: "password" })]);
    // A platform value next to it reads as before, with or without the password.
    expect((await put(alice, "billing-bot/REGION", "eu-west-1", {})).json().mode).toBe("platform");
    expect((await get(alice, "billing-bot/REGION")).json()).toMatchObject({ value: "eu-west-1", mode: "platform" });
  });

  it("without the password, or with a wrong one: a stable code, no value, an audit event; bad writes change nothing", async () => {
    const none = await get(alice, "billing-bot/PROVIDER_KEY");
    expect(none.statusCode).toBe(403);
    expect(none.json().error.code).toBe("credential_password_required");
    expect(none.body).not.toContain(canary);
    const wrong = await get(alice, "billing-bot/PROVIDER_KEY", withPassword("correct horse battery stapler"));
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().error.code).toBe("credential_password_invalid");
    expect(wrong.body).not.toContain(canary);
    expect((await events("SecretRead")).filter((e) => e.outcome === "failure" && e.metadata.reason === "password_required")).toHaveLength(1);
    expect((await events("CredentialPasswordRejected")).map((e) => e.metadata.reason)).toEqual(["wrong_password"]);

    const versions = async () => (await env.app.inject({ method: "GET", url: "/v1/secrets/billing-bot/PROVIDER_KEY/versions", headers: bearer(alice) })).json().versions.length;
    const before = await versions();
    expect((await put(alice, "billing-bot/PROVIDER_KEY", "x", PASSWORD_MODE)).json().error.code).toBe("credential_password_required");
    expect((await put(alice, "billing-bot/PROVIDER_KEY", "x", { ...PASSWORD_MODE, ...withPassword("nope-nope-nope") })).json().error.code).toBe("credential_password_invalid");
    expect((await put(alice, "billing-bot/PROVIDER_KEY", "x", withPassword(PASSWORD))).json().error.code).toBe("bad_request");
    expect((await put(alice, "billing-bot/PROVIDER_KEY", "x", { "x-clawkeep-credential-mode": "secret" })).json().error.code).toBe("bad_request");
    expect(await versions()).toBe(before);
    // The refused write without a password is audited like the refused read.
    expect((await events("SecretWrite")).filter((e) => e.outcome === "failure" && e.metadata.reason === "password_required")).toHaveLength(1);
    // The cheap checks come before the 64 MiB derivation: an unregistered agent is refused
    // without one (no CredentialPasswordRejected for a wrong password sent along).
    const rejected = (await events("CredentialPasswordRejected")).length;
    expect((await put(alice, "no-such-bot/K", "x", { ...PASSWORD_MODE, ...withPassword("nope-nope-nope") })).json().error.code).toBe("agent_not_registered");
    expect((await events("CredentialPasswordRejected")).length).toBe(rejected);
    // A user who never set a password cannot use the mode (and alice's password is not theirs).
    expect((await put(bob, "billing-bot/K", "x", { ...PASSWORD_MODE, ...withPassword(PASSWORD) })).json().error.code).toBe("credential_password_not_set");
  });

  it("Argon2id parameters weakened in the database are refused as integrity_error, before any derivation", async () => {
    const raw = await env.raw();
    try {
      await raw.run("update credential_passwords set iterations = 1, memory_kib = 1024");
      const r = await get(alice, "billing-bot/PROVIDER_KEY", withPassword(PASSWORD));
      expect(r.statusCode).toBe(500);
      expect(r.json().error.code).toBe("integrity_error");
      expect(r.body).not.toContain(canary);
    } finally {
      await raw.run("update credential_passwords set iterations = 3, memory_kib = 65536");
      await raw.close();
    }
    expect((await get(alice, "billing-bot/PROVIDER_KEY", withPassword(PASSWORD))).json().value).toBe(canary);
  });

  it("with the database, the blobs and the master key — everything the server holds — but not the password, nothing opens", async () => {
    const raw = await env.raw();
    const rows = await raw.all<{ user_id: string; agent: string; name: string; version: number; epoch: number; blob_id: string; sha256: string }>(
      "select user_id, agent, name, version, epoch, blob_id, sha256 from secret_versions where mode = 'password' and deleted = 0",
    );
    const cred = await raw.all<{ salt: string; verifier: string }>("select salt, verifier from credential_passwords");
    await raw.close();
    expect(rows.length).toBeGreaterThan(0);
    const master = Buffer.from(env.masterKey, "base64");
    // Every key the server has or can derive, and everything it stores about the password.
    const candidates: [string, Buffer][] = [
      ...(Object.keys(PURPOSES) as Purpose[]).map((p): [string, Buffer] => [`purpose ${p}`, derivePurposeKey(master, p)]),
      ["master key", master],
      ...cred.flatMap((c): [string, Buffer][] => [
        ["sha256(salt)", sha256(Buffer.from(c.salt, "base64"))],
        ["verifier", Buffer.from(c.verifier, "hex")],
      ]),
    ];
    for (const p of rows) {
      // The outer layer opens with the master key: what is inside is the password envelope.
      const outer = await openPointer({ db: env.rt.meta.db, blobs: env.rt.blobs, keyring: env.rt.keyring }, p);
      expect(outer.subarray(0, 4).toString("latin1")).toBe("CKP\x01");
      for (const f of forms(canary)) expect(outer.includes(f)).toBe(false);
      const dek = await env.rt.keyring.dek(env.rt.meta.db, p.user_id, p.epoch);
      for (const [what, key] of [...candidates, ["epoch DEK", dek] as [string, Buffer]]) {
        expect(() => open(key, outer, { kind: "password-secret", user: p.user_id, agent: p.agent, name: p.name, version: p.version }), what).toThrow(EnvelopeError);
      }
    }
    // Nor is the value or the password anywhere in the files, the database or the logs.
    for (const h of haystack(env)) {
      for (const f of [...forms(canary), ...forms(PASSWORD), Buffer.from(b64(PASSWORD))]) expect(h.bytes.includes(f), h.where).toBe(false);
    }
  });

  it("the agent opens it only when given the password", async () => {
    const token = await agentToken();
    const fetch = (headers: Record<string, string> = {}) => env.app.inject({ method: "GET", url: "/v1/agent/secrets", headers: { ...bearer(token), ...headers } });
    const none = await fetch();
    expect(none.json().error.code).toBe("credential_password_required");
    expect(none.body).not.toContain(canary);
    expect((await fetch(withPassword("wrong-password-here"))).json().error.code).toBe("credential_password_invalid");
    const ok = await fetch(withPassword(PASSWORD));
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().secrets).toEqual(expect.arrayContaining([expect.objectContaining({ name: "PROVIDER_KEY", value: canary }), expect.objectContaining({ name: "REGION", value: "eu-west-1" })]));
  });

  it("epoch rotation re-encrypts it without the password; erasure of the agent destroys it", async () => {
    await env.rt.epochs.rotate(aliceId, "test");
    await env.rt.epochs.reencrypt([aliceId]);
    const raw = await env.raw();
    const [row] = await raw.all<{ epoch: number }>("select epoch from secret_versions where name = 'PROVIDER_KEY' and user_id = ?", aliceId);
    const deks = await raw.all<{ epoch: number; wrapped_dek: string }>("select epoch, wrapped_dek from user_epochs where user_id = ?", aliceId);
    await raw.close();
    expect(row!.epoch).toBe(2);
    expect((await get(alice, "billing-bot/PROVIDER_KEY", withPassword(PASSWORD))).json().value).toBe(canary);

    const blobs: Buffer[] = [];
    for await (const b of env.rt.blobs.list(aliceId)) blobs.push((await env.rt.blobs.get(b.key))!);
    const del = await env.app.inject({ method: "DELETE", url: "/v1/agents/billing-bot", headers: bearer(alice) });
    expect(del.statusCode, del.body).toBe(200);
    // Even with the password, it is gone.
    expect((await get(alice, "billing-bot/PROVIDER_KEY", withPassword(PASSWORD))).statusCode).toBe(404);
    for (const { epoch } of deks) await expect(env.rt.keyring.dek(env.rt.meta.db, aliceId, epoch)).rejects.toMatchObject({ code: "integrity_error" });
    const hay = haystack(env);
    for (const b of blobs) expect(hay.some((h) => h.bytes.includes(b.subarray(16, 48)))).toBe(false);
    for (const d of deks) expect(hay.some((h) => h.bytes.includes(Buffer.from(d.wrapped_dek)))).toBe(false);
  });
});

describe("password-derived mode through the CLI", () => {
  const dir = tempDir();
  let server: ServerProc;
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("credential-password set, secret put --password-mode, secret get and agent run with --password-file", async () => {
    server = await startServer(dir);
    const user = await cliUser(server, "ops");
    const a = await cliAgent(user, "deploy-bot");
    const pf = path.join(dir, "password");
    writeFileSync(pf, `${PASSWORD}\n`, { mode: 0o600 });
    const set = await runCli(["credential-password", "set", "--password-file", pf, "--json"], { env: user });
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout.toString())).toMatchObject({ set: true, kdf: { alg: "argon2id", memory_kib: 65536 } });
    const put = await runCli(["secret", "put", "--password-mode", "--password-file", pf, "deploy-bot/DB_PASSWORD", "--json"], { env: user, input: "pw-value-91c2" });
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout.toString()).mode).toBe("password");
    const got = await runCli(["secret", "get", "--password-file", pf, "deploy-bot/DB_PASSWORD"], { env: user });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout.toString()).toBe("pw-value-91c2");
    const wrongFile = path.join(dir, "wrong");
    writeFileSync(wrongFile, "not the password\n", { mode: 0o600 });
    const wrong = await runCli(["secret", "get", "--password-file", wrongFile, "deploy-bot/DB_PASSWORD"], { env: user });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/credential_password_invalid/);
    const agentEnv = { CLAWKEEP_ADDR: server.url, CLAWKEEP_AGENT_ID: a.agent_id, CLAWKEEP_AGENT_SECRET: a.agent_secret, CLAWKEEP_TOKEN: "" };
    const run = await runCli(["agent", "run", "--password-file", pf, "--", "env"], { env: agentEnv });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.toString()).toMatch(/^DB_PASSWORD=pw-value-91c2$/m);
    const refused = await runCli(["agent", "run", "--", "env"], { env: agentEnv });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/credential_password_required/);
    // The password never reached the server's output.
    expect(server.output()).not.toContain(PASSWORD);
  });
});
