import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { connect, type AddressInfo } from "node:net";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";
import { rawHeader, startGateway, type Gateway } from "../helpers/gateway.js";
import { closed, nextMessage, openWs, request, tokenProtocol, wsUrl } from "../helpers/proxy-client.js";

// The pass-through against a real gateway: what the gateway receives is exactly what the client
// sent (minus hop-by-hop headers and the Clawkeep token, plus the gateway credential), what the
// client receives is exactly what the gateway sent (minus hop-by-hop headers and anything
// carrying the credential), on HTTP, SSE and WebSocket. Another user meets the same 404 as a
// missing agent on every transport.

const CRED = `gw_${randomBytes(24).toString("hex")}`;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe.each(BACKENDS)("proxy pass-through ($name)", (backend) => {
  let env: TestEnv;
  let gw: Gateway;
  let base: string;
  let tokenA: string;
  let tokenB: string;
  const P = "/v1/agents/bot/gateway";

  beforeAll(async () => {
    env = await startTestEnv(
      { CLAWKEEP_PROXY_RESPONSE_TIMEOUT_MS: "1500", CLAWKEEP_PROXY_CONNECT_TIMEOUT_MS: "1500", CLAWKEEP_PROXY_MAX_CONNECTIONS_PER_USER: "6", CLAWKEEP_PROXY_IDLE_TIMEOUT_SECONDS: "2" },
      undefined,
      backend,
    );
    await env.app.listen({ port: 0, host: "127.0.0.1" });
    base = `http://127.0.0.1:${(env.app.server.address() as AddressInfo).port}`;
    gw = await startGateway();
    tokenA = await createUser(env, "alice");
    tokenB = await createUser(env, "bob");
    for (const [t, name] of [
      [tokenA, "bot"],
      [tokenA, "bot2"],
      [tokenB, "other"],
    ] as const) {
      const r = await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(t), payload: { name } });
      expect(r.statusCode).toBe(201);
    }
    const set = await env.app.inject({ method: "PUT", url: "/v1/agents/bot/gateway", headers: bearer(tokenA), payload: { url: `${gw.url}/` } });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ gateway_url: gw.url, credential_secret: "GATEWAY_AUTH_TOKEN" });
    await putSecret(env, tokenA, "bot/GATEWAY_AUTH_TOKEN", CRED);
  });
  afterAll(async () => {
    await gw?.stop();
    await env?.close();
  });

  it("HTTP: the gateway sees the client's bytes and headers, the client the gateway's", async () => {
    const reqBody = randomBytes(3 * 1024 * 1024 + 17);
    const resBody = randomBytes(2 * 1024 * 1024 + 5);
    gw.onRequest = (_req, res, rec) => {
      expect(sha(rec.body)).toBe(sha(reqBody));
      res.writeHead(201, "Made", [
        "X-Resp-Case", "Kept",
        "Set-Cookie", "a=1",
        "Set-Cookie", "b=2",
        "Connection", "x-resp-hop",
        "X-Resp-Hop", "dropped",
        "Keep-Alive", "timeout=5",
        "X-Leak", `Bearer ${CRED}`,
        "Content-Type", "application/octet-stream",
      ] as never);
      res.end(resBody);
    };
    gw.requests.length = 0;
    const r = await request(base, `${P}/api/v1/thing?q=1&r=%20x&q=2`, {
      method: "POST",
      headers: [
        "Host", "clawkeep.test",
        "Authorization", `Bearer ${tokenA}`,
        "Content-Type", "application/x-custom",
        "X-One", "1",
        "x-two", "two",
        "X-One", "again",
        "Connection", "keep-alive, X-Hop",
        "X-Hop", "secret-hop",
        "Keep-Alive", "timeout=5",
        "TE", "trailers",
        "Proxy-Authorization", "Basic Zm9vOmJhcg==",
        "Cookie", "session=abc",
      ],
      body: reqBody,
    });
    expect(r.status, r.body.toString().slice(0, 300)).toBe(201);
    expect(sha(r.body)).toBe(sha(resBody));
    const rec = gw.requests[0]!;
    expect(rec.method).toBe("POST");
    expect(rec.url).toBe("/api/v1/thing?q=1&r=%20x&q=2");
    // Client headers in order, hop-by-hop and the Clawkeep token gone, the credential added.
    const names = rec.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).not.toContain("x-hop");
    expect(names).not.toContain("keep-alive");
    expect(names).not.toContain("te");
    expect(names).not.toContain("proxy-authorization");
    expect(rec.rawHeaders.join("\n")).not.toContain(tokenA);
    expect(rawHeader(rec.rawHeaders, "authorization")).toBe(`Bearer ${CRED}`);
    const kept = rec.rawHeaders.flatMap((v, i, a) => (i % 2 === 0 && /^(x-one|x-two|cookie|content-type)$/i.test(v) ? [`${v}: ${a[i + 1]}`] : []));
    expect(kept).toEqual(["Content-Type: application/x-custom", "X-One: 1", "x-two: two", "X-One: again", "Cookie: session=abc"]);
    // Response: hop-by-hop and the credential-bearing header gone, the rest as sent.
    const rh = r.rawHeaders.map((v, i) => (i % 2 === 0 ? v.toLowerCase() : v));
    expect(rh).not.toContain("x-resp-hop");
    expect(rh).not.toContain("x-leak");
    expect(r.rawHeaders.join("\n")).not.toContain(CRED);
    expect(r.rawHeaders.filter((v, i) => i % 2 === 0 && v === "Set-Cookie").length).toBe(2);
    expect(rawHeader(r.rawHeaders, "x-resp-case")).toBe("Kept");
  });

  it("HTTP: every method, empty and chunked bodies", async () => {
    gw.onRequest = (req, res, rec) => {
      res.writeHead(200, { "x-method": req.method!, "x-len": String(rec.body.length) });
      res.end(req.method === "HEAD" ? undefined : rec.body);
    };
    for (const method of ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]) {
      const body = method === "GET" || method === "HEAD" ? undefined : randomBytes(1000);
      const r = await request(base, `${P}/m`, { method, headers: { authorization: `Bearer ${tokenA}` }, body });
      expect(r.status, `${method} ${r.body.toString()}`).toBe(200);
      expect(rawHeader(r.rawHeaders, "x-method")).toBe(method);
      if (body) expect(r.body.equals(body)).toBe(true);
    }
  });

  it("SSE: each event reaches the client before the gateway sends the next", async () => {
    const events = Array.from({ length: 5 }, (_, i) => `id: ${i}\ndata: ${randomBytes(8).toString("hex")}\n\n`);
    let release: (() => void) | undefined;
    gw.onRequest = async (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for (const e of events) {
        const acked = new Promise<void>((r) => (release = r));
        res.write(e);
        await acked; // a proxy that buffered would never deliver this event: the test would hang
      }
      res.end();
    };
    const got = await new Promise<string>((resolve, reject) => {
      const u = new URL(base);
      http
        .get({ hostname: u.hostname, port: u.port, path: `${P}/events`, headers: { authorization: `Bearer ${tokenA}` } }, (res) => {
          expect(res.headers["content-type"]).toBe("text/event-stream");
          let text = "";
          let seen = 0;
          res.on("data", (c: Buffer) => {
            text += c.toString("utf8");
            const n = text.split("\n\n").length - 1;
            if (n > seen) {
              seen = n;
              release?.();
            }
          });
          res.on("end", () => resolve(text));
        })
        .on("error", reject);
    });
    expect(got).toBe(events.join(""));
  });

  it("WebSocket: text, binary, empty and large frames, pings, pongs, subprotocol and close codes both ways", async () => {
    gw.handleProtocols = (p) => (p.has("chat.v2") ? "chat.v2" : false);
    gw.sockets.length = 0;
    const { ws } = await openWs(wsUrl(base, `${P}/socket?room=1`), { token: tokenA, protocols: ["chat.v2"], headers: { "x-client": "yes" } });
    expect(ws!.protocol).toBe("chat.v2");
    const rec = gw.sockets[0]!;
    expect(rec.url).toBe("/socket?room=1");
    expect(rawHeader(rec.rawHeaders, "authorization")).toBe(`Bearer ${CRED}`);
    expect(rawHeader(rec.rawHeaders, "x-client")).toBe("yes");
    expect(rec.rawHeaders.join("\n")).not.toContain(tokenA);
    const frames = [
      { data: Buffer.from("héllo wörld", "utf8"), binary: false },
      { data: randomBytes(100 * 1024), binary: true },
      { data: Buffer.alloc(0), binary: true },
      { data: Buffer.alloc(0), binary: false },
      { data: Buffer.from("x".repeat(1024 * 1024)), binary: false },
    ];
    for (const f of frames) {
      const echo = nextMessage(ws!);
      ws!.send(f.data, { binary: f.binary });
      const e = await echo;
      expect(e.binary).toBe(f.binary);
      expect(e.data.equals(f.data)).toBe(true);
    }
    expect(rec.frames.map((f) => [sha(f.data), f.binary])).toEqual(frames.map((f) => [sha(f.data), f.binary]));
    // Ping client -> gateway (the gateway does not auto-answer), and gateway -> client (the
    // client answers, the pong travels back).
    ws!.ping(Buffer.from("p1"));
    await new Promise((r) => setTimeout(r, 100));
    expect(rec.pings.map(String)).toEqual(["p1"]);
    const done = closed(ws!);
    ws!.close(4001, "bye now");
    expect(await done).toEqual({ code: 4001, reason: "bye now" });
    await new Promise((r) => setTimeout(r, 50));
    expect(rec.close).toEqual({ code: 4001, reason: "bye now" });
  });

  it("WebSocket: the gateway's pings, binary frames and close code reach the client; token in the subprotocol list", async () => {
    gw.handleProtocols = () => false;
    gw.sockets.length = 0;
    const payload = randomBytes(5000);
    gw.onSocket = (s) => {
      s.on("message", (d) => {
        if (String(d) === "start") {
          s.ping(Buffer.from("from-gw"));
          s.send(payload, { binary: true });
        }
        if (String(d) === "close please") s.close(4002, "gateway done");
      });
    };
    const { ws } = await openWs(wsUrl(base, `${P}/s2`), { protocols: ["clawkeep.v1", tokenProtocol(tokenA)] });
    expect(ws!.protocol).toBe("clawkeep.v1");
    const rec = gw.sockets[0]!;
    expect(rec.rawHeaders.join("\n")).not.toContain(tokenA);
    expect(rec.rawHeaders.join("\n")).not.toContain(Buffer.from(tokenA).toString("base64url"));
    expect(rec.protocol).toBe("");
    const next = nextMessage(ws!);
    ws!.send("start");
    const m = await next;
    expect(m.binary).toBe(true);
    expect(m.data.equals(payload)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(rec.pongs.map(String)).toEqual(["from-gw"]);
    const done = closed(ws!);
    ws!.send("close please");
    expect(await done).toEqual({ code: 4002, reason: "gateway done" });
    gw.onSocket = (s) => s.on("message", (d, b) => s.send(d as Buffer, { binary: b }));
  });

  it("isolation: another user's token gets the same 404 as a missing agent, on every transport", async () => {
    const before = gw.requests.length + gw.sockets.length;
    const missing = await request(base, "/v1/agents/nope/gateway/x", { headers: { authorization: `Bearer ${tokenA}` } });
    expect(missing.status).toBe(404);
    const asB = [
      await request(base, `${P}/x`, { headers: { authorization: `Bearer ${tokenB}` } }),
      await request(base, `${P}/x?y=1`, { method: "POST", headers: { authorization: `Bearer ${tokenB}`, "content-type": "application/json" }, body: "{}" }),
      await request(base, "/v1/agents/bot/health", { headers: { authorization: `Bearer ${tokenB}` } }),
      await request(base, "/v1/agents/bot/gateway", { headers: { authorization: `Bearer ${tokenB}` } }),
    ];
    for (const r of asB) {
      expect(r.status).toBe(404);
      expect(r.body.toString()).toBe(missing.body.toString());
    }
    const wsMissing = await openWs(wsUrl(base, "/v1/agents/nope/gateway/x"), { token: tokenA });
    for (const w of [await openWs(wsUrl(base, `${P}/x`), { token: tokenB }), await openWs(wsUrl(base, `${P}/x`), { protocols: ["clawkeep.v1", tokenProtocol(tokenB)] })]) {
      expect(w.status).toBe(404);
      expect(w.body!.toString()).toBe(wsMissing.body!.toString());
      expect(w.body!.toString()).toBe(missing.body.toString());
    }
    // B's own agent is reachable by name only for B; A naming it meets the same 404.
    expect((await request(base, "/v1/agents/other/gateway/x", { headers: { authorization: `Bearer ${tokenA}` } })).body.toString()).toBe(missing.body.toString());
    // No token at all: 401, on HTTP and WebSocket.
    expect((await request(base, `${P}/x`)).status).toBe(401);
    expect((await openWs(wsUrl(base, `${P}/x`))).status).toBe(401);
    expect(gw.requests.length + gw.sockets.length).toBe(before);
    for (const r of [missing, ...asB]) expect(Buffer.concat([Buffer.from(r.rawHeaders.join("\n")), r.body]).includes(CRED)).toBe(false);
  });

  it("routing: only /gateway/… is passed through; /gateway itself is registration; a refused request's body is drained and the connection reused", async () => {
    let seen = 0;
    gw.onRequest = (req, res) => {
      seen++;
      req.resume();
      res.end("ok");
    };
    // Registration, over the real server (not fastify's inject, which would skip the pass-through hook).
    const view = await request(base, P, { headers: bearer(tokenA) });
    expect(view.status).toBe(200);
    expect(JSON.parse(view.body.toString())).toMatchObject({ gateway_url: gw.url, credential_header: "authorization" });
    // A name that is not valid percent-encoding is the same 404 as a missing agent.
    const bad = await request(base, "/v1/agents/%E0%A4%A/gateway/x", { headers: bearer(tokenA) });
    expect(bad.status).toBe(404);
    expect(JSON.parse(bad.body.toString())).toEqual({ error: { code: "not_found", message: "no such agent" } });
    // An unauthenticated POST with a body: 401, and the same keep-alive connection still serves the next request.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (headers: Record<string, string>) =>
      new Promise<{ status: number; socket: unknown }>((resolve, reject) => {
        const r = http.request(`${base}${P}/upload`, { method: "POST", agent, headers: { "content-type": "application/octet-stream", ...headers } }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, socket: r.socket }));
        });
        r.on("error", reject);
        r.end(Buffer.alloc(64 * 1024, 1));
      });
    const first = await post({});
    expect(first.status).toBe(401);
    const second = await post(bearer(tokenA));
    expect(second.status).toBe(200);
    expect(second.socket).toBe(first.socket);
    agent.destroy();
    expect(seen).toBe(1);
  });

  it("an agent token reaches only its own agent's gateway", async () => {
    // Agent tokens come from the signed handshake; here one is minted the same way the server does.
    const { issueAgentToken } = await import("../../src/agents/token.js");
    const raw = await env.raw();
    const rows = await raw.all<{ id: string; user_id: string; name: string; secret_generation: number }>("select id, user_id, name, secret_generation from agents where name = 'bot'");
    await raw.close();
    const row = rows[0]!;
    const { token } = issueAgentToken(env.rt.keys.sessionKey, { agt: row.id, usr: row.user_id, name: row.name, gen: row.secret_generation, only: null }, 60);
    gw.onRequest = (_req, res) => res.end("ok");
    expect((await request(base, `${P}/a`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const other = await request(base, "/v1/agents/bot2/gateway/a", { headers: { authorization: `Bearer ${token}` } });
    expect(other.status).toBe(404);
  });

  it("health checks the gateway with the credential, and reports a dead one", async () => {
    gw.onRequest = (req, res) => {
      res.writeHead(req.url === "/health" && req.headers.authorization === `Bearer ${CRED}` ? 200 : 500);
      res.end("fine");
    };
    const r = await request(base, "/v1/agents/bot/health", { headers: { authorization: `Bearer ${tokenA}` } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toMatchObject({ name: "bot", ok: true, status: 200 });
  });

  it("SSRF: link-local, metadata and non-http(s) URLs are refused, and refused again at connect time", async () => {
    for (const url of [
      "http://169.254.169.254/latest/meta-data",
      "http://169.254.1.1:8080",
      "http://[fd00:ec2::254]/",
      "http://[fe80::1]/",
      "http://[::ffff:169.254.169.254]/",
      "http://2852039166/",
      "ftp://example.com/",
      "file:///etc/passwd",
      "http://user:pw@127.0.0.1/",
      "http://127.0.0.1/?token=x",
      "not a url",
    ]) {
      const r = await env.app.inject({ method: "PUT", url: "/v1/agents/bot2/gateway", headers: bearer(tokenA), payload: { url } });
      expect(r.statusCode, url).toBe(400);
      expect(r.json().error.code).toBe("invalid_gateway_url");
    }
    expect((await env.app.inject({ method: "GET", url: "/v1/agents/bot2/gateway", headers: bearer(tokenA) })).json().gateway_url).toBeNull();
    // A metadata address that got into the database anyway (an older setting, direct SQL) is
    // still refused when the proxy connects.
    const raw = await env.raw();
    await raw.run("update agents set gateway_url = ? where name = ?", "http://169.254.169.254", "bot2");
    await raw.close();
    const r = await request(base, "/v1/agents/bot2/gateway/latest/meta-data", { headers: { authorization: `Bearer ${tokenA}` } });
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body.toString()).error.code).toBe("gateway_address_refused");
    const w = await openWs(wsUrl(base, "/v1/agents/bot2/gateway/x"), { token: tokenA });
    expect(w.status).toBe(502);
  });

  it("DNS answers are checked at connect time (rebinding)", async () => {
    const { guardedLookup, RefusedAddressError } = await import("../../src/proxy/address.js");
    const fake = ((_h: string, _o: unknown, cb: (e: null, a: { address: string; family: number }[]) => void) =>
      cb(null, [{ address: "169.254.169.254", family: 4 }])) as never;
    const err = await new Promise((r) => guardedLookup(false, fake)("metadata.example", {}, (e) => r(e)));
    expect(err).toBeInstanceOf(RefusedAddressError);
    const ok = await new Promise((r) => guardedLookup(false)("localhost", {}, (e, a) => r(e ?? a)));
    expect(typeof ok).toBe("string");
  });

  it("timeouts and dead gateways: 504 gateway_timeout, 502 gateway_unreachable, a broken stream stays broken", async () => {
    gw.onRequest = (req, res) => {
      if (req.url === "/hang") return; // never answers
      if (req.url === "/die") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.write(randomBytes(64 * 1024));
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      res.end("ok");
    };
    const auth = { authorization: `Bearer ${tokenA}` };
    const hang = await request(base, `${P}/hang`, { headers: auth });
    expect(hang.status).toBe(504);
    expect(JSON.parse(hang.body.toString()).error.code).toBe("gateway_timeout");
    await expect(request(base, `${P}/die`, { headers: auth })).rejects.toThrow();
    // A port nobody listens on.
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    await env.app.inject({ method: "PUT", url: "/v1/agents/bot2/gateway", headers: bearer(tokenA), payload: { url: `http://127.0.0.1:${port}` } });
    const dead = await request(base, "/v1/agents/bot2/gateway/x", { headers: auth });
    expect(dead.status).toBe(502);
    expect(JSON.parse(dead.body.toString()).error.code).toBe("gateway_unreachable");
    const deadHealth = await request(base, "/v1/agents/bot2/health", { headers: auth });
    expect(deadHealth.status).toBe(502);
    // A gateway that accepts the WebSocket's TCP connection but never answers the handshake.
    gw.onUpgrade = () => true;
    const w = await openWs(wsUrl(base, `${P}/ws-hang`), { token: tokenA });
    expect(w.status).toBe(504);
    gw.onUpgrade = undefined;
  });

  it("idle timeout: a silent WebSocket is closed with 1001, a silent response body is cut", async () => {
    gw.onSocket = () => undefined; // accepts, then never says anything
    const { ws } = await openWs(wsUrl(base, `${P}/quiet`), { token: tokenA });
    expect((await closed(ws!)).code).toBe(1001);
    gw.onRequest = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first and last");
    };
    await expect(request(base, `${P}/stall`, { headers: { authorization: `Bearer ${tokenA}` } })).rejects.toThrow();
    gw.onSocket = (s) => s.on("message", (d, b) => s.send(d as Buffer, { binary: b }));
  });

  it("per-user connection limit: 429 beyond it, other users unaffected, slots come back", async () => {
    const held: http.ServerResponse[] = [];
    gw.onRequest = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: hi\n\n");
      held.push(res);
    };
    const u = new URL(base);
    const open = () =>
      new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get({ hostname: u.hostname, port: u.port, path: `${P}/hold`, headers: { authorization: `Bearer ${tokenA}` }, agent: false }, resolve).on("error", reject),
      );
    const streams = [];
    for (let i = 0; i < 6; i++) streams.push(await open());
    const over = await request(base, `${P}/hold`, { headers: { authorization: `Bearer ${tokenA}` } });
    expect(over.status).toBe(429);
    expect(JSON.parse(over.body.toString()).error.code).toBe("too_many_connections");
    for (const r of held) r.end();
    for (const s of streams) s.resume();
    await new Promise((r) => setTimeout(r, 100));
    gw.onRequest = (_req, res) => res.end("ok");
    expect((await request(base, `${P}/again`, { headers: { authorization: `Bearer ${tokenA}` } })).status).toBe(200);
  });

  it("bad upgrades (escaping paths, fragments, a duplicate subprotocol) get 400, never reach the gateway, and give their slot back", async () => {
    // Sent byte for byte: a WebSocket client library would normalise the path first.
    const rawUpgrade = (target: string, extra: string[] = []) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(Number(new URL(base).port), "127.0.0.1");
        let got = "";
        sock.on("data", (d) => (got += d.toString("latin1")));
        sock.on("error", reject);
        sock.on("close", () => resolve(got.split("\r\n", 1)[0]!));
        sock.write([`GET ${target} HTTP/1.1`, "Host: x", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", `Authorization: Bearer ${tokenA}`, ...extra, "", ""].join("\r\n"));
        setTimeout(() => sock.end(), 1500);
      });
    const before = gw.sockets.length;
    for (const target of [`${P}/../../admin`, `${P}/%2e%2e/%2e%2e/admin`, `${P}/x#f`, `${P}/..%2fadmin`, `${P}/..\\admin`]) {
      expect(await rawUpgrade(target), target).toMatch(/^HTTP\/1\.1 400 /);
    }
    // More bad handshakes than the user's connection limit (6): each one's slot comes back.
    for (let i = 0; i < 8; i++) expect(await rawUpgrade(`${P}/dup`, ["Sec-WebSocket-Protocol: a, a"])).toMatch(/^HTTP\/1\.1 400 /);
    expect(gw.sockets.length).toBe(before);
    const { ws } = await openWs(wsUrl(base, `${P}/after`), { token: tokenA });
    expect(ws).toBeDefined();
    const done = closed(ws!);
    ws!.close(1000);
    await done;
    // The HTTP side refuses the same escapes.
    for (const target of [`${P}/..%2fadmin`, `${P}/..;/admin`]) expect((await request(base, target, { headers: { authorization: `Bearer ${tokenA}` } })).status, target).toBe(400);
  });

  it("logs metadata in the seed's shape and counts in /metrics", async () => {
    const lines = env
      .logs()
      .split("\n")
      .filter((l) => l.includes('"msg":"proxy"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const http1 = lines.find((l) => l.event === "http_response" && l.status === 201)!;
    expect(Object.keys(http1)).toEqual(expect.arrayContaining(["timestamp", "user_id", "instance_id", "event", "direction", "bytes", "latency_ms", "status"]));
    expect(http1.instance_id).toMatch(/^agt_/);
    expect(http1.user_id).toMatch(/^usr_/);
    expect(typeof http1.timestamp === "string" && !Number.isNaN(Date.parse(http1.timestamp))).toBe(true);
    expect(lines.some((l) => l.event === "ws_close" && l.close_code === 4001)).toBe(true);
    expect(lines.some((l) => l.event === "ws_message" && l.direction === "upstream")).toBe(true);
    const metrics = (await env.app.inject({ method: "GET", url: "/metrics", headers: bearer(env.adminToken) })).body;
    expect(metrics).toMatch(/clawkeep_proxy_connections_opened_total\{transport="ws"\} \d+/);
    expect(metrics).toMatch(/clawkeep_proxy_bytes_total\{transport="http",direction="upstream"\} \d+/);
    expect(metrics).toContain("clawkeep_proxy_upstream_latency_seconds_bucket");
  });
});
