import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { loadConfig } from "../../src/config.js";
import { ClawkeepError } from "../../src/errors.js";

const tmp = mkdtempSync(path.join(tmpdir(), "ck-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function configError(env: NodeJS.ProcessEnv, flags = {}): ClawkeepError {
  try {
    loadConfig(env, flags);
  } catch (e) {
    expect(e).toBeInstanceOf(ClawkeepError);
    return e as ClawkeepError;
  }
  throw new Error("loadConfig accepted a bad value");
}

describe("loadConfig", () => {
  it("gives the documented defaults for an empty environment", () => {
    const c = loadConfig({}, {});
    const dataDir = path.resolve("./.clawkeep");
    expect(c).toEqual({
      dataDir,
      masterKey: undefined,
      previousMasterKeys: undefined,
      databaseUrl: `sqlite:${path.join(dataDir, "clawkeep.db")}`,
      blobUrl: `file://${path.join(dataDir, "blobs")}`,
      port: 8787,
      bind: "127.0.0.1",
      metricsToken: undefined,
      metricsPublic: false,
      proxyAllowLinkLocal: false,
      proxyConnectTimeoutMs: 5000,
      proxyCredentialCacheSeconds: 60,
      proxyAuthCacheMs: 1000,
      authCacheMs: 1000,
      blobCacheMb: 32,
      proxyCredentialHeader: "Authorization",
      proxyCredentialScheme: "Bearer",
      proxyCredentialSecret: "GATEWAY_AUTH_TOKEN",
      proxyHealthPath: "/health",
      proxyHealthTimeoutMs: 2000,
      proxyIdleTimeoutSeconds: 300,
      proxyMaxConnectionsPerUser: 256,
      proxyResponseTimeoutMs: 30_000,
      proxyWsHighWaterBytes: 1024 * 1024,
      proxyWsMaxPayloadBytes: 100 * 1024 * 1024,
      maxSecretBytes: 64 * 1024,
      dekCacheSeconds: 300,
      dekCacheMax: 10_000,
      databasePool: 10,
      epochRotateSeconds: 7 * 86_400,
      epochMaxSeals: 2 ** 30,
      retentionDays: 0,
      maintenanceSeconds: 3600,
      handshakeWindowSeconds: 60,
      agentTokenTtlSeconds: 900,
      passwordKdfConcurrency: 2,
      migrate: true,
      signerMode: "worker",
      workerSealingKey: undefined,
      ticketSigningSecret: undefined,
      ticketTtlSeconds: 300,
      rateLimitWindowMs: 60_000,
      rateLimitPerUser: 600,
      rateLimitPerIdentitySign: 120,
      telegramBotToken: undefined,
      telegramBotUsername: undefined,
      telegramWebhookSecret: undefined,
      challengeTtlSeconds: 300,
      sessionTtlSeconds: 86_400,
      dashboard: true,
      supportPublicKey: undefined,
      supportOperator: "support",
      logLevel: "info",
    });
  });

  it("takes one OpenSSH line as the support key, and refuses anything else without echoing it", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO7Mqm9pC8Vt0XbVWa0Zq1oNq3kq4oV7dZ6kB2kZ8Y1a ops@example";
    expect(loadConfig({ CLAWKEEP_SUPPORT_PUBLIC_KEY: key }).supportPublicKey).toBe(key);
    expect(() => loadConfig({ CLAWKEEP_SUPPORT_PUBLIC_KEY: `${key}\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAB` })).toThrow(/^CLAWKEEP_SUPPORT_PUBLIC_KEY: must be one OpenSSH public key line$/);
    expect(() => loadConfig({ CLAWKEEP_SUPPORT_OPERATOR: "x;y" })).toThrow(/^CLAWKEEP_SUPPORT_OPERATOR/);
    expect(loadConfig({ CLAWKEEP_DASHBOARD: "false" }).dashboard).toBe(false);
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ CLAWKEEP_PORT: "", CLAWKEEP_LOG_LEVEL: "" }).port).toBe(8787);
  });

  it("derives the store URLs from the data dir", () => {
    const c = loadConfig({ CLAWKEEP_DATA_DIR: tmp });
    expect(c.databaseUrl).toBe(`sqlite:${path.join(tmp, "clawkeep.db")}`);
    expect(c.blobUrl).toBe(`file://${path.join(tmp, "blobs")}`);
  });

  it("parses every kind of value", () => {
    const c = loadConfig({
      CLAWKEEP_PORT: "9000",
      CLAWKEEP_MAX_SECRET_BYTES: "1",
      CLAWKEEP_DEK_CACHE_SECONDS: "0",
      CLAWKEEP_MIGRATE: "false",
      CLAWKEEP_LOG_LEVEL: "debug",
      CLAWKEEP_DATABASE_URL: "sqlite:/x/y.db",
      CLAWKEEP_BLOB_URL: "file:///x/blobs",
    });
    expect(c).toMatchObject({ port: 9000, maxSecretBytes: 1, dekCacheSeconds: 0, migrate: false, logLevel: "debug", databaseUrl: "sqlite:/x/y.db", blobUrl: "file:///x/blobs" });
    expect(loadConfig({ CLAWKEEP_MIGRATE: "0" }).migrate).toBe(false);
    expect(loadConfig({ CLAWKEEP_MIGRATE: "1" }).migrate).toBe(true);
  });

  it.each([
    ["CLAWKEEP_PORT", "abc"],
    ["CLAWKEEP_PORT", "70000"],
    ["CLAWKEEP_PORT", "-1"],
    ["CLAWKEEP_PORT", "80.5"],
    ["CLAWKEEP_MAX_SECRET_BYTES", "0"],
    ["CLAWKEEP_DEK_CACHE_MAX", "-5"],
    ["CLAWKEEP_DATABASE_URL", "mysql://x"],
    ["CLAWKEEP_BLOB_URL", "ftp://x"],
    ["CLAWKEEP_LOG_LEVEL", "loud"],
    ["CLAWKEEP_MIGRATE", "maybe"],
  ])("%s=%s is config_invalid, naming the variable", (name, value) => {
    const e = configError({ [name]: value });
    expect(e.code).toBe("config_invalid");
    expect(e.status).toBe(500);
    expect(e.message.startsWith(`${name}:`)).toBe(true);
    // Values are never echoed (the same code path handles secrets); "0" and "-1" are too short
    // to tell an echo from a bound in the message, so only longer values are checked.
    if (value.length >= 3) expect(e.message).not.toContain(value);
  });

  it("names the flag when a flag gave the bad value", () => {
    const e = configError({}, { port: "99999" });
    expect(e.code).toBe("config_invalid");
    expect(e.message).toMatch(/^--port \(CLAWKEEP_PORT\):/);
    expect(e.message).not.toContain("99999");
  });

  it("lets flags override the environment", () => {
    const c = loadConfig({ CLAWKEEP_PORT: "1111", CLAWKEEP_BIND: "0.0.0.0", CLAWKEEP_DATA_DIR: "/nope" }, { port: "2222", bind: "::1", dataDir: tmp });
    expect(c).toMatchObject({ port: 2222, bind: "::1", dataDir: tmp });
    // An undefined flag falls through to the environment.
    expect(loadConfig({ CLAWKEEP_PORT: "1111" }, { port: undefined }).port).toBe(1111);
  });

  describe("the master key (a secret)", () => {
    const key = Buffer.alloc(32, 7).toString("base64");

    it("is read from CLAWKEEP_MASTER_KEY and kept Redacted", () => {
      const c = loadConfig({ CLAWKEEP_MASTER_KEY: key });
      expect(c.masterKey?.unwrap()).toBe(key);
      expect(JSON.stringify(c)).not.toContain(key);
      expect(inspect(c)).not.toContain(key);
      expect(String(c.masterKey)).toBe("[redacted]");
    });

    it("is read from CLAWKEEP_MASTER_KEY_FILE, trimmed", () => {
      const file = path.join(tmp, "mk");
      writeFileSync(file, `  ${key}\n\n`, { mode: 0o600 });
      expect(loadConfig({ CLAWKEEP_MASTER_KEY_FILE: file }).masterKey?.unwrap()).toBe(key);
    });

    it("prefers CLAWKEEP_MASTER_KEY over CLAWKEEP_MASTER_KEY_FILE", () => {
      expect(loadConfig({ CLAWKEEP_MASTER_KEY: key, CLAWKEEP_MASTER_KEY_FILE: "/does/not/exist" }).masterKey?.unwrap()).toBe(key);
    });

    it("refuses an unreadable CLAWKEEP_MASTER_KEY_FILE without echoing its path", () => {
      const missing = path.join(tmp, "no-such-secret-file");
      const e = configError({ CLAWKEEP_MASTER_KEY_FILE: missing });
      expect(e.code).toBe("config_invalid");
      expect(e.message).toMatch(/^CLAWKEEP_MASTER_KEY_FILE:/);
      expect(e.message).not.toContain(missing);
    });

    it("has no default", () => {
      expect(loadConfig({}).masterKey).toBeUndefined();
    });

    it("does not take _FILE for settings that are not secrets", () => {
      const file = path.join(tmp, "port");
      writeFileSync(file, "1234");
      expect(loadConfig({ CLAWKEEP_PORT_FILE: file }).port).toBe(8787);
    });
  });
});

describe("integers are plain decimals", () => {
  it("refuses hex and exponent forms instead of reading them as numbers", () => {
    for (const v of ["0x50", "1e3", "80.0", " 80"]) expect(() => loadConfig({ CLAWKEEP_PORT: v })).toThrow(/CLAWKEEP_PORT/);
    expect(loadConfig({ CLAWKEEP_PORT: "80" }).port).toBe(80);
  });
});
