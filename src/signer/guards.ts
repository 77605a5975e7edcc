import { createHmac } from "node:crypto";
import { sql, type Kysely, type Transaction } from "kysely";
import { ClawkeepError } from "../errors.js";
import { rowMacs } from "../keys/row-mac.js";
import type { AuditLog } from "../audit/log.js";
import type { DB, IdentityPoliciesTable, SignerHoldsTable } from "../store/meta/schema.js";
import { canonicalJson } from "./payloads.js";
import { PolicySchema, type Policy } from "./policy.js";

// What stands between a valid ticket and a signature besides the ticket itself: the identity's
// policy (MAC'd rows), its spend ledger for rolling limits, and freezes of a user or an agent.
// All of it lives in the meta store, so every node sees one state.

export const policyRowMac = (key: Buffer, r: Pick<IdentityPoliciesTable, "identity_id" | "policy">) =>
  createHmac("sha256", key).update(`clawkeep/identity-policy/v1\n${r.identity_id}\n${r.policy}`).digest("hex");

// Arbitrary constant naming the spend ledger's advisory locks ("cksp"), paired with a per-identity key.
const SPEND_LOCK_ID = 0x636b7370;

export type Subject = `user:${string}` | `agent:${string}`;

export function createGuards(deps: { db: Kysely<DB>; dialect: "sqlite" | "postgres"; audit: AuditLog; rowKeys: Buffer[] }) {
  const { db } = deps;
  const macs = rowMacs<IdentityPoliciesTable>(deps.rowKeys, (k, r) => policyRowMac(k, r), "signer policy");

  /** The identity's policy, or undefined; a row that fails its MAC is an integrity error, never "no policy". */
  async function policyOf(identityId: string, userId: string): Promise<Policy | undefined> {
    return policyFromRow(identityId, userId, await db.selectFrom("identity_policies").selectAll().where("identity_id", "=", identityId).executeTakeFirst());
  }

  /** policyOf for a row the caller has already read (the sign path reads it with its identity). */
  async function policyFromRow(identityId: string, userId: string, r: IdentityPoliciesTable | undefined): Promise<Policy | undefined> {
    if (!r) return undefined;
    // A row of another identity (a caller's join gone wrong) is no policy of this one.
    if (r.identity_id !== identityId) throw new ClawkeepError("integrity_error", "stored data failed its integrity check");
    if (!macs.valid(r)) {
      await deps.audit.record({ userId, actor: "system", action: "IntegrityFailure", target: `identity/${identityId}`, outcome: "failure", metadata: { what: "identity policy MAC" } });
      throw new ClawkeepError("integrity_error", "stored data failed its integrity check");
    }
    return PolicySchema.parse(JSON.parse(r.policy));
  }

  async function setPolicy(trx: Transaction<DB>, identityId: string, policy: Policy | null): Promise<void> {
    if (policy === null || Object.keys(policy).length === 0) {
      await trx.deleteFrom("identity_policies").where("identity_id", "=", identityId).execute();
      return;
    }
    const row = { identity_id: identityId, policy: canonicalJson(policy), updated_at: new Date().toISOString() };
    const mac = macs.sign(row as IdentityPoliciesTable);
    await trx
      .insertInto("identity_policies")
      .values({ ...row, mac })
      .onConflict((oc) => oc.column("identity_id").doUpdateSet({ policy: row.policy, updated_at: row.updated_at, mac }))
      .execute();
  }

  async function spentSince(q: Kysely<DB> | Transaction<DB>, identityId: string, windowSeconds: number): Promise<bigint> {
    const since = new Date(Date.now() - windowSeconds * 1000).toISOString();
    const rows = await q.selectFrom("signer_spends").select("amount").where("identity_id", "=", identityId).where("created_at", ">", since).execute();
    return rows.reduce((s, r) => s + BigInt(r.amount), 0n);
  }

  /**
   * Runs `fn` with the identity's spend ledger locked, so two signatures on any two nodes cannot
   * both fit the same remaining budget. `fn` gets what was spent in the window and returns the
   * amount to record (or null to record nothing).
   */
  async function withLedger<T>(identityId: string, windowSeconds: number, fn: (spent: bigint) => { record: { ticketId: string; amount: bigint } | null; result: T }): Promise<T> {
    return db.transaction().execute(async (trx) => {
      // SQLite serialises writers itself; PostgreSQL nodes take turns per identity.
      if (deps.dialect === "postgres") await sql`select pg_advisory_xact_lock(${SPEND_LOCK_ID}, hashtext(${identityId}))`.execute(trx);
      const spent = await spentSince(trx, identityId, windowSeconds);
      const out = fn(spent);
      if (out.record && out.record.amount > 0n) {
        await trx.insertInto("signer_spends").values({ ticket_id: out.record.ticketId, identity_id: identityId, amount: out.record.amount.toString(), created_at: new Date().toISOString() }).execute();
      }
      return out.result;
    });
  }

  /** Drops ledger rows older than the longest window any policy may have. */
  async function pruneSpends(): Promise<number> {
    const r = await db.deleteFrom("signer_spends").where("created_at", "<", new Date(Date.now() - 91 * 86_400_000).toISOString()).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  const holdsOf = async (subjects: Subject[]): Promise<SignerHoldsTable[]> =>
    subjects.length ? db.selectFrom("signer_holds").selectAll().where("subject", "in", subjects).execute() : [];

  /**
   * The freeze state of `subjects`, read once: `assertNotFrozen` refuses when any is frozen,
   * `voided` is true for a ticket issued at `iatSeconds` before a freeze of any of them (it stays
   * void after the freeze is lifted).
   */
  async function holds(subjects: Subject[]) {
    const rows = await holdsOf(subjects);
    return {
      assertNotFrozen(): void {
        const frozen = rows.find((h) => h.frozen === 1);
        if (!frozen) return;
        const who = frozen.subject.startsWith("agent:") ? "this agent" : "this user";
        throw new ClawkeepError("signer_frozen", `signing is frozen for ${who} since ${frozen.frozen_at}: a fresh login lifts it`, { details: { frozen_at: frozen.frozen_at ?? "" } });
      },
      // Tickets carry whole seconds: one issued in the freeze's own second is void too.
      voided: (iatSeconds: number): boolean => rows.some((h) => iatSeconds <= Math.floor(Date.parse(h.tickets_not_before) / 1000)),
    };
  }

  async function freeze(trx: Transaction<DB>, subject: Subject, userId: string, by: string): Promise<string> {
    const now = new Date().toISOString();
    await trx
      .insertInto("signer_holds")
      .values({ subject, user_id: userId, frozen: 1, frozen_at: now, frozen_by: by, tickets_not_before: now, updated_at: now })
      .onConflict((oc) => oc.column("subject").doUpdateSet({ frozen: 1, frozen_at: now, frozen_by: by, tickets_not_before: now, updated_at: now }))
      .execute();
    return now;
  }

  /** Lifts a freeze; returns when it had been frozen, or null if it was not. */
  async function lift(trx: Transaction<DB>, subject: Subject): Promise<string | null> {
    const h = await trx.selectFrom("signer_holds").selectAll().where("subject", "=", subject).executeTakeFirst();
    if (!h || h.frozen !== 1) return null;
    await trx.updateTable("signer_holds").set({ frozen: 0, updated_at: new Date().toISOString() }).where("subject", "=", subject).execute();
    return h.frozen_at;
  }

  const hold = async (subject: Subject) => db.selectFrom("signer_holds").selectAll().where("subject", "=", subject).executeTakeFirst();

  return { policyOf, policyFromRow, setPolicy, withLedger, spentSince: (id: string, w: number) => spentSince(db, id, w), pruneSpends, holds, freeze, lift, hold };
}

export type Guards = ReturnType<typeof createGuards>;
