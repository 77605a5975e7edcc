import { createHmac, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { base58 } from "@scure/base";
import { keccak256, serializeTransaction, type Hex } from "viem";
import { ClawkeepError, type ErrorCode } from "../errors.js";
import { rowMacs } from "../keys/row-mac.js";
import type { AuditLog } from "../audit/log.js";
import type { SingleUse } from "../store/meta/single-use.js";
import type { DB, IdentitiesTable, IdentityPoliciesTable } from "../store/meta/schema.js";
import { addressOf, CURVES, type Curve } from "./curves.js";
import { preparePayload } from "./payloads.js";
import type { KeyBackend } from "./key-backend.js";
import { issueTicket, verifyTicket } from "./tickets.js";
import { decide, factsOf, parsePolicy, type Decision, type Policy } from "./policy.js";
import type { Guards, Subject } from "./guards.js";

// Signer identities and the two-step sign flow (seed 003): sign-intent decodes the payload into a
// preview and issues a single-use ticket bound to (user, identity, payload hash, preview hash);
// sign spends the ticket and signs exactly that payload. Worker mode: the private key is opened
// from its sealed backup for one signature and wiped after.

export interface SignerCaller {
  userId: string;
  actor: string;
  /** Set when an agent is the caller: it may use only identities bound to it. */
  agentId?: string;
}

export interface IdentityInfo {
  id: string;
  curve: Curve;
  address: string;
  publicKey: string;
  label: string | null;
  agentId: string | null;
  allowBlind: boolean;
  status: "active" | "destroyed";
  createdAt: string;
  destroyedAt: string | null;
}

export const IDENTITY_ID_RE = /^idn_[0-9a-f]{20}$/;
const LABEL_RE = /^[\p{L}\p{N} _.:@-]{1,64}$/u;

type MacFields = Pick<IdentitiesTable, "id" | "user_id" | "agent_id" | "curve" | "public_key" | "address" | "allow_blind">;
export const identityRowMac = (key: Buffer, r: MacFields) =>
  createHmac("sha256", key)
    .update(`clawkeep/identity-row/v1\n${r.id}\n${r.user_id}\n${r.agent_id ?? ""}\n${r.curve}\n${r.public_key}\n${r.address}\n${r.allow_blind}`)
    .digest("hex");

const info = (r: IdentitiesTable): IdentityInfo => ({
  id: r.id,
  curve: r.curve,
  address: r.address,
  publicKey: r.public_key,
  label: r.label,
  agentId: r.agent_id,
  allowBlind: r.allow_blind === 1,
  status: r.status,
  createdAt: r.created_at,
  destroyedAt: r.destroyed_at,
});

export function createSigner(deps: {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  audit: AuditLog;
  singleUse: SingleUse;
  rowKeys: Buffer[];
  /** Where keys are made and used (SIGNER_MODE). */
  keys: KeyBackend;
  /** Primary first: it signs new tickets; the others verify. */
  ticketKeys: Buffer[];
  ticketTtlSeconds: number;
  /** Resolves one of the caller's agents by name (the agent registry). */
  agentId: (c: SignerCaller, name: string) => Promise<string>;
  guards: Guards;
}) {
  const { guards } = deps;
  const { db, audit } = deps;
  const macs = rowMacs<IdentitiesTable>(deps.rowKeys, (k, r) => identityRowMac(k, r), "signer");
  if (!deps.ticketKeys[0]) throw new Error("signer needs a ticket key");
  const backend = deps.keys;

  /** Audits a refusal and throws it; `details` go into the error body (never secrets). */
  async function refuse(
    c: SignerCaller,
    code: ErrorCode,
    message: string,
    target: string,
    action: string,
    meta: Record<string, string | number | boolean | null> = {},
    details?: Record<string, string | number>,
  ): Promise<never> {
    await audit.record({ userId: c.userId, actor: c.actor, action, target, outcome: "failure", metadata: { code, ...meta } });
    throw new ClawkeepError(code, message, details ? { details } : undefined);
  }

  /** The caller's identity, or not_found (someone else's answers exactly as a missing one). */
  async function mine(c: SignerCaller, id: string): Promise<IdentitiesTable> {
    if (!IDENTITY_ID_RE.test(id)) throw new ClawkeepError("not_found", "no such identity");
    const r = await db.selectFrom("identities").selectAll().where("id", "=", id).where("user_id", "=", c.userId).executeTakeFirst();
    if (!r) throw new ClawkeepError("not_found", "no such identity");
    await checked(c, id, r);
    return r;
  }

  /** An agent sees only identities bound to it; a row that fails its MAC is an integrity error. */
  async function checked(c: SignerCaller, id: string, r: IdentitiesTable): Promise<void> {
    if (c.agentId && r.agent_id !== c.agentId) throw new ClawkeepError("not_found", "no such identity");
    if (!macs.valid(r)) {
      await audit.record({ userId: c.userId, actor: c.actor, action: "IntegrityFailure", target: `identity/${id}`, outcome: "failure", metadata: { what: "identity row MAC" } });
      throw new ClawkeepError("integrity_error", "stored data failed its integrity check");
    }
  }

  async function create(c: SignerCaller, body: { curve: string; label?: string; agent?: string; allowBlindSigning?: boolean }): Promise<IdentityInfo> {
    if (!CURVES.includes(body.curve as Curve)) throw new ClawkeepError("bad_request", "curve must be secp256k1 (EVM) or ed25519 (Solana)");
    if (body.label !== undefined && !LABEL_RE.test(body.label)) throw new ClawkeepError("bad_request", "label must be 1-64 letters, digits, spaces or _.:@-");
    const curve = body.curve as Curve;
    if (c.agentId && (body.agent !== undefined || body.allowBlindSigning)) throw new ClawkeepError("forbidden", "an agent creates identities bound to itself, without blind signing");
    const agentId = c.agentId ?? (body.agent !== undefined ? await deps.agentId(c, body.agent) : null);
    const id = `idn_${randomBytes(10).toString("hex")}`;
    const made = await backend.generate({ user: c.userId, identityId: id, curve });
    const pub = made.publicKey;
    const now = new Date().toISOString();
    const fields: MacFields = {
      id,
      user_id: c.userId,
      agent_id: agentId,
      curve,
      public_key: Buffer.from(pub).toString("hex"),
      address: addressOf(curve, pub),
      allow_blind: body.allowBlindSigning ? 1 : 0,
    };
    const row: IdentitiesTable = { ...fields, label: body.label ?? null, status: "active", created_at: now, destroyed_at: null, mac: macs.sign(fields as IdentitiesTable) };
    // One transaction: an identity never exists without its sealed key (the seed's "lost during
    // a failed identity creation" cannot happen here).
    await db.transaction().execute(async (trx) => {
      await trx.insertInto("identities").values(row).execute();
      await trx.insertInto("key_backups").values({ identity_id: id, sealed_key: made.sealed, key_id: made.keyId, format: "ck-sk1", created_at: now, updated_at: now }).execute();
      await audit.append(trx, {
        userId: c.userId,
        actor: c.actor,
        action: "IdentityCreated",
        target: `identity/${id}`,
        outcome: "success",
        metadata: { curve, address: row.address, agent_id: agentId, allow_blind: row.allow_blind === 1, signer_mode: backend.mode },
      });
    });
    await deps.durable();
    return info(row);
  }

  async function list(c: SignerCaller): Promise<IdentityInfo[]> {
    let q = db.selectFrom("identities").selectAll().where("user_id", "=", c.userId).where("status", "=", "active");
    if (c.agentId) q = q.where("agent_id", "=", c.agentId);
    return (await q.orderBy("created_at").execute()).map(info);
  }

  const get = async (c: SignerCaller, id: string) => info(await mine(c, id));

  /** Destroys an identity: its sealed key is deleted (erased, not flagged); the row stays as a tombstone. */
  async function destroy(c: SignerCaller, id: string): Promise<IdentityInfo> {
    // Destroying erases the key for good: its user's call, never a (possibly compromised) agent's.
    if (c.agentId) throw new ClawkeepError("forbidden", "an agent cannot destroy an identity; its user can");
    const r = await mine(c, id);
    if (r.status === "destroyed") return info(r);
    const now = new Date().toISOString();
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom("key_backups").where("identity_id", "=", id).execute();
      await trx.updateTable("identities").set({ status: "destroyed", destroyed_at: now }).where("id", "=", id).execute();
      await audit.append(trx, { userId: c.userId, actor: c.actor, action: "IdentityDestroyed", target: `identity/${id}`, outcome: "success", metadata: { address: r.address } });
    });
    await deps.durable();
    // The backup row is gone; a signer process that still holds the key drops it too (best effort:
    // without its backup it could not be restored after signerd's next restart anyway).
    await backend.forget({ user: r.user_id, identityId: id, curve: r.curve }).catch(() => undefined);
    return info({ ...r, status: "destroyed", destroyed_at: now });
  }

  // The sign path reads the identity and its policy in one precompiled statement (both are read on
  // every sign-intent and sign); the query is built once with placeholders and run with the id and
  // user, as the token lookup is.
  const withPolicy = db
    .selectFrom("identities")
    .leftJoin("identity_policies as p", "p.identity_id", "identities.id")
    .selectAll("identities")
    .select(["p.identity_id as p_identity_id", "p.policy as p_policy", "p.updated_at as p_updated_at", "p.mac as p_mac"])
    .where("identities.id", "=", "")
    .where("identities.user_id", "=", "")
    .compile();

  /** mine() with the identity's policy row read in the same statement. */
  async function mineWithPolicy(c: SignerCaller, id: string): Promise<IdentitiesTable & { policyRow?: IdentityPoliciesTable }> {
    if (!IDENTITY_ID_RE.test(id)) throw new ClawkeepError("not_found", "no such identity");
    const row = (await db.executeQuery({ ...withPolicy, parameters: [id, c.userId] } as typeof withPolicy)).rows[0];
    if (!row) throw new ClawkeepError("not_found", "no such identity");
    const { p_identity_id, p_policy, p_updated_at, p_mac, ...r } = row;
    await checked(c, id, r);
    return p_identity_id === null ? r : { ...r, policyRow: { identity_id: p_identity_id, policy: p_policy!, updated_at: p_updated_at!, mac: p_mac! } };
  }

  async function activeIdentity(c: SignerCaller, id: string, action: string): Promise<IdentitiesTable & { policyRow?: IdentityPoliciesTable }> {
    let r: IdentitiesTable & { policyRow?: IdentityPoliciesTable };
    try {
      r = await mineWithPolicy(c, id);
    } catch (e) {
      // Someone else's identity answers as a missing one, but the attempt is on the caller's record.
      if (e instanceof ClawkeepError && e.code === "not_found") return refuse(c, "not_found", e.message, `identity/${id.slice(0, 40)}`, action);
      throw e;
    }
    if (r.status === "destroyed") return refuse(c, "identity_destroyed", "the identity was destroyed; its key is gone", `identity/${id}`, action);
    return r;
  }

  const subjects = (userId: string, agentId: string | null | undefined): Subject[] => [`user:${userId}`, ...(agentId ? [`agent:${agentId}` as const] : [])];

  /** Refuses (audited) when the caller is frozen; returns the freeze state it read. */
  async function notFrozen(c: SignerCaller, target: string, action: string) {
    const h = await guards.holds(subjects(c.userId, c.agentId));
    try {
      h.assertNotFrozen();
      return h;
    } catch (e) {
      if (e instanceof ClawkeepError) return refuse(c, e.code, e.message, target, action, {}, e.details);
      throw e;
    }
  }

  /** The policy's verdict on a prepared payload, with what the identity spent in the policy's window. */
  async function judge(r: IdentitiesTable, p: ReturnType<typeof preparePayload>, policy: Policy | undefined): Promise<Decision> {
    const spent = policy?.rolling_limit ? await guards.spentSince(r.id, policy.rolling_limit.window_seconds) : 0n;
    return decide(policy, factsOf(p, r.address), r.curve, spent);
  }

  const denied = (c: SignerCaller, d: Decision, target: string, action: string, meta: Record<string, string>) =>
    refuse(c, "policy_denied", `denied by rule ${d.rule}: ${d.reason}`, target, action, { rule: d.rule ?? "", ...meta }, { rule: d.rule ?? "", ...(d.budget ? { budget_left: d.budget.left } : {}) });

  async function getPolicy(c: SignerCaller, id: string): Promise<Policy> {
    const r = await mine(c, id);
    return (await guards.policyOf(r.id, r.user_id)) ?? {};
  }

  /** Sets (or, with an empty object, clears) an identity's policy. Only its user may: an agent must not loosen its own limits. */
  async function setPolicy(c: SignerCaller, id: string, raw: unknown): Promise<Policy> {
    if (c.agentId) throw new ClawkeepError("forbidden", "an agent cannot change a signing policy");
    const r = await activeIdentity(c, id, "IdentityPolicyRefused");
    const policy = parsePolicy(raw, r.curve);
    await db.transaction().execute(async (trx) => {
      await guards.setPolicy(trx, id, policy);
      await audit.append(trx, { userId: c.userId, actor: c.actor, action: "IdentityPolicySet", target: `identity/${id}`, outcome: "success", metadata: { policy: JSON.stringify(policy) } });
    });
    await deps.durable();
    return policy;
  }

  async function signIntent(c: SignerCaller, id: string, payload: unknown, opts: { dryRun?: boolean } = {}) {
    const r = await activeIdentity(c, id, "SignIntentRefused");
    const target = `identity/${id}`;
    await notFrozen(c, target, "SignIntentRefused");
    let p: ReturnType<typeof preparePayload>;
    try {
      p = preparePayload(payload, r.curve, r.address);
    } catch (e) {
      if (e instanceof ClawkeepError) return refuse(c, e.code, e.message, target, "SignIntentRefused");
      throw e;
    }
    if (p.blind && r.allow_blind !== 1) {
      return refuse(c, "blind_signing_refused", "a bare digest cannot be previewed; this identity does not allow blind signing", target, "SignIntentRefused", { kind: p.kind });
    }
    const decision = await judge(r, p, await guards.policyFromRow(r.id, r.user_id, r.policyRow));
    if (opts.dryRun) {
      await audit.record({ userId: c.userId, actor: c.actor, action: "SignIntentDryRun", target, outcome: "success", metadata: { kind: p.kind, payload_hash: p.payloadHash, allowed: decision.allowed, rule: decision.rule ?? null } });
      return { dryRun: true as const, decision, kind: p.kind, preview: p.preview, previewHash: p.previewHash, payloadHash: p.payloadHash };
    }
    if (!decision.allowed) return denied(c, decision, target, "SignIntentRefused", { kind: p.kind, payload_hash: p.payloadHash });
    const { ticket, claims } = await issueTicket(
      deps.ticketKeys[0]!,
      { sub: id, uid: c.userId, ...(c.agentId ? { aid: c.agentId } : {}), knd: p.kind, ph: p.payloadHash, vh: p.previewHash },
      deps.ticketTtlSeconds,
    );
    await audit.record({
      userId: c.userId,
      actor: c.actor,
      action: "SignIntentCreated",
      target,
      outcome: "success",
      metadata: { kind: p.kind, payload_hash: p.payloadHash, preview_hash: p.previewHash, ticket_id: claims.jti, expires_at: new Date(claims.exp * 1000).toISOString() },
    });
    return { dryRun: false as const, ticket, decision, expiresAt: new Date(claims.exp * 1000).toISOString(), kind: p.kind, preview: p.preview, previewHash: p.previewHash, payloadHash: p.payloadHash };
  }

  async function backupOf(r: IdentitiesTable): Promise<string> {
    const b = await db.selectFrom("key_backups").select("sealed_key").where("identity_id", "=", r.id).executeTakeFirst();
    if (!b) throw new ClawkeepError("key_backup_missing", "no key backup found for this identity: the key cannot be recovered");
    return b.sealed_key;
  }

  async function sign(c: SignerCaller, id: string, ticket: unknown, payload: unknown) {
    const target = `identity/${id}`;
    const r = await activeIdentity(c, id, "SignRefused");
    const holds = await notFrozen(c, target, "SignRefused");
    let claims: Awaited<ReturnType<typeof verifyTicket>>;
    try {
      claims = await verifyTicket(deps.ticketKeys, ticket);
    } catch (e) {
      if (e instanceof ClawkeepError) return refuse(c, e.code, e.message, target, "SignRefused");
      throw e;
    }
    if (claims.sub !== id || claims.uid !== c.userId || (claims.aid ?? null) !== (c.agentId ?? null)) {
      return refuse(c, "ticket_mismatch", "the ticket was issued for another identity or caller", target, "SignRefused", { ticket_id: claims.jti });
    }
    let p: ReturnType<typeof preparePayload>;
    try {
      p = preparePayload(payload, r.curve, r.address);
    } catch (e) {
      if (e instanceof ClawkeepError) return refuse(c, e.code, e.message, target, "SignRefused", { ticket_id: claims.jti });
      throw e;
    }
    if (p.payloadHash !== claims.ph || p.kind !== claims.knd || p.previewHash !== claims.vh) {
      return refuse(c, "ticket_mismatch", "the payload is not the one the ticket was issued for", target, "SignRefused", { ticket_id: claims.jti });
    }
    if (p.blind && r.allow_blind !== 1) return refuse(c, "blind_signing_refused", "this identity does not allow blind signing", target, "SignRefused");
    // The ticket's subjects are the caller's (checked just above), so the rows read for the
    // freeze check answer this too.
    if (holds.voided(claims.iat)) {
      return refuse(c, "ticket_voided", "the ticket was issued before a freeze and stays void: ask for a new one", target, "SignRefused", { ticket_id: claims.jti });
    }
    // The policy as it is now (read with the identity at the start of this request), not as it
    // was at sign-intent; checked once before the ticket is spent (a refusal then leaves it
    // usable) and again under the ledger lock.
    const policy = await guards.policyFromRow(r.id, r.user_id, r.policyRow);
    const before = await judge(r, p, policy);
    if (!before.allowed) return denied(c, before, target, "SignRefused", { ticket_id: claims.jti });
    // Spent before signing, in the meta store: one INSERT decides between concurrent spends on
    // any number of nodes. A failure after this point leaves the ticket spent, never reusable.
    if (!(await deps.singleUse.claim("sign-ticket", claims.jti, Math.max(1, claims.exp - Math.floor(Date.now() / 1000)) + 60))) {
      return refuse(c, "ticket_replayed", "the ticket was already used", target, "SignRefused", { ticket_id: claims.jti });
    }
    // A freeze that landed while this request was in flight still stops it (the ticket stays spent).
    await notFrozen(c, target, "SignRefused");
    // Only a rolling limit is stateful: the ledger lock makes two nodes' signatures take turns
    // at the remaining budget, and the spend is recorded before the key is opened.
    const facts = factsOf(p, r.address);
    const rolling = policy?.rolling_limit;
    const verdict = rolling
      ? await guards.withLedger(r.id, rolling.window_seconds, (spent) => {
          const d = decide(policy, facts, r.curve, spent);
          return { result: d, record: d.allowed ? { ticketId: claims.jti, amount: facts.value } : null };
        })
      : before;
    if (!verdict.allowed) return denied(c, verdict, target, "SignRefused", { ticket_id: claims.jti });
    const sig = await backend.sign({ user: r.user_id, identityId: r.id, curve: r.curve }, r.public_key, await backupOf(r), p.signingInput);
    let out: Record<string, unknown>;
    if (sig.curve === "secp256k1") {
      const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}` as Hex;
      out = { signature: hex(sig.signature), r: hex(sig.r), s: hex(sig.s), v: 27 + sig.recovery, recovery_id: sig.recovery };
      if (p.evmTx) {
        const signed = serializeTransaction(p.evmTx, { r: hex(sig.r), s: hex(sig.s), yParity: sig.recovery, v: BigInt(27 + sig.recovery) });
        out = { ...out, signed_transaction: signed, transaction_hash: keccak256(signed) };
      }
    } else {
      out = { signature: base58.encode(sig.signature), signature_hex: `0x${Buffer.from(sig.signature).toString("hex")}` };
    }
    await audit.record({
      userId: c.userId,
      actor: c.actor,
      action: "SignatureIssued",
      target,
      outcome: "success",
      metadata: { kind: p.kind, payload_hash: p.payloadHash, preview_hash: p.previewHash, ticket_id: claims.jti },
    });
    return { identity: id, address: r.address, kind: p.kind, ...out };
  }

  /**
   * The seed's restore: checks that this signer can open the stored key (409
   * sealed_key_incompatible if it is, say, an Evervault ciphertext) and rewrites a key in one of
   * the seed's AAD-less formats into the current one.
   */
  async function restore(c: SignerCaller, id: string) {
    const r = await activeIdentity(c, id, "IdentityRestoreRefused");
    const b = await db.selectFrom("key_backups").selectAll().where("identity_id", "=", id).executeTakeFirst();
    if (!b) return refuse(c, "key_backup_missing", "no key backup found for this identity: the key cannot be recovered", `identity/${id}`, "IdentityRestoreRefused");
    let taken: Awaited<ReturnType<KeyBackend["restore"]>>;
    try {
      taken = await backend.restore({ user: r.user_id, identityId: id, curve: r.curve }, r.public_key, b.sealed_key);
    } catch (e) {
      if (e instanceof ClawkeepError) return refuse(c, e.code, e.message, `identity/${id}`, "IdentityRestoreRefused");
      throw e;
    }
    let resealed = false;
    if (taken.resealed) {
      const n = await db
        .updateTable("key_backups")
        .set({ sealed_key: taken.resealed.sealed, key_id: taken.resealed.keyId, format: "ck-sk1", updated_at: new Date().toISOString() })
        .where("identity_id", "=", id)
        .where("sealed_key", "=", b.sealed_key)
        .executeTakeFirst();
      resealed = Number(n.numUpdatedRows) === 1;
    }
    await audit.record({ userId: c.userId, actor: c.actor, action: "IdentityRestored", target: `identity/${id}`, outcome: "success", metadata: { from_format: taken.format, resealed, signer_mode: backend.mode } });
    await deps.durable();
    return { identity: id, address: r.address, format: resealed ? "ck-sk1" : taken.format, resealed };
  }

  return { create, list, get, destroy, signIntent, sign, restore, getPolicy, setPolicy, pruneSpends: guards.pruneSpends };
}

export type Signer = ReturnType<typeof createSigner>;
