import type { Kysely } from "kysely";
import { createHmac, randomBytes } from "node:crypto";
import { ClawkeepError } from "../errors.js";
import { rowMacs } from "../keys/row-mac.js";
import type { AuditLog } from "../audit/log.js";
import type { DB, SupportGrantsTable } from "../store/meta/schema.js";
import type { AgentRegistry, Caller } from "./registry.js";
import { SSH_PUBLIC_KEY_RE, type Grant } from "./ssh-keys.js";

// Temporary support access (seed 001 §2): a user grants an operator's SSH public key access to
// one agent for a limited time (default 24 h, at most 7 days), and can revoke it at once. The
// agent installs active grants into authorized_keys (`clawkeep agent reconcile-ssh`). Grant,
// revocation and every fetch by the agent are audited.

export const DEFAULT_GRANT_SECONDS = 24 * 3600;
export const MAX_GRANT_SECONDS = 7 * 24 * 3600;
const OPERATOR_RE = /^[A-Za-z0-9 _.@:-]{1,64}$/;

export interface GrantInfo {
  id: string;
  operator: string;
  publicKey: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  /** False for an unrevoked grant whose row MAC does not verify: a forged row, never installed by agents. */
  verified: boolean;
}

const info = (r: SupportGrantsTable, verified = true): GrantInfo => ({ id: r.id, operator: r.operator, publicKey: r.public_key, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at, verified });

type GrantFields = Pick<SupportGrantsTable, "id" | "agent_id" | "user_id" | "operator" | "public_key" | "created_at" | "expires_at">;

/**
 * MAC of a grant's immutable fields (formats §16) under the row purpose key: a grant inserted,
 * re-pointed, re-keyed or extended by a database writer does not verify. Revocation overwrites
 * the MAC, so clearing `revoked_at` later cannot bring a grant back.
 */
export const grantRowMac = (key: Buffer, g: GrantFields): string =>
  createHmac("sha256", key)
    .update(`clawkeep/support-grant/v1\n${g.id}\n${g.agent_id}\n${g.user_id}\n${g.operator}\n${g.public_key}\n${g.created_at}\n${g.expires_at}`, "utf8")
    .digest("hex");

/** "ssh-ed25519 AAAA… comment" → "ssh-ed25519 AAAA…": the comment is dropped (ours is the marker). */
export function normalizePublicKey(input: string): string {
  const parts = input.trim().split(/[ \t]+/);
  const key = `${parts[0] ?? ""} ${parts[1] ?? ""}`;
  if (/[\r\n]/.test(input.trim()) || !SSH_PUBLIC_KEY_RE.test(key)) throw new ClawkeepError("bad_request", "public_key must be one OpenSSH public key line (type and base64)");
  return key;
}

export function createSupportAccess(deps: {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  audit: AuditLog;
  registry: AgentRegistry;
  /** Row-MAC keys, primary first. */
  rowKeys: Buffer[];
  onRevocation?: (userId: string, reason: string) => Promise<unknown>;
}) {
  const { db, audit, registry } = deps;
  const grantMacs = rowMacs<SupportGrantsTable>(deps.rowKeys, grantRowMac, "support access");
  const macValid = grantMacs.valid;

  async function grant(c: Caller, agentName: string, body: { publicKey: string; operator?: string; ttlSeconds?: number }): Promise<GrantInfo> {
    const agent = await registry.mine(c, agentName);
    const ttl = body.ttlSeconds ?? DEFAULT_GRANT_SECONDS;
    if (!Number.isSafeInteger(ttl) || ttl < 60 || ttl > MAX_GRANT_SECONDS) throw new ClawkeepError("bad_request", `ttl_seconds must be 60..${MAX_GRANT_SECONDS} (7 days)`);
    const operator = body.operator ?? "support";
    if (!OPERATOR_RE.test(operator)) throw new ClawkeepError("bad_request", "operator must be 1-64 characters of [A-Za-z0-9 _.@:-]");
    const now = new Date();
    const fields: GrantFields = {
      id: `grt_${randomBytes(10).toString("hex")}`,
      agent_id: agent.id,
      user_id: c.userId,
      operator,
      public_key: normalizePublicKey(body.publicKey),
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + ttl * 1000).toISOString(),
    };
    const row: SupportGrantsTable = { ...fields, revoked_at: null, mac: grantMacs.sign({ ...fields, revoked_at: null }) };
    await db.transaction().execute(async (trx) => {
      await trx.insertInto("support_grants").values(row).execute();
      await audit.append(trx, {
        userId: c.userId,
        actor: c.actor,
        action: "SupportAccessGranted",
        target: `agent/${agent.name}`,
        outcome: "success",
        metadata: { grant_id: row.id, operator, expires_at: row.expires_at, key_type: row.public_key.split(" ")[0]! },
      });
    });
    await deps.durable();
    return info(row);
  }

  async function list(c: Caller, agentName: string): Promise<GrantInfo[]> {
    const agent = await registry.mine(c, agentName);
    const rows = await db.selectFrom("support_grants").selectAll().where("agent_id", "=", agent.id).orderBy("created_at").execute();
    // A revoked grant's MAC is overwritten on purpose; an active one must verify.
    return rows.map((r) => info(r, r.revoked_at !== null || macValid(r)));
  }

  async function revoke(c: Caller, agentName: string, id: string): Promise<GrantInfo> {
    const agent = await registry.mine(c, agentName);
    const now = new Date().toISOString();
    const row = await db.transaction().execute(async (trx) => {
      const r = await trx.updateTable("support_grants").set({ revoked_at: now, mac: `revoked:${randomBytes(16).toString("hex")}` }).where("id", "=", id).where("agent_id", "=", agent.id).where("revoked_at", "is", null).executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new ClawkeepError("not_found", "no such active grant");
      await audit.append(trx, { userId: c.userId, actor: c.actor, action: "SupportAccessRevoked", target: `agent/${agent.name}`, outcome: "success", metadata: { grant_id: id } });
      return trx.selectFrom("support_grants").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
    });
    await deps.durable();
    await deps.onRevocation?.(c.userId, "support_revoked");
    return info(row);
  }

  /** For the agent itself: its grants that are neither revoked nor expired. */
  async function activeFor(agent: { agentId: string; userId: string }): Promise<Grant[]> {
    const now = new Date().toISOString();
    const rows = await db
      .selectFrom("support_grants")
      .selectAll()
      .where("agent_id", "=", agent.agentId)
      .where("revoked_at", "is", null)
      .where("expires_at", ">", now)
      .orderBy("created_at")
      .execute();
    // A row whose MAC does not verify was written by someone without the master key: never
    // handed to the agent (so never installed in authorized_keys), and recorded.
    const valid: SupportGrantsTable[] = [];
    const forged: SupportGrantsTable[] = [];
    for (const r of rows) (macValid(r) ? valid : forged).push(r);
    for (const r of forged) {
      await audit.record({
        userId: agent.userId,
        actor: `agent:${agent.agentId}`,
        action: "IntegrityError",
        target: `agent/${agent.agentId}`,
        outcome: "failure",
        metadata: { reason: "support_grant_mac_invalid", grant_id: r.id },
      });
    }
    await audit.record({
      userId: agent.userId,
      actor: `agent:${agent.agentId}`,
      action: "SupportAccessFetched",
      target: `agent/${agent.agentId}`,
      outcome: "success",
      metadata: { grants: valid.map((r) => r.id).join(",") },
    });
    return valid.map((r) => ({ id: r.id, publicKey: r.public_key, expiresAt: r.expires_at }));
  }

  /**
   * The agent's own grants among `ids`, in any state, for its support-session records. An
   * unrevoked grant whose MAC does not verify is left out: it was never installed, so nothing
   * can have been recorded under it.
   */
  async function grantsOf(agent: { agentId: string; userId: string }, ids: string[]): Promise<GrantInfo[]> {
    if (ids.length === 0) return [];
    const rows = await db.selectFrom("support_grants").selectAll().where("agent_id", "=", agent.agentId).where("user_id", "=", agent.userId).where("id", "in", ids).execute();
    return rows.filter((r) => r.revoked_at !== null || macValid(r)).map((r) => info(r));
  }

  /** Master-key rotation: re-MACs active grants under the primary key (compare-and-swap per row). */
  async function remacGrants(): Promise<number> {
    const rows = await db.selectFrom("support_grants").selectAll().where("revoked_at", "is", null).execute();
    const n = await grantMacs.remac(rows, async (r, next) => (await db.updateTable("support_grants").set({ mac: next }).where("id", "=", r.id).where("mac", "=", r.mac).executeTakeFirst()).numUpdatedRows);
    await deps.durable();
    return n;
  }

  return { grant, list, revoke, activeFor, grantsOf, remacGrants };
}

export type SupportAccess = ReturnType<typeof createSupportAccess>;
