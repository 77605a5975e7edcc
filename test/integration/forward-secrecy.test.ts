import { afterEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { pruneVersions } from "../../src/vault/lifecycle.js";
import { open } from "../../src/crypto/envelope.js";
import { kekFromMaster } from "../../src/keys/keyring.js";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv, filesUnder as files } from "../helpers/runtime.js";
import { runCli } from "../helpers/proc.js";

// Forward secrecy you can prove: secrets written in epochs 1..3; epoch 1's versions age out and
// epoch 1 is destroyed. Then the attacker gets everything that remains — every file of the
// database, every blob, and the current master key — and no byte of epoch 1 can be recovered.

let env: TestEnv;
afterEach(async () => env?.close());


describe.each(BACKENDS)("forward secrecy ($name)", (backend) => {
  it("a destroyed epoch leaves no wrapped key, no ciphertext and no plaintext anywhere", async () => {
    env = await startTestEnv({}, undefined, backend);
    const token = await createUser(env, "alice");
    const userId = (await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(token) })).json().user.id as string;
    const canaries: Record<number, string[]> = { 1: [], 2: [], 3: [] };
    for (let e = 1; e <= 3; e++) {
      if (e > 1) expect(await env.rt.epochs.rotate(userId, "test")).toEqual({ from: e - 1, to: e });
      for (let i = 0; i < 10; i++) {
        const c = `EPOCH${e}_CANARY_${randomBytes(10).toString("hex")}`;
        canaries[e]!.push(c);
        await putSecret(env, token, `bot/K${i}`, c);
      }
    }
    // Everything an attacker could use against epoch 1, captured before destruction.
    const db = await env.raw();
    const [dekRow] = await db.all<{ wrapped_dek: string }>("select wrapped_dek from user_epochs where user_id = ? and epoch = 1", userId);
    await db.close();
    const wrapped = Buffer.from(dekRow!.wrapped_dek, "base64");
    const oldBlobs: Buffer[] = [];
    for await (const b of env.rt.blobs.list(userId)) if (b.key.split("/")[2] === "1") oldBlobs.push((await env.rt.blobs.get(b.key))!);
    expect(oldBlobs).toHaveLength(10);

    // Destruction refuses while versions still need epoch 1 ...
    await expect(env.rt.epochs.destroyBefore(userId, 2, { forceReencrypt: false })).rejects.toThrow(/still holds 10 versions/);
    // ... so epoch 1's versions age out (the lifecycle TTL), then the epoch is destroyed.
    expect(await pruneVersions({ db: env.rt.meta.db, durable: () => env.rt.meta.durable(), blobs: env.rt.blobs, audit: env.rt.audit }, { olderThanDays: 0 })).toEqual({ versions: 20 });
    expect(await env.rt.epochs.destroyBefore(userId, 2, { forceReencrypt: false })).toEqual({ destroyed: [1], blobsDeleted: 0, reencrypted: 0 });
    const closed = env;

    // The attacker's haystack, copied from the running system (its WAL included): every file
    // that remains, plus the database's logical contents.
    const haystack: { where: string; bytes: Buffer }[] = files(closed.dir).map((f) => ({ where: f, bytes: readFileSync(f) }));
    if (backend.dialect === "sqlite") expect(haystack.some((h) => h.where.endsWith("-wal"))).toBe(true);
    if (backend.dialect === "postgres") {
      haystack.push({ where: "pg_dump", bytes: execFileSync("pg_dump", ["--data-only", closed.storageEnv.CLAWKEEP_DATABASE_URL!], { maxBuffer: 256 << 20 }) });
    }
    const needles: [string, Buffer][] = [
      ["wrapped DEK (bytes)", wrapped],
      ["wrapped DEK (base64)", Buffer.from(dekRow!.wrapped_dek)],
      ...oldBlobs.map((b, i): [string, Buffer] => [`epoch-1 ciphertext ${i}`, b.subarray(16, 48)]),
      ...canaries[1]!.map((c): [string, Buffer] => [`canary ${c}`, Buffer.from(c)]),
    ];
    const found = needles.flatMap(([what, n]) => haystack.filter((h) => h.bytes.includes(n)).map((h) => `${what} in ${h.where}`));
    expect(found).toEqual([]);

    // And with the current master key in hand, nothing that remains opens as epoch 1.
    const { kek } = kekFromMaster(Buffer.from(closed.masterKey, "base64"));
    for (const h of haystack) expect(() => open(kek, h.bytes, { kind: "dek", user: userId, epoch: 1 })).toThrow();
  });
});

describe.each(BACKENDS)("epoch lifecycle ($name)", (backend) => {
  it("rotation takes effect at once, reads re-encrypt lazily, the job moves the rest, and it is all audited", async () => {
    env = await startTestEnv({}, undefined, backend);
    const token = await createUser(env, "alice");
    const userId = (await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(token) })).json().user.id as string;
    for (let i = 0; i < 6; i++) await putSecret(env, token, `bot/K${i}`, `v${i}`);
    await env.rt.epochs.rotate(userId, "test");
    expect((await putSecret(env, token, "bot/NEW", "n")).version).toBe(1);
    const epochsOf = async () => {
      const v = await env.rt.epochs.list(userId);
      return v.map((e) => [e.epoch, e.state, e.pointers]);
    };
    expect(await epochsOf()).toEqual([
      [1, "retired", 6],
      [2, "active", 1],
    ]);
    // A read of K0 moves it to epoch 2.
    const r = await env.app.inject({ method: "GET", url: "/v1/secrets/bot/K0", headers: bearer(token) });
    expect(r.json().value).toBe("v0");
    expect(await epochsOf()).toEqual([
      [1, "retired", 5],
      [2, "active", 2],
    ]);
    // The job moves the rest; a second run finds nothing to do.
    expect(await env.rt.epochs.reencrypt([userId])).toEqual({ total: 5, moved: 5, skipped: 0, failed: 0 });
    expect(await env.rt.epochs.reencrypt([userId])).toEqual({ total: 0, moved: 0, skipped: 0, failed: 0 });
    for (let i = 0; i < 6; i++) expect((await env.app.inject({ method: "GET", url: `/v1/secrets/bot/K${i}`, headers: bearer(token) })).json().value).toBe(`v${i}`);
    const destroyed = await env.rt.epochs.destroyBefore(userId, 2, { forceReencrypt: false });
    expect(destroyed.destroyed).toEqual([1]);
    const events = (await env.rt.audit.list({ limit: 1000 })).map((e) => e.action);
    expect(events).toContain("EpochRotated");
    expect(events).toContain("EpochDestroyed");
    expect(events.filter((a) => a === "BlobWritten")).toHaveLength(6 + 1 + 6);
    expect(await env.rt.audit.verify()).toMatchObject({ ok: true });
    // The current epoch is never destroyed.
    await expect(env.rt.epochs.destroyBefore(userId, 3, { forceReencrypt: false })).rejects.toThrow(/current epoch/);
  });

  it("disabling an agent, rotating its secret and revoking a support grant each start a new epoch", async () => {
    env = await startTestEnv({}, undefined, backend);
    const token = await createUser(env, "alice");
    await putSecret(env, token, "bot/K", "v");
    const userId = (await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(token) })).json().user.id as string;
    await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(token), payload: { name: "bot" } });
    const reasons = async () => (await env.rt.audit.list({ limit: 1000 })).filter((e) => e.action === "EpochRotated").map((e) => e.metadata.reason);
    expect((await env.app.inject({ method: "POST", url: "/v1/agents/bot/rotate-secret", headers: bearer(token) })).statusCode).toBe(200);
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl support@example";
    const g = await env.app.inject({ method: "POST", url: "/v1/agents/bot/support-access", headers: bearer(token), payload: { public_key: key } });
    expect(g.statusCode, g.body).toBeLessThan(300);
    expect((await env.app.inject({ method: "DELETE", url: `/v1/agents/bot/support-access/${g.json().id}`, headers: bearer(token) })).statusCode).toBe(200);
    expect((await env.app.inject({ method: "POST", url: "/v1/agents/bot/disable", headers: bearer(token) })).statusCode).toBe(200);
    expect(await reasons()).toEqual(["agent_secret_rotated", "support_revoked", "agent_disabled"]);
    expect(await env.rt.epochs.current(userId)).toBe(4);
  });

  it("scheduled rotation: epochs older than the period, or past the seal limit, rotate once", async () => {
    env = await startTestEnv({}, undefined, backend);
    const alice = await createUser(env, "alice");
    const bob = await createUser(env, "bob");
    await putSecret(env, alice, "bot/K", "a");
    await putSecret(env, bob, "bot/K", "b");
    // Nothing is due yet (admin, alice and bob each hold a fresh epoch, or none).
    expect(await env.rt.epochs.rotateDue({ maxAgeSeconds: 3600, maxSeals: 2 ** 30 })).toBe(0);
    // A seal limit of 1 makes alice's and bob's epochs (1 seal each) due ...
    expect(await env.rt.epochs.rotateDue({ maxAgeSeconds: 3600, maxSeals: 1 })).toBe(2);
    // ... once: their new epochs have not sealed anything yet.
    expect(await env.rt.epochs.rotateDue({ maxAgeSeconds: 3600, maxSeals: 1 })).toBe(0);
    // An age limit of 0 makes every active epoch due.
    expect(await env.rt.epochs.rotateDue({ maxAgeSeconds: 0, maxSeals: 2 ** 30 })).toBe(2);
    const reasons = (await env.rt.audit.list({ limit: 1000 })).filter((e) => e.action === "EpochRotated").map((e) => e.metadata.reason);
    expect(reasons).toEqual(["schedule", "schedule", "schedule", "schedule"]);
  });

  it("revoking a token starts a new epoch", async () => {
    env = await startTestEnv({}, undefined, backend);
    const token = await createUser(env, "alice");
    await putSecret(env, token, "bot/K", "v");
    const t = (await env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(token), payload: { name: "x" } })).json();
    await env.app.inject({ method: "DELETE", url: `/v1/tokens/${t.id}`, headers: bearer(token) });
    const userId = (await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(token) })).json().user.id as string;
    expect(await env.rt.epochs.current(userId)).toBe(2);
  });

  it("the CLI: ls, rotate, reencrypt, destroy with --force-reencrypt", async () => {
    env = await startTestEnv({}, undefined, backend);
    const token = await createUser(env, "alice");
    for (let i = 0; i < 4; i++) await putSecret(env, token, `bot/K${i}`, `v${i}`);
    const cli = (...a: string[]) => runCli([...a, "--json", "--data-dir", env.dir], { env: { ...env.storageEnv, CLAWKEEP_MASTER_KEY: env.masterKey } });
    const rot = await cli("epoch", "rotate", "--user", "alice");
    expect(rot.code, rot.stderr).toBe(0);
    expect(JSON.parse(rot.stdout.toString())).toEqual([{ user: "alice", from: 1, to: 2 }]);
    expect((await cli("epoch", "destroy", "--before", "2", "--user", "alice")).code).toBe(1); // refuses: versions need epoch 1
    const d = await cli("epoch", "destroy", "--before", "2", "--all", "--force-reencrypt");
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout.toString())).toEqual([
      { user: "admin", destroyed: [], blobsDeleted: 0, reencrypted: 0 },
      { user: "alice", destroyed: [1], blobsDeleted: 0, reencrypted: 4 },
    ]);
    const ls = JSON.parse((await cli("epoch", "ls", "--user", "alice")).stdout.toString());
    expect(ls[0].epochs.map((e: { epoch: number; state: string }) => `${e.epoch}:${e.state}`)).toEqual(["1:destroyed", "2:active"]);
    for (let i = 0; i < 4; i++) expect((await env.app.inject({ method: "GET", url: `/v1/secrets/bot/K${i}`, headers: bearer(token) })).json().value).toBe(`v${i}`);
    expect((await cli("epoch", "rotate")).code).toBe(2); // neither --user nor --all
  });
});
