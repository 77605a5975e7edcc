import { afterEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { open } from "../../src/crypto/envelope.js";
import { kekFromMaster } from "../../src/keys/keyring.js";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv, filesUnder as files } from "../helpers/runtime.js";

// Cryptographic erasure of an agent and of a user (seed 001 §3): after the delete, everything
// that remains of the running system — its files (WAL included), pg_dump, the object store's
// directory — holds none of the canaries, none of the wrapped DEKs that ever sealed them and none
// of their old ciphertexts; with the master key in hand nothing opens as an old epoch's key.

let env: TestEnv;
afterEach(async () => env?.close());

const OP_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl operator@support";


const canary = (tag: string) => `${tag}_CANARY_${randomBytes(10).toString("hex")}`;
const userIdOf = async (e: TestEnv, token: string) => (await e.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(token) })).json().user.id as string;
const read = async (e: TestEnv, token: string, ref: string) => e.app.inject({ method: "GET", url: `/v1/secrets/${ref}`, headers: bearer(token) });

/** What an attacker could use against `userId` today: its wrapped DEKs and every blob's bytes. */
async function capture(e: TestEnv, userId: string) {
  const db = await e.raw();
  const deks = await db.all<{ epoch: number; wrapped_dek: string }>("select epoch, wrapped_dek from user_epochs where user_id = ? order by epoch", userId);
  await db.close();
  const blobs: Buffer[] = [];
  for await (const b of e.rt.blobs.list(userId)) blobs.push((await e.rt.blobs.get(b.key))!);
  return { deks, blobs };
}

/** Every byte that remains: the data dir, storage dirs outside it, and the database's logical contents. */
function haystack(e: TestEnv): { where: string; bytes: Buffer }[] {
  const h = [e.dir, ...e.storageDirs].flatMap(files).map((f) => ({ where: f, bytes: readFileSync(f) }));
  if (e.backend.dialect === "sqlite") expect(h.some((x) => x.where.endsWith("-wal"))).toBe(true);
  if (e.backend.dialect === "postgres") {
    h.push({ where: "pg_dump", bytes: execFileSync("pg_dump", ["--data-only", e.storageEnv.CLAWKEEP_DATABASE_URL!], { maxBuffer: 256 << 20 }) });
  }
  return h;
}

function leftovers(e: TestEnv, old: Awaited<ReturnType<typeof capture>>, canaries: string[]): string[] {
  const hay = haystack(e);
  const needles: [string, Buffer][] = [
    ...old.deks.flatMap((d): [string, Buffer][] => [
      [`wrapped DEK ${d.epoch} (base64)`, Buffer.from(d.wrapped_dek)],
      [`wrapped DEK ${d.epoch} (bytes)`, Buffer.from(d.wrapped_dek, "base64")],
    ]),
    ...old.blobs.map((b, i): [string, Buffer] => [`old ciphertext ${i}`, b.subarray(16, 48)]),
    ...canaries.map((c): [string, Buffer] => [`canary ${c}`, Buffer.from(c)]),
  ];
  return needles.flatMap(([what, n]) => hay.filter((h) => h.bytes.includes(n)).map((h) => `${what} in ${h.where}`));
}

/** With the master key: nothing that remains opens as the DEK of any of these epochs. */
function noOldKeyOpens(e: TestEnv, userId: string, epochs: number[]) {
  const { kek } = kekFromMaster(Buffer.from(e.masterKey, "base64"));
  const hay = haystack(e);
  for (const epoch of epochs) for (const h of hay) expect(() => open(kek, h.bytes, { kind: "dek", user: userId, epoch })).toThrow();
}

describe.each(BACKENDS)("cryptographic erasure ($name)", (backend) => {
  it("deleting an agent leaves none of its values, keys or ciphertexts; the user's other agents still read", async () => {
    env = await startTestEnv({}, undefined, backend);
    const alice = await createUser(env, "alice");
    const bob = await createUser(env, "bob");
    const aliceId = await userIdOf(env, alice);
    for (const name of ["bot", "keep"]) expect((await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(alice), payload: { name } })).statusCode).toBe(201);
    expect((await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(bob), payload: { name: "other" } })).statusCode).toBe(201);
    const g = await env.app.inject({ method: "POST", url: "/v1/agents/bot/support-access", headers: bearer(alice), payload: { public_key: OP_KEY } });
    expect(g.statusCode).toBe(201);

    // Two epochs, each holding versions of both agents.
    const canaries: string[] = [];
    const kept: Record<string, string> = {};
    for (let e = 1; e <= 2; e++) {
      if (e > 1) await env.rt.epochs.rotate(aliceId, "test");
      for (let i = 0; i < 3; i++) {
        const c = canary(`BOT${e}`);
        canaries.push(c);
        await putSecret(env, alice, `bot/K${i}`, c);
        kept[`keep/K${i}`] = `keep-${e}-${i}`;
        await putSecret(env, alice, `keep/K${i}`, kept[`keep/K${i}`]!);
      }
    }
    await putSecret(env, bob, "other/K", "bob-value");
    const old = await capture(env, aliceId);
    expect(old.deks.map((d) => d.epoch)).toEqual([1, 2]);
    expect(old.blobs).toHaveLength(12);

    // Another user's agent answers like a missing one, and nothing happens to it.
    expect((await env.app.inject({ method: "DELETE", url: "/v1/agents/bot", headers: bearer(bob) })).json().error.code).toBe("not_found");
    expect((await env.app.inject({ method: "DELETE", url: "/v1/agents/nope", headers: bearer(alice) })).statusCode).toBe(404);

    // The scan finds the old keys and ciphertexts while they exist (so its silence later means something).
    expect(leftovers(env, old, []).length).toBeGreaterThanOrEqual(old.deks.length + old.blobs.length);
    const del = await env.app.inject({ method: "DELETE", url: "/v1/agents/bot", headers: bearer(alice) });
    expect(del.statusCode, del.body).toBe(200);
    expect(del.json()).toMatchObject({ name: "bot", deleted: true, versions: 6, grants: 1, epochs_destroyed: [1, 2] });
    // Every version of `keep` (not only the latest) moved to the new epoch.
    expect(del.json().reencrypted).toBe(6);

    expect(leftovers(env, old, canaries)).toEqual([]);
    noOldKeyOpens(env, aliceId, [1, 2]);

    // The agent and its secrets are gone; the other agent and the other user read as before.
    expect((await read(env, alice, "bot/K0")).statusCode).toBe(404);
    expect((await env.app.inject({ method: "GET", url: "/v1/agents", headers: bearer(alice) })).json().agents.map((a: { name: string }) => a.name)).toEqual(["keep"]);
    for (const [ref, v] of Object.entries(kept)) expect((await read(env, alice, ref)).json().value).toBe(v);
    expect((await read(env, alice, "keep/K0?version=1")).json().value).toBe("keep-1-0");
    expect((await read(env, bob, "other/K")).json().value).toBe("bob-value");
    expect((await env.rt.epochs.list(aliceId)).map((e) => `${e.epoch}:${e.state}`)).toEqual(["1:destroyed", "2:destroyed", "3:active"]);
    const db = await env.raw();
    expect(await db.all("select id from agents where user_id = ? and name = 'bot'", aliceId)).toEqual([]);
    expect(await db.all("select id from support_grants where user_id = ?", aliceId)).toEqual([]);
    await db.close();

    const events = await env.rt.audit.list({ limit: 1000 });
    const ev = events.find((e) => e.action === "AgentDeleted");
    expect(ev).toMatchObject({ user_id: aliceId, target: "agent/bot", metadata: { versions: 6, grants: 1, epochs_destroyed: "1,2" } });
    expect(await env.rt.audit.verify()).toMatchObject({ ok: true });
  });

  it("deleting a user destroys every epoch and row of it; other users are untouched", async () => {
    env = await startTestEnv({}, undefined, backend);
    const alice = await createUser(env, "alice");
    const bob = await createUser(env, "bob");
    const aliceId = await userIdOf(env, alice);
    const bobId = await userIdOf(env, bob);
    expect((await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(alice), payload: { name: "bot" } })).statusCode).toBe(201);
    await env.app.inject({ method: "POST", url: "/v1/agents/bot/support-access", headers: bearer(alice), payload: { public_key: OP_KEY } });
    await env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(alice), payload: { name: "second" } });
    const canaries: string[] = [];
    for (let e = 1; e <= 2; e++) {
      if (e > 1) await env.rt.epochs.rotate(aliceId, "test");
      for (let i = 0; i < 3; i++) {
        const c = canary(`USER${e}`);
        canaries.push(c);
        await putSecret(env, alice, `${i % 2 ? "bot" : "misc"}/K${i}`, c);
      }
    }
    await putSecret(env, bob, "bot/K", "bob-value");
    const old = await capture(env, aliceId);
    expect(old.blobs).toHaveLength(6);

    // Admin only; an admin cannot delete itself; a missing user is a 404.
    expect((await env.app.inject({ method: "DELETE", url: "/v1/users/bob", headers: bearer(alice) })).json().error.code).toBe("forbidden");
    expect((await env.app.inject({ method: "DELETE", url: "/v1/users/admin", headers: bearer(env.adminToken) })).json().error.code).toBe("forbidden");
    expect((await env.app.inject({ method: "DELETE", url: "/v1/users/nobody", headers: bearer(env.adminToken) })).statusCode).toBe(404);

    expect(leftovers(env, old, []).length).toBeGreaterThanOrEqual(old.deks.length + old.blobs.length);
    const del = await env.app.inject({ method: "DELETE", url: "/v1/users/alice", headers: bearer(env.adminToken) });
    expect(del.statusCode, del.body).toBe(200);
    expect(del.json()).toMatchObject({ user_id: aliceId, deleted: true, versions: 6, blobs_deleted: 6, agents: 2, tokens: 2, epochs_destroyed: 2 });

    expect(leftovers(env, old, canaries)).toEqual([]);
    noOldKeyOpens(env, aliceId, [1, 2]);
    expect((await read(env, alice, "misc/K0")).statusCode).toBe(401);
    const db = await env.raw();
    for (const table of ["users", "tokens", "user_epochs", "secret_versions", "secret_heads", "agents", "support_grants"]) {
      const col = table === "users" ? "id" : "user_id";
      expect(await db.all(`select * from ${table} where ${col} = ?`, aliceId), table).toEqual([]);
    }
    // The audit log keeps its events (metadata only) under the old id.
    expect((await db.all("select seq from audit_events where user_id = ?", aliceId)).length).toBeGreaterThan(0);
    await db.close();
    expect((await env.app.inject({ method: "DELETE", url: "/v1/users/alice", headers: bearer(env.adminToken) })).statusCode).toBe(404);

    expect((await read(env, bob, "bot/K")).json().value).toBe("bob-value");
    expect((await env.rt.epochs.list(bobId)).map((e) => e.state)).toEqual(["active"]);
    // The name is free again, and a new alice starts from nothing.
    const alice2 = await createUser(env, "alice");
    expect((await read(env, alice2, "misc/K0")).statusCode).toBe(404);
    const ev = (await env.rt.audit.list({ limit: 1000 })).find((e) => e.action === "UserDeleted");
    expect(ev).toMatchObject({ user_id: aliceId, target: "user/alice", metadata: { versions: 6, agents: 2, tokens: 2, epochs_destroyed: 2 } });
    expect(await env.rt.audit.verify()).toMatchObject({ ok: true });
  });
});
