import pino from "pino";
import { loadConfig } from "../../config.js";
import { bootstrapAdmin, createRuntime, startMaintenance } from "../../main.js";
import { buildApp } from "../../server/app.js";

export async function serve(o: { dataDir?: string; port?: string; bind?: string }) {
  // Everything the server creates (database, WAL, blobs, key files) is for its owner only.
  process.umask(0o077);
  const config = loadConfig(process.env, { dataDir: o.dataDir, port: o.port, bind: o.bind });
  const rt = await createRuntime(config, { createMasterKey: true });
  if (rt.masterOrigin === "created") {
    process.stderr.write(
      `clawkeep: created a new master key at ${rt.masterFile} (mode 0600).\n` +
        "clawkeep: BACK IT UP NOW and keep it apart from the data: without it nothing stored here can be decrypted.\n",
    );
  }
  const adminFile = await bootstrapAdmin(rt);
  if (adminFile) process.stderr.write(`clawkeep: admin token written to ${adminFile} (mode 0600); read it once and keep it safe.\n`);
  // Log lines go out asynchronously (coalesced writes, flushed on exit): a synchronous write per
  // line would make every proxied request wait on stdout.
  const app = await buildApp(rt, { logger: { level: config.logLevel, stream: pino.destination({ dest: 1, sync: false }) as unknown as NodeJS.WritableStream } });
  const maintenance = startMaintenance(rt, (err) => app.log.error({ err: (err as Error).message }, "scheduled maintenance failed"));
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    maintenance.stop();
    await app.close();
    await rt.close();
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  const addr = await app.listen({ port: config.port, host: config.bind });
  process.stderr.write(`clawkeep: listening on ${addr}\n`);
}
