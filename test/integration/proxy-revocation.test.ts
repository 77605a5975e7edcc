import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import type { AddressInfo } from "node:net";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { closed, nextMessage, openWs, request, wsUrl } from "../helpers/proxy-client.js";
import { loadConfig } from "../../src/config.js";
import { createRuntime, type Runtime } from "../../src/main.js";
import { buildApp } from "../../src/server/app.js";

// The proxy reuses a caller's successful authentication for CLAWKEEP_PROXY_AUTH_CACHE_MS so that
// a pipe does not pay a database round trip per request. That must not weaken revocation: on the
// node where a token is revoked or an agent disabled, the very next proxied request is refused;
// on another node of the same deployment, once the cache time has passed.

const P = "/v1/agents/bot/gateway";

describe.each(BACKENDS)("proxy caches and revocation ($name)", (backend) => {
  let env: TestEnv;
  let node2: { rt: Runtime; app: FastifyInstance };
  let gw: Gateway;
  let base1: string;
  let base2: string;
  let alice: string;
  const listen = async (app: FastifyInstance) => {
    await app.listen({ port: 0, host: "127.0.0.1" });
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  };
  const get = (base: string, token: string) => request(base, `${P}/ping`, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    env = await startTestEnv({ CLAWKEEP_PROXY_AUTH_CACHE_MS: "60000" }, undefined, backend);
    base1 = await listen(env.app);
    const allEnv = { CLAWKEEP_DATA_DIR: env.dir, CLAWKEEP_MASTER_KEY: env.masterKey, CLAWKEEP_LOG_LEVEL: "warn", CLAWKEEP_PROXY_AUTH_CACHE_MS: "300", ...env.storageEnv };
    const rt = await createRuntime(loadConfig(allEnv), { createMasterKey: false, env: allEnv });
    node2 = { rt, app: await buildApp(rt, { logger: false }) };
    base2 = await listen(node2.app);
    gw = await startGateway();
    gw.onRequest = (_req, res) => res.end("pong");
    alice = await createUser(env, "alice");
    expect((await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(alice), payload: { name: "bot" } })).statusCode).toBe(201);
    expect((await env.app.inject({ method: "PUT", url: "/v1/agents/bot/gateway", headers: bearer(alice), payload: { url: gw.url } })).statusCode).toBe(200);
    await putSecret(env, alice, "bot/GATEWAY_AUTH_TOKEN", "gw-credential");
  });
  afterAll(async () => {
    await gw?.stop();
    await node2?.app.close();
    await node2?.rt.close();
    await env?.close();
  });

  it("a revoked token is refused at once on its node (despite a 60 s cache), and on another node after that node's cache time", async () => {
    const created = await env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(alice), payload: { name: "browser" } });
    expect(created.statusCode).toBe(201);
    const { id, token } = created.json<{ id: string; token: string }>();
    expect((await get(base1, token)).status).toBe(200);
    expect((await get(base2, token)).status).toBe(200); // both nodes now hold it in their cache
    expect((await env.app.inject({ method: "DELETE", url: `/v1/tokens/${id}`, headers: bearer(alice) })).statusCode).toBe(200);
    expect((await get(base1, token)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 400));
    expect((await get(base2, token)).status).toBe(401);
    expect((await get(base1, alice)).status).toBe(200); // the user's other tokens are unaffected
  });

  it("an open WebSocket is closed with 1008 when its user's token is revoked", async () => {
    gw.onSocket = (s) => s.on("message", (d, b) => s.send(d as Buffer, { binary: b }));
    const { token, id } = (await env.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(alice), payload: { name: "ws" } })).json<{ id: string; token: string }>();
    const { ws } = await openWs(wsUrl(base1, `${P}/chat`), { token });
    const echo = nextMessage(ws!);
    ws!.send("hello");
    expect((await echo).data.toString()).toBe("hello");
    const done = closed(ws!);
    expect((await env.app.inject({ method: "DELETE", url: `/v1/tokens/${id}`, headers: bearer(alice) })).statusCode).toBe(200);
    expect(await done).toEqual({ code: 1008, reason: "access revoked" });
    expect((await openWs(wsUrl(base1, `${P}/chat`), { token })).status).toBe(401);
  });

  it("a disabled agent is refused at once on its node", async () => {
    expect((await get(base1, alice)).status).toBe(200);
    expect((await env.app.inject({ method: "POST", url: "/v1/agents/bot/disable", headers: bearer(alice) })).statusCode).toBe(200);
    const r = await get(base1, alice);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body.toString()).error.code).toBe("agent_disabled");
  });
});
