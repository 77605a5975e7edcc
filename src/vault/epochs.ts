import type { Kysely } from "kysely";
import type { AuditLog } from "../audit/log.js";
import { ClawkeepError } from "../errors.js";
import { isUniqueViolation } from "../store/meta/errors.js";
import type { Keyring } from "../keys/keyring.js";
import type { BlobStore } from "../store/blobs/port.js";
import type { DB } from "../store/meta/schema.js";
import { IntegrityFailure, blobKey, openPointer, sealToBlob, type Pointer } from "./sealed.js";

// Epoch lifecycle (seed 004, Stage 8): rotation starts a new per-user DEK; re-encryption moves
// every pointer off older epochs (lazily on read, or in bulk); destruction deletes an old epoch's
// wrapped DEK and every blob sealed under it, after which nothing remaining — database, blobs,
// master key — can open that epoch's data again.
//
// Every step is safe to interrupt and to run on several nodes at once: re-encryption swaps a
// pointer only if it still names the blob it read (compare-and-swap) and deletes the old blob
// only after the new pointer is durable; destruction locks the epoch row before it checks that
// no pointer needs the epoch, so a concurrent write either lands first (and destruction refuses)
// or finds the epoch gone (and retries in the current one).

export interface EpochDeps {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  blobs: BlobStore;
  keyring: Keyring;
  audit: AuditLog;
  /** Removes deleted key material from the engine's files (SQLite WAL checkpoint, PostgreSQL VACUUM). */
  compact: () => Promise<void>;
}

export interface EpochInfo {
  epoch: number;
  state: string;
  keyId: string;
  seals: number;
  createdAt: string;
  retiredAt: string | null;
  destroyedAt: string | null;
  pointers: number;
}

export interface ReencryptProgress {
  total: number;
  moved: number;
  skipped: number;
  failed: number;
}

const STALE_CACHE_MS = 2000;
const BATCH = 200;
const CONCURRENCY = 8;

export function createEpochService(deps: EpochDeps) {
  const { db, keyring, audit } = deps;
  // Only for deciding whether a read should re-encrypt: a stale answer just delays that.
  const currentCache = new Map<string, { epoch: number; at: number }>();

  async function current(userId: string): Promise<number | null> {
    const row = await db
      .selectFrom("user_epochs")
      .select((eb) => eb.fn.max("epoch").as("epoch"))
      .where("user_id", "=", userId)
      .where("state", "=", "active")
      .executeTakeFirst();
    return row?.epoch == null ? null : Number(row.epoch);
  }

  async function rotate(userId: string, reason: string, actor = "system"): Promise<{ from: number; to: number } | null> {
    const r = await db
      .transaction()
      .execute(async (trx) => {
        const cur = await keyring.currentEpoch(trx, userId);
        const retired = await trx
          .updateTable("user_epochs")
          .set({ state: "retired", retired_at: new Date().toISOString() })
          .where("user_id", "=", userId)
          .where("epoch", "=", cur.epoch)
          .where("state", "=", "active")
          .executeTakeFirst();
        // Someone else rotated this user at the same moment: their rotation stands for ours.
        if (Number(retired.numUpdatedRows) !== 1) return null;
        if (!(await keyring.createEpoch(trx, userId, cur.epoch + 1))) throw new ClawkeepError("conflict", "epoch already exists");
        await audit.append(trx, { userId, actor, action: "EpochRotated", target: `epoch/${cur.epoch + 1}`, outcome: "success", metadata: { from: cur.epoch, to: cur.epoch + 1, reason } });
        return { from: cur.epoch, to: cur.epoch + 1 };
      })
      .catch((e: unknown) => {
        if (e instanceof ClawkeepError && e.code === "conflict") return null;
        if (isUniqueViolation(e)) return null;
        throw e;
      });
    if (r) {
      await deps.durable();
      currentCache.delete(userId);
    }
    return r;
  }

  /** Moves one pointer to the user's current epoch. Returns what happened; never loses the value. */
  async function reencryptPointer(p: Pointer, to: number, actor = "system"): Promise<"moved" | "skipped" | "failed"> {
    if (p.epoch >= to) return "skipped";
    let value: Buffer;
    try {
      value = await openPointer(deps, p);
    } catch (e) {
      if (!(e instanceof IntegrityFailure)) throw e;
      // Moved by someone else (a read, another job) since we listed it: nothing left to do.
      const now = await db
        .selectFrom("secret_versions")
        .select("blob_id")
        .where("user_id", "=", p.user_id)
        .where("agent", "=", p.agent)
        .where("name", "=", p.name)
        .where("version", "=", p.version)
        .executeTakeFirst();
      if (!now || now.blob_id !== p.blob_id) return "skipped";
      return "failed"; // really damaged: left alone for a human; reads report it
    }
    const fresh = await sealToBlob(deps, { user: p.user_id, agent: p.agent, name: p.name, version: p.version, epoch: to }, value);
    value.fill(0);
    let swapped = false;
    try {
      swapped = await db.transaction().execute(async (trx) => {
        const counted = await trx
          .updateTable("user_epochs")
          .set((eb) => ({ seal_count: eb("seal_count", "+", 1) }))
          .where("user_id", "=", p.user_id)
          .where("epoch", "=", to)
          .where("state", "=", "active")
          .executeTakeFirst();
        if (Number(counted.numUpdatedRows) !== 1) return false;
        const moved = await trx
          .updateTable("secret_versions")
          .set({ epoch: to, blob_id: fresh.blobId, sha256: fresh.sha256 })
          .where("user_id", "=", p.user_id)
          .where("agent", "=", p.agent)
          .where("name", "=", p.name)
          .where("version", "=", p.version)
          .where("blob_id", "=", p.blob_id)
          .executeTakeFirst();
        if (Number(moved.numUpdatedRows) !== 1) throw new Lost();
        await audit.append(trx, {
          userId: p.user_id,
          actor,
          action: "BlobWritten",
          target: `${p.agent}/${p.name}`,
          outcome: "success",
          metadata: { version: p.version, epoch: to, blob_id: fresh.blobId, sha256: fresh.sha256, reason: "reencrypt", from_epoch: p.epoch },
        });
        return true;
      });
    } catch (e) {
      // Lost means the transaction rolled back; any other error may have come after a commit,
      // so the new blob is kept (the sweeper removes it if no pointer names it).
      if (!(e instanceof Lost)) throw e;
    }
    if (!swapped) {
      // Another re-encryptor or a rotation got there first; our copy is surplus.
      await deps.blobs.delete(fresh.key).catch(() => undefined);
      return "skipped";
    }
    await deps.durable();
    await deps.blobs.delete(blobKey(p.user_id, p.agent, p.epoch, p.blob_id));
    return "moved";
  }

  /** The lazy path: called after a read; moves the pointer if its epoch is behind. */
  async function onRead(p: Pointer): Promise<void> {
    const hit = currentCache.get(p.user_id);
    let cur = hit && Date.now() - hit.at < STALE_CACHE_MS ? hit.epoch : null;
    if (cur === null) {
      cur = await current(p.user_id);
      if (cur === null) return;
      currentCache.set(p.user_id, { epoch: cur, at: Date.now() });
    }
    if (p.epoch < cur) await reencryptPointer(p, cur);
  }

  /** Bulk re-encryption of every pointer behind its user's current epoch. Resumable: it is driven by what is left. */
  async function reencrypt(userIds: string[], onProgress?: (p: ReencryptProgress) => void): Promise<ReencryptProgress> {
    const prog: ReencryptProgress = { total: 0, moved: 0, skipped: 0, failed: 0 };
    const targets: { userId: string; to: number }[] = [];
    for (const userId of userIds) {
      const to = await current(userId);
      if (to === null) continue;
      targets.push({ userId, to });
      const n = await db
        .selectFrom("secret_versions")
        .select((eb) => eb.fn.countAll().as("n"))
        .where("user_id", "=", userId)
        .where("epoch", "<", to)
        .executeTakeFirst();
      prog.total += Number(n?.n ?? 0);
    }
    onProgress?.(prog);
    for (const { userId, to } of targets) {
      let after: { agent: string; name: string; version: number } | null = null;
      for (;;) {
        let q = db
          .selectFrom("secret_versions")
          .select(["user_id", "agent", "name", "version", "epoch", "blob_id", "sha256"])
          .where("user_id", "=", userId)
          .where("epoch", "<", to)
          .where("blob_id", "is not", null)
          .orderBy("agent")
          .orderBy("name")
          .orderBy("version")
          .limit(BATCH);
        if (after) {
          const a = after;
          q = q.where((eb) =>
            eb.or([
              eb("agent", ">", a.agent),
              eb.and([eb("agent", "=", a.agent), eb("name", ">", a.name)]),
              eb.and([eb("agent", "=", a.agent), eb("name", "=", a.name), eb("version", ">", a.version)]),
            ]),
          );
        }
        const rows = await q.execute();
        if (rows.length === 0) break;
        for (let i = 0; i < rows.length; i += CONCURRENCY) {
          const chunk = rows.slice(i, i + CONCURRENCY);
          const results = await Promise.all(
            chunk.map((r) => reencryptPointer({ ...r, epoch: Number(r.epoch), blob_id: r.blob_id!, sha256: r.sha256! }, to)),
          );
          for (const res of results) prog[res]++;
          onProgress?.(prog);
        }
        const last = rows[rows.length - 1]!;
        after = { agent: last.agent, name: last.name, version: last.version };
      }
    }
    return prog;
  }

  // Blob keys of the given epochs only (keys are `<user>/<agent>/<epoch>/<id>.enc`).
  async function listBlobsByEpoch(userId: string, epochs: Set<number>): Promise<Map<number, string[]>> {
    const by = new Map<number, string[]>();
    for await (const b of deps.blobs.list(userId)) {
      const m = /^[^/]+\/[^/]+\/(\d+)\/[0-9a-f]{32}\.enc$/.exec(b.key);
      if (!m) continue;
      const e = Number(m[1]);
      if (!epochs.has(e)) continue;
      let keys = by.get(e);
      if (!keys) by.set(e, (keys = []));
      keys.push(b.key);
    }
    return by;
  }

  /**
   * Destroys every epoch of the user older than `before`: the wrapped DEK is erased and every blob
   * of the epoch deleted. Refuses while a pointer still needs such an epoch, unless
   * `forceReencrypt` moves them first.
   */
  async function destroyBefore(
    userId: string,
    before: number,
    opts: { forceReencrypt: boolean; actor?: string; onProgress?: (p: ReencryptProgress) => void },
  ): Promise<{ destroyed: number[]; blobsDeleted: number; reencrypted: number }> {
    const cur = await current(userId);
    if (cur === null) return { destroyed: [], blobsDeleted: 0, reencrypted: 0 };
    if (before > cur) throw new ClawkeepError("bad_request", `epoch ${cur} is the current epoch and cannot be destroyed; rotate first`);
    let reencrypted = 0;
    if (opts.forceReencrypt) {
      const r = await reencrypt([userId], opts.onProgress);
      reencrypted = r.moved;
      if (r.failed > 0) throw new ClawkeepError("integrity_error", `${r.failed} versions failed their integrity check and could not be re-encrypted; nothing was destroyed`);
    }
    const epochs = await db
      .selectFrom("user_epochs")
      .select(["epoch", "state"])
      .where("user_id", "=", userId)
      .where("epoch", "<", before)
      .orderBy("epoch")
      .execute();
    const blobsByEpoch = await listBlobsByEpoch(userId, new Set(epochs.map((e) => e.epoch)));
    const destroyed: number[] = [];
    let blobsDeleted = 0;
    try {
    for (const { epoch, state } of epochs) {
      const keys = blobsByEpoch.get(epoch) ?? [];
      if (state !== "destroyed") {
        await db.transaction().execute(async (trx) => {
          // Lock first, then look: a write that committed a pointer into this epoch is seen.
          await trx
            .updateTable("user_epochs")
            .set({ state: "destroyed", wrapped_dek: "", destroyed_at: new Date().toISOString() })
            .where("user_id", "=", userId)
            .where("epoch", "=", epoch)
            .execute();
          const live = await trx
            .selectFrom("secret_versions")
            .select((eb) => eb.fn.countAll().as("n"))
            .where("user_id", "=", userId)
            .where("epoch", "=", epoch)
            .executeTakeFirst();
          if (Number(live?.n ?? 0) > 0) {
            throw new ClawkeepError("conflict", `epoch ${epoch} still holds ${live?.n} versions; run \`clawkeep epoch reencrypt\` or pass --force-reencrypt`);
          }
          await audit.append(trx, {
            userId,
            actor: opts.actor ?? "system",
            action: "EpochDestroyed",
            target: `epoch/${epoch}`,
            outcome: "success",
            metadata: { epoch, blobs: keys.length, reencrypted },
          });
        });
        await deps.durable();
        keyring.forget(userId, epoch);
        destroyed.push(epoch);
      }
      // Also for an epoch destroyed earlier whose blob deletion was interrupted.
      for (const k of keys) await deps.blobs.delete(k);
      blobsDeleted += keys.length;
    }
    } finally {
      // Even when a later epoch refuses: the keys already erased must not linger in the files.
      if (destroyed.length > 0) await deps.compact();
    }
    return { destroyed, blobsDeleted, reencrypted };
  }

  async function list(userId: string): Promise<EpochInfo[]> {
    const rows = await db.selectFrom("user_epochs").selectAll().where("user_id", "=", userId).orderBy("epoch").execute();
    const counts = await db
      .selectFrom("secret_versions")
      .select(["epoch", (eb) => eb.fn.countAll().as("n")])
      .where("user_id", "=", userId)
      .where("epoch", "is not", null)
      .groupBy("epoch")
      .execute();
    const by = new Map(counts.map((c) => [Number(c.epoch), Number(c.n)]));
    return rows.map((r) => ({
      epoch: r.epoch,
      state: r.state,
      keyId: r.key_id,
      seals: r.seal_count,
      createdAt: r.created_at,
      retiredAt: r.retired_at,
      destroyedAt: r.destroyed_at,
      pointers: by.get(r.epoch) ?? 0,
    }));
  }

  /** Scheduled rotation: users whose current epoch has reached `maxAgeSeconds` of age (an age of 0 makes every epoch due, even one made this millisecond) or has sealed too much. */
  async function rotateDue(opts: { maxAgeSeconds: number; maxSeals: number }): Promise<number> {
    const cutoff = new Date(Date.now() - opts.maxAgeSeconds * 1000).toISOString();
    const due = await db
      .selectFrom("user_epochs")
      .select("user_id")
      .where("state", "=", "active")
      .where((eb) => eb.or([eb("created_at", "<=", cutoff), eb("seal_count", ">=", opts.maxSeals)]))
      .execute();
    let n = 0;
    for (const { user_id } of due) if (await rotate(user_id, "schedule")) n++;
    return n;
  }

  return { current, rotate, reencryptPointer, onRead, reencrypt, destroyBefore, list, rotateDue };
}

class Lost extends Error {}

export type EpochService = ReturnType<typeof createEpochService>;
