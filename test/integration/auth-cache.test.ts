import { afterEach, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, startSecondNode, startTestEnv, type TestEnv, type TestNode } from "../helpers/runtime.js";

// A successful token check is reused for CLAWKEEP_AUTH_CACHE_MS on a node (a database read and
// three MACs saved on every request). The promises around it: a revocation on the node stops the
// very next request; on another node it stops within the bound; a token never outlives its
// expiry through the cache; a failure is never cached (each one is checked and audited).

const BOUND_MS = 1500;
let env: TestEnv;
let node2: TestNode | undefined;
afterEach(async () => {
  await node2?.close();
  node2 = undefined;
  await env?.close();
});

type App = TestEnv["app"];
const whoami = (app: App, t: string) => app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(t) });

describe.each(BACKENDS)("API token checks reused for a short time ($name)", (backend) => {
  it("revoked: refused at once on the revoking node, and on another node within the bound", async () => {
    env = await startTestEnv({ CLAWKEEP_AUTH_CACHE_MS: String(BOUND_MS) }, undefined, backend);
    node2 = await startSecondNode(env, { CLAWKEEP_AUTH_CACHE_MS: String(BOUND_MS) });
    const alice = await createUser(env, "alice");
    const t = (await env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(alice), payload: { name: "doomed" } })).json();
    // Both nodes check the token once, and keep the verdict.
    expect((await whoami(env.app, t.token)).statusCode).toBe(200);
    expect((await whoami(node2.app, t.token)).statusCode).toBe(200);
    const revokedAt = Date.now();
    expect((await env.app.inject({ method: "DELETE", url: `/v1/tokens/${t.id}`, headers: bearer(alice) })).statusCode).toBe(200);
    expect((await whoami(env.app, t.token)).statusCode).toBe(401);
    // The other node has not heard of it yet: the cache is real, and bounded.
    if (Date.now() - revokedAt < BOUND_MS - 500) expect((await whoami(node2.app, t.token)).statusCode).toBe(200);
    await sleep(BOUND_MS + 200 - (Date.now() - revokedAt));
    expect((await whoami(node2.app, t.token)).statusCode).toBe(401);
    // Other tokens of the user are untouched by the revocation.
    expect((await whoami(node2.app, alice)).statusCode).toBe(200);
  }, 60_000);

  it("an erased user is refused at once on the erasing node", async () => {
    env = await startTestEnv({ CLAWKEEP_AUTH_CACHE_MS: String(BOUND_MS) }, undefined, backend);
    const bob = await createUser(env, "bob");
    expect((await whoami(env.app, bob)).statusCode).toBe(200);
    const del = await env.app.inject({ method: "DELETE", url: "/v1/users/bob", headers: bearer(env.adminToken) });
    expect(del.statusCode, del.body).toBe(200);
    expect((await whoami(env.app, bob)).statusCode).toBe(401);
  });

  it("a cached check never outlives the token's expiry, and failures are not cached", async () => {
    env = await startTestEnv({ CLAWKEEP_AUTH_CACHE_MS: "60000" }, undefined, backend);
    const alice = await createUser(env, "alice");
    const who = (await whoami(env.app, alice)).json();
    const short = await env.rt.users.createToken({ userId: who.user.id, userName: "alice", tokenId: who.token_id, isAdmin: false, expiresMs: null }, "short", 1);
    expect((await whoami(env.app, short.token)).statusCode).toBe(200);
    await sleep(Date.parse(short.expiresAt!) - Date.now() + 100);
    expect((await whoami(env.app, short.token)).statusCode).toBe(401);
    // Each refusal is checked and audited anew, not answered from a cache.
    const unknown = `ck_${"A".repeat(43)}`;
    for (let i = 0; i < 3; i++) expect((await whoami(env.app, unknown)).statusCode).toBe(401);
    const events = (await env.app.inject({ method: "GET", url: "/v1/audit?limit=1000", headers: bearer(env.adminToken) })).json().events as { action: string; metadata: { reason?: string } }[];
    expect(events.filter((e) => e.action === "AuthFailed" && e.metadata.reason === "unknown").length).toBeGreaterThanOrEqual(3);
    expect(events.filter((e) => e.action === "AuthFailed" && e.metadata.reason === "expired").length).toBe(1);
  });
});
