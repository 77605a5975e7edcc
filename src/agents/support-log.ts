import type { Kysely } from "kysely";
import type { AuditLog, AuditRecord } from "../audit/log.js";
import { ClawkeepError } from "../errors.js";
import type { DB } from "../store/meta/schema.js";
import { claimWithin } from "../store/meta/single-use.js";
import type { AgentRegistry, Caller } from "./registry.js";
import { commandText, isRecord, MAX_BATCH_RECORDS, parseRecord, RECORD_VERSION, type SupportRecord } from "./support-records.js";
import type { SupportAccess } from "./support.js";

// The log the seed promises the user: "full audit log visible to user showing all commands run".
// The agent ships the records its support wrapper wrote (formats §24); each becomes one audit
// event of the grant's user, in the same tamper-evident chain as everything else. The command
// text is the operator's typing and may hold a secret they typed: it goes into the user's audit
// event and nowhere else (no server log line, no error message).

/**
 * How long after a grant ends (expiry or revocation) its records are still taken. Sessions opened
 * before the end can outlive it, and the agent ships once a reconcile interval; past this the
 * grant is closed for good, which also bounds how long record ids must be remembered.
 */
export const RECORD_GRACE_SECONDS = 3600;
const SCOPE = "support-record";

export const SUPPORT_ACTIONS = ["SupportCommand", "SupportSessionStarted", "SupportSessionEnded"] as const;
const ACTION: Record<SupportRecord["kind"], (typeof SUPPORT_ACTIONS)[number]> = { command: "SupportCommand", session_start: "SupportSessionStarted", session_end: "SupportSessionEnded" };

export interface SupportEventView {
  seq: number;
  received_at: string;
  grant_id: string;
  operator: string;
  record_id: string;
  kind: SupportRecord["kind"];
  at: string;
  command?: string;
  command_hex?: string;
  command_truncated?: boolean;
  tty?: boolean;
  from?: string;
  ref?: string;
  status?: number;
  after_grant_end: boolean;
}

const endOf = (g: { expiresAt: string; revokedAt: string | null }) => Math.min(Date.parse(g.expiresAt), g.revokedAt ? Date.parse(g.revokedAt) : Infinity);

export function createSupportLog(deps: { db: Kysely<DB>; durable: () => Promise<void>; audit: AuditLog; registry: AgentRegistry; support: SupportAccess }) {
  const invalid = (msg: string) => new ClawkeepError("support_record_invalid", msg);

  function parseBatch(body: unknown): SupportRecord[] {
    let o: unknown;
    try {
      o = typeof body === "string" ? JSON.parse(body) : body;
    } catch {
      throw invalid("body is not JSON");
    }
    if (typeof o !== "object" || o === null || Array.isArray(o)) throw invalid('body must be {"v":1,"records":[…]}');
    const b = o as Record<string, unknown>;
    if (b.v !== RECORD_VERSION || Object.keys(b).length !== 2 || !Array.isArray(b.records)) throw invalid('body must be {"v":1,"records":[…]}');
    if (b.records.length < 1 || b.records.length > MAX_BATCH_RECORDS) throw invalid(`records must hold 1..${MAX_BATCH_RECORDS} records`);
    return b.records.map((x, i) => {
      const r = parseRecord(x);
      if (!isRecord(r)) throw invalid(`record ${i}: ${r.error}`);
      return r;
    });
  }

  /** Appends a batch from the agent; every record is the agent's own grant's, or nothing is written. */
  async function ingest(agent: { agentId: string; userId: string; name: string }, body: unknown): Promise<{ accepted: string[]; duplicates: string[] }> {
    const records = parseBatch(body);
    const ids = [...new Set(records.map((r) => r.grant))];
    const grants = new Map((await deps.support.grantsOf(agent, ids)).map((g) => [g.id, g]));
    const now = Date.now();
    for (const id of ids) {
      const g = grants.get(id);
      // Another agent's or user's grant is indistinguishable from one that does not exist.
      if (!g) throw new ClawkeepError("support_grant_not_found", `no grant ${id} for this agent`);
      if (now > endOf(g) + RECORD_GRACE_SECONDS * 1000) throw new ClawkeepError("support_grant_ended", `grant ${id} ended more than ${RECORD_GRACE_SECONDS} s ago; its records are no longer accepted`);
    }
    const accepted: string[] = [];
    const duplicates: string[] = [];
    await deps.db.transaction().execute(async (trx) => {
      for (const r of records) {
        const g = grants.get(r.grant)!;
        // Remembered as long as the grant takes records, so a replay can never count twice.
        const fresh = await claimWithin(trx, `${SCOPE}/${g.id}`, r.id, new Date(endOf(g) + (RECORD_GRACE_SECONDS + 86_400) * 1000));
        if (!fresh) {
          duplicates.push(r.id);
          continue;
        }
        const meta: Record<string, string | number | boolean | null> = {
          grant_id: g.id,
          operator: g.operator,
          agent_id: agent.agentId,
          reported_by: `agent:${agent.agentId}`,
          record_id: r.id,
          kind: r.kind,
          at: new Date(r.time * 1000).toISOString(),
          // The agent's clock, so a flag and not a refusal: a late record is evidence worth keeping.
          after_grant_end: r.time * 1000 >= endOf(g),
        };
        if (r.kind === "command") Object.assign(meta, commandText(r.cmd), { command_truncated: r.trunc });
        if (r.kind !== "session_end") Object.assign(meta, { tty: r.tty, from: r.from });
        else Object.assign(meta, { ref: r.ref, status: r.status });
        await deps.audit.append(trx, { userId: agent.userId, actor: `support:${g.id}`, action: ACTION[r.kind], target: `agent/${agent.name}`, outcome: "success", metadata: meta });
        accepted.push(r.id);
      }
    });
    await deps.durable();
    return { accepted, duplicates };
  }

  const view = (e: AuditRecord): SupportEventView => {
    const m = e.metadata;
    const v: SupportEventView = {
      seq: e.seq,
      received_at: e.time,
      grant_id: String(m.grant_id),
      operator: String(m.operator),
      record_id: String(m.record_id),
      kind: m.kind as SupportRecord["kind"],
      at: String(m.at),
      after_grant_end: m.after_grant_end === true,
    };
    for (const k of ["command", "command_hex", "from", "ref"] as const) if (typeof m[k] === "string") v[k] = m[k];
    for (const k of ["command_truncated", "tty"] as const) if (typeof m[k] === "boolean") v[k] = m[k];
    if (typeof m.status === "number") v.status = m.status;
    return v;
  };

  /** The user's view of one agent's support sessions, oldest first, paged by audit seq. */
  async function list(c: Caller, agentName: string, q: { grant?: string; after: number; limit: number }): Promise<{ events: SupportEventView[]; next: number | null }> {
    const agent = await deps.registry.mine(c, agentName);
    const rows = await deps.audit.list({ userId: c.userId, after: q.after, limit: q.limit, actions: SUPPORT_ACTIONS, target: `agent/${agent.name}` });
    // A deleted agent's events keep its name; the id tells them apart from a later namesake's.
    const events = rows.filter((e) => e.metadata.agent_id === agent.id && (q.grant === undefined || e.metadata.grant_id === q.grant)).map(view);
    return { events, next: rows.length === q.limit ? rows[rows.length - 1]!.seq : null };
  }

  return { ingest, list };
}

export type SupportLog = ReturnType<typeof createSupportLog>;
