import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BACKENDS, createPgDatabase, openRawDb } from "../helpers/backends.js";
import { bearer, createUser, startTestEnv, tempDir, type TestEnv } from "../helpers/runtime.js";

const AUTH_CACHE_MS = 300;
import { cliAgent, cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";
import { buildHandshake } from "../../src/agents/signing.js";
import { loadConfig } from "../../src/config.js";
import { createRuntime } from "../../src/main.js";
import { migrateTo, openMetaStore } from "../../src/store/meta/index.js";

// Rows that confer rights carry a MAC under a master-derived key (formats §16): someone who can
// write the database but lacks the master key cannot make a user admin, nor get an SSH key of
// theirs installed by inserting or editing a support grant. Migration 0007 MACs the rows that
// exist when it runs, and needs the master key to do so.

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const ATTACKER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyAttackerKeyAttackerKeyAttack";

describe.each(BACKENDS)("row MACs ($name)", (backend) => {
  let env: TestEnv;
  let alice: string;
  let bob: string;
  let agentToken: string;

  const grants = async () => (await env.app.inject({ method: "GET", url: "/v1/agent/support-access", headers: bearer(agentToken) })).json().grants as { id: string; public_key: string; expires_at: string }[];
  const sql = async (text: string, ...params: unknown[]) => {
    const raw = await env.raw();
    try {
      await raw.run(text, ...params);
    } finally {
      await raw.close();
    }
  };
  const rows = async <T>(text: string, ...params: unknown[]) => {
    const raw = await env.raw();
    try {
      return await raw.all<T>(text, ...params);
    } finally {
      await raw.close();
    }
  };

  beforeAll(async () => {
    env = await startTestEnv({ CLAWKEEP_AUTH_CACHE_MS: String(AUTH_CACHE_MS) }, undefined, backend);
    alice = await createUser(env, "alice");
    bob = await createUser(env, "bob");
    const a = (await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(alice), payload: { name: "vps-1" } })).json() as { agent_id: string; agent_secret: string };
    const hs = await env.app.inject({ method: "POST", url: "/v1/agents/handshake", headers: { "content-type": "application/json" }, payload: buildHandshake(a.agent_id, a.agent_secret) });
    agentToken = hs.json().agent_token;
  });
  afterAll(async () => env?.close());

  it("a users row with is_admin flipped by a database writer is refused, and the refusal audited", async () => {
    const createAs = (token: string) => env.app.inject({ method: "POST", url: "/v1/users", headers: bearer(token), payload: { name: `u${randomBytes(3).toString("hex")}` } });
    expect((await createAs(bob)).statusCode).toBe(403);
    await sql("update users set is_admin = 1 where name = 'bob'");
    // Within the authentication cache's bound the node still holds bob's earlier check: the
    // flipped flag is not believed then either. After it, the row itself is checked.
    const early = (await createAs(bob)).statusCode;
    expect([401, 403]).toContain(early);
    await new Promise((r) => setTimeout(r, AUTH_CACHE_MS + 100));
    const r = await createAs(bob);
    expect(r.statusCode).toBe(401);
    expect(r.json().error.code).toBe("unauthorized");
    const failed = (await env.rt.audit.list({ limit: 1000 })).filter((e) => e.action === "AuthFailed" && e.metadata.reason === "user_row_mac_invalid");
    expect(failed).toHaveLength(early === 401 ? 2 : 1);
    // Copying the real admin's MAC onto bob's row does not help: the MAC binds the user id.
    const [adm] = await rows<{ mac: string }>("select mac from users where name = 'admin'");
    await sql("update users set mac = ? where name = 'bob'", adm!.mac);
    expect((await createAs(bob)).statusCode).toBe(401);
    // The genuine admin is unaffected.
    expect((await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(env.adminToken) })).json().user.admin).toBe(true);
  });

  it("a grant inserted straight into the database is never handed to the agent", async () => {
    const [agent] = await rows<{ id: string; user_id: string }>("select id, user_id from agents where name = 'vps-1'");
    const now = new Date();
    await sql(
      "insert into support_grants (id, agent_id, user_id, operator, public_key, created_at, expires_at, revoked_at, mac) values (?, ?, ?, ?, ?, ?, ?, null, ?)",
      "grt_aaaaaaaaaaaaaaaaaaaa",
      agent!.id,
      agent!.user_id,
      "support",
      ATTACKER,
      now.toISOString(),
      new Date(now.getTime() + 3600_000).toISOString(),
      "ff".repeat(32),
    );
    expect(await grants()).toEqual([]);
    const ev = (await env.rt.audit.list({ limit: 1000 })).filter((e) => e.action === "IntegrityError" && e.metadata.reason === "support_grant_mac_invalid");
    expect(ev.map((e) => e.metadata.grant_id)).toContain("grt_aaaaaaaaaaaaaaaaaaaa");
    // The owner's listing shows it, marked as not verified, so it does not pass for a real grant.
    const listed = (await env.app.inject({ method: "GET", url: "/v1/agents/vps-1/support-access", headers: bearer(alice) })).json();
    expect(listed.grants.find((g: { id: string }) => g.id === "grt_aaaaaaaaaaaaaaaaaaaa")).toMatchObject({ verified: false, revoked_at: null });
    expect(listed.grants.filter((g: { id: string }) => g.id !== "grt_aaaaaaaaaaaaaaaaaaaa").every((g: { verified: boolean }) => g.verified)).toBe(true);
    await sql("delete from support_grants where id = 'grt_aaaaaaaaaaaaaaaaaaaa'");
  });

  it("a real grant edited in the database (key swapped, expiry extended, revocation undone) stops being delivered", async () => {
    const grant = async () => {
      const g = await env.app.inject({ method: "POST", url: "/v1/agents/vps-1/support-access", headers: bearer(alice), payload: { public_key: KEY, ttl_seconds: 3600 } });
      expect(g.statusCode, g.body).toBe(201);
      return g.json().id as string;
    };
    const swapped = await grant();
    expect((await grants()).map((g) => g.id)).toEqual([swapped]);
    await sql("update support_grants set public_key = ? where id = ?", ATTACKER, swapped);
    expect(await grants()).toEqual([]);

    const extended = await grant();
    expect((await grants()).map((g) => g.id)).toEqual([extended]);
    await sql("update support_grants set expires_at = ? where id = ?", new Date(Date.now() + 30 * 86400_000).toISOString(), extended);
    expect(await grants()).toEqual([]);

    const revoked = await grant();
    expect((await env.app.inject({ method: "DELETE", url: `/v1/agents/vps-1/support-access/${revoked}`, headers: bearer(alice) })).statusCode).toBe(200);
    await sql("update support_grants set revoked_at = null where id = ?", revoked);
    expect(await grants()).toEqual([]);
  });
});

describe("row MACs reach authorized_keys (CLI, sqlite)", () => {
  const dir = tempDir();
  let server: ServerProc;
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reconcile-ssh writes the genuine grant and never the forged one", async () => {
    server = await startServer(dir);
    const user = await cliUser(server, "owner");
    const a = await cliAgent(user, "vps-1");
    const pub = path.join(dir, "op.pub");
    writeFileSync(pub, `${KEY} op@x\n`);
    const g = JSON.parse((await runCli(["agent", "support-grant", "vps-1", "--public-key-file", pub, "--json"], { env: user })).stdout.toString()) as { id: string; expires_at: string };
    const raw = await openRawDb(`sqlite:${path.join(dir, "clawkeep.db")}`);
    const [row] = await raw.all<{ agent_id: string; user_id: string; mac: string }>("select agent_id, user_id, mac from support_grants where id = ?", g.id);
    // The forger even reuses the genuine row's MAC.
    await raw.run(
      "insert into support_grants (id, agent_id, user_id, operator, public_key, created_at, expires_at, revoked_at, mac) values (?, ?, ?, 'support', ?, ?, ?, null, ?)",
      "grt_bbbbbbbbbbbbbbbbbbbb",
      row!.agent_id,
      row!.user_id,
      ATTACKER,
      new Date().toISOString(),
      g.expires_at,
      row!.mac,
    );
    await raw.close();
    const keys = path.join(dir, "authorized_keys");
    writeFileSync(keys, "", { mode: 0o600 });
    const agentEnv = { CLAWKEEP_ADDR: server.url, CLAWKEEP_AGENT_ID: a.agent_id, CLAWKEEP_AGENT_SECRET: a.agent_secret, CLAWKEEP_TOKEN: "" };
    const r = await runCli(["agent", "reconcile-ssh", "--authorized-keys", keys, "--json"], { env: agentEnv });
    expect(r.code, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString()).added).toEqual([g.id]);
    const text = readFileSync(keys, "utf8");
    expect(text).toContain(`clawkeep-support:${g.id}`);
    expect(text).not.toContain("grt_bbbbbbbbbbbbbbbbbbbb");
    expect(text).not.toContain(ATTACKER.split(" ")[1]);
  });
});

describe.each(BACKENDS)("migration 0007 MACs existing rows ($name)", (backend) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it("rows written before 0007 keep working after it; without the master key it refuses to run", async () => {
    const dir = tempDir();
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    let url = `sqlite:${path.join(dir, "clawkeep.db")}`;
    if (backend.dialect === "postgres") {
      const pg = await createPgDatabase();
      cleanups.push(pg.drop);
      url = pg.url;
    }
    const m = openMetaStore(url, { poolSize: 1 });
    await migrateTo(m, "0006_keyed_tokens");
    await m.close();
    const raw = await openRawDb(url);
    const now = new Date();
    await raw.run("insert into users (id, name, is_admin, created_at) values ('usr_old', 'old', 1, ?)", now.toISOString());
    await raw.run("insert into agents (id, user_id, name, status, secret_envelope, secret_generation, gateway_url, created_at, updated_at) values ('agt_00000000000000000001', 'usr_old', 'vps', 'active', 'x', 1, null, ?, ?)", now.toISOString(), now.toISOString());
    await raw.run(
      "insert into support_grants (id, agent_id, user_id, operator, public_key, created_at, expires_at, revoked_at) values ('grt_00000000000000000001', 'agt_00000000000000000001', 'usr_old', 'support', ?, ?, ?, null)",
      KEY,
      now.toISOString(),
      new Date(now.getTime() + 3600_000).toISOString(),
    );
    await raw.close();

    // `clawkeep migrate` with no master key anywhere: refuses, names the reason, changes nothing.
    const cli = await runCli(["migrate", "--data-dir", dir], { env: { CLAWKEEP_DATABASE_URL: url, CLAWKEEP_MASTER_KEY: "" } });
    expect(cli.code).not.toBe(0);
    expect(cli.stderr.toString()).toMatch(/0007.*master key/);

    const masterKey = randomBytes(32).toString("base64");
    const rt = await createRuntime(loadConfig({ CLAWKEEP_DATABASE_URL: url, CLAWKEEP_DATA_DIR: dir, CLAWKEEP_MASTER_KEY: masterKey }), { createMasterKey: false });
    cleanups.push(() => rt.close());
    expect(await rt.users.hasAdmin()).toBe(true);
    const g = await rt.support.activeFor({ agentId: "agt_00000000000000000001", userId: "usr_old" });
    expect(g.map((x) => x.id)).toEqual(["grt_00000000000000000001"]);
  });
});
