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
  close(): void;
}

export function createKeyring(opts: { masters: MasterKek[]; cacheSeconds: number; cacheMax: number }): Keyring {
  const [primary] = opts.masters;
  if (!primary) throw new Error("keyring needs at least one master key");
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

  return {
    async currentEpoch(trx, userId) {
      const row = await trx
        .selectFrom("user_epochs")
        .select((eb) => eb.fn.max("epoch").as("epoch"))
        .where("user_id", "=", userId)
        .where("state", "=", "active")
        .executeTakeFirst();
      if (row?.epoch != null) return { epoch: Number(row.epoch), created: false };
      const dek = random(32);
      const wrapped = seal(primary.kek, dek, { kind: "dek", user: userId, epoch: 1 });
      const res = await trx
        .insertInto("user_epochs")
        .values({
          user_id: userId,
          epoch: 1,
          wrapped_dek: wrapped.toString("base64"),
          key_id: primary.keyId,
          state: "active",
          seal_count: 0,
          created_at: new Date().toISOString(),
        })
        .onConflict((oc) => oc.columns(["user_id", "epoch"]).doNothing())
        .executeTakeFirst();
      const created = Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
      if (created) remember(`${userId}:1`, dek);
      wipe(dek);
      return { epoch: 1, created };
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
      const kek = byId.get(row.key_id);
      if (!kek) throw new ClawkeepError("integrity_error", "the data key was wrapped by a master key that is not loaded");
      let dek: Buffer;
      try {
        dek = open(kek, Buffer.from(row.wrapped_dek, "base64"), { kind: "dek", user: userId, epoch });
      } catch (e) {
        if (e instanceof EnvelopeError) throw new ClawkeepError("integrity_error", "the wrapped data key failed to open");
        throw e;
      }
      remember(k, dek);
      return dek;
    },

    close() {
      clearInterval(timer);
      for (const k of [...cache.keys()]) evict(k);
    },
  };
}
