import Fastify from "fastify";

// The ceiling for bench/http.ts: the same framework and Node with no logger, no hooks and no
// work per request. Usage: node --import tsx bench/bare-server.ts <port>
const port = Number(process.argv[2] ?? 0);
const app = Fastify({ logger: false });
app.get("/", async () => ({ hello: "world" }));
const addr = await app.listen({ port, host: "127.0.0.1" });
process.stderr.write(`bare: listening on ${addr}\n`);
const stop = () => void app.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
