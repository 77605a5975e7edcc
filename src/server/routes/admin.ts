import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { AuditLog } from "../../audit/log.js";
import { USER_RE, type UserService } from "../../users/users.js";
import type { Erasure } from "../../vault/erasure.js";
import { principal, requireAdmin } from "../auth.js";

const USER_VERIFY_MS = 60_000;

const NewUser = z.strictObject({ name: z.string(), admin: z.boolean().default(false) });
const NewToken = z.strictObject({ name: z.string().default("api"), ttl_seconds: z.number().int().min(60).max(10 * 365 * 86400).optional() });

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new ClawkeepError("bad_request", `invalid body: ${r.error.issues[0]?.path.join(".") || "root"} ${r.error.issues[0]?.message ?? ""}`.trim());
  return r.data;
}

export function userRoutes(app: FastifyInstance, users: UserService, erasure: Erasure) {
  app.post("/v1/users", async (req, reply) => {
    const admin = requireAdmin(req);
    const body = parse(NewUser, req.body);
    const r = await users.createUser({ userId: admin.userId, actor: admin.userId }, body.name, { admin: body.admin });
    return reply.status(201).send({ user: { id: r.user.id, name: r.user.name, admin: r.user.admin, created_at: r.user.createdAt }, token: r.token });
  });

  // Cryptographic erasure of a whole user: every epoch key destroyed, every blob and row deleted.
  app.delete<{ Params: { name: string } }>("/v1/users/:name", async (req) => {
    const admin = requireAdmin(req);
    if (!USER_RE.test(req.params.name)) throw new ClawkeepError("invalid_name", "user name must match [a-z0-9][a-z0-9_-]{0,62}");
    const r = await erasure.deleteUser({ userId: admin.userId, actor: admin.userId }, req.params.name);
    return {
      user_id: r.userId,
      name: req.params.name,
      deleted: true,
      versions: r.versions,
      blobs_deleted: r.blobsDeleted,
      agents: r.agents,
      tokens: r.tokens,
      epochs_destroyed: r.epochsDestroyed,
    };
  });

  app.get("/v1/whoami", async (req) => {
    const p = principal(req);
    return { user: { id: p.userId, name: p.userName, admin: p.isAdmin }, token_id: p.tokenId };
  });

  app.post("/v1/tokens", async (req, reply) => {
    const body = parse(NewToken, req.body);
    const t = await users.createToken(principal(req), body.name, body.ttl_seconds);
    return reply.status(201).send({ id: t.id, token: t.token, name: t.name, created_at: t.createdAt, expires_at: t.expiresAt });
  });

  app.get("/v1/tokens", async (req) => ({
    tokens: (await users.listTokens(principal(req))).map((t) => ({ id: t.id, name: t.name, created_at: t.createdAt, expires_at: t.expiresAt, revoked_at: t.revokedAt })),
  }));

  app.delete<{ Params: { id: string } }>("/v1/tokens/:id", async (req) => {
    await users.revokeToken(principal(req), req.params.id);
    return { id: req.params.id, revoked: true };
  });
}

export function auditRoutes(app: FastifyInstance, audit: AuditLog) {
  app.get<{ Querystring: { after?: string; limit?: string } }>("/v1/audit", async (req) => {
    const p = principal(req);
    const after = req.query.after === undefined ? 0 : Number(req.query.after);
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isSafeInteger(after) || after < 0) throw new ClawkeepError("bad_request", "after must be a non-negative integer");
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new ClawkeepError("bad_request", "limit must be an integer 1..1000");
    // Admins read the whole log; a user reads the events about their own account.
    const events = await audit.list({ after, limit, ...(p.isAdmin ? {} : { userId: p.userId }) });
    return { events, next: events.length === limit ? events[events.length - 1]!.seq : null };
  });

  // The chain is global: its length and where it breaks say something about every user's
  // activity, so an administrator gets the full answer (count, the event where it breaks) and
  // a user only whether the chain holding their events is intact, and when that was checked. A
  // user's answer comes from a check at most USER_VERIFY_MS old (walking the whole chain is not
  // something every user may make the server do on demand); an administrator's check is always
  // fresh and refreshes it.
  let lastCheck: { ok: boolean; at: number } | null = null;
  let running: Promise<{ ok: boolean; at: number }> | null = null;
  const check = () =>
    (running ??= audit
      .verify()
      .then((r) => (lastCheck = { ok: r.ok, at: Date.now() }))
      .finally(() => (running = null)));
  app.get("/v1/audit/verify", async (req) => {
    const p = principal(req);
    if (p.isAdmin) {
      const r = await audit.verify();
      lastCheck = { ok: r.ok, at: Date.now() };
      return r;
    }
    const c = lastCheck && Date.now() - lastCheck.at < USER_VERIFY_MS ? lastCheck : await check();
    return { ok: c.ok, verified_at: new Date(c.at).toISOString() };
  });
}
