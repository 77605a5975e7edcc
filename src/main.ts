import { closeSync, constants, openSync, writeSync, fsyncSync, unlinkSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "./config.js";
import { derivePurposeKey } from "./crypto/hkdf.js";
import { wipe } from "./crypto/bytes.js";
import { ClawkeepError } from "./errors.js";
import { createKeyring, kekFromMaster } from "./keys/keyring.js";
import { loadMasterKey, type MasterKeySource } from "./keys/master.js";
import { migrateToLatest, migrationStatus, openMetaStore } from "./store/meta/index.js";
import { createSingleUse } from "./store/meta/single-use.js";
import { createFileBlobStore } from "./store/blobs/file.js";
import type { BlobStore } from "./store/blobs/port.js";
import { createS3BlobStore } from "./store/blobs/s3.js";
import { s3Settings } from "./store/s3/client.js";
import { createAuditLog } from "./audit/log.js";
import { createSecretService } from "./vault/secrets.js";
import { createUserService } from "./users/users.js";
import { createAgentRegistry } from "./agents/registry.js";
import { createAgentAccess } from "./agents/handshake.js";
import { createSupportAccess } from "./agents/support.js";

// The composition root: the only module that picks concrete adapters and wires the domain
// services together. Everything else receives its dependencies.

export function openBlobStore(url: string, env: NodeJS.ProcessEnv = process.env): BlobStore {
  if (url.startsWith("file://")) {
    const p = url.slice("file://".length);
    return createFileBlobStore(p.startsWith("/") ? p : path.resolve(p));
  }
  if (url.startsWith("s3://")) return createS3BlobStore(s3Settings(url, env));
  throw new ClawkeepError("config_invalid", "CLAWKEEP_BLOB_URL: unsupported scheme");
}

export async function createRuntime(config: Config, opts: { createMasterKey: boolean; env?: NodeJS.ProcessEnv }) {
  const master: MasterKeySource = loadMasterKey(config, { create: opts.createMasterKey });
  const blobs = openBlobStore(config.blobUrl, opts.env ?? process.env);
  const meta = openMetaStore(config.databaseUrl, { poolSize: config.databasePool });
  if (config.migrate) {
    await migrateToLatest(meta);
  } else {
    const pending = (await migrationStatus(meta)).filter((m) => !m.applied);
    if (pending.length) {
      await meta.close();
      throw new ClawkeepError("unavailable", `the meta store needs migrations (${pending.map((m) => m.name).join(", ")}): run \`clawkeep migrate\``);
    }
  }
  const auditKey = derivePurposeKey(master.key, "audit");
  const keyring = createKeyring({ masters: [kekFromMaster(master.key)], cacheSeconds: config.dekCacheSeconds, cacheMax: config.dekCacheMax });
  const durable = () => meta.durable();
  const audit = createAuditLog({ db: meta.db, dialect: meta.dialect, key: auditKey, durable });
  const secrets = createSecretService({ db: meta.db, durable, blobs, keyring, audit, maxBytes: config.maxSecretBytes });
  const users = createUserService({ db: meta.db, durable, audit });
  const singleUse = createSingleUse(meta.db);
  const agentSecretKey = derivePurposeKey(master.key, "agentSecret");
  const sessionKey = derivePurposeKey(master.key, "session");
  const agents = createAgentRegistry({ db: meta.db, durable, audit, secretKey: agentSecretKey });
  const support = createSupportAccess({ db: meta.db, durable, audit, registry: agents });
  const agentAccess = createAgentAccess({
    registry: agents,
    audit,
    singleUse,
    tokenKey: sessionKey,
    windowSeconds: config.handshakeWindowSeconds,
    tokenTtlSeconds: config.agentTokenTtlSeconds,
  });
  wipe(master.key);
  return {
    config,
    masterOrigin: master.origin,
    masterFile: master.file,
    meta,
    blobs,
    keyring,
    audit,
    secrets,
    users,
    singleUse,
    agents,
    agentAccess,
    support,
    /** Readiness for load balancers: the meta store answers and the blob store lists. */
    async ready(): Promise<void> {
      await meta.db.selectFrom("audit_head").select("seq").limit(1).execute();
      for await (const _ of blobs.list("ready-probe")) break;
    },
    async close() {
      keyring.close();
      wipe(auditKey);
      wipe(agentSecretKey);
      wipe(sessionKey);
      await meta.close();
    },
  };
}

export type Runtime = Awaited<ReturnType<typeof createRuntime>>;

// On first start there is no user at all: create the admin and hand its token over through a
// 0600 file (never stdout, which ends up in logs). Returns the file path, or null if an admin
// already exists.
export async function bootstrapAdmin(rt: Runtime): Promise<string | null> {
  if (await rt.users.hasAdmin()) return null;
  const { token } = await rt.users.createUser({ userId: null, actor: "system" }, "admin", { admin: true });
  const file = path.join(rt.config.dataDir, "admin.token");
  try {
    unlinkSync(file);
  } catch {
    // absent: the normal case
  }
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return file;
}

export const packageRoot = () => path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
