import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProxyTransports } from "../../src/proxy/index.js";
import { createProxyService } from "../../src/proxy/service.js";
import { gatewayPassThrough } from "../../src/server/routes/gateway.js";

// A client that leaves while its authentication is still being checked must not keep a
// connection slot: otherwise a few aborted requests lock the user out of every gateway
// (too_many_connections) until the process restarts.

const listen = (s: http.Server) => new Promise<number>((r) => s.listen(0, "127.0.0.1", () => r((s.address() as net.AddressInfo).port)));
const quiet = { info() {}, warn() {}, debug() {}, trace() {}, error() {}, level: "info" };

describe("pass-through connection slots", () => {
  const gw = http.createServer((req, res) => {
    req.resume();
    res.end("ok");
  });
  let srv: http.Server;
  let port: number;
  let svc: ReturnType<typeof createProxyService>;
  let gp: ReturnType<typeof gatewayPassThrough>;

  beforeAll(async () => {
    const gwUrl = `http://127.0.0.1:${await listen(gw)}/`;
    svc = createProxyService({
      settings: {
        allowLinkLocal: false,
        credentialSecret: "GATEWAY_AUTH_TOKEN",
        credentialHeader: "authorization",
        credentialScheme: "Bearer",
        credentialCacheSeconds: 60,
        authCacheMs: 0,
        connectTimeoutMs: 1000,
        responseTimeoutMs: 1000,
        idleTimeoutSeconds: 10,
        maxConnectionsPerUser: 3,
        healthTimeoutMs: 1000,
        healthPath: "/health",
        wsHighWaterBytes: 1 << 20,
        wsMaxPayloadBytes: 1 << 20,
      },
      // A slow check, so the client can leave while it runs.
      users: { authenticate: async () => (await new Promise((r) => setTimeout(r, 100)), { userId: "usr_a", expiresMs: null }) as never },
      agentAccess: { authenticate: async () => Promise.reject(new Error("unused")) },
      agents: { mine: async () => ({ id: "agt_1", name: "bot", status: "active", gateway_url: gwUrl }) as never } as never,
      secrets: { get: async () => ({ value: Buffer.from("cred") }) },
    });
    gp = gatewayPassThrough(svc, createProxyTransports(svc, quiet), quiet);
    srv = http.createServer((req, res) => {
      if (!gp.handle(req, res)) res.writeHead(404).end();
    });
    port = await listen(srv);
  });
  afterAll(async () => {
    svc.close();
    await new Promise((r) => srv.close(r));
    await new Promise((r) => gw.close(r));
  });

  it("a client gone before its check finishes gives its slot back; the user is not locked out", async () => {
    const gone = Array.from(
      { length: 3 },
      (_, i) =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, "127.0.0.1", () => s.write(`GET /v1/agents/bot/gateway/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ck_${i}\r\n\r\n`));
          s.on("error", () => undefined);
          setTimeout(() => {
            s.destroy();
            resolve();
          }, 20);
        }),
    );
    await Promise.all(gone);
    await new Promise((r) => setTimeout(r, 300));
    expect(svc.inFlight("usr_a")).toBe(0);
    const r = await fetch(`http://127.0.0.1:${port}/v1/agents/bot/gateway/x`, { headers: { authorization: "Bearer ck_ok" } });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("ok");
  });

  it("once the server is closing, a pass-through request gets 503 unavailable and its connection is closed", async () => {
    gp.close();
    const r = await fetch(`http://127.0.0.1:${port}/v1/agents/bot/gateway/x`, { headers: { authorization: "Bearer ck_ok" } });
    expect(r.status).toBe(503);
    expect(r.headers.get("connection")).toBe("close");
    expect(await r.json()).toEqual({ error: { code: "unavailable", message: "the server is shutting down" } });
    expect(svc.inFlight("usr_a")).toBe(0);
  });
});
