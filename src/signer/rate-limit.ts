import { sql, type Kysely } from "kysely";
import { ClawkeepError } from "../errors.js";
import type { DB } from "../store/meta/schema.js";

// Fixed-window counters in the meta store, so a limit holds across every node (the seed keeps
// them in a KV namespace; here the one shared store is the database). One upsert both counts
// and reads: concurrent hits on any number of nodes each see a distinct count. A node whose clock
// lags never moves a window back (that would reset the count).

export interface RateLimiter {
  /** Counts one hit on `key`; throws rate_limited (with retry_after_seconds) when it is over `limit`. */
  hit(key: string, limit: number): Promise<void>;
  /** Counts one hit on each key in one statement (every key is counted even when one is over). */
  hitAll(hits: { key: string; limit: number }[]): Promise<void>;
  prune(): Promise<number>;
}

export function createRateLimiter(db: Kysely<DB>, windowMs: number): RateLimiter {
  async function hitAll(hits: { key: string; limit: number }[]) {
    const now = Date.now();
    const start = Math.floor(now / windowMs) * windowMs;
    const ws = new Date(start).toISOString();
    const values = sql.join(hits.map((h) => sql`(${h.key}, ${ws}, 1)`));
    const r = await sql<{ key: string; hits: number | string }>`
      insert into rate_limits (key, window_start, hits) values ${values}
      on conflict (key) do update set
        hits = case when excluded.window_start > rate_limits.window_start then 1 else rate_limits.hits + 1 end,
        window_start = case when excluded.window_start > rate_limits.window_start then excluded.window_start else rate_limits.window_start end
      returning key, hits`.execute(db);
    const counted = new Map(r.rows.map((row) => [row.key, Number(row.hits)]));
    const over = hits.find((h) => (counted.get(h.key) ?? 0) > h.limit);
    if (over) {
      const retry = Math.max(1, Math.ceil((start + windowMs - now) / 1000));
      throw new ClawkeepError("rate_limited", `too many requests: at most ${over.limit} per ${windowMs / 1000} s; retry in ${retry} s`, { details: { retry_after_seconds: retry } });
    }
  }
  return {
    hit: (key, limit) => hitAll([{ key, limit }]),
    hitAll,
    async prune() {
      const r = await db.deleteFrom("rate_limits").where("window_start", "<", new Date(Date.now() - 2 * windowMs).toISOString()).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}
