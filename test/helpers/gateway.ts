import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

// A stand-in agent gateway for proxy tests: a real HTTP + WebSocket server on a free port that
// records exactly what reached it (raw headers, body bytes, frames, close codes) and answers
// with whatever the test's handler does.

export interface Recorded {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

export interface WsRecord {
  url: string;
  rawHeaders: string[];
  protocol: string;
  frames: { data: Buffer; binary: boolean }[];
  pings: Buffer[];
  pongs: Buffer[];
  close?: { code: number; reason: string };
}

export interface Gateway {
  url: string;
  port: number;
  requests: Recorded[];
  sockets: WsRecord[];
  onRequest: (req: IncomingMessage, res: ServerResponse, rec: Recorded) => void;
  onSocket: (ws: WebSocket, rec: WsRecord) => void;
  /** Called with the raw socket of an upgrade before ws handles it; return true to take it over. */
  onUpgrade?: (req: IncomingMessage, socket: Socket) => boolean;
  handleProtocols?: (p: Set<string>) => string | false;
  stop: () => Promise<void>;
}

export async function startGateway(): Promise<Gateway> {
  const g: Gateway = {
    url: "",
    port: 0,
    requests: [],
    sockets: [],
    onRequest: (_req, res, rec) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(rec.body);
    },
    onSocket: (ws) => ws.on("message", (d, isBinary) => ws.send(d as Buffer, { binary: isBinary })),
    stop: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    // Handlers that stream (or hang) get the request as it comes; the default collects the body.
    const rec: Recorded = { method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) };
    g.requests.push(rec);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      rec.body = Buffer.concat(chunks);
      g.onRequest(req, res, rec);
    });
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, autoPong: false, handleProtocols: (p) => (g.handleProtocols ? g.handleProtocols(p) : false) });
  server.on("upgrade", (req, socket: Socket, head) => {
    if (g.onUpgrade?.(req, socket)) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const rec: WsRecord = { url: req.url!, rawHeaders: req.rawHeaders, protocol: ws.protocol, frames: [], pings: [], pongs: [] };
      g.sockets.push(rec);
      ws.on("message", (d, isBinary) => rec.frames.push({ data: Buffer.from(d as Buffer), binary: isBinary }));
      ws.on("ping", (d) => rec.pings.push(Buffer.from(d)));
      ws.on("pong", (d) => rec.pongs.push(Buffer.from(d)));
      ws.on("close", (code, reason) => (rec.close = { code, reason: reason.toString("utf8") }));
      g.onSocket(ws, rec);
    });
  });
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  g.port = (server.address() as AddressInfo).port;
  g.url = `http://127.0.0.1:${g.port}`;
  g.stop = async () => {
    for (const s of sockets) s.destroy();
    wss.close();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return g;
}

/** Header value of a raw list, or undefined. */
export function rawHeader(raw: string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}
