import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
import { createHmac } from "node:crypto";
import { constantTimeEqual } from "../crypto/bytes.js";
import { ClawkeepError } from "../errors.js";
import { isUniqueViolation } from "../store/meta/errors.js";
import { rowMacs } from "../keys/row-mac.js";
import type { AuditLog } from "../audit/log.js";
import type { DB } from "../store/meta/schema.js";

// Users and their API tokens. A token is `ck_` + 43 base64url characters (256 random bits). The
// server keeps only keyed digests under the `token` purpose key (docs/formats.md §4): a lookup
// HMAC, and a row MAC binding the token to its id, user and expiry. So neither a database dump
// nor database write access yields a usable token: a row inserted, re-pointed at another user,
// extended or un-revoked by someone without the master key does not authenticate.

export const USER_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const TOKEN_RE = /^ck_[A-Za-z0-9_-]{43}$/;

export interface Principal {
  userId: string;
  userName: string;
  tokenId: string;
  isAdmin: boolean;
  /** When the token stops working (ms since the epoch), or null: a cache must not outlive it. */
  expiresMs?: number | null;
}

export interface UserInfo {
  id: string;
  name: string;
  admin: boolean;
  createdAt: string;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(10).toString("hex")}`;
const newToken = () => `ck_${randomBytes(32).toString("base64url")}`;

const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest("hex");
export const tokenLookup = (key: Buffer, token: string) => hmac(key, `clawkeep/token-lookup/v1\n${token}`);
/** MAC of a users row (formats §16): a database writer cannot grant admin rights or forge a user. */
export const userRowMac = (key: Buffer, r: { id: string; name: string; is_admin: number }) => hmac(key, `clawkeep/user-row/v1\n${r.id}\n${r.name}\n${r.is_admin}`);
export const tokenRowMac = (key: Buffer, token: string, r: { id: string; user_id: string; expires_at: string | null }) =>
  hmac(key, `clawkeep/token-row/v1\n${token}\n${r.id}\n${r.user_id}\n${r.expires_at ?? ""}`);

/** `tokenKeys[0]` (primary master key) makes new tokens; earlier keys still verify theirs. */
export function createUserService(deps: {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  audit: AuditLog;
  tokenKeys: Buffer[];
  /** Row-MAC keys, primary first (earlier master keys verify rows until a rotation re-MACs them). */
  rowKeys: Buffer[];
  onRevocation?: (userId: string, reason: string) => Promise<unknown>;
  /** How long a successful token check is reused on this node (CLAWKEEP_AUTH_CACHE_MS); 0: never. */
  authCacheMs?: number;
}) {
  const { db, audit } = deps;
  if (!deps.tokenKeys[0]) throw new Error("user service needs a token key");
  const tokenKey: Buffer = deps.tokenKeys[0];
  const userMacs = rowMacs<{ id: string; name: string; is_admin: number; mac: string }>(deps.rowKeys, userRowMac, "user service");
  const userRowValid = userMacs.valid;
  const tokenRow = (token: string, r: { id: string; user_id: string; expires_at: string | null }) => ({
    token_hash: tokenLookup(tokenKey, token),
    mac: tokenRowMac(tokenKey, token, r),
  });

  /** `firstToken`: name and lifetime of the token made with the user (a login session's, say); default a non-expiring "initial". */
  async function createUser(actor: { userId: string | null; actor: string }, name: string, opts: { admin?: boolean; firstToken?: { name: string; ttlSeconds: number } } = {}) {
    if (!USER_RE.test(name)) throw new ClawkeepError("invalid_name", "user name must match [a-z0-9][a-z0-9_-]{0,62}");
    const user: UserInfo = { id: newId("usr"), name, admin: opts.admin ?? false, createdAt: new Date().toISOString() };
    const token = newToken();
    const tokenId = newId("tok");
    const expiresAt = opts.firstToken ? new Date(Date.parse(user.createdAt) + opts.firstToken.ttlSeconds * 1000).toISOString() : null;
    try {
      await db.transaction().execute(async (trx) => {
        const row = { id: user.id, name, is_admin: user.admin ? 1 : 0 };
        await trx.insertInto("users").values({ ...row, created_at: user.createdAt, mac: userMacs.sign(row) }).execute();
        await trx
          .insertInto("tokens")
          .values({
            id: tokenId,
            user_id: user.id,
            ...tokenRow(token, { id: tokenId, user_id: user.id, expires_at: expiresAt }),
            name: opts.firstToken?.name ?? "initial",
            created_at: user.createdAt,
            expires_at: expiresAt,
            revoked_at: null,
          })
          .execute();
        await audit.append(trx, { userId: user.id, actor: actor.actor, action: "UserCreated", target: `user/${name}`, outcome: "success", metadata: { admin: user.admin } });
        await audit.append(trx, { userId: user.id, actor: actor.actor, action: "TokenCreated", target: `token/${tokenId}`, outcome: "success" });
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new ClawkeepError("conflict", "a user with that name already exists");
      throw e;
    }
    await deps.durable();
    return { user, token, tokenId, expiresAt };
  }

  /** `opts.session`: a challenge login's session; only the login may make one (its name is reserved). */
  async function createToken(p: Principal, name: string, ttlSeconds?: number, opts: { session?: boolean } = {}) {
    if (!/^[A-Za-z0-9 _.:-]{1,64}$/.test(name)) throw new ClawkeepError("bad_request", "token name must be 1-64 characters of [A-Za-z0-9 _.:-]");
    // A session proves a fresh login (it lifts a signer freeze): a token holder must not mint one.
    if (/^session:/i.test(name) !== Boolean(opts.session)) throw new ClawkeepError("bad_request", "token names starting with session: are reserved for login sessions");
    const token = newToken();
    const id = newId("tok");
    const now = new Date();
    // A token never mints one that outlives it (as Vault caps a child token's TTL at its
    // parent's): otherwise a short-lived token, once leaked, buys access for good.
    let expiresMs = ttlSeconds ? now.getTime() + ttlSeconds * 1000 : null;
    const cap = p.expiresMs ?? null;
    if (cap !== null && (expiresMs === null || expiresMs > cap)) expiresMs = cap;
    const expiresAt = expiresMs === null ? null : new Date(expiresMs).toISOString();
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto("tokens")
        .values({ id, user_id: p.userId, ...tokenRow(token, { id, user_id: p.userId, expires_at: expiresAt }), name, created_at: now.toISOString(), expires_at: expiresAt, revoked_at: null })
        .execute();
      await audit.append(trx, { userId: p.userId, actor: p.userId, action: "TokenCreated", target: `token/${id}`, outcome: "success", metadata: { name, expires_at: expiresAt } });
    });
    await deps.durable();
    return { id, token, name, createdAt: now.toISOString(), expiresAt };
  }

  async function listTokens(p: Principal) {
    const rows = await db
      .selectFrom("tokens")
      .select(["id", "name", "created_at", "expires_at", "revoked_at"])
      .where("user_id", "=", p.userId)
      .orderBy("created_at")
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at }));
  }

  async function revokeToken(p: Principal, id: string) {
    await db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable("tokens")
        // Overwriting the lookup digest makes revocation final: clearing revoked_at later (with
        // database access) cannot bring the token back.
        .set({ revoked_at: new Date().toISOString(), token_hash: `revoked:${randomBytes(16).toString("hex")}` })
        .where("id", "=", id)
        .where("user_id", "=", p.userId)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new ClawkeepError("not_found", "no such token");
      await audit.append(trx, { userId: p.userId, actor: p.userId, action: "TokenRevoked", target: `token/${id}`, outcome: "success" });
    });
    forgetAuth();
    await deps.durable();
    await deps.onRevocation?.(p.userId, "token_revoked");
  }

  // Every request authenticates, so the lookup is built and compiled once and run with fresh
  // parameters: Kysely's per-call query building cost more than the query itself.
  const byHash = db
    .selectFrom("tokens")
    .innerJoin("users", "users.id", "tokens.user_id")
    .select(["tokens.id", "tokens.token_hash", "tokens.mac", "tokens.expires_at", "tokens.revoked_at", "users.id as user_id", "users.name", "users.is_admin", "users.mac as user_mac"])
    .where("tokens.token_hash", "=", "")
    .compile();

  // Successful checks are reused for at most authCacheMs and never past the token's expiry: the
  // check is a database read and three MACs on every request. Keyed by the token's lookup digest
  // (what the tokens table holds), so the map never holds a token. A revocation or erasure on
  // this node empties it at once (forgetAuth); one made on another node, or a row changed by a
  // database writer, is seen within authCacheMs. Failures are never cached: each is checked and
  // audited.
  const cacheMs = deps.authCacheMs ?? 0;
  const authCache = new Map<string, { p: Principal; expires: number }>();
  // Bumped by forgetAuth: a check that began before a revocation does not refill the cache after it.
  let generation = 0;
  function forgetAuth(): void {
    generation++;
    authCache.clear();
  }

  // Every failure is audited with a reason but never with the presented token.
  /** `fresh`: skip this cache (a caller with its own, such as the proxy, whose bound must hold alone). */
  async function authenticate(bearer: string | undefined, ip: string, opts: { fresh?: boolean } = {}): Promise<Principal> {
    const fail = async (reason: string, userId: string | null = null): Promise<never> => {
      await audit.record({ userId, actor: "anonymous", action: "AuthFailed", target: "token", outcome: "failure", metadata: { reason, ip } });
      throw new ClawkeepError("unauthorized", "missing or invalid bearer token");
    };
    if (!bearer) return fail("missing");
    if (!TOKEN_RE.test(bearer)) return fail("malformed");
    const primaryHash = tokenLookup(tokenKey, bearer);
    const now = Date.now();
    if (cacheMs > 0 && !opts.fresh) {
      const hit = authCache.get(primaryHash);
      if (hit && hit.expires > now) return hit.p;
    }
    const gen = generation;
    const p = await check(bearer, primaryHash, fail);
    if (cacheMs > 0 && gen === generation) {
      if (authCache.size >= 10_000) authCache.clear();
      authCache.set(primaryHash, { p, expires: Math.min(now + cacheMs, p.expiresMs ?? Infinity) });
    }
    return p;
  }

  async function check(bearer: string, primaryHash: string, fail: (reason: string, userId?: string | null) => Promise<never>): Promise<Principal> {
    // Try the primary key first; earlier master keys verify tokens issued before a rotation.
    for (const key of deps.tokenKeys) {
      const hash = key === tokenKey ? primaryHash : tokenLookup(key, bearer);
      const row = (await db.executeQuery({ ...byHash, parameters: [hash] } as typeof byHash)).rows[0];
      if (!row) continue;
      if (!constantTimeEqual(row.token_hash, hash)) return fail("unknown");
      if (!constantTimeEqual(row.mac, tokenRowMac(key, bearer, row))) return fail("row_mac_invalid", row.user_id);
      if (row.revoked_at) return fail("revoked", row.user_id);
      // The user row itself: an admin flag (or name) set by a database writer is not believed.
      if (!userRowValid({ id: row.user_id, name: row.name, is_admin: row.is_admin, mac: row.user_mac })) return fail("user_row_mac_invalid", row.user_id);
      if (row.expires_at && Date.parse(row.expires_at) <= Date.now()) return fail("expired", row.user_id);
      // Frozen: a cached principal is shared by every request that presents the token.
      return Object.freeze({ userId: row.user_id, userName: row.name, tokenId: row.id, isAdmin: row.is_admin === 1, expiresMs: row.expires_at ? Date.parse(row.expires_at) : null });
    }
    return fail("unknown");
  }

  /**
   * Who may read /metrics: the scrape token if one is configured (compared in constant time; it
   * opens nothing else), otherwise an admin's API token (checked, and a failure audited, as
   * any other).
   */
  async function authorizeScrape(bearer: string | undefined, ip: string, scrapeToken: { unwrap(): string } | undefined): Promise<void> {
    if (bearer !== undefined && scrapeToken && constantTimeEqual(bearer, scrapeToken.unwrap())) return;
    const p = await authenticate(bearer, ip);
    if (!p.isAdmin) throw new ClawkeepError("forbidden", "metrics need the scrape token (CLAWKEEP_METRICS_TOKEN) or an admin token");
  }

  const hasAdmin = async () => (await db.selectFrom("users").select(["id", "name", "is_admin", "mac"]).where("is_admin", "=", 1).execute()).some(userRowValid);

  /** Master-key rotation: re-MACs every users row under the primary key (compare-and-swap per row); a row no loaded key verifies is left alone. */
  async function remacUsers(): Promise<number> {
    const rows = await db.selectFrom("users").select(["id", "name", "is_admin", "mac"]).execute();
    const n = await userMacs.remac(rows, async (r, next) => (await db.updateTable("users").set({ mac: next }).where("id", "=", r.id).where("mac", "=", r.mac).executeTakeFirst()).numUpdatedRows);
    await deps.durable();
    return n;
  }

  return { createUser, createToken, listTokens, revokeToken, authenticate, forgetAuth, authorizeScrape, hasAdmin, remacUsers };
}

export type UserService = ReturnType<typeof createUserService>;
