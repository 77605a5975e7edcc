import type { IncomingMessage } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import WebSocket, { WebSocketServer, type RawData } from "ws";
import { ClawkeepError, ERROR_CODES, type ErrorCode } from "../errors.js";
import { assertHostAllowed } from "./address.js";
import type { ProxyEvents } from "./events.js";
import { requestHeaders, responseHeaders, splitProtocols, WS_MARKER } from "./headers.js";
import { errorBody, gatewayRest, upstreamErrorCode, upstreamTarget } from "./http.js";
import type { ProxyService, Target } from "./service.js";

// WebSocket pass-through: the client's handshake is answered only once the gateway has accepted
// its own, so the gateway's status, headers and chosen subprotocol reach the client. Frames are
// relayed as they are (text stays text, binary stays binary, never decoded), pings and pongs
// are relayed rather than answered here, and a close code crosses unchanged. When one side's
// send buffer passes the high-water mark the other side's socket is paused until it drains.

const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

const PATH = /^\/v1\/agents\/([^/?#]+)\/gateway(?:[/?]|$)/;

function rawError(socket: Duplex, code: ErrorCode, message: string): void {
  const status = ERROR_CODES[code].status;
  const body = errorBody(code, message);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Raw header list as an object for the ws client; repeated headers are joined as HTTP allows. */
function headerObject(raw: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const v = raw[i + 1]!;
    o[k] = o[k] === undefined ? v : `${o[k]}${k === "cookie" ? "; " : ", "}${v}`;
  }
  return o;
}

function bearerFrom(req: IncomingMessage): { token: string | undefined; marker: boolean; protocols: string[] } {
  const p = splitProtocols(req.headers["sec-websocket-protocol"]);
  const h = req.headers.authorization;
  const m = typeof h === "string" ? /^Bearer (.+)$/i.exec(h.trim()) : null;
  return { token: m?.[1]?.trim() ?? p.token, marker: p.marker, protocols: p.rest };
}

export function createWsRelay(svc: ProxyService, events: ProxyEvents) {
  const s = svc.settings;
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, autoPong: false, maxPayload: s.wsMaxPayloadBytes });
  // Upgraded sockets are no longer the HTTP server's to close, so shutdown ends them here.
  const live = new Set<WebSocket>();
  // Open client sockets by user: a revocation, disable or erasure for that user closes them
  // with 1008 (policy violation), so access already granted does not outlive its revocation.
  const byUser = new Map<string, Set<WebSocket>>();
  svc.onForget((userId) => {
    for (const c of byUser.get(userId) ?? []) c.close(1008, "access revoked");
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => undefined);
    const url = req.url ?? "/";
    const m = PATH.exec(url);
    if (!m) return rawError(socket, "not_found", "no such route");
    let name: string;
    try {
      name = decodeURIComponent(m[1]!);
    } catch {
      return rawError(socket, "not_found", "no such agent");
    }
    let rest: string;
    try {
      rest = gatewayRest(url, m[1]!);
    } catch (e) {
      return rawError(socket, "bad_request", (e as Error).message);
    }
    const auth = bearerFrom(req);
    let t: Target;
    try {
      t = await svc.open(auth.token, name, req.socket.remoteAddress ?? "");
    } catch (e) {
      if (e instanceof ClawkeepError) return rawError(socket, e.code, e.message);
      return rawError(socket, "internal", "internal error");
    }
    // Gone while its authentication was checked: no handshake to the gateway, slot back.
    if (socket.destroyed) return t.release();
    relay(t, req, socket, head, rest, auth);
  }

  function relay(t: Target, req: IncomingMessage, socket: Duplex, head: Buffer, rest: string, auth: { marker: boolean; protocols: string[] }) {
    const start = performance.now();
    const u = t.url;
    const ids = { user_id: t.userId, instance_id: t.agentId };
    events.open("ws");
    let up = 0;
    let down = 0;
    let closeCode = 0;
    let direction: "upstream" | "downstream" = "downstream";
    let outcome = "ok";
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      t.release();
      const ms = performance.now() - start;
      events.close("ws", ms, up, down, outcome);
      const ev = { ...ids, event: "ws_close", direction, bytes: up + down, latency_ms: ms, close_code: closeCode };
      if (outcome === "ok") events.info(ev);
      else events.warn({ ...ev, error: outcome });
    };
    const refuse = (err: unknown) => {
      const e = upstreamErrorCode(err);
      outcome = e.code;
      rawError(socket, e.code, e.message);
      finish();
    };
    try {
      assertHostAllowed(u.hostname, s.allowLinkLocal);
    } catch (e) {
      return refuse(e);
    }
    let upstream: WebSocket;
    try {
      // Checked again on the final URL: it must stay on the gateway's host and under its path.
      const target = upstreamTarget(u, t.basePath, rest, u.protocol === "https:" ? "wss:" : "ws:");
      upstream = new WebSocket(target, auth.protocols, {
      headers: headerObject(requestHeaders(req.rawHeaders, { credentialHeader: s.credentialHeader, credentialValue: t.credentialValue, host: u.host, websocket: true })),
      perMessageDeflate: false,
      autoPong: false,
      followRedirects: false,
      handshakeTimeout: Math.max(s.connectTimeoutMs, s.responseTimeoutMs),
      maxPayload: s.wsMaxPayloadBytes,
      agent: svc.agentFor(u),
      lookup: svc.lookup as never,
    } as WebSocket.ClientOptions);
    } catch (e) {
      // ws throws synchronously on a target or subprotocol list it cannot send (a duplicate
      // protocol, say): answer the client and give the connection slot back.
      return refuse(e instanceof ClawkeepError ? e : new ClawkeepError("bad_request", "the WebSocket handshake cannot be forwarded"));
    }
    let upgradeRes: IncomingMessage | undefined;
    upstream.on("upgrade", (r) => (upgradeRes = r));
    upstream.on("unexpected-response", (_r, res) => {
      // The gateway refused the upgrade: its answer goes to the client as it is.
      outcome = "ok";
      const headers = responseHeaders(res.rawHeaders, t.secret);
      // The standard reason phrase, not the gateway's: it could carry the credential.
      const lines = [`HTTP/1.1 ${res.statusCode} ${STATUS_CODES[res.statusCode ?? 502] ?? ""}`];
      for (let i = 0; i < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
      if (res.headers["content-length"] === undefined) lines.push("connection: close");
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      res.pipe(socket);
      res.on("end", () => socket.end());
      res.on("close", () => upstream.terminate());
      finish();
    });
    const early = (err: Error) => {
      if (!finished && upstream.readyState !== WebSocket.OPEN) refuse(err.message.includes("timed out") ? Object.assign(err, { code: "ETIMEDOUT" }) : err);
    };
    upstream.on("error", early);
    socket.on("close", () => {
      if (upstream.readyState === WebSocket.CONNECTING) {
        outcome = "client_closed";
        upstream.terminate();
        finish();
      }
    });

    upstream.on("open", () => {
      upstream.off("error", early);
      events.answered("ws", performance.now() - start);
      const extra = upgradeRes ? responseHeaders(upgradeRes.rawHeaders, t.secret, true) : [];
      const onHeaders = (h: string[]) => {
        for (let i = 0; i < extra.length; i += 2) h.push(`${extra[i]}: ${extra[i + 1]}`);
      };
      wss.once("headers", onHeaders);
      const chosen = upstream.protocol || (auth.marker ? WS_MARKER : "");
      (wss.options as { handleProtocols?: unknown }).handleProtocols = () => chosen || false;
      // handleUpgrade reads handleProtocols and emits "headers" synchronously, so these
      // per-connection settings cannot leak into another handshake.
      let accepted = false;
      wss.handleUpgrade(req, socket, head, (client) => {
        accepted = true;
        events.info({ ...ids, event: "ws_open", direction: "both", bytes: 0, latency_ms: performance.now() - start, status: 101 });
        pipeSockets(t, client, upstream, (side, code, err) => {
          if (closeCode === 0) {
            closeCode = code;
            direction = side;
          }
          if (err && outcome === "ok") outcome = err;
        }, (n, dir) => (dir === "upstream" ? (up += n) : (down += n)));
        live.add(client).add(upstream);
        const mine = byUser.get(t.userId) ?? new Set<WebSocket>();
        byUser.set(t.userId, mine.add(client));
        let closes = 0;
        const both = () => {
          live.delete(client);
          live.delete(upstream);
          mine.delete(client);
          if (mine.size === 0 && byUser.get(t.userId) === mine) byUser.delete(t.userId);
          if (++closes === 2) finish();
        };
        client.once("close", both);
        upstream.once("close", both);
      });
      wss.off("headers", onHeaders);
      if (!accepted) {
        // The client left (or sent a malformed handshake) while the gateway was answering.
        outcome = "client_closed";
        upstream.terminate();
        finish();
      }
    });
  }

  function pipeSockets(
    t: Target,
    client: WebSocket,
    upstream: WebSocket,
    closed: (side: "upstream" | "downstream", code: number, err?: string) => void,
    count: (n: number, dir: "upstream" | "downstream") => void,
  ) {
    const ids = { user_id: t.userId, instance_id: t.agentId };
    const hw = s.wsHighWaterBytes;
    const debug = events.debugEnabled();
    const trace = events.traceEnabled();
    // Idle check without touching a timer per frame: frames set a flag, and a tick that finds it
    // unset closes the pair (so a silent connection lives between one and two idle periods).
    let active = true;
    const idle = setInterval(() => {
      if (active) {
        active = false;
        return;
      }
      clearInterval(idle);
      closed("downstream", 1001, "idle_timeout");
      client.close(1001);
      upstream.close(1001);
    }, s.idleTimeoutSeconds * 1000);

    const wire = (from: WebSocket, to: WebSocket, dir: "upstream" | "downstream") => {
      let paused = false;
      const resume = () => {
        paused = false;
        from.resume();
      };
      from.on("message", (data: RawData, isBinary: boolean) => {
        active = true;
        const buf = data as Buffer;
        count(buf.length, dir);
        if (to.readyState !== WebSocket.OPEN) return;
        if (debug) {
          const t0 = performance.now();
          to.send(buf, isBinary ? BINARY : TEXT, () => events.debug({ ...ids, event: "ws_message", direction: dir, bytes: buf.length, latency_ms: performance.now() - t0 }));
        } else to.send(buf, isBinary ? BINARY : TEXT);
        // Compression is off, so everything not yet sent sits in the socket's write buffer: past
        // the high-water mark, stop reading the other side until that socket drains.
        if (!paused && to.bufferedAmount >= hw) {
          const sock = (to as unknown as { _socket?: import("node:net").Socket })._socket;
          if (sock && sock.writableNeedDrain) {
            paused = true;
            from.pause();
            sock.once("drain", resume);
          }
        }
      });
      from.on("ping", (d: Buffer) => {
        active = true;
        if (trace) events.trace({ ...ids, event: "ws_ping", direction: dir, bytes: d.length, latency_ms: 0 });
        if (to.readyState === WebSocket.OPEN) to.ping(d);
      });
      from.on("pong", (d: Buffer) => {
        active = true;
        if (trace) events.trace({ ...ids, event: "ws_pong", direction: dir, bytes: d.length, latency_ms: 0 });
        if (to.readyState === WebSocket.OPEN) to.pong(d);
      });
      from.on("close", (code: number, reason: Buffer) => {
        clearInterval(idle);
        closed(dir, code);
        if (to.readyState === WebSocket.OPEN) {
          // 1005 (no code sent) and 1006 (no close frame) are never sent on the wire: the other
          // side gets the same absence.
          if (code === 1005) to.close();
          else if (code === 1006) to.terminate();
          else to.close(code, reason);
        } else if (to.readyState === WebSocket.CONNECTING) to.terminate();
      });
      from.on("error", () => {
        closed(dir, 1006, dir === "downstream" ? "gateway_unreachable" : "client_error");
        to.terminate();
      });
    };
    wire(client, upstream, "upstream");
    wire(upstream, client, "downstream");
  }

  return {
    upgrade,
    close() {
      for (const w of live) w.close(1001);
      setTimeout(() => {
        for (const w of live) w.terminate();
      }, 1000).unref();
      wss.close();
    },
  };
}
