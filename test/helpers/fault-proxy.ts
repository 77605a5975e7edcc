import http from "node:http";
import type { AddressInfo } from "node:net";

// An HTTP proxy in front of a real S3 server that answers chosen requests with a 500 (as a
// struggling provider does) or drops them, to test fault handling against the real protocol.
export async function startFaultProxy(target: string, fail: (req: http.IncomingMessage) => "ok" | "500" | "drop") {
  const t = new URL(target);
  const server = http.createServer((req, res) => {
    const verdict = fail(req);
    if (verdict === "drop") {
      req.socket.destroy();
      return;
    }
    if (verdict === "500") {
      req.resume();
      res.writeHead(500, { "content-type": "application/xml" });
      res.end('<?xml version="1.0"?><Error><Code>InternalError</Code><Message>injected</Message></Error>');
      return;
    }
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
