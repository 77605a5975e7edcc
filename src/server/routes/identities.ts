import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { IdentityInfo, Signer, SignerCaller } from "../../signer/identities.js";
import type { Freeze } from "../../signer/freeze.js";
import type { Decision } from "../../signer/policy.js";
import type { RateLimiter } from "../../signer/rate-limit.js";
import { principal } from "../auth.js";

// Signer routes (seed 003): identities, sign-intent → preview + ticket, sign, restore, policy and
// freeze. The same handlers serve users (`/v1/identities`) and agents (`/v1/agent/identities`,
// registered in the agent scope with the agent as caller). Responses that carry a ticket or a
// signature are never cached. Every call counts against RATE_LIMIT_PER_USER, and a signature
// also against RATE_LIMIT_PER_IDENTITY_SIGN, in the meta store (shared by all nodes).

const NewIdentity = z.strictObject({
  curve: z.string(),
  label: z.string().optional(),
  agent: z.string().optional(),
  allow_blind_signing: z.boolean().optional(),
});
const Intent = z.strictObject({ payload: z.unknown() });
const Sign = z.strictObject({ ticket: z.string().max(4096), payload: z.unknown() });
const Subject = z.strictObject({ agent: z.string().optional() });
type P = { id: string };

export interface SignerRouteDeps {
  signer: Signer;
  freeze: Freeze;
  limiter: RateLimiter;
  limits: { perUser: number; perIdentitySign: number };
}

const view = (i: IdentityInfo) => ({
  id: i.id,
  curve: i.curve,
  chain: i.curve === "secp256k1" ? "evm" : "solana",
  address: i.address,
  public_key: i.publicKey,
  label: i.label,
  agent_id: i.agentId,
  allow_blind_signing: i.allowBlind,
  status: i.status,
  created_at: i.createdAt,
  destroyed_at: i.destroyedAt,
});

const decisionView = (d: Decision) => ({ allowed: d.allowed, rule: d.rule ?? null, reason: d.reason, value: d.value, budget: d.budget ?? null });

/** Registers the identity routes under `prefix` for callers `callerOf` resolves. */
export function identityRoutes(app: FastifyInstance, deps: SignerRouteDeps, prefix: string, callerOf: (req: FastifyRequest) => SignerCaller) {
  const { signer, limiter, limits } = deps;
  const caller = async (req: FastifyRequest) => {
    const c = callerOf(req);
    await limiter.hit(`user:${c.userId}`, limits.perUser);
    return c;
  };
  const body = (req: FastifyRequest) => (typeof req.body === "string" ? parseJson(req.body) : (req.body ?? {}));

  app.post(prefix, async (req, reply) => {
    const b = NewIdentity.safeParse(body(req));
    if (!b.success) throw new ClawkeepError("bad_request", 'body must be {"curve": "secp256k1"|"ed25519", "label"?: string, "agent"?: string, "allow_blind_signing"?: boolean}');
    const i = await signer.create(await caller(req), { curve: b.data.curve, label: b.data.label, agent: b.data.agent, allowBlindSigning: b.data.allow_blind_signing });
    return reply.status(201).send(view(i));
  });
  app.get(prefix, async (req) => ({ identities: (await signer.list(await caller(req))).map(view) }));
  app.get<{ Params: P }>(`${prefix}/:id`, async (req) => view(await signer.get(await caller(req), req.params.id)));
  app.delete<{ Params: P }>(`${prefix}/:id`, async (req) => view(await signer.destroy(await caller(req), req.params.id)));

  app.get<{ Params: P }>(`${prefix}/:id/policy`, async (req) => ({ identity: req.params.id, policy: await signer.getPolicy(await caller(req), req.params.id) }));
  app.put<{ Params: P }>(`${prefix}/:id/policy`, async (req) => ({ identity: req.params.id, policy: await signer.setPolicy(await caller(req), req.params.id, body(req)) }));

  app.post<{ Params: P; Querystring: { dry_run?: string } }>(`${prefix}/:id/sign-intent`, async (req, reply) => {
    const b = Intent.safeParse(body(req));
    if (!b.success || b.data.payload === undefined) throw new ClawkeepError("bad_request", 'body must be {"payload": {"kind": ..., ...}}');
    const dryRun = req.query.dry_run === "1" || req.query.dry_run === "true";
    const r = await signer.signIntent(await caller(req), req.params.id, b.data.payload, { dryRun });
    reply.header("cache-control", "no-store");
    const common = { kind: r.kind, preview: r.preview, preview_hash: r.previewHash, payload_hash: r.payloadHash, policy: decisionView(r.decision) };
    if (r.dryRun) return reply.send({ dry_run: true, ...common });
    return reply.send({ ticket: r.ticket, expires_at: r.expiresAt, ...common });
  });

  app.post<{ Params: P }>(`${prefix}/:id/sign`, async (req, reply) => {
    const b = Sign.safeParse(body(req));
    if (!b.success || b.data.payload === undefined) throw new ClawkeepError("bad_request", 'body must be {"ticket": string, "payload": {...}} (the payload sent to sign-intent)');
    // The caller's and the identity's limits, counted in one statement.
    const c = callerOf(req);
    await limiter.hitAll([
      { key: `user:${c.userId}`, limit: limits.perUser },
      { key: `sign:${c.userId}:${req.params.id.slice(0, 40)}`, limit: limits.perIdentitySign },
    ]);
    return reply.header("cache-control", "no-store").send(await signer.sign(c, req.params.id, b.data.ticket, b.data.payload));
  });

  app.post<{ Params: P }>(`${prefix}/:id/restore`, async (req) => signer.restore(await caller(req), req.params.id));
}

function parseJson(text: string): unknown {
  try {
    return text === "" ? {} : JSON.parse(text);
  } catch {
    throw new ClawkeepError("bad_request", "request body is not valid JSON");
  }
}

const userCaller = (req: FastifyRequest): SignerCaller => {
  const p = principal(req);
  return { userId: p.userId, actor: p.userId };
};

/** The user-facing signer routes: identities and the freeze switch. */
export function userSignerRoutes(app: FastifyInstance, deps: SignerRouteDeps) {
  identityRoutes(app, deps, "/v1/identities", userCaller);
  const subject = (req: FastifyRequest) => {
    const b = Subject.safeParse(req.body ?? {});
    if (!b.success) throw new ClawkeepError("bad_request", 'body must be {} (yourself) or {"agent": "<name>"}');
    return b.data;
  };
  const limited = async (req: FastifyRequest) => {
    const c = userCaller(req);
    await deps.limiter.hit(`user:${c.userId}`, deps.limits.perUser);
    return c;
  };
  app.get("/v1/signer/freeze", async (req) => ({ frozen: (await deps.freeze.status(await limited(req))).map((f) => ({ subject: f.subject, frozen_at: f.frozenAt })) }));
  app.post("/v1/signer/freeze", async (req) => {
    const r = await deps.freeze.freeze(await limited(req), subject(req));
    return { subject: r.subject, frozen: r.frozen, frozen_at: r.frozenAt, tickets_void_before: r.ticketsVoidBefore };
  });
  app.post("/v1/signer/unfreeze", async (req) => {
    const c = await limited(req);
    const r = await deps.freeze.unfreeze(c, subject(req), principal(req).tokenId);
    return { subject: r.subject, frozen: r.frozen, was_frozen_at: r.frozenAt };
  });
}
