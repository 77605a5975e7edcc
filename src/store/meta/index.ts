import { mkdirSync } from "node:fs";
import path from "node:path";
import { Kysely, Migrator, SqliteDialect } from "kysely";
import Database from "better-sqlite3";
import { ClawkeepError } from "../../errors.js";
import type { DB } from "./schema.js";
import { migrationProvider } from "./migrations.js";

export type { DB } from "./schema.js";

// The meta-store port: a Kysely handle over one of the supported dialects. Domain modules write
// dialect-neutral Kysely queries against it; only this file knows which engine is underneath.
export interface MetaStore {
  db: Kysely<DB>;
  dialect: "sqlite" | "postgres";
  close(): Promise<void>;
}

export function sqlitePath(url: string): string {
  const rest = url.replace(/^sqlite:(\/\/)?/, "");
  if (!rest) throw new ClawkeepError("config_invalid", "CLAWKEEP_DATABASE_URL: sqlite: needs a file path");
  return path.resolve(rest);
}

export function openSqlite(file: string, opts: { readonly?: boolean } = {}): MetaStore {
  if (!opts.readonly) mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  if (!opts.readonly) {
    // WAL for concurrent readers; synchronous=FULL so an acknowledged write survives power loss,
    // not just a process crash.
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = FULL");
  }
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: "sqlite", close: () => db.destroy() };
}

export function openMetaStore(url: string): MetaStore {
  if (url.startsWith("sqlite:")) return openSqlite(sqlitePath(url));
  throw new ClawkeepError("config_invalid", "CLAWKEEP_DATABASE_URL: PostgreSQL is not supported by this build yet");
}

export async function migrateToLatest(store: MetaStore): Promise<string[]> {
  const migrator = new Migrator({ db: store.db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw new ClawkeepError("unavailable", "meta-store migration failed", { cause: error });
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
