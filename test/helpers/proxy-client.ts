import http from "node:http";
import WebSocket from "ws";

// Clients for proxy tests: raw HTTP (so the test controls every header and sees every byte)
// and WebSocket.

export interface RawResponse {
  status: number;
  rawHeaders: string[];
  body: Buffer;
}

export function request(
  base: string,
  path: string,
  o: { method?: string; headers?: string[] | Record<string, string>; body?: Buffer | string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    let headers = o.headers;
    // Node's client sends a DELETE's or OPTIONS's body unframed unless told its length.
    if (o.body !== undefined && headers && !Array.isArray(headers) && !("content-length" in headers)) headers = { ...headers, "content-length": String(Buffer.byteLength(o.body)) };
    if (o.body !== undefined && !headers) headers = { "content-length": String(Buffer.byteLength(o.body)) };
    const req = http.request({ hostname: u.hostname, port: u.port, path, method: o.method ?? "GET", headers: headers as never, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on("error", reject);
      res.on("aborted", () => reject(new Error("aborted")));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

export const wsUrl = (base: string, path: string) => base.replace(/^http/, "ws") + path;

export const tokenProtocol = (token: string) => `base64url.bearer.clawkeep.${Buffer.from(token).toString("base64url")}`;

/** Opens a WebSocket; resolves with it once open, or with the refusal's status and body. */
export function openWs(url: string, o: { token?: string; protocols?: string[]; headers?: Record<string, string> } = {}): Promise<{ ws?: WebSocket; status?: number; body?: Buffer }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, o.protocols ?? [], {
      headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers },
      perMessageDeflate: false,
    });
    ws.on("open", () => resolve({ ws }));
    ws.on("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
    });
    ws.on("error", (e) => reject(e));
  });
}

export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once("message", (d, binary) => resolve({ data: Buffer.from(d as Buffer), binary })));
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") })));
}
