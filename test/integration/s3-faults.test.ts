import { afterEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { BACKENDS } from "../helpers/backends.js";
import { startFaultProxy } from "../helpers/fault-proxy.js";
import { bearer, createUser, ensureAgent, startTestEnv, type TestEnv } from "../helpers/runtime.js";
import { startS3, type S3Server } from "../helpers/s3.js";
import { runCli } from "../helpers/proc.js";

// S3 faults in the middle of writes: the client gets a clear error, and no pointer ever names a
// missing blob (blob first, then pointer). Orphans that a crash leaves are removed by the sweeper.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function s3Env(endpointOverride?: (s3: S3Server) => Promise<string>) {
  const s3 = await startS3();
  cleanups.push(s3.stop);
  const endpoint = endpointOverride ? await endpointOverride(s3) : s3.endpoint;
  const backend = BACKENDS.find((b) => b.dialect === "postgres") ?? BACKENDS[0]!;
  const env = await startTestEnv({ ...s3.env, S3_ENDPOINT: endpoint, CLAWKEEP_BLOB_URL: `s3://${s3.bucket}/blobs` }, undefined, { ...backend, blobs: "file" });
  cleanups.push(() => env.close());
  return { s3, env };
}

const put = (env: TestEnv, token: string, ref: string, value: string) =>
  env.app.inject({ method: "PUT", url: `/v1/secrets/${ref}`, headers: { ...bearer(token), "content-type": "application/octet-stream" }, payload: value });

async function everyPointerReadable(env: TestEnv, token: string) {
  const db = await env.raw();
  const rows = await db.all<{ agent: string; name: string; version: number }>("select agent, name, version from secret_versions where deleted = 0");
  await db.close();
  for (const r of rows) {
    const g = await env.app.inject({ method: "GET", url: `/v1/secrets/${r.agent}/${r.name}?version=${r.version}`, headers: bearer(token) });
    expect({ ref: `${r.agent}/${r.name}@${r.version}`, status: g.statusCode }).toEqual({ ref: `${r.agent}/${r.name}@${r.version}`, status: 200 });
  }
  return rows.length;
}

describe("S3 faults", () => {
  it("the S3 server stopped in the middle of a burst of writes", async () => {
    const { s3, env } = await s3Env();
    const token = await createUser(env, "alice");
    await ensureAgent(env, token, "bot");
    const results = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        if (i === 20) await s3.pause();
        return put(env, token, `bot/K${i % 6}`, `v-${i}-${randomBytes(4).toString("hex")}`);
      }),
    );
    const statuses = results.map((r) => r.statusCode);
    expect(statuses).toContain(503);
    // The readiness check takes the node out of rotation while its blob store is down.
    const ready = await env.app.inject({ method: "GET", url: "/ready" });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().error.code).toBe("unavailable");
    for (const r of results.filter((x) => x.statusCode !== 201)) {
      expect(r.json().error.code).toBe("unavailable");
      expect(r.json().error.message).toMatch(/S3/);
    }
    // Bring S3 back with the same objects: every pointer that exists names a readable blob, and
    // every acknowledged write is among them.
    const again = await startS3(s3.bucket, { dir: s3.dir, port: s3.port });
    cleanups.push(again.pause);
    expect((await env.app.inject({ method: "GET", url: "/ready" })).statusCode).toBe(200);
    const readable = await everyPointerReadable(env, token);
    expect(readable).toBe(statuses.filter((s) => s === 201).length);
  });

  it("S3 answering 500s to some writes (after the SDK's retries)", async () => {
    let n = 0;
    const { env } = await s3Env(async (s3) => {
      const proxy = await startFaultProxy(s3.endpoint, (req) => (req.method === "PUT" && ++n % 3 !== 0 ? "500" : "ok"));
      cleanups.push(proxy.close);
      return proxy.endpoint;
    });
    const token = await createUser(env, "alice");
    await ensureAgent(env, token, "bot");
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await put(env, token, `bot/K${i % 3}`, `value-${i}`));
    const statuses = results.map((r) => r.statusCode);
    expect(statuses).toContain(201);
    expect(statuses).toContain(503);
    expect(await everyPointerReadable(env, token)).toBe(statuses.filter((s) => s === 201).length);
  });
});

describe.each(BACKENDS)("orphan sweeper ($name)", (backend) => {
  it("removes blobs no pointer names, once older than the grace period, and nothing else", async () => {
    const env = await startTestEnv({}, undefined, backend);
    cleanups.push(() => env.close());
    const token = await createUser(env, "alice");
    await ensureAgent(env, token, "bot");
    for (let i = 0; i < 5; i++) await put(env, token, `bot/K${i}`, `kept-${i}`);
    const userId = (await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(token) })).json().user.id;
    // What a crash between "blob written" and "pointer committed" leaves behind:
    for (let i = 0; i < 3; i++) await env.rt.blobs.put(`${userId}/bot/1/${randomBytes(16).toString("hex")}.enc`, randomBytes(40));
    const cli = (...args: string[]) => runCli(["blobs", "sweep", "--json", "--data-dir", env.dir, ...args], { env: { ...env.storageEnv, CLAWKEEP_MASTER_KEY: env.masterKey } });

    const dry = await cli("--grace", "0", "--dry-run");
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout.toString())).toEqual({ scanned: 8, orphans: 3, deleted: 0, skippedYoung: 0 });
    const young = JSON.parse((await cli("--grace", "3600")).stdout.toString());
    expect(young).toEqual({ scanned: 8, orphans: 3, deleted: 0, skippedYoung: 3 });
    const swept = JSON.parse((await cli("--grace", "0")).stdout.toString());
    expect(swept).toEqual({ scanned: 8, orphans: 3, deleted: 3, skippedYoung: 0 });
    expect(await everyPointerReadable(env, token)).toBe(5);
    const keys = [];
    for await (const b of env.rt.blobs.list("")) keys.push(b.key);
    expect(keys).toHaveLength(5);
    const events = await env.rt.audit.list({ limit: 1000 });
    expect(events.some((e) => e.action === "OrphanBlobsSwept")).toBe(true);
  });
});
