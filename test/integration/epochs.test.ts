import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { seal } from "../../src/crypto/envelope.js";
import { kekFromMaster } from "../../src/keys/keyring.js";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Nothing in the core assumes a single epoch: epochs are numbered from 1 per user, every pointer
// records its epoch, and a user with several epochs reads each version with its own DEK. (The
// rotation command itself comes later; here a second epoch is added the way it will add one.)

describe.each(BACKENDS)("epochs and metrics ($name)", (backend) => {
let env: TestEnv;
beforeEach(async () => {
  env = await startTestEnv({ CLAWKEEP_DEK_CACHE_SECONDS: "1" }, undefined, backend);
});
afterEach(async () => env.close());

async function addEpoch(userId: string, epoch: number) {
  const { kek, keyId } = kekFromMaster(Buffer.from(env.masterKey, "base64"));
  const wrapped = seal(kek, randomBytes(32), { kind: "dek", user: userId, epoch });
  const d = await env.raw();
  await d.run("update user_epochs set state = 'retired' where user_id = ?", userId);
  await d.run(
    "insert into user_epochs (user_id, epoch, wrapped_dek, key_id, state, seal_count, created_at) values (?, ?, ?, ?, 'active', 0, ?)",
    userId,
    epoch,
    wrapped.toString("base64"),
    keyId,
    new Date().toISOString(),
  );
  await d.close();
}

describe("epochs", () => {
  it("are per user, start at 1, are recorded on every pointer, and several coexist", async () => {
    const alice = await createUser(env, "alice");
    const bob = await createUser(env, "bob");
    await putSecret(env, alice, "bot/K", "a-epoch1");
    await putSecret(env, bob, "bot/K", "b-epoch1");
    const who = (await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(alice) })).json().user.id as string;
    await addEpoch(who, 2);
    await putSecret(env, alice, "bot/K", "a-epoch2");
    await putSecret(env, bob, "bot/K", "b-still-epoch1");

    const d = await env.raw();
    const rows = await d.all<{ user_id: string; version: number; epoch: number }>("select user_id, version, epoch from secret_versions order by user_id, version");
    const seals = await d.all("select user_id, epoch, seal_count from user_epochs order by user_id, epoch");
    await d.close();
    expect(rows.filter((r) => r.user_id === who).map((r) => r.epoch)).toEqual([1, 2]);
    expect(rows.filter((r) => r.user_id !== who).map((r) => r.epoch)).toEqual([1, 1]);
    expect(seals).toEqual(expect.arrayContaining([expect.objectContaining({ user_id: who, epoch: 2, seal_count: 1 })]));

    const get = async (t: string, v: number) => (await env.app.inject({ method: "GET", url: `/v1/secrets/bot/K?version=${v}`, headers: bearer(t) })).json().value;
    expect(await get(alice, 1)).toBe("a-epoch1");
    expect(await get(alice, 2)).toBe("a-epoch2");
    expect(await get(bob, 2)).toBe("b-still-epoch1");
    const versions = (await env.app.inject({ method: "GET", url: "/v1/secrets/bot/K/versions", headers: bearer(alice) })).json();
    // Reading version 1 moved it to the current epoch (lazy re-encryption).
    expect(versions.versions.map((v: { epoch: number }) => v.epoch)).toEqual([2, 2]);
  });

  it("a plain DEK stays in memory only for the configured time", async () => {
    const alice = await createUser(env, "alice");
    await putSecret(env, alice, "bot/K", "cached");
    const read = () => env.app.inject({ method: "GET", url: "/v1/secrets/bot/K", headers: bearer(alice) });
    expect((await read()).statusCode).toBe(200);
    // Destroy the wrapped DEK: while the plain DEK is cached the read still works ...
    const d = await env.raw();
    await d.run("update user_epochs set wrapped_dek = ?", Buffer.alloc(60).toString("base64"));
    await d.close();
    expect((await read()).statusCode).toBe(200);
    // ... and once the TTL has passed without use, the key is gone from memory.
    await new Promise((r) => setTimeout(r, 2100));
    const r = await read();
    expect(r.statusCode).toBe(500);
    expect(r.json().error.code).toBe("integrity_error");
  });
});

describe("metrics", () => {
  it("expose request counts by route pattern, never filled-in paths or values", async () => {
    const alice = await createUser(env, "alice");
    await putSecret(env, alice, "secretagent/VERY_PRIVATE_NAME", "metric-canary-value");
    const m = await env.app.inject({ method: "GET", url: "/metrics", headers: bearer(env.adminToken) });
    expect(m.statusCode).toBe(200);
    expect(m.body).toMatch(/clawkeep_http_requests_total\{route="\/v1\/secrets\/:agent\/:name",method="PUT",status="201"\} 1/);
    expect(m.body).toMatch(/clawkeep_process_cpu/);
    expect(m.body).not.toMatch(/secretagent|VERY_PRIVATE_NAME|metric-canary-value|usr_/);
  });
});
});
