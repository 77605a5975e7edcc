import { afterEach, describe, expect, it } from "vitest";
import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../src/config.js";
import { createRuntime } from "../../src/main.js";
import { migrateTo, migrateToLatest, migrationStatus, openMetaStore, type MetaStore } from "../../src/store/meta/index.js";
import { MIGRATIONS } from "../../src/store/meta/migrations.js";
import { createSingleUse } from "../../src/store/meta/single-use.js";
import { BACKENDS, createPgDatabase } from "../helpers/backends.js";
import { tempDir } from "../helpers/runtime.js";
import { runCli } from "../helpers/proc.js";

// The meta store on each dialect: migrations, upgrades from the previous schema, and records
// shared between nodes.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function freshUrl(dialect: "sqlite" | "postgres"): Promise<string> {
  if (dialect === "postgres") {
    const d = await createPgDatabase();
    cleanups.push(d.drop);
    return d.url;
  }
  const dir = tempDir();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return `sqlite:${path.join(dir, "meta.db")}`;
}

function open(url: string): MetaStore {
  const m = openMetaStore(url);
  cleanups.push(() => m.close());
  return m;
}

const names = Object.keys(MIGRATIONS);

describe.each(BACKENDS)("meta store ($name)", ({ dialect }) => {
  it("migrates from empty to latest, and again is a no-op", async () => {
    const m = open(await freshUrl(dialect));
    expect(await migrateToLatest(m)).toEqual(names);
    expect(await migrateToLatest(m)).toEqual([]);
    expect((await migrationStatus(m)).every((s) => s.applied)).toBe(true);
  });

  it("`clawkeep migrate --dry-run` lists pending migrations and changes nothing; `migrate` applies them", async () => {
    const url = await freshUrl(dialect);
    const dir = tempDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = { CLAWKEEP_DATABASE_URL: url, CLAWKEEP_DATA_DIR: dir };
    const dry = await runCli(["migrate", "--dry-run", "--json"], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout.toString()).pending).toEqual(names);
    const m = open(url);
    expect((await migrationStatus(m)).some((s) => s.applied)).toBe(false);
    const run = await runCli(["migrate", "--json"], { env });
    expect(JSON.parse(run.stdout.toString()).applied).toEqual(names);
    expect((await migrationStatus(m)).every((s) => s.applied)).toBe(true);
  });

  it("upgrades a database created by an earlier schema version (before the version counter), keeping its data", async () => {
    const url = await freshUrl(dialect);
    const previous = "0004_epochs";
    expect(names.indexOf(previous)).toBeLessThan(names.length - 2);
    const m = open(url);
    await migrateTo(m, previous);
    const dir = tempDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const masterKey = randomBytes(32).toString("base64");
    // A server with migrations disabled refuses a schema behind the code, naming the fix ...
    const cfgOff = loadConfig({ CLAWKEEP_DATABASE_URL: url, CLAWKEEP_DATA_DIR: dir, CLAWKEEP_MASTER_KEY: masterKey, CLAWKEEP_MIGRATE: "false" });
    await expect(createRuntime(cfgOff, { createMasterKey: false })).rejects.toThrow(/clawkeep migrate/);
    // ... so write data with the old schema's tables directly, as the previous release did.
    const now = new Date().toISOString();
    await (m.db as unknown as Kysely<Record<string, Record<string, unknown>>>).insertInto("users").values({ id: "usr_old", name: "old", is_admin: 0, created_at: now }).execute();
    // A secret whose history reached version 3 (a tombstone needs no blob) under the old schema.
    await (m.db as unknown as Kysely<Record<string, Record<string, unknown>>>)
      .insertInto("secret_versions")
      .values({ user_id: "usr_old", agent: "bot", name: "K", version: 3, epoch: null, blob_id: null, sha256: null, size: null, deleted: 1, created_at: now })
      .execute();
    // Then the new release starts, migrates, and serves that data.
    const cfg = loadConfig({ CLAWKEEP_DATABASE_URL: url, CLAWKEEP_DATA_DIR: dir, CLAWKEEP_MASTER_KEY: masterKey });
    const rt = await createRuntime(cfg, { createMasterKey: false });
    cleanups.push(() => rt.close());
    expect((await migrationStatus(rt.meta)).every((s) => s.applied)).toBe(true);
    // Numbering continues after the old history (the version counter was backfilled).
    await rt.agents.create({ userId: "usr_old", actor: "usr_old" }, "bot");
    expect((await rt.secrets.put({ userId: "usr_old", actor: "usr_old" }, "bot", "K", Buffer.from("after-upgrade"))).version).toBe(4);
    expect((await rt.secrets.get({ userId: "usr_old", actor: "usr_old" }, "bot", "K")).value.toString()).toBe("after-upgrade");
    expect(await rt.singleUse.claim("t", "x", 60)).toBe(true);
  });

  it("single-use claims hold across nodes and expire", async () => {
    const url = await freshUrl(dialect);
    const a = open(url);
    await migrateToLatest(a);
    const b = open(url);
    const na = createSingleUse(a.db);
    const nb = createSingleUse(b.db);
    // The same nonce claimed on two nodes at once: exactly one wins.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? na : nb).claim("handshake", "nonce-1", 60)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await nb.claim("handshake", "nonce-1", 60)).toBe(false);
    expect(await nb.claim("other-scope", "nonce-1", 60)).toBe(true);
    // An expired claim can be made again, and pruning removes expired claims.
    expect(await na.claim("ticket", "t1", -1)).toBe(true);
    expect(await nb.claim("ticket", "t1", 60)).toBe(true);
    expect(await na.claim("ticket", "t1", 60)).toBe(false); // and once taken over, it is live again
    expect(await na.claim("ticket", "t2", -1)).toBe(true);
    expect(await nb.prune()).toBe(1);
  });
});
