import http from "node:http";
import WebSocket, { WebSocketServer } from "ws";

// The WebSocket baseline for bench/proxy.ts: a bare `ws` relay (accept, open the upstream,
// forward frames both ways), no auth, no logging, no backpressure or close-code handling.
// Usage: node --import tsx bench/proxy/bare-ws-relay.ts <port> <upstream ws url>
const port = Number(process.argv[2] ?? 0);
const upstream = process.argv[3]!;
const server = http.createServer((_req, res) => res.end());
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (client) => {
  const up = new WebSocket(upstream, { perMessageDeflate: false });
  const queue: [Buffer, boolean][] = [];
  up.on("open", () => {
    for (const [d, b] of queue) up.send(d, { binary: b });
    queue.length = 0;
  });
  client.on("message", (d, b) => (up.readyState === WebSocket.OPEN ? up.send(d as Buffer, { binary: b }) : queue.push([d as Buffer, b])));
  up.on("message", (d, b) => client.send(d as Buffer, { binary: b }));
  client.on("close", () => up.close());
  up.on("close", () => client.close());
  up.on("error", () => client.terminate());
  client.on("error", () => up.terminate());
});
server.listen(port, "127.0.0.1", () => process.stderr.write(`bare-ws-relay: listening on http://127.0.0.1:${port}\n`));
process.on("SIGTERM", () => process.exit(0));
