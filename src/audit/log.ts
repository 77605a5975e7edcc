import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../store/meta/schema.js";
import { GENESIS, eventHash, eventMac, headMac, verifyChain, type StoredEvent, type VerifyResult } from "./chain.js";
import { createMerkle } from "./checkpoint.js";
import { constantTimeEqual } from "../crypto/bytes.js";
import { ClawkeepError } from "../errors.js";

// Append-only audit log on the meta store. Appends run inside the caller's transaction, so an
// event commits together with the state change it records. The chain head lives in the
// `audit_head` row (never in process memory): appenders read and update it in the same
// transaction, which serialises them and keeps one linear chain across processes and nodes.

type Db = Kysely<DB> | Transaction<DB>;

// Arbitrary constant naming the audit chain's advisory lock ("ckau").
const AUDIT_LOCK_ID = 0x636b6175;

export interface AuditEvent {
  userId: string | null;
  actor: string;
  action: string;
  target: string;
  outcome: "success" | "failure";
  metadata?: Record<string, string | number | boolean | null>;
}

export interface AuditRecord {
  seq: number;
  time: string;
  user_id: string | null;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  metadata: Record<string, unknown>;
  hash: string;
}

export interface AuditLog {
  append(trx: Transaction<DB>, ev: AuditEvent): Promise<number>;
  /** Appends in a transaction of its own. */
  record(ev: AuditEvent): Promise<number>;
  list(q: { userId?: string; after?: number; limit: number; actions?: readonly string[]; target?: string }): Promise<AuditRecord[]>;
  verify(): Promise<VerifyResult>;
  /**
   * Master-key rotation: re-MACs every event (and the head) made under an older key with the
   * primary key. Each old MAC is checked first, so a forged event is never laundered. Resumable.
   */
  rekey(onProgress?: (events: number) => void): Promise<number>;
  /** RFC 6962 tree hash over the first `size` event hashes (all events if omitted), and event `size`'s hash. */
  treeHead(size?: number): Promise<{ size: number; root: string; head: string }>;
}

export interface AuditKey {
  id: string;
  key: Buffer;
}

/**
 * `keys[0]` MACs new events; every key in `keys` verifies (several during a master-key rotation,
 * which re-MACs old events under the new key). Events without a key id predate key ids and are
 * checked with the primary key.
 */
export function createAuditLog(deps: { db: Kysely<DB>; dialect: "sqlite" | "postgres"; keys: AuditKey[]; durable: () => Promise<void> }): AuditLog {
  const { db } = deps;
  if (!deps.keys[0]) throw new Error("audit log needs a key");
  const primary: AuditKey = deps.keys[0];
  const key = primary.key;
  const byId = new Map(deps.keys.map((k) => [k.id, k.key]));
  const keyFor = (id: string) => (id === "" ? deps.keys.map((k) => k.key) : byId.get(id));

  // Appends events in order after the current head, reading and moving the head once.
  async function appendMany(trx: Transaction<DB>, evs: AuditEvent[]): Promise<number[]> {
    // On PostgreSQL, nodes append concurrently: a transaction-scoped advisory lock makes them take
    // turns even before the head row exists (a row lock cannot guard a row not yet written).
    // SQLite serialises writers itself.
    if (deps.dialect === "postgres") await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`.execute(trx);
    const head = await trx.selectFrom("audit_head").select(["seq", "hash"]).where("id", "=", 1).executeTakeFirst();
    let seq = head?.seq ?? 0;
    let prev = head?.hash ?? GENESIS;
    const rows = evs.map((ev) => {
      seq += 1;
      const fields = {
        seq,
        time: new Date().toISOString(),
        user_id: ev.userId,
        actor: ev.actor,
        action: ev.action,
        target: ev.target,
        outcome: ev.outcome,
        metadata: JSON.stringify(ev.metadata ?? {}),
        prev_hash: prev,
      };
      prev = eventHash(fields);
      return { ...fields, hash: prev, mac: eventMac(key, prev), key_id: primary.id };
    });
    // Bounded chunks keep each statement under the engines' bound-parameter limits.
    for (let i = 0; i < rows.length; i += 50) await trx.insertInto("audit_events").values(rows.slice(i, i + 50)).execute();
    const hm = headMac(key, seq, prev);
    if (head) await trx.updateTable("audit_head").set({ seq, hash: prev, mac: hm, key_id: primary.id }).where("id", "=", 1).execute();
    else await trx.insertInto("audit_head").values({ id: 1, seq, hash: prev, mac: hm, key_id: primary.id }).execute();
    return rows.map((r) => r.seq);
  }

  const append = async (trx: Transaction<DB>, ev: AuditEvent): Promise<number> => (await appendMany(trx, [ev]))[0]!;

  // Group commit for standalone events (reads, failed logins, integrity errors): events that
  // arrive while a batch is committing go together in the next transaction, so a burst of
  // audited reads costs one durable commit instead of one each. Every caller still waits until
  // its own event is committed.
  const queue: { ev: AuditEvent; resolve: (seq: number) => void; reject: (e: unknown) => void }[] = [];
  let flushing = false;
  async function flush(): Promise<void> {
    flushing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, 500);
        try {
          const seqs = await db.transaction().execute((trx) => appendMany(trx, batch.map((b) => b.ev)));
          await deps.durable();
          batch.forEach((b, i) => b.resolve(seqs[i]!));
        } catch (e) {
          batch.forEach((b) => b.reject(e));
        }
      }
    } finally {
      flushing = false;
    }
  }
  function record(ev: AuditEvent): Promise<number> {
    return new Promise((resolve, reject) => {
      queue.push({ ev, resolve, reject });
      if (!flushing) void flush();
    });
  }

  const snapshot = () => (deps.dialect === "postgres" ? db.transaction().setIsolationLevel("repeatable read") : db.transaction());

  async function* allEvents(source: Db): AsyncGenerator<StoredEvent> {
    let after = 0;
    for (;;) {
      const rows = await source.selectFrom("audit_events").selectAll().where("seq", ">", after).orderBy("seq").limit(1000).execute();
      if (rows.length === 0) return;
      for (const r of rows) yield { ...r, seq: Number(r.seq) };
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  return {
    append,
    record,
    async list({ userId, after = 0, limit, actions, target }) {
      let q = db.selectFrom("audit_events").selectAll().where("seq", ">", after).orderBy("seq").limit(limit);
      if (userId !== undefined) q = q.where("user_id", "=", userId);
      if (actions !== undefined) q = q.where("action", "in", [...actions]);
      if (target !== undefined) q = q.where("target", "=", target);
      const rows = await q.execute();
      return rows.map((r) => ({
        seq: Number(r.seq),
        time: r.time,
        user_id: r.user_id,
        actor: r.actor,
        action: r.action,
        target: r.target,
        outcome: r.outcome,
        metadata: JSON.parse(r.metadata) as Record<string, unknown>,
        hash: r.hash,
      }));
    },
    async rekey(onProgress) {
      let n = 0;
      const candidates = (id: string) => (id === "" ? deps.keys.map((k) => k.key) : [byId.get(id)].filter((k): k is Buffer => k !== undefined));
      const macOk = (id: string, mac: string, expected: (k: Buffer) => string) => candidates(id).some((k) => constantTimeEqual(expected(k), mac));
      // Keyset pagination by seq: each batch starts where the last ended, so the job stays linear
      // in the log's length instead of re-scanning rows it has already re-keyed.
      for (let after = 0; ; ) {
        const rows = await db
          .selectFrom("audit_events")
          .select(["seq", "hash", "mac", "key_id"])
          .where("seq", ">", after)
          .where("key_id", "!=", primary.id)
          .orderBy("seq")
          .limit(1000)
          .execute();
        if (rows.length === 0) break;
        after = Number(rows[rows.length - 1]!.seq);
        for (const r of rows) {
          if (!macOk(r.key_id, r.mac, (k) => eventMac(k, r.hash))) {
            throw new ClawkeepError("integrity_error", `audit event ${r.seq} does not verify under any loaded key; run \`clawkeep audit verify\` before rotating`);
          }
          await db.updateTable("audit_events").set({ mac: eventMac(key, r.hash), key_id: primary.id }).where("seq", "=", r.seq).where("key_id", "=", r.key_id).execute();
          n++;
        }
        await deps.durable();
        onProgress?.(n);
      }
      const head = await db.selectFrom("audit_head").select(["seq", "hash", "mac", "key_id"]).where("id", "=", 1).executeTakeFirst();
      if (head && head.key_id !== primary.id) {
        if (!macOk(head.key_id, head.mac, (k) => headMac(k, Number(head.seq), head.hash))) throw new ClawkeepError("integrity_error", "the audit head does not verify under any loaded key");
        // Compare-and-swap: an append since the read has already written a primary-key head.
        await db
          .updateTable("audit_head")
          .set({ mac: headMac(key, Number(head.seq), head.hash), key_id: primary.id })
          .where("id", "=", 1)
          .where("seq", "=", head.seq)
          .where("key_id", "=", head.key_id)
          .execute();
        await deps.durable();
      }
      return n;
    },
    async treeHead(size) {
      return snapshot().execute(async (trx) => {
        const m = createMerkle();
        let head = GENESIS;
        for await (const e of allEvents(trx)) {
          if (size !== undefined && m.size >= size) break;
          m.add(e.hash);
          head = e.hash;
        }
        return { size: m.size, root: m.root(), head };
      });
    },
    async verify() {
      // One snapshot (repeatable read on PostgreSQL, whose default would give each query its
      // own), so a concurrent append cannot make a consistent chain look torn.
      return snapshot().execute(async (trx) => {
        const head = await trx.selectFrom("audit_head").select(["seq", "hash", "mac", "key_id"]).where("id", "=", 1).executeTakeFirst();
        const users = await trx.selectFrom("users").select((eb) => eb.fn.countAll().as("n")).executeTakeFirst();
        const h = head ? { ...head, seq: Number(head.seq) } : undefined;
        return verifyChain(keyFor, allEvents(trx), h, Number(users?.n ?? 0) > 0);
      });
    },
  };
}
