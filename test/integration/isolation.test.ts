import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// For every route, user B's token on user A's resources gets exactly the answer B gets for a
// resource that does not exist, and A's data is unchanged afterwards.

describe.each(BACKENDS)("isolation ($name)", (backend) => {
let env: TestEnv;
let alice: string;
let bob: string;
let aliceTokenId: string;

beforeAll(async () => {
  env = await startTestEnv({}, undefined, backend);
  alice = await createUser(env, "alice");
  bob = await createUser(env, "bob");
  await putSecret(env, alice, "bot/KEY", "alice-secret-1");
  await putSecret(env, alice, "bot/KEY", "alice-secret-2");
  const t = await env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(alice), payload: { name: "ci" } });
  aliceTokenId = t.json().id;
});
afterAll(async () => env.close());

const call = (token: string, method: "GET" | "DELETE" | "PUT" | "POST", url: string) =>
  env.app.inject({ method, url, headers: bearer(token) }).then((r) => ({ status: r.statusCode, body: r.json() as unknown, raw: r.body }));

describe("cross-user access looks exactly like a missing resource", () => {
  const pairs: [string, "GET" | "DELETE", string, string][] = [
    ["get latest", "GET", "/v1/secrets/bot/KEY", "/v1/secrets/bot/NOPE"],
    ["get version", "GET", "/v1/secrets/bot/KEY?version=1", "/v1/secrets/bot/NOPE?version=1"],
    ["versions", "GET", "/v1/secrets/bot/KEY/versions", "/v1/secrets/bot/NOPE/versions"],
    ["list agent", "GET", "/v1/secrets/bot", "/v1/secrets/nobody"],
    ["delete", "DELETE", "/v1/secrets/bot/KEY", "/v1/secrets/bot/NOPE"],
    ["revoke token", "DELETE", `/v1/tokens/__ALICE_TOKEN__`, "/v1/tokens/tok_doesnotexist00000000"],
  ];
  for (const [label, method, theirs, missing] of pairs) {
    it(label, async () => {
      const a = await call(bob, method, theirs.replace("__ALICE_TOKEN__", aliceTokenId));
      const b = await call(bob, method, missing);
      expect(a.status).toBe(b.status);
      expect(a.body).toEqual(b.body);
      expect(a.raw).not.toContain("alice-secret");
    });
  }

  it("B's listing and audit view contain nothing of A's", async () => {
    const list = await call(bob, "GET", "/v1/secrets");
    expect(list.body).toEqual({ secrets: [] });
    const audit = await call(bob, "GET", "/v1/audit?limit=1000");
    const events = (audit.body as { events: { user_id: string; target: string }[] }).events;
    expect(events.length).toBeGreaterThan(0);
    const bobId = (await call(bob, "GET", "/v1/whoami")).body as { user: { id: string } };
    expect(events.every((e) => e.user_id === bobId.user.id)).toBe(true);
    const tokens = (await call(bob, "GET", "/v1/tokens")).body as { tokens: { id: string }[] };
    expect(tokens.tokens.map((t) => t.id)).not.toContain(aliceTokenId);
  });

  it("B writing the same path creates B's own secret and leaves A's alone", async () => {
    await putSecret(env, bob, "bot/KEY", "bob-value");
    const a = await call(alice, "GET", "/v1/secrets/bot/KEY");
    expect(a.body).toMatchObject({ value: "alice-secret-2", version: 2 });
    const b = await call(bob, "GET", "/v1/secrets/bot/KEY");
    expect(b.body).toMatchObject({ value: "bob-value", version: 1 });
  });

  it("A's data is intact after all of B's attempts, and A's token still works", async () => {
    const v = await call(alice, "GET", "/v1/secrets/bot/KEY/versions");
    expect((v.body as { versions: { deleted: boolean }[] }).versions.map((x) => x.deleted)).toEqual([false, false]);
    const tokens = (await call(alice, "GET", "/v1/tokens")).body as { tokens: { id: string; revoked_at: string | null }[] };
    expect(tokens.tokens.find((t) => t.id === aliceTokenId)?.revoked_at).toBeNull();
  });

  it("an admin cannot read a user's secrets either", async () => {
    const a = await call(env.adminToken, "GET", "/v1/secrets/bot/KEY");
    const b = await call(env.adminToken, "GET", "/v1/secrets/bot/NOPE");
    expect(a).toEqual(b);
  });

  it("a non-admin cannot create users", async () => {
    const r = await env.app.inject({ method: "POST", url: "/v1/users", headers: bearer(bob), payload: { name: "mallory" } });
    expect(r.statusCode).toBe(403);
    expect(r.json().error.code).toBe("forbidden");
  });
});
});
