import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InjectOptions } from "fastify";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Bad input gets a clear error with a stable code, changes nothing in the store, and the server
// keeps serving.

describe.each(BACKENDS)("bad input ($name)", (backend) => {
let env: TestEnv;
let token: string;

beforeAll(async () => {
  env = await startTestEnv({}, undefined, backend);
  token = await createUser(env, "alice");
  await putSecret(env, token, "bot/KEY", "original");
});
afterAll(async () => env.close());

async function snapshot() {
  const db = await env.raw();
  const rows = await db.all("select user_id, agent, name, version, sha256, deleted from secret_versions order by 1,2,3,4");
  const users = await db.all("select id, name from users order by id");
  const tokens = await db.all("select id, revoked_at from tokens order by id");
  await db.close();
  const files: string[] = [];
  for await (const b of env.rt.blobs.list("")) files.push(b.key);
  return JSON.stringify({ rows, users, tokens, files: files.sort() });
}

type Case = [label: string, req: InjectOptions, status: number, code: string];

const auth = () => bearer(token);
const cases = (): Case[] => [
  ["malformed JSON", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: { ...auth(), "content-type": "application/json" }, payload: '{"value": "x"' }, 400, "bad_request"],
  ["empty JSON body", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: { ...auth(), "content-type": "application/json" }, payload: "" }, 400, "bad_request"],
  ["JSON of the wrong shape", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: auth(), payload: { value: 42 } }, 400, "bad_request"],
  ["JSON with an unknown field", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: auth(), payload: { value: "x", extra: 1 } }, 400, "bad_request"],
  ["bad base64", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: auth(), payload: { value: "not base64!", encoding: "base64" } }, 400, "bad_request"],
  ["bad encoding", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: auth(), payload: { value: "x", encoding: "hex" } }, 400, "bad_request"],
  ["unsupported content type", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: { ...auth(), "content-type": "text/plain" }, payload: "x" }, 415, "unsupported_media_type"],
  ["value one byte over the limit", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: { ...auth(), "content-type": "application/octet-stream" }, payload: Buffer.alloc(64 * 1024 + 1, 1) }, 413, "value_too_large"],
  ["JSON value over the limit", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: auth(), payload: { value: "a".repeat(64 * 1024 + 1) } }, 413, "value_too_large"],
  ["body over the server limit", { method: "PUT", url: "/v1/secrets/bot/KEY", headers: { ...auth(), "content-type": "application/octet-stream" }, payload: Buffer.alloc(1024 * 1024, 1) }, 413, "payload_too_large"],
  ["agent with capitals", { method: "PUT", url: "/v1/secrets/Bot/KEY", headers: auth(), payload: { value: "x" } }, 400, "invalid_name"],
  ["agent starting with a dash", { method: "GET", url: "/v1/secrets/-bot/KEY", headers: auth() }, 400, "invalid_name"],
  ["agent of 64 characters", { method: "GET", url: `/v1/secrets/${"a".repeat(64)}/KEY`, headers: auth() }, 400, "invalid_name"],
  ["agent with an encoded slash", { method: "GET", url: "/v1/secrets/bot%2F..%2Fx/KEY", headers: auth() }, 400, "invalid_name"],
  ["agent with dots", { method: "PUT", url: "/v1/secrets/../KEY", headers: auth(), payload: { value: "x" } }, 404, "not_found"],
  ["name starting with a digit", { method: "PUT", url: "/v1/secrets/bot/1KEY", headers: auth(), payload: { value: "x" } }, 400, "invalid_name"],
  ["name with a dash", { method: "GET", url: "/v1/secrets/bot/MY-KEY", headers: auth() }, 400, "invalid_name"],
  ["name of 129 characters", { method: "GET", url: `/v1/secrets/bot/${"K".repeat(129)}`, headers: auth() }, 400, "invalid_name"],
  ["name with unicode", { method: "GET", url: "/v1/secrets/bot/K%C3%89Y", headers: auth() }, 400, "invalid_name"],
  ["version 0", { method: "GET", url: "/v1/secrets/bot/KEY?version=0", headers: auth() }, 400, "invalid_version"],
  ["negative version", { method: "GET", url: "/v1/secrets/bot/KEY?version=-1", headers: auth() }, 400, "invalid_version"],
  ["non-numeric version", { method: "GET", url: "/v1/secrets/bot/KEY?version=abc", headers: auth() }, 400, "invalid_version"],
  ["fractional version", { method: "GET", url: "/v1/secrets/bot/KEY?version=1.5", headers: auth() }, 400, "invalid_version"],
  ["huge version", { method: "GET", url: "/v1/secrets/bot/KEY?version=99999999999999999999", headers: auth() }, 400, "invalid_version"],
  ["missing version", { method: "GET", url: "/v1/secrets/bot/KEY?version=99", headers: auth() }, 404, "not_found"],
  ["no token", { method: "GET", url: "/v1/secrets/bot/KEY" }, 401, "unauthorized"],
  ["empty bearer", { method: "GET", url: "/v1/secrets/bot/KEY", headers: { authorization: "Bearer " } }, 401, "unauthorized"],
  ["basic auth", { method: "GET", url: "/v1/secrets/bot/KEY", headers: { authorization: "Basic YTpi" } }, 401, "unauthorized"],
  ["short token", { method: "GET", url: "/v1/secrets/bot/KEY", headers: bearer("ck_short") }, 401, "unauthorized"],
  ["unknown well-formed token", { method: "GET", url: "/v1/secrets/bot/KEY", headers: bearer(`ck_${"A".repeat(43)}`) }, 401, "unauthorized"],
  ["bad user name", { method: "POST", url: "/v1/users", headers: bearer("__ADMIN__"), payload: { name: "Bad Name" } }, 400, "invalid_name"],
  ["user body with unknown field", { method: "POST", url: "/v1/users", headers: bearer("__ADMIN__"), payload: { name: "carol", role: "root" } }, 400, "bad_request"],
  ["duplicate user", { method: "POST", url: "/v1/users", headers: bearer("__ADMIN__"), payload: { name: "alice" } }, 409, "conflict"],
  ["token ttl too short", { method: "POST", url: "/v1/tokens", headers: auth(), payload: { ttl_seconds: 1 } }, 400, "bad_request"],
  ["audit limit out of range", { method: "GET", url: "/v1/audit?limit=100000", headers: auth() }, 400, "bad_request"],
  ["unknown route", { method: "GET", url: "/v1/nothing", headers: auth() }, 404, "not_found"],
];

describe("bad input", () => {
  it("every case gets its stable code and changes nothing", async () => {
    const before = await snapshot();
    for (const [label, req, status, code] of cases()) {
      const headers = Object.fromEntries(Object.entries((req.headers ?? {}) as Record<string, string>).map(([k, v]) => [k, v.replace("__ADMIN__", env.adminToken)]));
      const r = await env.app.inject({ ...req, headers });
      expect({ label, status: r.statusCode }).toEqual({ label, status });
      expect({ label, body: r.json() }).toEqual({ label, body: { error: { code, message: expect.any(String) } } });
      expect(await snapshot(), label).toBe(before);
    }
    const ok = await env.app.inject({ method: "GET", url: "/v1/secrets/bot/KEY", headers: auth() });
    expect(ok.json()).toMatchObject({ value: "original", version: 1 });
  });

  it("a revoked token and an expired token are refused", async () => {
    const t = (await env.app.inject({ method: "POST", url: "/v1/tokens", headers: auth(), payload: { name: "short", ttl_seconds: 60 } })).json();
    expect((await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(t.token) })).statusCode).toBe(200);
    await env.app.inject({ method: "DELETE", url: `/v1/tokens/${t.id}`, headers: auth() });
    const r = await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(t.token) });
    expect(r.statusCode).toBe(401);
    const t2 = (await env.app.inject({ method: "POST", url: "/v1/tokens", headers: auth(), payload: { name: "exp", ttl_seconds: 60 } })).json();
    const db = await env.raw();
    await db.run("update tokens set expires_at = '2000-01-01T00:00:00.000Z' where id = ?", t2.id);
    await db.close();
    expect((await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(t2.token) })).statusCode).toBe(401);
  });

  it("failed authentication is audited without the presented token", async () => {
    const presented = `ck_${"B".repeat(43)}`;
    await env.app.inject({ method: "GET", url: "/v1/secrets", headers: bearer(presented) });
    const all = await env.rt.audit.list({ limit: 1000 });
    const failures = all.filter((e) => e.action === "AuthFailed");
    expect(failures.length).toBeGreaterThan(0);
    expect(JSON.stringify(all)).not.toContain("B".repeat(43));
    expect(env.logs()).not.toContain("B".repeat(43));
  });
});
});
