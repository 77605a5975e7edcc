import { closeSync, constants, mkdirSync, openSync, writeSync, fsyncSync, unlinkSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "./config.js";
import { wipe } from "./crypto/bytes.js";
import { ClawkeepError } from "./errors.js";
import { assertMastersOpenStore, createKeyring } from "./keys/keyring.js";
import { deriveKeySet, loadMasterKey, loadPreviousMasterKeys, type MasterKeySource } from "./keys/master.js";
import { migrateToLatest, migrationStatus, openMetaStore, type MigrationContext } from "./store/meta/index.js";
import { createSingleUse } from "./store/meta/single-use.js";
import { createFileBlobStore } from "./store/blobs/file.js";
import type { BlobStore } from "./store/blobs/port.js";
import { createCiphertextCache, evictingBlobStore } from "./vault/ciphertext-cache.js";
import { createS3BlobStore } from "./store/blobs/s3.js";
import { s3Settings } from "./store/s3/client.js";
import { createAuditLog } from "./audit/log.js";
import { createSecretService } from "./vault/secrets.js";
import { createEpochService } from "./vault/epochs.js";
import { createErasure } from "./vault/erasure.js";
import { createCredentialPasswords } from "./vault/credential-password.js";
import { pruneVersions } from "./vault/lifecycle.js";
import { createUserService, userRowMac } from "./users/users.js";
import { createLogin } from "./users/login.js";
import { createAgentRegistry } from "./agents/registry.js";
import { createAgentAccess } from "./agents/handshake.js";
import { createSupportAccess, grantRowMac } from "./agents/support.js";
import { createSupportLog } from "./agents/support-log.js";
import { createProxyService } from "./proxy/service.js";
import { createSigner, type SignerCaller } from "./signer/identities.js";
import { createGuards } from "./signer/guards.js";
import { workerBackend } from "./signer/key-backend.js";
import { createSignThread } from "./signer/sign-thread.js";
import { enclaveBackend } from "./signer/enclave-client.js";
import { resealAll, type ResealProgress } from "./signer/reseal.js";
import { createFreeze } from "./signer/freeze.js";
import { createRateLimiter } from "./signer/rate-limit.js";
import { sealingKeyId, type SealingKey } from "./signer/sealed-key.js";

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

/** What migrations need from the key hierarchy: the row-MAC functions (migration 0007). */
export const migrationContext = (rowKey: Buffer): MigrationContext => ({
  rowMac: { user: (r) => userRowMac(rowKey, r), grant: (r) => grantRowMac(rowKey, r) },
});

/**
 * Worker-mode sealing keys, primary first: WORKER_SEALING_KEY when set, then the master keys'
 * `clawkeep/seal/v1` keys, which keep opening what they sealed (restore reseals it).
 */
function sealingKeys(config: Config, derived: SealingKey[]): SealingKey[] {
  const explicit = (raw: string | undefined) =>
    (raw ?? "")
      .split(",")
      .filter(Boolean)
      .map((h) => Buffer.from(h.replace(/^0x/, ""), "hex"))
      .map((key) => ({ keyId: sealingKeyId(key), key }));
  // The primary (first) seals; the rest only open: earlier explicit keys, then master-derived ones.
  return [...explicit(config.workerSealingKey?.unwrap()), ...explicit(config.workerPreviousSealingKeys?.unwrap()), ...derived];
}

export async function createRuntime(config: Config, opts: { createMasterKey: boolean; env?: NodeJS.ProcessEnv }) {
  const ciphertexts = createCiphertextCache(config.blobCacheMb * 1024 * 1024);
  const blobs = evictingBlobStore(openBlobStore(config.blobUrl, opts.env ?? process.env), ciphertexts);
  const meta = openMetaStore(config.databaseUrl, { poolSize: config.databasePool });
  // A new master key is made only for an empty store: over existing data it would silently make
  // everything unreadable, when the real problem is a lost or misplaced key. The key is loaded
  // before migrating because a migration may MAC existing rows (0007). A store with no
  // migration applied holds no data; any other failure to look (an unreachable or damaged
  // database) stops the start rather than being taken for an empty store.
  let master: MasterKeySource;
  let holdsData: boolean;
  try {
    const migrated = (await migrationStatus(meta)).some((m) => m.applied);
    holdsData = migrated && (await meta.db.selectFrom("user_epochs").select("user_id").limit(1).executeTakeFirst()) !== undefined;
    master = loadMasterKey(config, { create: opts.createMasterKey && !holdsData });
  } catch (e) {
    await meta.close();
    throw e;
  }
  const keys = deriveKeySet(master.key, loadPreviousMasterKeys(config));
  try {
    if (holdsData) await assertMastersOpenStore(meta.db, keys.keks.map((k) => k.keyId), master.file ?? "CLAWKEEP_MASTER_KEY");
    if (config.migrate) {
      await migrateToLatest(meta, migrationContext(keys.rowKeys[0]!));
    } else {
      const pending = (await migrationStatus(meta)).filter((m) => !m.applied);
      if (pending.length) throw new ClawkeepError("unavailable", `the meta store needs migrations (${pending.map((m) => m.name).join(", ")}): run \`clawkeep migrate\``);
    }
  } catch (e) {
    wipe(master.key);
    await meta.close();
    throw e;
  }
  const keyring = createKeyring({ masters: keys.keks, cacheSeconds: config.dekCacheSeconds, cacheMax: config.dekCacheMax });
  const durable = () => meta.durable();
  const audit = createAuditLog({ db: meta.db, dialect: meta.dialect, keys: keys.auditKeys, durable });
  const epochs = createEpochService({ db: meta.db, durable, blobs, keyring, audit, compact: () => meta.compact() });
  const secrets = createSecretService({ db: meta.db, durable, blobs, keyring, audit, maxBytes: config.maxSecretBytes, onRead: (p) => epochs.onRead(p), ciphertexts });
  // Every revocation (a token, an agent secret, a disabled agent, a support grant) starts a new
  // epoch, so what is written from then on is under a key the revoked party never saw in use.
  // The proxy's short-lived caches (authentications, agent rows, gateway credentials) are
  // dropped first, so a revocation on this node stops the next proxied request.
  let forgetProxyCaches = (_userId: string) => {};
  const onRevocation = (userId: string, reason: string) => {
    forgetProxyCaches(userId);
    return epochs.rotate(userId, reason);
  };
  const users = createUserService({ db: meta.db, durable, audit, tokenKeys: keys.tokenKeys, rowKeys: keys.rowKeys, onRevocation, authCacheMs: config.authCacheMs });
  const singleUse = createSingleUse(meta.db);
  // A verified login lifts the user's signer freeze; the freeze service is made further down.
  let onSession: (userId: string, actor: string) => Promise<void> = async () => {};
  const login = createLogin({
    db: meta.db,
    durable,
    audit,
    users,
    onSession: (u, a) => onSession(u, a),
    settings: {
      challengeTtlSeconds: config.challengeTtlSeconds,
      sessionTtlSeconds: config.sessionTtlSeconds,
      // Test mode lets whoever reaches the server sign in as any Telegram account: only on a
      // loopback bind, where that is the developer at the keyboard.
      testMode: config.telegramBotToken === undefined && /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(config.bind),
      botUsername: config.telegramBotUsername,
      webhookSecret: config.telegramWebhookSecret,
    },
  });
  const credentialPasswords = createCredentialPasswords({ db: meta.db, durable, audit, concurrency: config.passwordKdfConcurrency });
  const agents = createAgentRegistry({ db: meta.db, durable, audit, secretKeys: keys.agentSecretKeys, onRevocation });
  const erasure = createErasure({ db: meta.db, durable, blobs, keyring, audit, epochs, compact: () => meta.compact(), onErased: (userId) => forgetProxyCaches(userId) });
  const support = createSupportAccess({ db: meta.db, durable, audit, registry: agents, rowKeys: keys.rowKeys, onRevocation });
  const supportLog = createSupportLog({ db: meta.db, durable, audit, registry: agents, support });
  const agentAccess = createAgentAccess({
    registry: agents,
    audit,
    singleUse,
    tokenKey: keys.sessionKey,
    windowSeconds: config.handshakeWindowSeconds,
    tokenTtlSeconds: config.agentTokenTtlSeconds,
  });
  const proxy = createProxyService({
    agents,
    users,
    agentAccess,
    secrets,
    settings: {
      allowLinkLocal: config.proxyAllowLinkLocal,
      credentialSecret: config.proxyCredentialSecret,
      credentialHeader: config.proxyCredentialHeader.toLowerCase(),
      credentialScheme: config.proxyCredentialScheme,
      credentialCacheSeconds: config.proxyCredentialCacheSeconds,
      authCacheMs: config.proxyAuthCacheMs,
      connectTimeoutMs: config.proxyConnectTimeoutMs,
      responseTimeoutMs: config.proxyResponseTimeoutMs,
      idleTimeoutSeconds: config.proxyIdleTimeoutSeconds,
      maxConnectionsPerUser: config.proxyMaxConnectionsPerUser,
      healthTimeoutMs: config.proxyHealthTimeoutMs,
      healthPath: config.proxyHealthPath,
      wsHighWaterBytes: config.proxyWsHighWaterBytes,
      wsMaxPayloadBytes: config.proxyWsMaxPayloadBytes,
    },
  });
  forgetProxyCaches = (userId) => {
    users.forgetAuth();
    proxy.forget(userId);
  };
  const guards = createGuards({ db: meta.db, dialect: meta.dialect, audit, rowKeys: keys.rowKeys });
  const agentIdOf = async (c: SignerCaller, name: string) => (await agents.mine(c, name)).id;
  const freeze = createFreeze({ db: meta.db, durable, audit, guards, agentId: agentIdOf, sessionStartedAt: (u, t) => login.sessionStartedAt(u, t) });
  onSession = (userId, actor) => freeze.onLogin(userId, actor).then(() => undefined);
  const rateLimiter = createRateLimiter(meta.db, config.rateLimitWindowMs);
  const sealing = sealingKeys(config, keys.sealKeys);
  // Started on the first worker-mode signature only: most processes (the CLI, enclave mode) never sign.
  const signThread = createSignThread();
  const keyBackend =
    config.signerMode === "enclave"
      ? enclaveBackend({
          baseUrl: config.enclaveBaseUrl!,
          internalApiKey: config.internalApiKey!.unwrap(),
          attestationKey: config.signerdAttestationKey!,
          measurements: config.signerdMeasurements!.split(","),
        })
      : workerBackend(sealing, signThread);
  const signer = createSigner({
    guards,
    db: meta.db,
    durable,
    audit,
    singleUse,
    rowKeys: keys.rowKeys,
    keys: keyBackend,
    ticketKeys: [config.ticketSigningSecret ? Buffer.from(config.ticketSigningSecret.unwrap(), "utf8") : keys.ticketKey],
    ticketTtlSeconds: config.ticketTtlSeconds,
    agentId: agentIdOf,
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
    epochs,
    erasure,
    users,
    login,
    singleUse,
    credentialPasswords,
    agents,
    agentAccess,
    support,
    supportLog,
    proxy,
    signer,
    freeze,
    rateLimiter,
    /** `clawkeep signer reseal` and the master-key rotation: every backup under the primary sealing key. */
    resealSigningKeys: (onProgress?: (p: ResealProgress) => void) =>
      resealAll({ db: meta.db, durable, audit, keys: keyBackend, primaryKeyId: sealing[0]?.keyId, rowKeys: keys.rowKeys }, onProgress),
    /** Readiness for load balancers: the meta store answers and the blob store lists. */
    async ready(): Promise<void> {
      await meta.db.selectFrom("audit_head").select("seq").limit(1).execute();
      for await (const _ of blobs.list("ready-probe")) break;
    },
    keys,
    async close() {
      proxy.close();
      keyring.close();
      await signThread.close();
      for (const k of [...keys.auditKeys.map((a) => a.key), ...keys.agentSecretKeys, ...keys.tokenKeys, ...keys.rowKeys, keys.sessionKey, keys.checkpointSeed]) wipe(k);
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
  // Before the user exists: a token that cannot be written is a token lost. With PostgreSQL
  // nothing else has needed the data dir yet, so it may not exist.
  mkdirSync(rt.config.dataDir, { recursive: true, mode: 0o700 });
  let token: string;
  try {
    ({ token } = await rt.users.createUser({ userId: null, actor: "system" }, "admin", { admin: true }));
  } catch (e) {
    // Another node bootstrapped at the same moment (or a user is already called "admin").
    if (e instanceof ClawkeepError && e.code === "conflict") return null;
    throw e;
  }
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

// Scheduled upkeep run by every server (no separate cron): weekly epoch rotation, rotation
// before an epoch's key seals too much, and version retention. Each step is idempotent and safe
// on many nodes at once.
export function startMaintenance(rt: Runtime, onError: (e: unknown) => void): { stop: () => void } {
  const c = rt.config;
  if (c.maintenanceSeconds === 0) return { stop: () => undefined };
  const run = async () => {
    try {
      if (c.epochRotateSeconds > 0) await rt.epochs.rotateDue({ maxAgeSeconds: c.epochRotateSeconds, maxSeals: c.epochMaxSeals });
      if (c.retentionDays > 0) await pruneVersions({ db: rt.meta.db, durable: () => rt.meta.durable(), blobs: rt.blobs, audit: rt.audit }, { olderThanDays: c.retentionDays });
      await rt.singleUse.prune();
      await rt.login.prune();
      await rt.rateLimiter.prune();
      await rt.signer.pruneSpends();
    } catch (e) {
      onError(e);
    }
  };
  const timer = setInterval(() => void run(), c.maintenanceSeconds * 1000);
  timer.unref();
  void run();
  return { stop: () => clearInterval(timer) };
}

export const packageRoot = () => path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
