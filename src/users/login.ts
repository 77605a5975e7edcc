import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { constantTimeEqual, sha256Hex } from "../crypto/bytes.js";
import { ClawkeepError } from "../errors.js";
import type { AuditLog } from "../audit/log.js";
import { isUniqueViolation } from "../store/meta/errors.js";
import type { AuthChallengesTable, DB } from "../store/meta/schema.js";
import type { UserService } from "./users.js";

// The seed's challenge login: `challenge` → the user opens the deep link in Telegram and taps
// Start → the bot's webhook resolves the challenge → `verify` turns it into a session. A session
// is an API token of the user's with an expiry (SESSION_TTL_SECONDS), so it is revoked, audited
// and checked exactly like any other token. Challenges live in the meta store (strongly
// consistent, as the seed keeps them in D1 rather than KV).
//
// Beyond the seed: `challenge` also answers a `challenge_secret` that never appears in the deep
// link; `verify` needs it. Whoever sees the link (a shared chat, a screenshot) can resolve the
// challenge for their own account but cannot collect the session.

/** The name every session token gets, which tells a login's session from an API token. */
export const SESSION_TOKEN_NAME = "session:telegram";

export const CHALLENGE_ID_RE = /^chl_[0-9a-f]{32}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;
const TELEGRAM_ID_RE = /^[1-9][0-9]{0,19}$/;

export interface LoginSettings {
  challengeTtlSeconds: number;
  sessionTtlSeconds: number;
  /** Test mode (no TELEGRAM_BOT_TOKEN): a challenge that names a telegram_user_id resolves at once. */
  testMode: boolean;
  botUsername: string | undefined;
  /** TELEGRAM_WEBHOOK_SECRET; unset in test mode, where there is no bot and so no webhook. */
  webhookSecret: { unwrap(): string } | undefined;
}

export function createLogin(deps: {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  audit: AuditLog;
  users: UserService;
  settings: LoginSettings;
  /** After a verified login: a fresh login lifts the user's signer freeze. */
  onSession?: (userId: string, actor: string) => Promise<void>;
}) {
  const { db, audit, settings } = deps;

  async function challenge(body: { telegramUserId?: string }) {
    if (body.telegramUserId !== undefined) {
      if (!settings.testMode) throw new ClawkeepError("bad_request", "telegram_user_id is accepted only in test mode (TELEGRAM_BOT_TOKEN unset and the server bound to loopback)");
      if (!TELEGRAM_ID_RE.test(body.telegramUserId)) throw new ClawkeepError("bad_request", "telegram_user_id must be a positive decimal integer");
    }
    const id = `chl_${randomBytes(16).toString("hex")}`;
    const secret = randomBytes(32).toString("base64url");
    const now = new Date();
    const resolveNow = settings.testMode && body.telegramUserId !== undefined;
    const row: AuthChallengesTable = {
      id,
      secret_hash: sha256Hex(secret),
      telegram_user_id: resolveNow ? body.telegramUserId! : null,
      status: resolveNow ? "resolved" : "pending",
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + settings.challengeTtlSeconds * 1000).toISOString(),
      resolved_at: resolveNow ? now.toISOString() : null,
      consumed_at: null,
    };
    await db.transaction().execute(async (trx) => {
      await trx.insertInto("auth_challenges").values(row).execute();
      await audit.append(trx, { userId: null, actor: "anonymous", action: "AuthChallengeCreated", target: `challenge/${id}`, outcome: "success", metadata: { test_mode: settings.testMode, resolved: resolveNow } });
    });
    await deps.durable();
    const deepLink = settings.botUsername ? `https://t.me/${settings.botUsername}?start=${id}` : `tg://resolve?start=${id}`;
    return { challengeId: id, challengeSecret: secret, deepLink, expiresAt: row.expires_at, status: row.status };
  }

  /** The webhook's part: `/start <challenge_id>` from Telegram user `from`. Unknown, expired or settled challenges are ignored. */
  async function resolveFromTelegram(challengeId: string, telegramUserId: string): Promise<boolean> {
    if (!CHALLENGE_ID_RE.test(challengeId) || !TELEGRAM_ID_RE.test(telegramUserId)) return false;
    const now = new Date().toISOString();
    const r = await db
      .updateTable("auth_challenges")
      .set({ status: "resolved", telegram_user_id: telegramUserId, resolved_at: now })
      .where("id", "=", challengeId)
      .where("status", "=", "pending")
      .where("expires_at", ">", now)
      .executeTakeFirst();
    const ok = Number(r.numUpdatedRows) === 1;
    if (ok) {
      await audit.record({ userId: null, actor: `telegram:${telegramUserId}`, action: "AuthChallengeResolved", target: `challenge/${challengeId}`, outcome: "success" });
      await deps.durable();
    }
    return ok;
  }

  async function refuse(code: "not_found" | "challenge_pending" | "challenge_expired" | "challenge_used", message: string, id: string): Promise<never> {
    await audit.record({ userId: null, actor: "anonymous", action: "AuthVerifyRefused", target: `challenge/${id.slice(0, 40)}`, outcome: "failure", metadata: { code } });
    throw new ClawkeepError(code, message);
  }

  /** The user a Telegram account signs in as, made on its first login (as the seed's `cash init` does). */
  async function userFor(telegramUserId: string) {
    const link = await db.selectFrom("telegram_links").innerJoin("users", "users.id", "telegram_links.user_id").select(["users.id", "users.name"]).where("telegram_user_id", "=", telegramUserId).executeTakeFirst();
    return link;
  }

  async function verify(body: { challengeId: string; challengeSecret: string }) {
    const id = body.challengeId;
    if (!CHALLENGE_ID_RE.test(id) || !SECRET_RE.test(body.challengeSecret)) return refuse("not_found", "no such challenge", id);
    const row = await db.selectFrom("auth_challenges").selectAll().where("id", "=", id).executeTakeFirst();
    // A wrong secret answers as an unknown challenge.
    if (!row || !constantTimeEqual(row.secret_hash, sha256Hex(body.challengeSecret))) return refuse("not_found", "no such challenge", id);
    if (row.status === "consumed") return refuse("challenge_used", "this challenge was already used: start a new login", id);
    if (Date.parse(row.expires_at) <= Date.now()) return refuse("challenge_expired", "this challenge has expired: start a new login", id);
    if (row.status === "pending") return refuse("challenge_pending", "the challenge is not resolved yet: open the deep link in Telegram and tap Start, then verify again", id);
    // Consumed by exactly one verify, on any node.
    const took = await db
      .updateTable("auth_challenges")
      .set({ status: "consumed", consumed_at: new Date().toISOString() })
      .where("id", "=", id)
      .where("status", "=", "resolved")
      .executeTakeFirst();
    if (Number(took.numUpdatedRows) !== 1) return refuse("challenge_used", "this challenge was already used: start a new login", id);
    const tg = row.telegram_user_id!;
    const session = { name: SESSION_TOKEN_NAME, ttlSeconds: settings.sessionTtlSeconds };
    let user = await userFor(tg);
    let token: { token: string; expiresAt: string | null };
    if (!user) {
      try {
        const made = await deps.users.createUser({ userId: null, actor: `telegram:${tg}` }, `tg-${tg}`, { firstToken: session });
        await db.insertInto("telegram_links").values({ telegram_user_id: tg, user_id: made.user.id, created_at: made.user.createdAt }).execute();
        user = { id: made.user.id, name: made.user.name };
        token = made;
      } catch (e) {
        // Two first logins of one account at once: the other made the user.
        if (!(e instanceof ClawkeepError && e.code === "conflict") && !isUniqueViolation(e)) throw e;
        user = await userFor(tg);
        if (!user) {
          // The user was made but its link was not (a crash in between): link it now. Only an
          // administrator could otherwise have named a user tg-<id>.
          const named = await db.selectFrom("users").select(["id", "name"]).where("name", "=", `tg-${tg}`).executeTakeFirst();
          if (!named) throw e;
          await db.insertInto("telegram_links").values({ telegram_user_id: tg, user_id: named.id, created_at: new Date().toISOString() }).onConflict((oc) => oc.column("telegram_user_id").doNothing()).execute();
          user = await userFor(tg);
          if (!user) throw e;
        }
        token = await deps.users.createToken({ userId: user.id, userName: user.name, tokenId: "", isAdmin: false, expiresMs: null }, session.name, session.ttlSeconds, { session: true });
      }
    } else {
      token = await deps.users.createToken({ userId: user.id, userName: user.name, tokenId: "", isAdmin: false, expiresMs: null }, session.name, session.ttlSeconds, { session: true });
    }
    await audit.record({ userId: user.id, actor: `telegram:${tg}`, action: "SessionCreated", target: `challenge/${id}`, outcome: "success", metadata: { expires_at: token.expiresAt } });
    await deps.durable();
    await deps.onSession?.(user.id, `telegram:${tg}`);
    return { token: token.token, expiresAt: token.expiresAt, user };
  }

  /** Maintenance: drops challenges a day past their expiry. */
  async function prune(): Promise<number> {
    const r = await db.deleteFrom("auth_challenges").where("expires_at", "<", new Date(Date.now() - 86_400_000).toISOString()).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Telegram's `X-Telegram-Bot-Api-Secret-Token`, compared in constant time. */
  const webhookAuthorized = (given: string | undefined): boolean =>
    settings.webhookSecret !== undefined && given !== undefined && constantTimeEqual(given, settings.webhookSecret.unwrap());

  /** When the token was made, if it is one of the user's login sessions; null for an API token. */
  async function sessionStartedAt(userId: string, tokenId: string): Promise<string | null> {
    const t = await db.selectFrom("tokens").select(["name", "created_at"]).where("id", "=", tokenId).where("user_id", "=", userId).executeTakeFirst();
    return t && t.name === SESSION_TOKEN_NAME ? t.created_at : null;
  }

  return { challenge, resolveFromTelegram, verify, prune, webhookAuthorized, sessionStartedAt };
}

export type Login = ReturnType<typeof createLogin>;
