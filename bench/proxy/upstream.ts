import http from "node:http";
import { WebSocketServer } from "ws";

// The gateway stand-in for bench/proxy.ts: a small fixed answer to every HTTP request and a
// WebSocket echo, on one port. Usage: node --import tsx bench/proxy/upstream.ts <port>
const port = Number(process.argv[2] ?? 0);
const body = Buffer.from(JSON.stringify({ ok: true, reply: "x".repeat(64) }));
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => ws.on("message", (d, isBinary) => ws.send(d as Buffer, { binary: isBinary })));
server.listen(port, "127.0.0.1", () => process.stderr.write(`upstream: listening on http://127.0.0.1:${port}\n`));
process.on("SIGTERM", () => process.exit(0));
