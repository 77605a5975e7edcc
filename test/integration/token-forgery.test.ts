import { afterEach, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Someone who can write to the database but does not hold the master key cannot mint, re-point,
// extend or un-revoke an API token: every such row fails to authenticate.

let env: TestEnv;
afterEach(async () => env?.close());

const whoami = (t: string) => env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(t) });

describe.each(BACKENDS)("token forgery with database write access ($name)", (backend) => {
  it("inserted, re-pointed, extended and un-revoked tokens are all refused", async () => {
    env = await startTestEnv({}, undefined, backend);
    const alice = await createUser(env, "alice");
    const mallory = await createUser(env, "mallory");
    await putSecret(env, alice, "bot/K", "alice-only");
    const aliceId = (await whoami(alice)).json().user.id as string;
    const db = await env.raw();
    try {
      // 1. A token of the attacker's choosing, stored the way a plain hash would be.
      const chosen = `ck_${"Z".repeat(43)}`;
      const sha = createHash("sha256").update(chosen).digest("hex");
      await db.run("insert into tokens (id, user_id, token_hash, mac, name, created_at) values ('tok_evil', ?, ?, '', 'x', '2026-01-01T00:00:00.000Z')", aliceId, sha);
      expect((await whoami(chosen)).statusCode).toBe(401);
      // 2. The attacker's own valid token, re-pointed at alice.
      await db.run("update tokens set user_id = ? where user_id = (select id from users where name = 'mallory')", aliceId);
      expect((await whoami(mallory)).statusCode).toBe(401);
      const read = await env.app.inject({ method: "GET", url: "/v1/secrets/bot/K", headers: bearer(mallory) });
      expect(read.statusCode).toBe(401);
      expect(read.body).not.toContain("alice-only");
      // 3. A short-lived token extended, and a revoked token un-revoked.
      const t = (await env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(alice), payload: { name: "s", ttl_seconds: 60 } })).json();
      await db.run("update tokens set expires_at = '2999-01-01T00:00:00.000Z' where id = ?", t.id);
      expect((await whoami(t.token)).statusCode).toBe(401);
      const r = (await env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(alice), payload: { name: "r" } })).json();
      expect((await whoami(r.token)).statusCode).toBe(200);
      await env.app.inject({ method: "DELETE", url: `/v1/tokens/${r.id}`, headers: bearer(alice) });
      await db.run("update tokens set revoked_at = null where id = ?", r.id);
      expect((await whoami(r.token)).statusCode).toBe(401);
    } finally {
      await db.close();
    }
    // Alice's own token is untouched, and every refusal is audited.
    expect((await whoami(alice)).statusCode).toBe(200);
    const reasons = (await env.rt.audit.list({ limit: 1000 })).filter((e) => e.action === "AuthFailed").map((e) => e.metadata.reason);
    expect(reasons).toEqual(expect.arrayContaining(["unknown", "row_mac_invalid"]));
  });

  it("a token never mints one that outlives it", async () => {
    env = await startTestEnv({}, undefined, backend);
    const alice = await createUser(env, "alice");
    const mint = (by: string, payload: Record<string, unknown>) => env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(by), payload });
    const short = (await mint(alice, { name: "short", ttl_seconds: 3600 })).json<{ token: string; expires_at: string }>();
    const forever = await mint(short.token, { name: "forever" });
    expect(forever.statusCode).toBe(201);
    expect(forever.json().expires_at).toBe(short.expires_at); // capped at the parent's expiry
    expect((await mint(short.token, { name: "longer", ttl_seconds: 86400 })).json().expires_at).toBe(short.expires_at);
    const shorter = (await mint(short.token, { name: "shorter", ttl_seconds: 60 })).json<{ expires_at: string }>();
    expect(Date.parse(shorter.expires_at)).toBeLessThan(Date.parse(short.expires_at));
    expect((await mint(alice, { name: "unlimited" })).json().expires_at).toBeNull(); // a token without expiry is not capped
  });
});
