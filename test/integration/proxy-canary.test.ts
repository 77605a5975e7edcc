import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { BACKENDS, createPgDatabase } from "../helpers/backends.js";
import { tempDir, filesUnder as files } from "../helpers/runtime.js";
import { runCli, startServer, type ServerProc } from "../helpers/proc.js";
import { startS3, type S3Server } from "../helpers/s3.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { closed, nextMessage, openWs, request, tokenProtocol, wsUrl } from "../helpers/proxy-client.js";

// "A pipe, not a bucket" (seed 001 §1): at least 1,000 unique canaries cross the proxy of a real
// `clawkeep serve` at trace level, as HTTP bodies, query values and headers, SSE events and
// WebSocket frames (text and binary), in both directions, including gateways that die
// mid-stream and refused callers. Afterwards no canary is in the database files (with WAL, read
// while the server still runs), the PostgreSQL tables, the blob store, the data dir, the
// server's TMPDIR or anything the server printed.

describe.each(BACKENDS)("proxy canaries ($name)", (backend) => {
  let dir: string;
  let tmp: string;
  let server: ServerProc;
  let gw: Gateway;
  let s3: S3Server | undefined;
  let pg: { url: string; drop: () => Promise<void> } | undefined;
  const canaries: string[] = [];
  const canary = () => {
    const c = `CANARY_${randomBytes(12).toString("hex")}`;
    canaries.push(c);
    return c;
  };
  let liveFiles: { where: string; bytes: Buffer }[] = [];

  beforeAll(async () => {
    dir = tempDir();
    tmp = tempDir("ck-tmp-");
    mkdirSync(tmp, { recursive: true });
    const env: Record<string, string> = { CLAWKEEP_LOG_LEVEL: "trace", TMPDIR: tmp, CLAWKEEP_PROXY_RESPONSE_TIMEOUT_MS: "3000" };
    if (backend.dialect === "postgres") {
      pg = await createPgDatabase();
      env.CLAWKEEP_DATABASE_URL = pg.url;
    }
    if (backend.blobs === "s3") {
      s3 = await startS3();
      Object.assign(env, s3.env, { CLAWKEEP_BLOB_URL: `s3://${s3.bucket}/vault` });
    }
    gw = await startGateway();
    gw.onRequest = (req, res, rec) => {
      const url = req.url ?? "";
      if (url.startsWith("/echo")) {
        res.writeHead(200, { "content-type": "application/octet-stream", "x-gateway-canary": canary() });
        res.end(Buffer.concat([rec.body, Buffer.from(` ${canary()}`)]));
      } else if (url.startsWith("/sse")) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        let i = 0;
        const t = setInterval(() => {
          res.write(`event: tick\ndata: ${canary()}\n\n`);
          if (++i === 5) {
            clearInterval(t);
            res.end();
          }
        }, 2);
      } else if (url.startsWith("/die")) {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write(`partial ${canary()}`);
        setTimeout(() => res.socket?.destroy(), 20);
      } else res.end();
    };
    gw.onSocket = (ws, rec) => {
      if (rec.url.startsWith("/ws-die")) {
        ws.on("message", () => ws.terminate());
        return;
      }
      ws.on("message", (d, isBinary) => ws.send(String(d) === "hi" ? `hello ${canary()}` : (d as Buffer), { binary: isBinary }));
    };

    server = await startServer(dir, env);
    const admin = { authorization: `Bearer ${server.adminToken()}`, "content-type": "application/json" };
    const mk = async (name: string) => ((await (await fetch(`${server.url}/v1/users`, { method: "POST", headers: admin, body: JSON.stringify({ name }) })).json()) as { token: string }).token;
    const tokenA = await mk("alice");
    const tokenB = await mk("bob");
    const cli = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: tokenA };
    for (const a of ["bot", "dead"]) expect((await runCli(["agent", "create", a], { env: cli })).code).toBe(0);
    const set = await runCli(["agent", "set-gateway", "bot", gw.url], { env: cli });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout.toString()).toContain("GATEWAY_AUTH_TOKEN");
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const deadPort = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    expect((await runCli(["agent", "set-gateway", "dead", `http://127.0.0.1:${deadPort}`], { env: cli })).code).toBe(0);
    const put = await fetch(`${server.url}/v1/secrets/bot/GATEWAY_AUTH_TOKEN`, { method: "PUT", headers: { authorization: `Bearer ${tokenA}`, "content-type": "application/octet-stream" }, body: randomBytes(24).toString("hex") });
    expect(put.status).toBe(201);
    const health = await runCli(["agent", "health", "bot"], { env: cli });
    expect(health.code).toBe(0);

    const P = "/v1/agents/bot/gateway";
    const auth = `Bearer ${tokenA}`;
    // HTTP: body, query value and header up; body and header down.
    for (let i = 0; i < 100; i++) {
      const body = Buffer.from(`body ${canary()}`);
      const r = await request(server.url, `${P}/echo?q=${canary()}`, { method: "POST", headers: { authorization: auth, "x-canary": canary(), "content-type": "text/plain" }, body });
      expect(r.status).toBe(200);
      expect(r.body.subarray(0, body.length).equals(body)).toBe(true);
    }
    // SSE: five events per stream, a query canary per request.
    for (let i = 0; i < 20; i++) {
      const r = await request(server.url, `${P}/sse?since=${canary()}`, { headers: { authorization: auth } });
      expect(r.body.toString().split("\n\n").length - 1).toBe(5);
    }
    // WebSocket: text and binary frames both ways, a cookie and a query value in the handshake,
    // a close reason; half the connections carry the token in the subprotocol list.
    for (let i = 0; i < 20; i++) {
      const o = i % 2 ? { token: tokenA } : { protocols: ["clawkeep.v1", tokenProtocol(tokenA)] };
      const { ws } = await openWs(wsUrl(server.url, `${P}/ws?room=${canary()}`), { ...o, headers: { cookie: `c=${canary()}` } });
      const hello = nextMessage(ws!);
      ws!.send("hi");
      expect((await hello).data.toString()).toMatch(/^hello CANARY_/);
      for (let j = 0; j < 5; j++) {
        const text = nextMessage(ws!);
        ws!.send(`text ${canary()}`);
        await text;
        const bin = nextMessage(ws!);
        ws!.send(Buffer.from(`bin ${canary()}`), { binary: true });
        expect((await bin).binary).toBe(true);
      }
      const done = closed(ws!);
      ws!.close(4000, `bye ${canary()}`);
      await done;
    }
    // Failures: a gateway dying mid-body, one dying mid-socket, a dead gateway, refused callers.
    for (let i = 0; i < 20; i++) {
      await expect(request(server.url, `${P}/die?x=${canary()}`, { headers: { authorization: auth, "x-canary": canary() } })).rejects.toThrow();
      const { ws } = await openWs(wsUrl(server.url, `${P}/ws-die`), { token: tokenA });
      const gone = closed(ws!);
      ws!.send(`doomed ${canary()}`);
      expect((await gone).code).toBe(1006);
      const dead = await request(server.url, `/v1/agents/dead/gateway/x?q=${canary()}`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body: JSON.stringify({ c: canary() }) });
      expect(dead.status).toBe(502);
      const asB = await request(server.url, `${P}/echo?q=${canary()}`, { method: "POST", headers: { authorization: `Bearer ${tokenB}`, "x-canary": canary() }, body: canary() });
      expect(asB.status).toBe(404);
    }
    expect(canaries.length).toBeGreaterThanOrEqual(1000);
    expect(new Set(canaries).size).toBe(canaries.length);
    // While the server runs, its SQLite WAL holds whatever was written since the last checkpoint.
    liveFiles = files(dir).map((f) => ({ where: `live:${f}`, bytes: readFileSync(f) }));
    await server.stop();
  }, 120_000);

  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
    await s3?.stop();
    await pg?.drop();
  });


  it("no canary anywhere the server writes or prints", () => {
    const haystacks = [...liveFiles, ...[...files(dir), ...files(tmp), ...(s3 ? files(s3.dir) : [])].map((f) => ({ where: f, bytes: readFileSync(f) }))];
    if (backend.dialect === "sqlite") expect(liveFiles.some((f) => f.where.endsWith("clawkeep.db-wal"))).toBe(true);
    if (pg) {
      const dump = execFileSync("pg_dump", ["--data-only", pg.url], { maxBuffer: 256 << 20 });
      expect(dump.includes(Buffer.from("audit_events"))).toBe(true);
      haystacks.push({ where: "pg_dump", bytes: dump });
    }
    const output = server.output();
    // The run really was verbose: per-chunk and per-frame lines, and failures, were logged.
    for (const ev of ['"event":"http_chunk"', '"event":"ws_message"', '"event":"http_request"', '"event":"http_response"', '"event":"ws_close"', '"error":"gateway_unreachable"']) {
      expect(output, ev).toContain(ev);
    }
    haystacks.push({ where: "server output", bytes: Buffer.from(output) });
    const hits: string[] = [];
    for (const c of canaries) {
      const forms = [Buffer.from(c), Buffer.from(Buffer.from(c).toString("hex")), Buffer.from(Buffer.from(c).toString("base64")), Buffer.from(Buffer.from(c).toString("base64url")), Buffer.from(c, "utf16le")];
      for (const h of haystacks) for (const f of forms) if (h.bytes.includes(f)) hits.push(`${c} in ${h.where}`);
    }
    expect(hits).toEqual([]);
  });
});
