import type { Kysely, Transaction } from "kysely";
import type { AuditLog } from "../audit/log.js";
import { ClawkeepError } from "../errors.js";
import type { Keyring } from "../keys/keyring.js";
import type { BlobStore } from "../store/blobs/port.js";
import type { DB } from "../store/meta/schema.js";
import type { EpochService } from "./epochs.js";

// Cryptographic erasure (seed 001 §3, "delete key = data gone") of an agent or a whole user.
//
// Deleting rows and blobs is not enough on its own: a copy of a blob (a backup, a snapshot of
// the object store) would still open under the epoch DEK that sealed it. So the keys go too.
// - An agent shares its user's epochs with the user's other agents, so its erasure rotates the
//   user's epoch, re-encrypts what the user keeps, and destroys every older epoch: afterwards no
//   key that ever sealed one of the agent's values exists.
// - A user's erasure destroys every epoch of the user outright.
//
// Both are ordered to be retried safely: the record that makes the call findable again (the
// agent row, the user row) is deleted last, so a failure half-way leaves something to retry on.
// The agent is disabled and the user's tokens deleted first, so neither can act meanwhile.

type Trx = Transaction<DB>;

export interface ErasureDeps {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  blobs: BlobStore;
  keyring: Keyring;
  audit: AuditLog;
  epochs: EpochService;
  /** Removes deleted rows from the engine's files (SQLite WAL checkpoint, PostgreSQL VACUUM). */
  compact: () => Promise<void>;
  /** Told once the rows are gone, so in-memory caches elsewhere (the proxy's) drop them. */
  onErased?: (userId: string) => void;
}

export interface AgentErasure {
  agentId: string;
  versions: number;
  blobsDeleted: number;
  grants: number;
  epochsDestroyed: number[];
  reencrypted: number;
}

export interface UserErasure {
  userId: string;
  versions: number;
  blobsDeleted: number;
  agents: number;
  tokens: number;
  epochsDestroyed: number;
}

const HANDSHAKE_SCOPE = "handshake";

export function createErasure(deps: ErasureDeps) {
  const { db, audit, epochs } = deps;

  async function deleteBlobs(prefix: string): Promise<number> {
    const keys: string[] = [];
    for await (const b of deps.blobs.list(prefix)) keys.push(b.key);
    for (const k of keys) await deps.blobs.delete(k);
    return keys.length;
  }

  // Handshake nonces are keyed `agentId:nonce`; they hold no secret, but they name the agent.
  const dropNonces = (trx: Trx, agentId: string) =>
    trx.deleteFrom("single_use").where("scope", "=", HANDSHAKE_SCOPE).where("id", "like", `${agentId}:%`).execute();

  async function deleteAgent(c: { userId: string; actor: string }, name: string): Promise<AgentErasure> {
    // Another user's agent answers exactly like a missing one (the lookup is by the caller's id).
    const agent = await db.selectFrom("agents").selectAll().where("user_id", "=", c.userId).where("name", "=", name).executeTakeFirst();
    if (!agent) throw new ClawkeepError("not_found", "no such agent");
    const versions = await db.transaction().execute(async (trx) => {
      await trx.updateTable("agents").set({ status: "disabled", updated_at: new Date().toISOString() }).where("id", "=", agent.id).execute();
      const r = await trx.deleteFrom("secret_versions").where("user_id", "=", c.userId).where("agent", "=", agent.name).executeTakeFirst();
      await trx.deleteFrom("secret_heads").where("user_id", "=", c.userId).where("agent", "=", agent.name).execute();
      return Number(r.numDeletedRows);
    });
    await deps.durable();
    deps.onErased?.(c.userId);
    // By prefix rather than by pointer: it also catches blobs of writes that crashed half-way.
    let blobsDeleted = await deleteBlobs(`${c.userId}/${agent.name}/`);
    let destroyed: number[] = [];
    let reencrypted = 0;
    const cur = await epochs.current(c.userId);
    if (cur !== null) {
      await epochs.rotate(c.userId, "agent_deleted", c.actor);
      const to = (await epochs.current(c.userId))!;
      const moved = await epochs.reencrypt([c.userId]);
      if (moved.failed > 0) throw new ClawkeepError("integrity_error", `${moved.failed} versions failed their integrity check; nothing was destroyed, retry after repair`);
      reencrypted = moved.moved;
      const d = await epochs.destroyBefore(c.userId, to, { forceReencrypt: false, actor: c.actor });
      destroyed = d.destroyed;
      blobsDeleted += d.blobsDeleted;
    }
    const grants = await db.transaction().execute(async (trx) => {
      const g = await trx.deleteFrom("support_grants").where("agent_id", "=", agent.id).executeTakeFirst();
      await dropNonces(trx, agent.id);
      // Signer identities bound to the agent go with it: keys erased, rows left as tombstones.
      const bound = trx.selectFrom("identities").select("id").where("agent_id", "=", agent.id);
      await trx.deleteFrom("key_backups").where("identity_id", "in", bound).execute();
      const ids = await trx
        .updateTable("identities")
        .set({ status: "destroyed", destroyed_at: new Date().toISOString() })
        .where("agent_id", "=", agent.id)
        .where("status", "=", "active")
        .executeTakeFirst();
      await trx.deleteFrom("signer_holds").where("subject", "=", `agent:${agent.id}`).execute();
      await trx.deleteFrom("agents").where("id", "=", agent.id).execute();
      const n = Number(g.numDeletedRows);
      await audit.append(trx, {
        userId: c.userId,
        actor: c.actor,
        action: "AgentDeleted",
        target: `agent/${agent.name}`,
        outcome: "success",
        metadata: { agent_id: agent.id, versions, blobs: blobsDeleted, grants: n, epochs_destroyed: destroyed.join(","), reencrypted, identities_destroyed: Number(ids.numUpdatedRows) },
      });
      return n;
    });
    await deps.durable();
    await deps.compact();
    return { agentId: agent.id, versions, blobsDeleted, grants, epochsDestroyed: destroyed, reencrypted };
  }

  /** Every row of the user except the user row itself; epochs are erased, not just marked. */
  async function purgeRows(trx: Trx, userId: string) {
    const tokens = await trx.deleteFrom("tokens").where("user_id", "=", userId).executeTakeFirst();
    const agents = await trx.selectFrom("agents").select("id").where("user_id", "=", userId).execute();
    for (const a of agents) await dropNonces(trx, a.id);
    await trx.deleteFrom("support_grants").where("user_id", "=", userId).execute();
    await trx.deleteFrom("agents").where("user_id", "=", userId).execute();
    const versions = await trx.deleteFrom("secret_versions").where("user_id", "=", userId).executeTakeFirst();
    await trx.deleteFrom("secret_heads").where("user_id", "=", userId).execute();
    await trx.deleteFrom("credential_passwords").where("user_id", "=", userId).execute();
    const owned = () => trx.selectFrom("identities").select("id").where("user_id", "=", userId);
    await trx.deleteFrom("key_backups").where("identity_id", "in", owned()).execute();
    await trx.deleteFrom("identity_policies").where("identity_id", "in", owned()).execute();
    await trx.deleteFrom("signer_spends").where("identity_id", "in", owned()).execute();
    await trx.deleteFrom("identities").where("user_id", "=", userId).execute();
    await trx.deleteFrom("signer_holds").where("user_id", "=", userId).execute();
    await trx.deleteFrom("telegram_links").where("user_id", "=", userId).execute();
    // Wipe the wrapped DEKs first so no row version that still holds one is left behind by a
    // delete alone (PostgreSQL keeps dead tuples until VACUUM; compact() handles those).
    const live = await trx.selectFrom("user_epochs").select("epoch").where("user_id", "=", userId).where("state", "!=", "destroyed").execute();
    await trx.updateTable("user_epochs").set({ wrapped_dek: "", state: "destroyed", destroyed_at: new Date().toISOString() }).where("user_id", "=", userId).execute();
    return { tokens: Number(tokens.numDeletedRows), agents: agents.length, versions: Number(versions.numDeletedRows), epochs: live.map((e) => e.epoch) };
  }

  async function deleteUser(admin: { userId: string; actor: string }, name: string): Promise<UserErasure> {
    const user = await db.selectFrom("users").selectAll().where("name", "=", name).executeTakeFirst();
    if (!user) throw new ClawkeepError("not_found", "no such user");
    if (user.id === admin.userId) throw new ClawkeepError("forbidden", "an administrator cannot delete itself");
    const allEpochs = await db.selectFrom("user_epochs").select("epoch").where("user_id", "=", user.id).execute();
    const first = await db.transaction().execute((trx) => purgeRows(trx, user.id));
    await deps.durable();
    deps.onErased?.(user.id);
    for (const { epoch } of allEpochs) deps.keyring.forget(user.id, epoch);
    let blobsDeleted = await deleteBlobs(`${user.id}/`);
    // Second pass, with the user row: a request that authenticated before the tokens went may
    // have written since. Once the user row is gone the foreign keys refuse any such write.
    const second = await db.transaction().execute(async (trx) => {
      const again = await purgeRows(trx, user.id);
      await trx.deleteFrom("user_epochs").where("user_id", "=", user.id).execute();
      await trx.deleteFrom("users").where("id", "=", user.id).execute();
      return again;
    });
    await deps.durable();
    blobsDeleted += await deleteBlobs(`${user.id}/`);
    const result: UserErasure = {
      userId: user.id,
      versions: first.versions + second.versions,
      blobsDeleted,
      agents: first.agents + second.agents,
      tokens: first.tokens + second.tokens,
      epochsDestroyed: new Set([...first.epochs, ...second.epochs]).size,
    };
    // The audit events stay (they never hold values) and keep the user's id.
    await audit.record({
      userId: user.id,
      actor: admin.actor,
      action: "UserDeleted",
      target: `user/${user.name}`,
      outcome: "success",
      metadata: { versions: result.versions, blobs: result.blobsDeleted, agents: result.agents, tokens: result.tokens, epochs_destroyed: result.epochsDestroyed },
    });
    await deps.compact();
    return result;
  }

  return { deleteAgent, deleteUser };
}

export type Erasure = ReturnType<typeof createErasure>;
