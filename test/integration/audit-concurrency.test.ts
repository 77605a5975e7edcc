import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Audited reads are group-committed; under concurrency every read still has exactly one event,
// writes interleave correctly, and the chain stays one linear, verifiable sequence.

describe.each(BACKENDS)("audit concurrency ($name)", (backend) => {
let env: TestEnv;
let token: string;
beforeAll(async () => {
  env = await startTestEnv({}, undefined, backend);
  token = await createUser(env, "alice");
  await putSecret(env, token, "bot/K", "v1");
});
afterAll(async () => env.close());

describe("audit under concurrency", () => {
  it("300 concurrent reads and 30 concurrent writes", async () => {
    const reads = Array.from({ length: 300 }, () => env.app.inject({ method: "GET", url: "/v1/secrets/bot/K?version=1", headers: bearer(token) }));
    const writes = Array.from({ length: 30 }, (_, i) =>
      env.app.inject({ method: "PUT", url: "/v1/secrets/bot/K", headers: { ...bearer(token), "content-type": "application/octet-stream" }, payload: `w${i}` }),
    );
    const rs = await Promise.all([...reads, ...writes]);
    expect(rs.map((r) => r.statusCode).filter((s) => s >= 300)).toEqual([]);
    const versions = rs.slice(300).map((r) => r.json().version as number);
    expect(new Set(versions).size).toBe(30);

    const events = await env.rt.audit.list({ limit: 1000 });
    expect(events.filter((e) => e.action === "SecretRead")).toHaveLength(300);
    expect(events.filter((e) => e.action === "BlobWritten")).toHaveLength(31);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(await env.rt.audit.verify()).toEqual({ ok: true, count: events.length });
  });
});
});
