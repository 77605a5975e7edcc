import Fastify from "fastify";
import proxy from "@fastify/http-proxy";

// The HTTP baseline for bench/proxy.ts: fastify + @fastify/http-proxy with no auth, no logger.
// Usage: node --import tsx bench/proxy/bare-http-proxy.ts <port> <upstream url>
const port = Number(process.argv[2] ?? 0);
const app = Fastify({ logger: false });
await app.register(proxy, { upstream: process.argv[3]!, prefix: "/gw" });
const addr = await app.listen({ port, host: "127.0.0.1" });
process.stderr.write(`bare-http-proxy: listening on ${addr}\n`);
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
