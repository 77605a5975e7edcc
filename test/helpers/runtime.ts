import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { loadConfig } from "../../src/config.js";
import { bootstrapAdmin, createRuntime, type Runtime } from "../../src/main.js";
import { buildApp } from "../../src/server/app.js";
import { readFileSync } from "node:fs";
import { createPgDatabase, openRawDb, type Backend, type RawDb } from "./backends.js";
import { startS3, type S3Server } from "./s3.js";

export const tempDir = (prefix = "ck-test-") => mkdtempSync(path.join(tmpdir(), prefix));

export interface TestEnv {
  dir: string;
  masterKey: string;
  backend: Backend;
  /** Env vars that point a CLI or another node at this environment's storage. */
  storageEnv: Record<string, string>;
  /** Directories outside `dir` that hold this environment's storage (the s3rver's objects). */
  storageDirs: string[];
  raw: () => Promise<RawDb>;
  rt: Runtime;
  app: FastifyInstance;
  adminToken: string;
  logs: () => string;
  close: () => Promise<void>;
  /** Stops the app and runtime but leaves every file and the storage in place (for inspection). */
  shutdown: () => Promise<void>;
  /** Closes the app and runtime but keeps the data dir, then opens them again (a restart). */
  restart: () => Promise<TestEnv>;
}

// A real runtime (SQLite file + blob folder in a temp dir) and the real fastify app, driven with
// inject(): the same code path as the network server, without a socket.
const SQLITE_FILE: Backend = { name: "sqlite+file", dialect: "sqlite", blobs: "file" };

interface Storage {
  env: Record<string, string>;
  dirs?: string[];
  cleanup: () => Promise<void>;
}

async function provision(backend: Backend, dir: string): Promise<Storage> {
  const env: Record<string, string> = {};
  const dirs: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  if (backend.dialect === "postgres") {
    const pgdb = await createPgDatabase();
    env.CLAWKEEP_DATABASE_URL = pgdb.url;
    cleanups.push(pgdb.drop);
  } else {
    env.CLAWKEEP_DATABASE_URL = `sqlite:${path.join(dir, "clawkeep.db")}`;
  }
  if (backend.blobs === "s3") {
    const s3: S3Server = await startS3();
    Object.assign(env, s3.env, { CLAWKEEP_BLOB_URL: `s3://${s3.bucket}/blobs` });
    cleanups.push(s3.stop);
    dirs.push(s3.dir);
  }
  return { env, dirs, cleanup: async () => void (await Promise.all(cleanups.map((c) => c()))) };
}

export async function startTestEnv(
  extraEnv: Record<string, string> = {},
  reuse?: { dir: string; masterKey: string; adminToken: string; storage: Storage },
  backend: Backend = SQLITE_FILE,
): Promise<TestEnv> {
  const dir = reuse?.dir ?? tempDir();
  const masterKey = reuse?.masterKey ?? randomBytes(32).toString("base64");
  const storage = reuse?.storage ?? (await provision(backend, dir));
  const allEnv = { CLAWKEEP_DATA_DIR: dir, CLAWKEEP_MASTER_KEY: masterKey, CLAWKEEP_LOG_LEVEL: "debug", ...storage.env, ...extraEnv };
  const config = loadConfig(allEnv);
  const rt = await createRuntime(config, { createMasterKey: false, env: allEnv });
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
  let stopped = false;
  return {
    dir,
    masterKey,
    backend,
    storageEnv: storage.env,
    storageDirs: storage.dirs ?? [],
    raw: () => openRawDb(config.databaseUrl),
    rt,
    app,
    adminToken,
    logs: () => Buffer.concat(chunks).toString("utf8"),
    async close() {
      if (!stopped) {
        await app.close();
        await rt.close();
      }
      await storage.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
    async shutdown() {
      stopped = true;
      await app.close();
      await rt.close();
    },
    async restart() {
      await app.close();
      await rt.close();
      return startTestEnv(extraEnv, { dir, masterKey, adminToken, storage }, backend);
    },
  };
}

export interface TestNode {
  rt: Runtime;
  app: FastifyInstance;
  close: () => Promise<void>;
}

/**
 * Another node on `env`'s storage and master key, as behind a load balancer (same data dir,
 * database and blobs), with `extraEnv` on top; quiet logs. Close it before `env`.
 */
export async function startSecondNode(env: TestEnv, extraEnv: Record<string, string> = {}): Promise<TestNode> {
  const e = { CLAWKEEP_DATA_DIR: env.dir, CLAWKEEP_MASTER_KEY: env.masterKey, CLAWKEEP_LOG_LEVEL: "warn", ...env.storageEnv, ...extraEnv };
  const rt = await createRuntime(loadConfig(e), { createMasterKey: false, env: e });
  const app = await buildApp(rt, { logger: false });
  await app.ready();
  return {
    rt,
    app,
    async close() {
      await app.close();
      await rt.close();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function createUser(env: TestEnv, name: string): Promise<string> {
  const r = await env.app.inject({ method: "POST", url: "/v1/users", headers: bearer(env.adminToken), payload: { name } });
  if (r.statusCode !== 201) throw new Error(`createUser ${r.statusCode} ${r.body}`);
  return (r.json() as { token: string }).token;
}

/** Registers agent `name` for the token's user unless it already is (secrets need a registered agent). */
export async function ensureAgent(env: TestEnv, token: string, name: string): Promise<void> {
  const r = await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(token), payload: { name } });
  if (r.statusCode !== 201 && r.statusCode !== 409) throw new Error(`ensureAgent ${r.statusCode} ${r.body}`);
}

export async function putSecret(env: TestEnv, token: string, ref: string, value: Buffer | string) {
  const put = () =>
    env.app.inject({
      method: "PUT",
      url: `/v1/secrets/${ref}`,
      headers: { ...bearer(token), "content-type": "application/octet-stream" },
      payload: Buffer.from(value),
    });
  let r = await put();
  // Tests about values, not agents: register the agent on first use.
  if (r.statusCode === 404 && (r.json() as { error: { code: string } }).error.code === "agent_not_registered") {
    await ensureAgent(env, token, ref.split("/")[0]!);
    r = await put();
  }
  if (r.statusCode !== 201) throw new Error(`put ${r.statusCode} ${r.body}`);
  return r.json() as { version: number };
}

/** Every file below `d`, recursively: what the plaintext-canary scans read. */
export function filesUnder(d: string): string[] {
  return readdirSync(d).flatMap((f) => {
    const p = path.join(d, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}
