import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";

// Throw-away PostgreSQL databases for the benchmarks, dropped on every way out (dropAllSync in a
// process "exit" handler covers a hard exit).

export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? process.env.CLAWKEEP_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const made = new Set<string>();

async function adminQuery(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function createPgDatabase(): Promise<string> {
  const name = `ck_bench_${randomBytes(6).toString("hex")}`;
  made.add(name);
  await adminQuery(`create database ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropPgDatabase(name: string): Promise<void> {
  await adminQuery(`drop database if exists ${name} with (force)`);
  made.delete(name);
}

export const dbNameOf = (url: string) => new URL(url).pathname.slice(1);

/** Every database made here and not yet dropped. */
export const pgDatabases = (): string[] => [...made];

export function dropAllSync(): void {
  for (const name of made) spawnSync("psql", [PG_ADMIN_URL, "-qc", `drop database if exists ${name} with (force)`], { stdio: "ignore", timeout: 10_000 });
  made.clear();
}
