import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";
import { loadConfig } from "../../src/config.js";
import { createRuntime, type Runtime } from "../../src/main.js";
import { buildApp } from "../../src/server/app.js";
import { buildHandshake } from "../../src/agents/signing.js";

// The agent registry and the signed handshake, on every storage backend: each refusal has its own
// code and an audit event, unknown agent and wrong secret look the same, a nonce replayed to a
// second node on the same meta store is refused, and agent tokens read only their agent's secrets.

describe.each(BACKENDS)("agents ($name)", (backend) => {
  let env: TestEnv;
  let alice: string;
  let bob: string;
  let carol: string; // has no agents at all
  let bot: { agent_id: string; agent_secret: string };
  let node2: { rt: Runtime; app: FastifyInstance };

  const post = (app: FastifyInstance, url: string, token?: string, payload?: unknown) =>
    app.inject({ method: "POST", url, headers: token ? bearer(token) : {}, ...(payload === undefined ? {} : { payload: payload as object }) });
  const hs = (body: string, app: FastifyInstance = env.app) =>
    app.inject({ method: "POST", url: "/v1/agents/handshake", headers: { "content-type": "application/json" }, payload: body });
  const audit = async (action: string) =>
    (await env.rt.audit.list({ limit: 1000 })).filter((e) => e.action === action);

  beforeAll(async () => {
    env = await startTestEnv({}, undefined, backend);
    alice = await createUser(env, "alice");
    bob = await createUser(env, "bob");
    carol = await createUser(env, "carol");
    const r = await post(env.app, "/v1/agents", alice, { name: "billing-bot" });
    expect(r.statusCode, r.body).toBe(201);
    bot = r.json();
    const allEnv = { CLAWKEEP_DATA_DIR: env.dir, CLAWKEEP_MASTER_KEY: env.masterKey, CLAWKEEP_LOG_LEVEL: "warn", ...env.storageEnv };
    const rt = await createRuntime(loadConfig(allEnv), { createMasterKey: false, env: allEnv });
    node2 = { rt, app: await buildApp(rt, { logger: false }) };
    await putSecret(env, alice, "billing-bot/OPENAI_API_KEY", "sk-alice-1");
    await putSecret(env, alice, "billing-bot/DB_URL", "postgres://x");
    await putSecret(env, alice, "other-bot/NOT_MINE", "other");
    await putSecret(env, bob, "billing-bot/BOBS", "bob-value");
  });
  afterAll(async () => {
    await node2?.app.close();
    await node2?.rt.close();
    await env?.close();
  });

  describe("registry", () => {
    it("create returns the id and secret once; the database holds only an envelope", async () => {
      expect(bot.agent_id).toMatch(/^agt_[0-9a-f]{20}$/);
      expect(bot.agent_secret).toMatch(/^cks_[A-Za-z0-9_-]{43}$/);
      const ls = (await env.app.inject({ method: "GET", url: "/v1/agents", headers: bearer(alice) })).json();
      expect(ls.agents).toEqual([expect.objectContaining({ agent_id: bot.agent_id, name: "billing-bot", status: "active" }), expect.objectContaining({ name: "other-bot" })]);
      expect(JSON.stringify(ls)).not.toContain(bot.agent_secret);
      const raw = await env.raw();
      const rows = await raw.all<Record<string, unknown>>("select * from agents");
      await raw.close();
      expect(JSON.stringify(rows)).not.toContain(bot.agent_secret.slice(4));
      expect(Buffer.from(String(rows[0]!.secret_envelope), "base64").subarray(0, 4).toString("latin1")).toBe("CKA\x01");
      expect(env.logs()).not.toContain(bot.agent_secret);
    });

    it("bad names, duplicates and other users' agents", async () => {
      expect((await post(env.app, "/v1/agents", alice, { name: "Bad_Name" })).json().error.code).toBe("invalid_name");
      expect((await post(env.app, "/v1/agents", alice, { name: "billing-bot" })).json().error.code).toBe("conflict");
      for (const action of ["rotate-secret", "disable"]) {
        const theirs = await post(env.app, `/v1/agents/billing-bot/${action}`, carol);
        const missing = await post(env.app, `/v1/agents/no-such-bot/${action}`, carol);
        expect(theirs.statusCode).toBe(404);
        expect(theirs.body).toBe(missing.body);
      }
      expect((await env.app.inject({ method: "GET", url: "/v1/agents", headers: bearer(carol) })).json()).toEqual({ agents: [] });
    });
  });

  describe("handshake", () => {
    it("a valid handshake returns a short-lived token that reads only this agent's secrets", async () => {
      const r = await hs(buildHandshake(bot.agent_id, bot.agent_secret));
      expect(r.statusCode, r.body).toBe(200);
      const { agent_token, expires_at } = r.json();
      expect(agent_token).toMatch(/^ckat1\./);
      expect(expires_at - Date.now() / 1000).toBeGreaterThan(800);
      const s = await env.app.inject({ method: "GET", url: "/v1/agent/secrets", headers: bearer(agent_token) });
      expect(s.statusCode, s.body).toBe(200);
      expect(s.json().secrets.map((x: { name: string; value: string }) => `${x.name}=${x.value}`)).toEqual(["DB_URL=postgres://x", "OPENAI_API_KEY=sk-alice-1"]);
      expect(s.body).not.toContain("bob-value");
      expect(s.body).not.toContain("NOT_MINE");
      const reads = await audit("SecretRead");
      expect(reads.some((e) => e.actor === `agent:${bot.agent_id}`)).toBe(true);
    });

    it("`only` in the signed request limits the token", async () => {
      const r = await hs(buildHandshake(bot.agent_id, bot.agent_secret, { only: ["DB_URL"] }));
      const s = await env.app.inject({ method: "GET", url: "/v1/agent/secrets", headers: bearer(r.json().agent_token) });
      expect(s.json().secrets.map((x: { name: string }) => x.name)).toEqual(["DB_URL"]);
    });

    it("an agent token is refused on every user route, and a user token on the agent route", async () => {
      const t = (await hs(buildHandshake(bot.agent_id, bot.agent_secret))).json().agent_token;
      for (const [method, url] of [["GET", "/v1/secrets"], ["GET", "/v1/secrets/billing-bot/DB_URL"], ["GET", "/v1/agents"], ["GET", "/v1/whoami"], ["POST", "/v1/agents/billing-bot/rotate-secret"]] as const) {
        const r = await env.app.inject({ method, url, headers: bearer(t) });
        expect(r.statusCode, url).toBe(401);
      }
      const u = await env.app.inject({ method: "GET", url: "/v1/agent/secrets", headers: bearer(alice) });
      expect(u.statusCode).toBe(401);
      expect(u.json().error.code).toBe("unauthorized");
      const forged = t.slice(0, -2) + (t.endsWith("A") ? "BB" : "AA");
      expect((await env.app.inject({ method: "GET", url: "/v1/agent/secrets", headers: bearer(forged) })).statusCode).toBe(401);
    });

    it("each refusal has its own code, the server's time, and an audit event", async () => {
      const good = buildHandshake(bot.agent_id, bot.agent_secret);
      // The clock cases are built just before they are sent and sit 2 s outside the ±60 s
      // window: timestamps are whole seconds, so a second boundary between building and
      // checking eats one of them, and a loaded machine can spend seconds on earlier cases.
      const cases: [string, string | (() => string), string][] = [
        ["replay (same node)", good, "handshake_replay"],
        ["stale", () => buildHandshake(bot.agent_id, bot.agent_secret, {}, Date.now() - 62_000), "handshake_clock_skew"],
        ["future", () => buildHandshake(bot.agent_id, bot.agent_secret, {}, Date.now() + 62_000), "handshake_clock_skew"],
        ["wrong secret", buildHandshake(bot.agent_id, `cks_${"A".repeat(43)}`), "handshake_bad_signature"],
        ["unknown agent", buildHandshake("agt_00000000000000000000", bot.agent_secret), "handshake_bad_signature"],
        ["truncated", good.slice(0, -10), "handshake_malformed"],
        ["extra field", good.replace('{"agent_id"', '{"x":1,"agent_id"'), "handshake_malformed"],
        ["non-canonical (whitespace)", good.replace(',"nonce"', ', "nonce"'), "handshake_non_canonical"],
        ["non-canonical (key order)", JSON.stringify((({ nonce, ...rest }) => ({ nonce, ...rest }))(JSON.parse(good))), "handshake_non_canonical"],
      ];
      expect((await hs(good)).statusCode).toBe(200);
      const before = (await audit("AgentHandshake")).filter((e) => e.outcome === "failure").length;
      const bodies: Record<string, string> = {};
      for (const [label, body, code] of cases) {
        const r = await hs(typeof body === "function" ? body() : body);
        expect(r.json().error.code, label).toBe(code);
        expect(r.json().error.server_time, label).toBeTypeOf("number");
        expect(Math.abs(r.json().error.server_time - Date.now() / 1000)).toBeLessThan(5);
        bodies[label] = r.body.replace(/"server_time":\d+/, "");
      }
      expect(bodies["wrong secret"]).toBe(bodies["unknown agent"]);
      const failures = (await audit("AgentHandshake")).filter((e) => e.outcome === "failure");
      expect(failures.length - before).toBe(cases.length);
      expect(failures.slice(-cases.length).map((e) => e.metadata.reason)).toEqual([
        "replay", "stale", "future", "bad_signature", "unknown_agent", "malformed", "malformed", "non_canonical", "non_canonical",
      ]);
      expect(JSON.stringify(failures)).not.toContain(bot.agent_secret);
    });

    it("a handshake replayed to another node on the same meta store is refused", async () => {
      const body = buildHandshake(bot.agent_id, bot.agent_secret);
      expect((await hs(body, node2.app)).statusCode).toBe(200);
      expect((await hs(body, env.app)).json().error.code).toBe("handshake_replay");
      const other = buildHandshake(bot.agent_id, bot.agent_secret);
      expect((await hs(other, env.app)).statusCode).toBe(200);
      expect((await hs(other, node2.app)).json().error.code).toBe("handshake_replay");
    });

    it("rotating the secret ends old tokens and the old secret; disabling refuses handshakes and tokens", async () => {
      await post(env.app, "/v1/agents", alice, { name: "temp-bot" });
      const created = (await post(env.app, "/v1/agents", alice, { name: "rot-bot" })).json();
      const t1 = (await hs(buildHandshake(created.agent_id, created.agent_secret))).json().agent_token;
      const rotated = await post(env.app, "/v1/agents/rot-bot/rotate-secret", alice);
      expect(rotated.statusCode).toBe(200);
      const newSecret = rotated.json().agent_secret;
      expect(newSecret).not.toBe(created.agent_secret);
      expect((await env.app.inject({ method: "GET", url: "/v1/agent/secrets", headers: bearer(t1) })).statusCode).toBe(401);
      expect((await hs(buildHandshake(created.agent_id, created.agent_secret))).json().error.code).toBe("handshake_bad_signature");
      const t2 = (await hs(buildHandshake(created.agent_id, newSecret))).json().agent_token;
      expect((await post(env.app, "/v1/agents/rot-bot/disable", alice)).json().status).toBe("disabled");
      expect((await env.app.inject({ method: "GET", url: "/v1/agent/secrets", headers: bearer(t2) })).statusCode).toBe(401);
      const disabled = await hs(buildHandshake(created.agent_id, newSecret));
      expect(disabled.json().error.code).toBe("agent_disabled");
      expect(disabled.json().error.server_time).toBeTypeOf("number");
      expect((await audit("AgentHandshake")).filter((e) => e.outcome === "failure" && e.metadata.reason === "disabled" && e.target === `agent/${created.agent_id}`)).toHaveLength(1);
      // A wrong secret for a disabled agent still says only "bad signature".
      expect((await hs(buildHandshake(created.agent_id, `cks_${"B".repeat(43)}`))).json().error.code).toBe("handshake_bad_signature");
      const actions = (await audit("AgentSecretRotated")).concat(await audit("AgentDisabled"), await audit("AgentCreated")).filter((e) => e.target === "agent/rot-bot");
      expect(actions.map((e) => e.action).sort()).toEqual(["AgentCreated", "AgentDisabled", "AgentSecretRotated"]);
      expect((await env.rt.audit.verify()).ok).toBe(true);
    });
  });
  describe("support access grants", () => {
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl op@x";
    it("grant, agent fetch, revoke; bounded to 7 days; other users get 404", async () => {
      const g = await post(env.app, "/v1/agents/billing-bot/support-access", alice, { public_key: KEY, ttl_seconds: 3600 });
      expect(g.statusCode, g.body).toBe(201);
      expect(g.json().public_key).toBe(KEY.split(" ").slice(0, 2).join(" "));
      expect((await post(env.app, "/v1/agents/billing-bot/support-access", alice, { public_key: KEY, ttl_seconds: 7 * 86400 + 1 })).statusCode).toBe(400);
      expect((await post(env.app, "/v1/agents/billing-bot/support-access", carol, { public_key: KEY })).statusCode).toBe(404);
      const t = (await hs(buildHandshake(bot.agent_id, bot.agent_secret))).json().agent_token;
      const fetchGrants = async () => (await env.app.inject({ method: "GET", url: "/v1/agent/support-access", headers: bearer(t) })).json().grants as { id: string }[];
      expect((await fetchGrants()).map((x) => x.id)).toEqual([g.json().id]);
      const del = (token: string) => env.app.inject({ method: "DELETE", url: `/v1/agents/billing-bot/support-access/${g.json().id}`, headers: bearer(token) });
      expect((await del(carol)).statusCode).toBe(404);
      expect((await del(alice)).json().revoked_at).toBeTruthy();
      expect((await del(alice)).statusCode).toBe(404);
      expect(await fetchGrants()).toEqual([]);
      expect((await audit("SupportAccessGranted")).length).toBe(1);
      expect((await audit("SupportAccessRevoked")).length).toBe(1);
      expect((await audit("SupportAccessFetched")).length).toBe(2);
    });
  });
});
