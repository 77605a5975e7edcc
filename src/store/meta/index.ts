import { existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type MigrationResultSet } from "kysely";
import Database from "better-sqlite3";
import pg from "pg";
import { ClawkeepError } from "../../errors.js";
import { describeStorageError } from "./errors.js";
import type { DB } from "./schema.js";
import { migrationProvider, type MigrationContext } from "./migrations.js";
import { createWalSync } from "./wal-sync.js";

export type { DB } from "./schema.js";

// The meta-store port: a Kysely handle over one of the supported dialects. Domain modules write
// dialect-neutral Kysely queries against it; only this file knows which engine is underneath.
export interface MetaStore {
  db: Kysely<DB>;
  dialect: "sqlite" | "postgres";
  /** Resolves once every transaction committed before the call is on stable storage. */
  durable(): Promise<void>;
  /**
   * Purges deleted key material from the engine's files, after an epoch is destroyed: old row
   * images must not linger in a WAL or free pages where the master key could still unwrap them.
   */
  compact(): Promise<void>;
  close(): Promise<void>;
}

export function sqlitePath(url: string): string {
  const rest = url.replace(/^sqlite:(\/\/)?/, "");
  if (!rest) throw new ClawkeepError("config_invalid", "CLAWKEEP_DATABASE_URL: sqlite: needs a file path");
  return path.resolve(rest);
}

// Kysely's SQLite driver prepares every statement anew; our queries are a small fixed set, so
// compiled statements are kept (bounded) and reused. Safe because better-sqlite3 runs each
// statement to completion synchronously before the next one starts.
function withStatementCache(sqlite: Database.Database, max = 500) {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = sqlite.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}

export function openSqlite(file: string, opts: { readonly?: boolean } = {}): MetaStore {
  if (!opts.readonly && file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  if (!opts.readonly) {
    // WAL for concurrent readers. synchronous=NORMAL here plus durable() (an off-thread WAL sync
    // awaited before every acknowledgement) gives synchronous=FULL's guarantee without blocking
    // the event loop on fsync.
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
  }
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  // Deleted and overwritten content is zeroed in the database pages rather than left in free
  // space: destroyed wrapped DEKs must not be recoverable from the file.
  sqlite.pragma("secure_delete = ON");
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const inMemory = file === ":memory:";
  const walSync = createWalSync(`${file}-wal`);
  const compact = async () => {
    if (opts.readonly || inMemory) return;
    // Copy every WAL frame into the (secure-deleting) database and truncate the WAL to zero, so
    // the superseded page images go with it. Readers can hold a checkpoint back: retry briefly.
    for (let i = 0; i < 50; i++) {
      const [r] = sqlite.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
      if (!r || r.busy === 0) return;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new ClawkeepError("unavailable", "could not checkpoint the SQLite WAL: readers kept it busy");
  };
  return {
    db,
    dialect: "sqlite",
    durable: opts.readonly || inMemory ? async () => undefined : () => walSync(),
    compact,
    close: async () => {
      await walSync.close();
      await db.destroy();
    },
  };
}

// PostgreSQL for many stateless nodes. COUNT(*) and BIGINT come back as strings from pg; the
// queries convert with Number() where they read them.
export function openPostgres(url: string, poolSize = 10): MetaStore {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on("error", () => undefined);
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  // PostgreSQL's COMMIT returns after its WAL is flushed (synchronous_commit=on).
  // VACUUM FULL rewrites the tables into new files, so dead row versions holding destroyed keys
  // are not left in the old pages (PostgreSQL's own WAL and base backups are the operator's to
  // expire; see docs/operations.md).
  const compact = async () => {
    await sql`vacuum full user_epochs`.execute(db);
    await sql`vacuum full secret_versions`.execute(db);
    // Agent secrets are sealed under a master-derived key: a deleted agent's must not linger either.
    await sql`vacuum full agents`.execute(db);
  };
  return { db, dialect: "postgres", durable: async () => undefined, compact, close: () => db.destroy() };
}

export function openMetaStore(url: string, opts: { poolSize?: number } = {}): MetaStore {
  if (url.startsWith("sqlite:")) return openSqlite(sqlitePath(url));
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, opts.poolSize);
  throw new ClawkeepError("config_invalid", "CLAWKEEP_DATABASE_URL: must start with sqlite: or postgres://");
}

/** For offline tools: an existing store, never created, migrated or written. */
export function openMetaStoreReadOnly(url: string): MetaStore {
  if (url.startsWith("sqlite:")) {
    const file = sqlitePath(url);
    try {
      statSync(file);
    } catch (e) {
      const dir = path.dirname(file);
      if ((e as NodeJS.ErrnoException).code === "EACCES") throw new ClawkeepError("config_invalid", `cannot read ${file} (permission denied): run as the data dir's owner`);
      throw new ClawkeepError("config_invalid", `no Clawkeep database at ${file}${existsSync(dir) ? "" : ` (${dir} does not exist)`}: check --data-dir (CLAWKEEP_DATA_DIR) or CLAWKEEP_DATABASE_URL`);
    }
    return openSqlite(file, { readonly: true });
  }
  return openMetaStore(url, { poolSize: 2 });
}

export type { MigrationContext } from "./migrations.js";
export const migrator = (store: MetaStore, ctx: MigrationContext = {}) => new Migrator({ db: store.db, provider: migrationProvider(ctx) });

function check({ error, results }: MigrationResultSet): string[] {
  if (error) throw describeStorageError(error) ?? new ClawkeepError("unavailable", `meta-store migration failed: ${(error as Error).message ?? error}`, { cause: error });
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

export async function migrateToLatest(store: MetaStore, ctx: MigrationContext = {}): Promise<string[]> {
  return check(await migrator(store, ctx).migrateToLatest());
}

/** Migrates up (or down) to exactly `name`; used to build databases of an older schema in tests. */
export async function migrateTo(store: MetaStore, name: string, ctx: MigrationContext = {}): Promise<string[]> {
  return check(await migrator(store, ctx).migrateTo(name));
}

/** Applied and pending migrations, for `clawkeep migrate --dry-run`. */
export async function migrationStatus(store: MetaStore): Promise<{ name: string; applied: boolean }[]> {
  const all = await migrator(store).getMigrations();
  return all.map((m) => ({ name: m.name, applied: m.executedAt !== undefined }));
}
