import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
import { open, seal, EnvelopeError } from "../crypto/envelope.js";
import { ClawkeepError } from "../errors.js";
import { isUniqueViolation } from "../store/meta/errors.js";
import type { AuditLog } from "../audit/log.js";
import type { AgentsTable, DB } from "../store/meta/schema.js";

// The agent registry: a user's agents, each with an id and a secret shown once. The server keeps
// the secret sealed (envelope kind 'A' under the agent-secret purpose key, AAD = user, agent id,
// generation) because it must recompute handshake HMACs; rotating bumps the generation, which
// also invalidates every agent token issued under the old secret.

export const AGENT_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const AGENT_ID_RE = /^agt_[0-9a-f]{20}$/;
export const AGENT_SECRET_RE = /^cks_[A-Za-z0-9_-]{43}$/;

export interface Caller {
  userId: string;
  actor: string;
}

export interface AgentInfo {
  id: string;
  name: string;
  status: "active" | "disabled";
  createdAt: string;
  updatedAt: string;
}

const newAgentId = () => `agt_${randomBytes(10).toString("hex")}`;
const newSecret = () => `cks_${randomBytes(32).toString("base64url")}`;
const info = (r: AgentsTable): AgentInfo => ({ id: r.id, name: r.name, status: r.status, createdAt: r.created_at, updatedAt: r.updated_at });

export function checkAgentName(name: string): string {
  if (!AGENT_NAME_RE.test(name)) throw new ClawkeepError("invalid_name", "agent must match [a-z0-9][a-z0-9-]{0,62}");
  return name;
}

/**
 * `secretKeys[0]` (from the primary master key) seals; every key opens, so agent secrets sealed
 * under a previous master key keep working during a master-key rotation, which re-seals them.
 */
export function createAgentRegistry(deps: {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  audit: AuditLog;
  secretKeys: Buffer[];
  /** Called after a revocation (secret rotated, agent disabled): the composition root starts a new epoch. */
  onRevocation?: (userId: string, reason: string) => Promise<unknown>;
}) {
  const { db, audit } = deps;
  if (!deps.secretKeys[0]) throw new Error("agent registry needs a key");
  const secretKey: Buffer = deps.secretKeys[0];

  const sealSecret = (user: string, agentId: string, generation: number, secret: string) =>
    seal(secretKey, Buffer.from(secret, "utf8"), { kind: "agent-secret", user, agentId, generation }).toString("base64");

  function openWith(key: Buffer, row: AgentsTable): Buffer {
    return open(key, Buffer.from(row.secret_envelope, "base64"), { kind: "agent-secret", user: row.user_id, agentId: row.id, generation: row.secret_generation });
  }

  /** The plaintext agent secret and whether the primary key sealed it. Throws integrity_error if no loaded key opens it. */
  function openSecret(row: AgentsTable): { secret: Buffer; primary: boolean } {
    for (const [i, key] of deps.secretKeys.entries()) {
      try {
        return { secret: openWith(key, row), primary: i === 0 };
      } catch (e) {
        if (!(e instanceof EnvelopeError)) throw e;
      }
    }
    throw new ClawkeepError("integrity_error", "stored data failed its integrity check");
  }

  /** The plaintext agent secret, for HMAC checks only. */
  const secretOf = (row: AgentsTable): Buffer => openSecret(row).secret;

  /** Master-key rotation: re-seals every agent secret not sealed by the primary key (compare-and-swap per row). */
  async function rewrapSecrets(): Promise<number> {
    let n = 0;
    for (const row of await db.selectFrom("agents").selectAll().execute()) {
      const { secret, primary } = openSecret(row);
      if (!primary) {
        const r = await db
          .updateTable("agents")
          .set({ secret_envelope: sealSecret(row.user_id, row.id, row.secret_generation, secret.toString("utf8")) })
          .where("id", "=", row.id)
          .where("secret_envelope", "=", row.secret_envelope)
          .executeTakeFirst();
        n += Number(r.numUpdatedRows);
      }
      secret.fill(0);
    }
    await deps.durable();
    return n;
  }

  const byName = (userId: string, name: string) => db.selectFrom("agents").selectAll().where("user_id", "=", userId).where("name", "=", name).executeTakeFirst();
  const byId = (id: string) => db.selectFrom("agents").selectAll().where("id", "=", id).executeTakeFirst();

  // Another user's agent answers exactly like a missing one.
  async function mine(c: Caller, name: string): Promise<AgentsTable> {
    const row = await byName(c.userId, checkAgentName(name));
    if (!row) throw new ClawkeepError("not_found", "no such agent");
    return row;
  }

  async function create(c: Caller, nameIn: string): Promise<{ agent: AgentInfo; secret: string }> {
    const name = checkAgentName(nameIn);
    const id = newAgentId();
    const secret = newSecret();
    const now = new Date().toISOString();
    const row: AgentsTable = { id, user_id: c.userId, name, status: "active", secret_envelope: sealSecret(c.userId, id, 1, secret), secret_generation: 1, gateway_url: null, created_at: now, updated_at: now };
    try {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto("agents").values(row).execute();
        await audit.append(trx, { userId: c.userId, actor: c.actor, action: "AgentCreated", target: `agent/${name}`, outcome: "success", metadata: { agent_id: id } });
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new ClawkeepError("conflict", "an agent with that name already exists");
      throw e;
    }
    await deps.durable();
    return { agent: info(row), secret };
  }

  async function list(c: Caller): Promise<AgentInfo[]> {
    const rows = await db.selectFrom("agents").selectAll().where("user_id", "=", c.userId).orderBy("name").execute();
    return rows.map(info);
  }

  async function rotateSecret(c: Caller, name: string): Promise<{ agent: AgentInfo; secret: string }> {
    const row = await mine(c, name);
    const secret = newSecret();
    const generation = row.secret_generation + 1;
    const now = new Date().toISOString();
    await db.transaction().execute(async (trx) => {
      // Compare-and-set on the generation: two concurrent rotations cannot both win.
      const r = await trx
        .updateTable("agents")
        .set({ secret_envelope: sealSecret(c.userId, row.id, generation, secret), secret_generation: generation, updated_at: now })
        .where("id", "=", row.id)
        .where("secret_generation", "=", row.secret_generation)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new ClawkeepError("conflict", "the agent secret was rotated concurrently; try again");
      await audit.append(trx, { userId: c.userId, actor: c.actor, action: "AgentSecretRotated", target: `agent/${row.name}`, outcome: "success", metadata: { agent_id: row.id, generation } });
    });
    await deps.durable();
    await deps.onRevocation?.(c.userId, "agent_secret_rotated");
    return { agent: info({ ...row, secret_generation: generation, updated_at: now }), secret };
  }

  async function setStatus(c: Caller, name: string, status: "active" | "disabled"): Promise<AgentInfo> {
    const row = await mine(c, name);
    const now = new Date().toISOString();
    await db.transaction().execute(async (trx) => {
      await trx.updateTable("agents").set({ status, updated_at: now }).where("id", "=", row.id).execute();
      const action = status === "disabled" ? "AgentDisabled" : "AgentEnabled";
      await audit.append(trx, { userId: c.userId, actor: c.actor, action, target: `agent/${row.name}`, outcome: "success", metadata: { agent_id: row.id } });
    });
    await deps.durable();
    if (status === "disabled") await deps.onRevocation?.(c.userId, "agent_disabled");
    return info({ ...row, status, updated_at: now });
  }

  /** Records an already-validated gateway URL (the proxy module checks it), or clears it with null. */
  async function setGateway(c: Caller, name: string, url: string | null, origin: string | null): Promise<AgentsTable> {
    const row = await mine(c, name);
    const now = new Date().toISOString();
    await db.transaction().execute(async (trx) => {
      await trx.updateTable("agents").set({ gateway_url: url, updated_at: now }).where("id", "=", row.id).execute();
      const action = url === null ? "AgentGatewayCleared" : "AgentGatewaySet";
      await audit.append(trx, { userId: c.userId, actor: c.actor, action, target: `agent/${row.name}`, outcome: "success", metadata: { agent_id: row.id, ...(origin ? { origin } : {}) } });
    });
    await deps.durable();
    return { ...row, gateway_url: url, updated_at: now };
  }

  return {
    rewrapSecrets,
    setGateway,
    create,
    list,
    rotateSecret,
    disable: (c: Caller, name: string) => setStatus(c, name, "disabled"),
    enable: (c: Caller, name: string) => setStatus(c, name, "active"),
    mine,
    byId,
    secretOf,
  };
}

export type AgentRegistry = ReturnType<typeof createAgentRegistry>;
