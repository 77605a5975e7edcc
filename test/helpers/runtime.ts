import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { loadConfig } from "../../src/config.js";
import { bootstrapAdmin, createRuntime, type Runtime } from "../../src/main.js";
import { buildApp } from "../../src/server/app.js";
import { readFileSync } from "node:fs";

export const tempDir = (prefix = "ck-test-") => mkdtempSync(path.join(tmpdir(), prefix));

export interface TestEnv {
  dir: string;
  masterKey: string;
  rt: Runtime;
  app: FastifyInstance;
  adminToken: string;
  logs: () => string;
  close: () => Promise<void>;
  /** Closes the app and runtime but keeps the data dir, then opens them again (a restart). */
  restart: () => Promise<TestEnv>;
}

// A real runtime (SQLite file + blob folder in a temp dir) and the real fastify app, driven with
// inject(): the same code path as the network server, without a socket.
export async function startTestEnv(
  extraEnv: Record<string, string> = {},
  reuse?: { dir: string; masterKey: string; adminToken: string },
): Promise<TestEnv> {
  const dir = reuse?.dir ?? tempDir();
  const masterKey = reuse?.masterKey ?? randomBytes(32).toString("base64");
  const config = loadConfig({ CLAWKEEP_DATA_DIR: dir, CLAWKEEP_MASTER_KEY: masterKey, CLAWKEEP_LOG_LEVEL: "debug", ...extraEnv });
  const rt = await createRuntime(config, { createMasterKey: false });
  const tokenFile = reuse ? null : await bootstrapAdmin(rt);
  const adminToken = reuse?.adminToken ?? readFileSync(tokenFile!, "utf8").trim();
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(Buffer.from(c));
      cb();
    },
  });
  const app = await buildApp(rt, { logger: { level: "debug", stream } });
  await app.ready();
  return {
    dir,
    masterKey,
    rt,
    app,
    adminToken,
    logs: () => Buffer.concat(chunks).toString("utf8"),
    async close() {
      await app.close();
      await rt.close();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await app.close();
      await rt.close();
      return startTestEnv(extraEnv, { dir, masterKey, adminToken });
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function createUser(env: TestEnv, name: string): Promise<string> {
  const r = await env.app.inject({ method: "POST", url: "/v1/users", headers: bearer(env.adminToken), payload: { name } });
  if (r.statusCode !== 201) throw new Error(`createUser ${r.statusCode} ${r.body}`);
  return (r.json() as { token: string }).token;
}

export async function putSecret(env: TestEnv, token: string, ref: string, value: Buffer | string) {
  const r = await env.app.inject({
    method: "PUT",
    url: `/v1/secrets/${ref}`,
    headers: { ...bearer(token), "content-type": "application/octet-stream" },
    payload: Buffer.from(value),
  });
  if (r.statusCode !== 201) throw new Error(`put ${r.statusCode} ${r.body}`);
  return r.json() as { version: number };
}
