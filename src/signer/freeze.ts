import type { Kysely } from "kysely";
import { ClawkeepError } from "../errors.js";
import type { AuditLog } from "../audit/log.js";
import type { DB } from "../store/meta/schema.js";
import type { Guards, Subject } from "./guards.js";
import type { SignerCaller } from "./identities.js";

// The one-call freeze (issue 14): a user stops all signing for themselves or for one agent.
// Open tickets are void at once, and stay void after the freeze is lifted. A user's freeze is
// lifted by a fresh challenge login (the Telegram account, not a token that may be what leaked);
// an agent's by its user, with a session from a login made after the freeze.

export function createFreeze(deps: {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  audit: AuditLog;
  guards: Guards;
  agentId: (c: SignerCaller, name: string) => Promise<string>;
  /** When the token was made, if it is a login session (null for an API token). */
  sessionStartedAt: (userId: string, tokenId: string) => Promise<string | null>;
}) {
  const { db, audit, guards } = deps;

  async function subjectOf(c: SignerCaller, agent: string | undefined): Promise<Subject> {
    if (c.agentId) throw new ClawkeepError("forbidden", "an agent cannot freeze or unfreeze signing");
    return agent === undefined ? `user:${c.userId}` : `agent:${await deps.agentId(c, agent)}`;
  }

  async function freeze(c: SignerCaller, opts: { agent?: string }) {
    const subject = await subjectOf(c, opts.agent);
    const at = await db.transaction().execute(async (trx) => {
      const now = await guards.freeze(trx, subject, c.userId, c.actor);
      await audit.append(trx, { userId: c.userId, actor: c.actor, action: "SignerFrozen", target: subject, outcome: "success", metadata: { agent: opts.agent ?? null } });
      return now;
    });
    await deps.durable();
    return { subject, frozen: true, frozenAt: at, ticketsVoidBefore: at };
  }

  /** Lifts a freeze; `tokenId` is the caller's token, which must be a session newer than the freeze. */
  async function unfreeze(c: SignerCaller, opts: { agent?: string }, tokenId: string) {
    const subject = await subjectOf(c, opts.agent);
    const h = await guards.hold(subject);
    if (!h || h.frozen !== 1) return { subject, frozen: false, frozenAt: null };
    const started = await deps.sessionStartedAt(c.userId, tokenId);
    if (started === null || Date.parse(started) <= Date.parse(h.frozen_at ?? "")) {
      await audit.record({ userId: c.userId, actor: c.actor, action: "SignerUnfreezeRefused", target: subject, outcome: "failure", metadata: { code: "fresh_login_required" } });
      throw new ClawkeepError("fresh_login_required", "lifting a freeze needs a session from a login made after it: run `clawkeep login` and retry with that session");
    }
    await lifted(subject, c.userId, c.actor);
    return { subject, frozen: false, frozenAt: h.frozen_at };
  }

  async function lifted(subject: Subject, userId: string, actor: string): Promise<boolean> {
    const was = await db.transaction().execute(async (trx) => {
      const at = await guards.lift(trx, subject);
      if (at) await audit.append(trx, { userId, actor, action: "SignerUnfrozen", target: subject, outcome: "success", metadata: { frozen_at: at } });
      return at;
    });
    if (was) await deps.durable();
    return was !== null;
  }

  /** A verified challenge login is the fresh login: it lifts the user's own freeze. */
  const onLogin = (userId: string, actor: string) => lifted(`user:${userId}`, userId, actor);

  async function status(c: SignerCaller) {
    const rows = await db.selectFrom("signer_holds").selectAll().where("user_id", "=", c.userId).where("frozen", "=", 1).execute();
    return rows.map((r) => ({ subject: r.subject, frozenAt: r.frozen_at }));
  }

  return { freeze, unfreeze, onLogin, status };
}

export type Freeze = ReturnType<typeof createFreeze>;
