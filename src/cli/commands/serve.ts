import { createServer } from "node:net";
import pino from "pino";
import { loadConfig } from "../../config.js";
import { ClawkeepError } from "../../errors.js";
import { loadMasterKey } from "../../keys/master.js";
import { bootstrapAdmin, createRuntime, startMaintenance } from "../../main.js";
import { buildApp } from "../../server/app.js";

// What a failed listen means for the person who typed the command, naming the setting to change.
function listenError(e: NodeJS.ErrnoException, bind: string, port: number): ClawkeepError {
  const at = `${bind}:${port}`;
  if (e.code === "EADDRINUSE") return new ClawkeepError("config_invalid", `--port (CLAWKEEP_PORT): ${at} is already in use (another clawkeep serve?); stop it or pick another port`, { cause: e });
  if (e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND" || e.code === "EAI_AGAIN") {
    return new ClawkeepError("config_invalid", `--bind (CLAWKEEP_BIND): ${bind} is not an address of this machine`, { cause: e });
  }
  if (e.code === "EACCES") return new ClawkeepError("config_invalid", `--port (CLAWKEEP_PORT): binding ${at} needs privileges this user lacks; use a port above 1023`, { cause: e });
  return new ClawkeepError("config_invalid", `cannot listen on ${at} (${e.code ?? e.message})`, { cause: e });
}

// Tried before anything is created: a port in use used to be found only after the master key
// and the first admin token had been written. The real listen can still lose a race; it is
// mapped the same way.
function probeListen(port: number, bind: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", (e) => reject(listenError(e, bind, port)));
    s.listen({ port, host: bind, exclusive: true }, () => s.close(() => resolve()));
  });
}

export async function serve(o: { dataDir?: string; port?: string; bind?: string }) {
  // Everything the server creates (database, WAL, blobs, key files) is for its owner only.
  process.umask(0o077);
  const config = loadConfig(process.env, { dataDir: o.dataDir, port: o.port, bind: o.bind });
  // Settings that need no storage are judged before the port, so each mistake is named as itself.
  if (config.masterKey) loadMasterKey(config, { create: false }).key.fill(0);
  await probeListen(config.port, config.bind);
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
  let addr: string;
  try {
    addr = await app.listen({ port: config.port, host: config.bind });
  } catch (e) {
    await shutdown();
    throw listenError(e as NodeJS.ErrnoException, config.bind, config.port);
  }
  process.stderr.write(`clawkeep: listening on ${addr}\n`);
  // A node may start before its blob store is reachable (it reports not-ready on /ready until
  // then), but the person watching the start should hear about it now, not at the first write.
  rt.ready().catch((e: unknown) =>
    process.stderr.write(`clawkeep: warning: storage is not reachable yet (${(e as Error).message}); /ready answers 503 until it is\n`),
  );
}
