import type { Kysely, Transaction } from "kysely";
import type { DB } from "./schema.js";

// Single-use claims kept in the meta store, so a nonce or ticket used on one node is refused on
// every other node too. A claim is one INSERT: the primary key arbitrates concurrent claims.

/**
 * True the first time (scope, id) is claimed before it expires; false on any replay. Takes a
 * transaction so a claim can commit or roll back together with what it guards.
 */
export async function claimWithin(db: Kysely<DB> | Transaction<DB>, scope: string, id: string, expiresAt: Date, now = new Date()): Promise<boolean> {
  // One statement: a new claim inserts; an expired one is taken over (its row updated); a live one
  // is left alone and the statement returns no row. Concurrent claims on any node: one wins.
  const r = await db
    .insertInto("single_use")
    .values({ scope, id, expires_at: expiresAt.toISOString() })
    .onConflict((oc) =>
      oc
        .columns(["scope", "id"])
        .doUpdateSet({ expires_at: expiresAt.toISOString() })
        .where("single_use.expires_at", "<=", now.toISOString()),
    )
    .returning("id")
    .execute();
  return r.length === 1;
}

export function createSingleUse(db: Kysely<DB>) {
  return {
    /** True the first time (scope, id) is claimed before it expires; false on any replay. */
    async claim(scope: string, id: string, ttlSeconds: number): Promise<boolean> {
      const now = new Date();
      return claimWithin(db, scope, id, new Date(now.getTime() + ttlSeconds * 1000), now);
    },
    /** Deletes expired claims; returns how many. */
    async prune(): Promise<number> {
      const r = await db.deleteFrom("single_use").where("expires_at", "<=", new Date().toISOString()).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

export type SingleUse = ReturnType<typeof createSingleUse>;
