import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import pg from "pg";

// Which storage backends the storage tests run against. With CI=true PostgreSQL is mandatory: a
// missing server fails the tests loudly. On a laptop without it, the PostgreSQL cases are left
// out with a printed reason.

export const PG_ADMIN_URL = process.env.CLAWKEEP_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface Backend {
  name: string;
  dialect: "sqlite" | "postgres";
  blobs: "file" | "s3";
}

const ALL: Backend[] = [
  { name: "sqlite+file", dialect: "sqlite", blobs: "file" },
  { name: "postgres+s3", dialect: "postgres", blobs: "s3" },
];

const havePg = process.env.CI === "true" || (await pgReachable());
if (!havePg) console.warn(`[clawkeep tests] PostgreSQL not reachable at ${PG_ADMIN_URL}: PostgreSQL cases skipped (they are mandatory with CI=true)`);

export const BACKENDS: Backend[] = ALL.filter((b) => b.dialect === "sqlite" || havePg);
export const PG_AVAILABLE = havePg;

/** A fresh, empty PostgreSQL database for one test environment. */
export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `ck_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: PG_ADMIN_URL });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

/** Raw SQL on the meta store, bypassing Clawkeep: what an attacker with database access can do. */
export interface RawDb {
  all<T = Record<string, unknown>>(text: string, ...params: unknown[]): Promise<T[]>;
  run(text: string, ...params: unknown[]): Promise<void>;
  close(): Promise<void>;
}

export async function openRawDb(databaseUrl: string): Promise<RawDb> {
  if (databaseUrl.startsWith("sqlite:")) {
    const db = new Database(databaseUrl.replace(/^sqlite:(\/\/)?/, ""));
    return {
      all: async <T>(text: string, ...params: unknown[]) => db.prepare(text).all(...params) as T[],
      run: async (text: string, ...params: unknown[]) => void db.prepare(text).run(...params),
      close: async () => void db.close(),
    };
  }
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  const conv = (text: string) => {
    let i = 0;
    return text.replace(/\?/g, () => `$${++i}`);
  };
  return {
    all: async <T>(text: string, ...params: unknown[]) => (await c.query(conv(text), params)).rows as T[],
    run: async (text: string, ...params: unknown[]) => void (await c.query(conv(text), params)),
    close: () => c.end(),
  };
}
