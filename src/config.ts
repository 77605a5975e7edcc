import path from "node:path";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ClawkeepError } from "./errors.js";
import { Redacted } from "./redacted.js";

// One typed schema for every server setting. Each entry names its env var, its CLI flag (if any)
// and documents itself; docs/config.md is generated from this table (`npm run docs:config`) and a
// test fails when the two drift. Secrets accept `<VAR>_FILE` and never have a default.

// Plain decimal integers only: `0x50` or `1e3` are mistakes, not 80 or 1000.
// One message for every way an integer setting can be wrong: zod's own ("Invalid input", "Too
// small: expected number to be >=1") names neither the rule nor the range.
const int = (min: number, max: number) => {
  const error = `must be a whole number from ${min} to ${max}`;
  return z
    .union([z.number(), z.string().regex(/^-?[0-9]+$/).transform(Number)], { error })
    .pipe(z.number({ error }).int({ error }).min(min, { error }).max(max, { error }));
};
const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

export const SETTINGS = {
  dataDir: {
    env: "CLAWKEEP_DATA_DIR",
    flag: "--data-dir",
    schema: z.string().min(1).default("./.clawkeep"),
    doc: "Directory for the embedded default: master.key, admin.token, the SQLite database and the blob folder.",
  },
  masterKey: {
    env: "CLAWKEEP_MASTER_KEY",
    schema: z.string().optional(),
    secret: true,
    doc: "Base64 of 32 random bytes. When unset, <data-dir>/master.key is read, or created 0600 on first start (back it up: without it nothing can be decrypted).",
  },
  previousMasterKeys: {
    env: "CLAWKEEP_PREVIOUS_MASTER_KEYS",
    schema: z.string().optional(),
    secret: true,
    doc: "Only during a master-key rotation: the old master key(s), base64, comma-separated. They still open what they wrapped while `clawkeep master rotate` re-wraps it under CLAWKEEP_MASTER_KEY; remove them afterwards.",
  },
  databaseUrl: {
    env: "CLAWKEEP_DATABASE_URL",
    schema: z.string().min(1).optional(),
    doc: "Meta store. `sqlite:<path>` (default `sqlite:<data-dir>/clawkeep.db`) or `postgres://user@host:5432/db` for many nodes.",
  },
  blobUrl: {
    env: "CLAWKEEP_BLOB_URL",
    schema: z.string().min(1).optional(),
    doc: "Blob store for ciphertext. `file://<path>` (default `file://<data-dir>/blobs`) or `s3://bucket/prefix` (configured by S3_ENDPOINT, S3_REGION, S3_PROVIDER, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).",
  },
  port: { env: "CLAWKEEP_PORT", flag: "--port", schema: int(0, 65535).default(8787), doc: "HTTP port." },
  bind: { env: "CLAWKEEP_BIND", flag: "--bind", schema: z.string().min(1).default("127.0.0.1"), doc: "Address the HTTP server binds to." },
  maxSecretBytes: {
    env: "CLAWKEEP_MAX_SECRET_BYTES",
    schema: int(1, 16 * 1024 * 1024).default(64 * 1024),
    doc: "Largest secret value accepted, in bytes.",
  },
  dekCacheSeconds: {
    env: "CLAWKEEP_DEK_CACHE_SECONDS",
    schema: int(0, 86_400).default(300),
    doc: "How long an unwrapped epoch DEK stays in memory after its last use (0 = never cached).",
  },
  dekCacheMax: {
    env: "CLAWKEEP_DEK_CACHE_MAX",
    schema: int(0, 1_000_000).default(10_000),
    doc: "Most unwrapped DEKs held in memory at once; the least recently used is wiped first.",
  },
  databasePool: {
    env: "CLAWKEEP_DATABASE_POOL",
    schema: int(1, 1000).default(10),
    doc: "PostgreSQL connections per node.",
  },
  epochRotateSeconds: {
    env: "CLAWKEEP_EPOCH_ROTATE_SECONDS",
    schema: int(0, 10 * 365 * 86_400).default(7 * 86_400),
    doc: "Start a new epoch (new data key) for every user whose current one is older than this; 0 turns scheduled rotation off. Rotation also happens on revocation.",
  },
  epochMaxSeals: {
    env: "CLAWKEEP_EPOCH_MAX_SEALS",
    schema: int(1, 2 ** 31).default(2 ** 30),
    doc: "Rotate an epoch after this many encryptions under its key, far below AES-GCM's 2^32 random-nonce bound.",
  },
  retentionDays: {
    env: "CLAWKEEP_VERSION_RETENTION_DAYS",
    schema: int(0, 100 * 365).default(0),
    doc: "Drop versions that are not the latest of their secret once older than this many days; 0 keeps every version.",
  },
  maintenanceSeconds: {
    env: "CLAWKEEP_MAINTENANCE_SECONDS",
    schema: int(0, 86_400).default(3600),
    doc: "How often a server runs scheduled rotation and version retention (safe on many nodes at once); 0 turns it off.",
  },
  migrate: {
    env: "CLAWKEEP_MIGRATE",
    schema: bool.default(true),
    doc: "Run pending meta-store migrations on start (`true`/`false`).",
  },
  handshakeWindowSeconds: {
    env: "CLAWKEEP_HANDSHAKE_WINDOW_SECONDS",
    schema: int(5, 3600).default(60),
    doc: "Agent handshakes are accepted when their timestamp is within this many seconds of the server's clock, either way; nonces are remembered for twice as long.",
  },
  agentTokenTtlSeconds: {
    env: "CLAWKEEP_AGENT_TOKEN_TTL_SECONDS",
    schema: int(30, 86_400).default(900),
    doc: "Lifetime of the agent token a successful handshake returns.",
  },
  passwordKdfConcurrency: {
    env: "CLAWKEEP_PASSWORD_KDF_CONCURRENCY",
    schema: int(1, 64).default(2),
    doc: "Argon2id derivations (credential passwords, 64 MiB each) run at most this many at a time per node; more wait in line, so a burst of password requests cannot exhaust memory.",
  },
  proxyAllowLinkLocal: {
    env: "CLAWKEEP_PROXY_ALLOW_LINK_LOCAL",
    schema: bool.default(false),
    doc: "Let agent gateways live at link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata address fd00:ec2::254. Off by default: such a gateway URL would turn the proxy against the host's metadata service.",
  },
  proxyCredentialSecret: {
    env: "CLAWKEEP_PROXY_CREDENTIAL_SECRET",
    schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/, "must be a secret name").default("GATEWAY_AUTH_TOKEN"),
    doc: "Name of the agent secret whose value the proxy presents to the agent's gateway (seed 000's gateway auth token). An agent without it is proxied without a credential.",
  },
  proxyCredentialHeader: {
    env: "CLAWKEEP_PROXY_CREDENTIAL_HEADER",
    schema: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a header name").default("Authorization"),
    doc: "Request header that carries the gateway credential to the gateway.",
  },
  proxyCredentialScheme: {
    env: "CLAWKEEP_PROXY_CREDENTIAL_SCHEME",
    schema: z.string().regex(/^[A-Za-z0-9._-]{0,32}$/, "must be a single word or empty").default("Bearer"),
    doc: "Word put before the credential in that header (`Bearer <token>`); empty sends the bare value.",
  },
  proxyCredentialCacheSeconds: {
    env: "CLAWKEEP_PROXY_CREDENTIAL_CACHE_SECONDS",
    schema: int(0, 3600).default(60),
    doc: "How long a decrypted gateway credential is kept in memory (each fetch is an audited secret read); a changed credential is picked up within this time. 0 reads it on every request.",
  },
  metricsToken: {
    env: "CLAWKEEP_METRICS_TOKEN",
    schema: z.string().min(32, "must be at least 32 characters").optional(),
    secret: true,
    doc: "A scrape token for `GET /metrics` (`Authorization: Bearer <it>`), at least 32 characters, so Prometheus needs no user token. Without it, only an admin token (or CLAWKEEP_METRICS_PUBLIC) reads the metrics.",
  },
  metricsPublic: {
    env: "CLAWKEEP_METRICS_PUBLIC",
    schema: bool.default(false),
    doc: "Serve `GET /metrics` without authentication (its labels are route patterns, methods, status codes and proxy transports: no ids, names or values). Off by default, as Vault's unauthenticated_metrics_access.",
  },
  blobCacheMb: {
    env: "CLAWKEEP_BLOB_CACHE_MB",
    schema: int(0, 65_536).default(32),
    doc: "Memory (MiB) for ciphertext already read and checked, so a repeated read skips the blob store for up to a minute; only ciphertext, never a key or a value (ARCHITECTURE.md, read path). 0 turns it off.",
  },
  authCacheMs: {
    env: "CLAWKEEP_AUTH_CACHE_MS",
    schema: int(0, 60_000).default(1000),
    doc: "How long a successful API token check is reused on one node (never past the token's expiry). A revocation or erasure on the same node takes effect at once; one made on another node, or a token row changed in the database, within this time. 0 checks the token against the database on every request.",
  },
  proxyAuthCacheMs: {
    env: "CLAWKEEP_PROXY_AUTH_CACHE_MS",
    schema: int(0, 60_000).default(1000),
    doc: "How long a proxied caller's successful authentication is reused on one node (never past the token's expiry). A revocation on the same node takes effect at once; one made on another node within this time. 0 checks the token against the database on every proxied request.",
  },
  proxyConnectTimeoutMs: {
    env: "CLAWKEEP_PROXY_CONNECT_TIMEOUT_MS",
    schema: int(100, 600_000).default(5000),
    doc: "Time allowed to connect to a gateway before the client gets 504 `gateway_timeout`.",
  },
  proxyResponseTimeoutMs: {
    env: "CLAWKEEP_PROXY_RESPONSE_TIMEOUT_MS",
    schema: int(100, 3_600_000).default(30_000),
    doc: "Time allowed for a gateway to send its response headers (or accept a WebSocket) before the client gets 504 `gateway_timeout`.",
  },
  proxyIdleTimeoutSeconds: {
    env: "CLAWKEEP_PROXY_IDLE_TIMEOUT_SECONDS",
    schema: int(1, 86_400).default(300),
    doc: "A proxied exchange or WebSocket with no traffic either way for this long is closed (WebSocket close code 1001).",
  },
  proxyMaxConnectionsPerUser: {
    env: "CLAWKEEP_PROXY_MAX_CONNECTIONS_PER_USER",
    schema: int(1, 1_000_000).default(256),
    doc: "Proxied HTTP exchanges plus WebSockets one user may have open at once on a node; beyond it, 429 `too_many_connections`.",
  },
  proxyHealthTimeoutMs: {
    env: "CLAWKEEP_PROXY_HEALTH_TIMEOUT_MS",
    schema: int(100, 60_000).default(2000),
    doc: "Timeout of `GET /v1/agents/:name/health`.",
  },
  proxyHealthPath: {
    env: "CLAWKEEP_PROXY_HEALTH_PATH",
    schema: z.string().regex(/^\/[A-Za-z0-9._~/-]{0,255}$/, "must be an absolute path").default("/health"),
    doc: "Path, under the gateway URL, that the health check requests.",
  },
  proxyWsHighWaterBytes: {
    env: "CLAWKEEP_PROXY_WS_HIGH_WATER_BYTES",
    schema: int(1024, 256 * 1024 * 1024).default(1024 * 1024),
    doc: "When this many bytes wait to be sent to one side of a proxied WebSocket, reading from the other side pauses until they drain.",
  },
  proxyWsMaxPayloadBytes: {
    env: "CLAWKEEP_PROXY_WS_MAX_PAYLOAD_BYTES",
    schema: int(1024, 1024 * 1024 * 1024).default(100 * 1024 * 1024),
    doc: "Largest WebSocket message relayed; a bigger one closes the connection with 1009.",
  },
  signerMode: {
    env: "SIGNER_MODE",
    schema: z.enum(["worker", "enclave"]).default("worker"),
    doc: "Signer backend (seed 003). `worker`: private keys sealed AES-256-GCM in the meta store under WORKER_SEALING_KEY, or the master key's `clawkeep/seal/v1` purpose key when that is unset. `enclave`: keys live in `clawkeep signerd`, a separate process whose sealing key this one never has (needs ENCLAVE_BASE_URL, INTERNAL_API_KEY, SIGNERD_ATTESTATION_KEY, SIGNERD_MEASUREMENTS). The default is `worker`, unlike the seed's, so `npm start` runs with nothing else.",
  },
  enclaveBaseUrl: {
    env: "ENCLAVE_BASE_URL",
    schema: z
      .string()
      .regex(/^(unix:\/.+|http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+)$/, "must be unix:/path/to.sock or http://127.0.0.1:<port> (signerd is reached only locally)")
      .optional(),
    doc: "Enclave mode: where signerd listens (`clawkeep signerd --listen`).",
  },
  internalApiKey: {
    env: "INTERNAL_API_KEY",
    schema: z.string().min(32, "must be at least 32 characters").optional(),
    secret: true,
    doc: "Enclave mode: the secret the API and signerd share; signerd answers nothing without it.",
  },
  signerdAttestationKey: {
    env: "SIGNERD_ATTESTATION_KEY",
    schema: z.string().regex(/^[0-9a-f]{64}$/, "must be the 64-hex ed25519 key `clawkeep signerd --print-attestation` prints").optional(),
    doc: "Enclave mode: signerd's attestation public key, pinned; an attestation under any other key is refused.",
  },
  signerdMeasurements: {
    env: "SIGNERD_MEASUREMENTS",
    schema: z.string().regex(/^[0-9a-f]{64}(,[0-9a-f]{64})*$/, "must be comma-separated 64-hex measurements").optional(),
    doc: "Enclave mode: the signerd measurements (SHA-256 of its code files and public config) the API accepts; `clawkeep signerd --print-attestation` prints the running build's.",
  },
  workerSealingKey: {
    env: "WORKER_SEALING_KEY",
    schema: z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, "must be 32 bytes of hex (openssl rand -hex 32)").optional(),
    secret: true,
    doc: "Worker mode: the AES-256 key (64 hex characters) that seals identity keys. Unset: a key derived from the master key. Keys sealed under another key are opened by `POST /v1/identities/:id/restore` only if this signer holds that key.",
  },
  workerPreviousSealingKeys: {
    env: "WORKER_PREVIOUS_SEALING_KEYS",
    schema: z.string().regex(/^(0x)?[0-9a-fA-F]{64}(,(0x)?[0-9a-fA-F]{64})*$/, "must be comma-separated 32-byte hex keys").optional(),
    secret: true,
    doc: "Only while rotating WORKER_SEALING_KEY: the old key(s), comma-separated. They still open what they sealed while `clawkeep signer reseal` seals it again under WORKER_SEALING_KEY; remove them afterwards.",
  },
  ticketSigningSecret: {
    env: "TICKET_SIGNING_SECRET",
    schema: z.string().min(32, "must be at least 32 characters").optional(),
    secret: true,
    doc: "HMAC key of sign tickets (JWT HS256). Unset: a key derived from the master key (`clawkeep/ticket/v1`). Every node must share it.",
  },
  ticketTtlSeconds: {
    env: "TICKET_TTL_SECONDS",
    schema: int(10, 3600).default(300),
    doc: "How long a sign ticket from sign-intent stays valid; it is single use in any case.",
  },
  rateLimitWindowMs: {
    env: "RATE_LIMIT_WINDOW_MS",
    schema: int(1000, 86_400_000).default(60_000),
    doc: "The window the signer's rate limits count in (fixed windows, counted in the meta store so every node shares them).",
  },
  rateLimitPerUser: {
    env: "RATE_LIMIT_PER_USER",
    schema: int(1, 1_000_000).default(600),
    doc: "Signer and login requests (identities, sign-intent, sign, policy, freeze) one user may make per window; over it: 429 `rate_limited` with Retry-After.",
  },
  rateLimitPerIdentitySign: {
    env: "RATE_LIMIT_PER_IDENTITY_SIGN",
    schema: int(1, 1_000_000).default(120),
    doc: "Signatures (`POST /v1/identities/:id/sign`) one identity may make per window, whoever asks.",
  },
  telegramBotToken: {
    env: "TELEGRAM_BOT_TOKEN",
    schema: z.string().regex(/^[0-9]+:[A-Za-z0-9_-]{20,}$/, "must be a bot token from @BotFather").optional(),
    secret: true,
    doc: "Challenge login (seed 003). Set: challenges are resolved only by the Telegram webhook (`POST /telegram-webhook`). Unset: test mode, where a challenge that names a `telegram_user_id` resolves at once — only while CLAWKEEP_BIND is a loopback address; on any other bind such challenges are refused.",
  },
  telegramBotUsername: {
    env: "TELEGRAM_BOT_USERNAME",
    schema: z.string().regex(/^[A-Za-z0-9_]{5,32}$/, "must be the bot's username without @").optional(),
    doc: "The bot's username without @: the deep link is `https://t.me/<it>?start=<challenge_id>`. Needed with TELEGRAM_BOT_TOKEN.",
  },
  telegramWebhookSecret: {
    env: "TELEGRAM_WEBHOOK_SECRET",
    schema: z.string().regex(/^[A-Za-z0-9_-]{32,256}$/, "must be 32-256 characters of A-Z a-z 0-9 _ -").optional(),
    secret: true,
    doc: "The `secret_token` given to Telegram's setWebhook; every webhook call must carry it in `X-Telegram-Bot-Api-Secret-Token`. Needed with TELEGRAM_BOT_TOKEN.",
  },
  challengeTtlSeconds: {
    env: "CHALLENGE_TTL_SECONDS",
    schema: int(30, 3600).default(300),
    doc: "How long a login challenge can be resolved and verified.",
  },
  sessionTtlSeconds: {
    env: "SESSION_TTL_SECONDS",
    schema: int(60, 30 * 86_400).default(86_400),
    doc: "Lifetime of the session token a verified login gives (an API token with this expiry).",
  },
  dashboard: {
    env: "CLAWKEEP_DASHBOARD",
    schema: bool.default(true),
    doc: "Serve the dashboard (the static page built into dist/dashboard by `npm install`) at `/`. It holds no secret of its own: it calls the same API with the user's token, which it keeps in the tab's sessionStorage.",
  },
  supportPublicKey: {
    env: "CLAWKEEP_SUPPORT_PUBLIC_KEY",
    schema: z.string().max(16_384).regex(/^(?:ssh|ecdsa|sk)-[A-Za-z0-9@.-]+ [A-Za-z0-9+/]{16,}={0,3}(?: [^\r\n]*)?$/, "must be one OpenSSH public key line").optional(),
    doc: "The operator's SSH public key (one OpenSSH line) that the dashboard's \"Grant access\" offers to users for support sessions (`GET /v1/support/operator`). Unset: users paste the key they were given.",
  },
  supportOperator: {
    env: "CLAWKEEP_SUPPORT_OPERATOR",
    schema: z.string().regex(/^[A-Za-z0-9 _.@:-]{1,64}$/, "must be 1-64 characters of A-Z a-z 0-9 space _ . @ : -").default("support"),
    doc: "The operator name recorded on grants made to CLAWKEEP_SUPPORT_PUBLIC_KEY.",
  },
  logLevel: {
    env: "CLAWKEEP_LOG_LEVEL",
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    doc: "Log level (pino).",
  },
} as const;

type Settings = typeof SETTINGS;
type Parsed = { [K in keyof Settings]: z.output<Settings[K]["schema"]> };

export interface Config {
  dataDir: string;
  masterKey: Redacted<string> | undefined;
  previousMasterKeys: Redacted<string> | undefined;
  databaseUrl: string;
  blobUrl: string;
  port: number;
  bind: string;
  maxSecretBytes: number;
  dekCacheSeconds: number;
  dekCacheMax: number;
  databasePool: number;
  epochRotateSeconds: number;
  epochMaxSeals: number;
  retentionDays: number;
  maintenanceSeconds: number;
  migrate: boolean;
  handshakeWindowSeconds: number;
  agentTokenTtlSeconds: number;
  passwordKdfConcurrency: number;
  metricsToken: Redacted<string> | undefined;
  metricsPublic: boolean;
  proxyAllowLinkLocal: boolean;
  proxyCredentialSecret: string;
  proxyCredentialHeader: string;
  proxyCredentialScheme: string;
  proxyCredentialCacheSeconds: number;
  blobCacheMb: number;
  authCacheMs: number;
  proxyAuthCacheMs: number;
  proxyConnectTimeoutMs: number;
  proxyResponseTimeoutMs: number;
  proxyIdleTimeoutSeconds: number;
  proxyMaxConnectionsPerUser: number;
  proxyHealthTimeoutMs: number;
  proxyHealthPath: string;
  proxyWsHighWaterBytes: number;
  proxyWsMaxPayloadBytes: number;
  signerMode: Parsed["signerMode"];
  enclaveBaseUrl: string | undefined;
  internalApiKey: Redacted<string> | undefined;
  signerdAttestationKey: string | undefined;
  signerdMeasurements: string | undefined;
  workerSealingKey: Redacted<string> | undefined;
  workerPreviousSealingKeys: Redacted<string> | undefined;
  ticketSigningSecret: Redacted<string> | undefined;
  ticketTtlSeconds: number;
  rateLimitWindowMs: number;
  rateLimitPerUser: number;
  rateLimitPerIdentitySign: number;
  telegramBotToken: Redacted<string> | undefined;
  telegramBotUsername: string | undefined;
  telegramWebhookSecret: Redacted<string> | undefined;
  challengeTtlSeconds: number;
  sessionTtlSeconds: number;
  dashboard: boolean;
  supportPublicKey: string | undefined;
  supportOperator: string;
  logLevel: Parsed["logLevel"];
}

export type Flags = Partial<Record<keyof Settings, string | number | boolean | undefined>>;

function readRaw(key: keyof Settings, env: NodeJS.ProcessEnv, flags: Flags): unknown {
  const s = SETTINGS[key];
  const flag = flags[key];
  if (flag !== undefined) return typeof flag === "string" ? flag : String(flag);
  const direct = env[s.env];
  if (direct !== undefined && direct !== "") return direct;
  if ("secret" in s && s.secret) {
    const file = env[`${s.env}_FILE`];
    if (file) {
      try {
        return readFileSync(file, "utf8").trim();
      } catch {
        throw new ClawkeepError("config_invalid", `${s.env}_FILE: cannot read the file it names`);
      }
    }
  }
  return undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: Flags = {}): Config {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(SETTINGS) as (keyof Settings)[]) {
    const s = SETTINGS[key];
    const res = (s.schema as z.ZodType).safeParse(readRaw(key, env, flags));
    if (!res.success) {
      const why = res.error.issues[0]?.message ?? "invalid value";
      const name = "flag" in s && flags[key] !== undefined ? `${s.flag} (${s.env})` : s.env;
      // The value itself is never echoed: it may be a secret.
      throw new ClawkeepError("config_invalid", `${name}: ${why}`);
    }
    out[key] = res.data;
  }
  const p = out as Parsed;
  const dataDir = path.resolve(p.dataDir);
  const databaseUrl = p.databaseUrl ?? `sqlite:${path.join(dataDir, "clawkeep.db")}`;
  const blobUrl = p.blobUrl ?? `file://${path.join(dataDir, "blobs")}`;
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    throw new ClawkeepError("config_invalid", "CLAWKEEP_DATABASE_URL: must start with sqlite: or postgres://");
  }
  if (p.telegramBotToken !== undefined && (p.telegramBotUsername === undefined || p.telegramWebhookSecret === undefined)) {
    throw new ClawkeepError("config_invalid", "TELEGRAM_BOT_TOKEN: also set TELEGRAM_BOT_USERNAME and TELEGRAM_WEBHOOK_SECRET");
  }
  if (p.signerMode === "enclave") {
    for (const [v, name] of [[p.enclaveBaseUrl, "ENCLAVE_BASE_URL"], [p.internalApiKey, "INTERNAL_API_KEY"], [p.signerdAttestationKey, "SIGNERD_ATTESTATION_KEY"], [p.signerdMeasurements, "SIGNERD_MEASUREMENTS"]] as const) {
      if (v === undefined) throw new ClawkeepError("config_invalid", `${name}: required with SIGNER_MODE=enclave`);
    }
    if (p.workerSealingKey !== undefined) throw new ClawkeepError("config_invalid", "WORKER_SEALING_KEY: not used with SIGNER_MODE=enclave (the key would be in this process); unset it");
  }
  if (!/^(file|s3):\/\//.test(blobUrl)) {
    throw new ClawkeepError("config_invalid", "CLAWKEEP_BLOB_URL: must start with file:// or s3://");
  }
  return {
    ...p,
    dataDir,
    databaseUrl,
    blobUrl,
    masterKey: p.masterKey === undefined ? undefined : new Redacted(p.masterKey),
    previousMasterKeys: p.previousMasterKeys === undefined ? undefined : new Redacted(p.previousMasterKeys),
    metricsToken: p.metricsToken === undefined ? undefined : new Redacted(p.metricsToken),
    workerSealingKey: p.workerSealingKey === undefined ? undefined : new Redacted(p.workerSealingKey),
    workerPreviousSealingKeys: p.workerPreviousSealingKeys === undefined ? undefined : new Redacted(p.workerPreviousSealingKeys),
    internalApiKey: p.internalApiKey === undefined ? undefined : new Redacted(p.internalApiKey),
    ticketSigningSecret: p.ticketSigningSecret === undefined ? undefined : new Redacted(p.ticketSigningSecret),
    telegramBotToken: p.telegramBotToken === undefined ? undefined : new Redacted(p.telegramBotToken),
    telegramWebhookSecret: p.telegramWebhookSecret === undefined ? undefined : new Redacted(p.telegramWebhookSecret),
  };
}
