import type { Kysely, Transaction } from "kysely";
import { random, wipe } from "../crypto/bytes.js";
import { derivePurposeKey } from "../crypto/hkdf.js";
import { open, seal, EnvelopeError } from "../crypto/envelope.js";
import { ClawkeepError } from "../errors.js";
import { masterKeyId } from "./master.js";
import type { DB } from "../store/meta/schema.js";

// The per-user epoch keyring. A DEK is 32 random bytes, stored only wrapped under the KEK
// (HKDF(master, "clawkeep/kek/v1")) with the epoch and user bound in the AAD. Plain DEKs are
// cached in memory for a bounded time and count, and wiped when evicted.
//
// The KEK carries a key id so that wrapped DEKs record which master key wrapped them; several
// master keys can be loaded at once (the first wraps new DEKs) so master-key rotation can run
// online without a flag day.

type Db = Kysely<DB> | Transaction<DB>;

export interface MasterKek {
  keyId: string;
  kek: Buffer;
}

export function kekFromMaster(master: Uint8Array): MasterKek {
  return { keyId: masterKeyId(master), kek: derivePurposeKey(master, "kek") };
}

export interface Keyring {
  /** The user's current epoch, creating epoch 1 inside `trx` if the user has none yet. */
  currentEpoch(trx: Db, userId: string): Promise<{ epoch: number; created: boolean }>;
  /** The plain DEK of one epoch; throws `integrity_error` if it is missing, destroyed or fails to unwrap. */
  dek(db: Db, userId: string, epoch: number): Promise<Buffer>;
  /** Adds `epoch` for the user with a fresh DEK, wrapped by the primary master key; false if it exists. */
  createEpoch(trx: Db, userId: string, epoch: number): Promise<boolean>;
  /** Drops a DEK from the in-memory cache (its epoch was destroyed). */
  forget(userId: string, epoch: number): void;
  /** Re-wraps a wrapped DEK under the primary master key (master-key rotation). */
  rewrap(row: { user_id: string; epoch: number; wrapped_dek: string; key_id: string }): { wrapped_dek: string; key_id: string };
  primaryKeyId: string;
  close(): void;
}

export function createKeyring(opts: { masters: MasterKek[]; cacheSeconds: number; cacheMax: number }): Keyring {
  if (!opts.masters[0]) throw new Error("keyring needs at least one master key");
  const primary: MasterKek = opts.masters[0];
  const byId = new Map(opts.masters.map((m) => [m.keyId, m.kek]));
  const cache = new Map<string, { dek: Buffer; expires: number }>();
  const ttl = opts.cacheSeconds * 1000;

  const evict = (k: string) => {
    const hit = cache.get(k);
    if (hit) wipe(hit.dek);
    cache.delete(k);
  };
  const sweep = () => {
    const now = Date.now();
    for (const [k, v] of cache) if (v.expires <= now) evict(k);
  };
  const timer = setInterval(sweep, Math.max(1000, Math.min(ttl, 60_000)));
  timer.unref();

  function remember(k: string, dek: Buffer): void {
    if (ttl <= 0 || opts.cacheMax <= 0) return;
    evict(k);
    cache.set(k, { dek: Buffer.from(dek), expires: Date.now() + ttl });
    while (cache.size > opts.cacheMax) {
      const oldest = cache.keys().next().value;
      if (oldest === undefined) break;
      evict(oldest);
    }
  }

  function unwrap(row: { wrapped_dek: string; key_id: string }, userId: string, epoch: number): Buffer {
    const kek = byId.get(row.key_id);
    if (!kek) throw new ClawkeepError("integrity_error", "the data key was wrapped by a master key that is not loaded");
    try {
      return open(kek, Buffer.from(row.wrapped_dek, "base64"), { kind: "dek", user: userId, epoch });
    } catch (e) {
      if (e instanceof EnvelopeError) throw new ClawkeepError("integrity_error", "the wrapped data key failed to open");
      throw e;
    }
  }

  async function createEpoch(trx: Db, userId: string, epoch: number): Promise<boolean> {
    const dek = random(32);
    const wrapped = seal(primary.kek, dek, { kind: "dek", user: userId, epoch });
    const res = await trx
      .insertInto("user_epochs")
      .values({
        user_id: userId,
        epoch,
        wrapped_dek: wrapped.toString("base64"),
        key_id: primary.keyId,
        state: "active",
        seal_count: 0,
        created_at: new Date().toISOString(),
        retired_at: null,
        destroyed_at: null,
      })
      .onConflict((oc) => oc.columns(["user_id", "epoch"]).doNothing())
      .executeTakeFirst();
    // Not cached here: this runs inside the caller's transaction, which may still roll back; a
    // DEK cached before commit could seal acknowledged writes under a key no row holds.
    // dek() caches it after reading the committed row.
    wipe(dek);
    return Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  return {
    primaryKeyId: primary.keyId,
    createEpoch,
    async currentEpoch(trx, userId) {
      const row = await trx
        .selectFrom("user_epochs")
        .select((eb) => eb.fn.max("epoch").as("epoch"))
        .where("user_id", "=", userId)
        .where("state", "=", "active")
        .executeTakeFirst();
      if (row?.epoch != null) return { epoch: Number(row.epoch), created: false };
      return { epoch: 1, created: await createEpoch(trx, userId, 1) };
    },
    forget(userId, epoch) {
      evict(`${userId}:${epoch}`);
    },
    rewrap(row) {
      const dek = unwrap(row, row.user_id, row.epoch);
      try {
        return { wrapped_dek: seal(primary.kek, dek, { kind: "dek", user: row.user_id, epoch: row.epoch }).toString("base64"), key_id: primary.keyId };
      } finally {
        wipe(dek);
      }
    },

    async dek(db, userId, epoch) {
      const k = `${userId}:${epoch}`;
      const hit = cache.get(k);
      if (hit && hit.expires > Date.now()) {
        // Least-recently-used order: a hit moves the entry to the back of the Map.
        hit.expires = Date.now() + ttl;
        cache.delete(k);
        cache.set(k, hit);
        return Buffer.from(hit.dek);
      }
      const row = await db
        .selectFrom("user_epochs")
        .select(["wrapped_dek", "key_id", "state"])
        .where("user_id", "=", userId)
        .where("epoch", "=", epoch)
        .executeTakeFirst();
      if (!row || row.state === "destroyed") throw new ClawkeepError("integrity_error", "the data key for this record is not available");
      const dek = unwrap(row, userId, epoch);
      remember(k, dek);
      return dek;
    },

    close() {
      clearInterval(timer);
      for (const k of [...cache.keys()]) evict(k);
      for (const m of opts.masters) wipe(m.kek);
    },
  };
}

/**
 * Refuses a master key that opens none of the store's live data keys. Without this a wrong
 * CLAWKEEP_MASTER_KEY (or the wrong data dir) starts a server on which every token is
 * "unauthorized" and every read an integrity error, which sends a newcomer the wrong way.
 * During a rotation either loaded key fitting is enough.
 */
export async function assertMastersOpenStore(db: Kysely<DB>, keyIds: string[], loadedFrom: string): Promise<void> {
  const rows = await db.selectFrom("user_epochs").select("key_id").where("state", "!=", "destroyed").groupBy("key_id").execute();
  if (rows.length > 0 && !rows.some((r) => keyIds.includes(r.key_id))) {
    throw new ClawkeepError(
      "config_invalid",
      `CLAWKEEP_MASTER_KEY: the key from ${loadedFrom} is not this store's master key (it opens none of its data keys): wrong key, or the wrong --data-dir / CLAWKEEP_DATABASE_URL. Nothing was changed`,
    );
  }
}
