import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import { checkAgentName, type AgentInfo, type AgentRegistry } from "../../agents/registry.js";
import type { GrantInfo, SupportAccess } from "../../agents/support.js";
import type { SupportLog } from "../../agents/support-log.js";
import type { Erasure } from "../../vault/erasure.js";
import { principal } from "../auth.js";

// Agent registry routes, for user tokens. The agent secret appears in a response body exactly
// twice in its life: on create and on rotate-secret.

const NewAgent = z.strictObject({ name: z.string() });
const NewGrant = z.strictObject({ public_key: z.string().max(16_384), operator: z.string().optional(), ttl_seconds: z.number().int().optional() });
type P = { name: string };

const caller = (req: FastifyRequest) => {
  const p = principal(req);
  return { userId: p.userId, actor: p.userId };
};
const view = (a: AgentInfo) => ({ agent_id: a.id, name: a.name, status: a.status, created_at: a.createdAt, updated_at: a.updatedAt });

const grantView = (g: GrantInfo) => ({ id: g.id, operator: g.operator, public_key: g.publicKey, created_at: g.createdAt, expires_at: g.expiresAt, revoked_at: g.revokedAt, verified: g.verified });

/** The operator's own support key, as configured (CLAWKEEP_SUPPORT_PUBLIC_KEY): what "Grant access" offers. */
export interface SupportOperator {
  operator: string;
  publicKey: string | null;
}

export function agentRoutes(
  app: FastifyInstance,
  agents: AgentRegistry,
  support: SupportAccess,
  erasure: Erasure,
  supportLog: SupportLog,
  operator: SupportOperator = { operator: "support", publicKey: null },
) {
  // A public key is no secret, but who the operator's support staff are is the operator's
  // business: only signed-in users see it.
  app.get("/v1/support/operator", async (req) => {
    principal(req);
    return { operator: operator.operator, public_key: operator.publicKey };
  });

  app.post("/v1/agents", async (req, reply) => {
    const body = NewAgent.safeParse(req.body ?? {});
    if (!body.success) throw new ClawkeepError("bad_request", 'body must be {"name": string}');
    const r = await agents.create(caller(req), body.data.name);
    return reply.status(201).header("cache-control", "no-store").send({ ...view(r.agent), agent_secret: r.secret });
  });

  app.get("/v1/agents", async (req) => ({ agents: (await agents.list(caller(req))).map(view) }));

  app.post<{ Params: P }>("/v1/agents/:name/rotate-secret", async (req, reply) => {
    const r = await agents.rotateSecret(caller(req), req.params.name);
    return reply.header("cache-control", "no-store").send({ ...view(r.agent), agent_secret: r.secret });
  });

  app.post<{ Params: P }>("/v1/agents/:name/disable", async (req) => view(await agents.disable(caller(req), req.params.name)));
  app.post<{ Params: P }>("/v1/agents/:name/enable", async (req) => view(await agents.enable(caller(req), req.params.name)));

  // Cryptographic erasure: the agent's values, blobs and every key that ever sealed them.
  app.delete<{ Params: P }>("/v1/agents/:name", async (req) => {
    const r = await erasure.deleteAgent(caller(req), checkAgentName(req.params.name));
    return {
      agent_id: r.agentId,
      name: req.params.name,
      deleted: true,
      versions: r.versions,
      blobs_deleted: r.blobsDeleted,
      grants: r.grants,
      epochs_destroyed: r.epochsDestroyed,
      reencrypted: r.reencrypted,
    };
  });

  app.post<{ Params: P }>("/v1/agents/:name/support-access", async (req, reply) => {
    const body = NewGrant.safeParse(req.body ?? {});
    if (!body.success) throw new ClawkeepError("bad_request", 'body must be {"public_key": string, "operator"?: string, "ttl_seconds"?: integer}');
    const g = await support.grant(caller(req), req.params.name, { publicKey: body.data.public_key, operator: body.data.operator, ttlSeconds: body.data.ttl_seconds });
    return reply.status(201).send(grantView(g));
  });
  app.get<{ Params: P }>("/v1/agents/:name/support-access", async (req) => ({ grants: (await support.list(caller(req), req.params.name)).map(grantView) }));
  app.delete<{ Params: P & { id: string } }>("/v1/agents/:name/support-access/:id", async (req) => grantView(await support.revoke(caller(req), req.params.name, req.params.id)));
  // What was run in the agent's support sessions (the same events are in GET /v1/audit).
  app.get<{ Params: P; Querystring: { grant?: string; after?: string; limit?: string } }>("/v1/agents/:name/support/events", async (req) => {
    const { grant, after = "0", limit = "100" } = req.query;
    const a = Number(after);
    const l = Number(limit);
    if (!/^\d+$/.test(after) || !Number.isSafeInteger(a)) throw new ClawkeepError("bad_request", "after must be a non-negative integer");
    if (!/^\d+$/.test(limit) || l < 1 || l > 1000) throw new ClawkeepError("bad_request", "limit must be an integer 1..1000");
    if (grant !== undefined && !/^grt_[0-9a-f]{20}$/.test(grant)) throw new ClawkeepError("bad_request", "grant must be a grant id");
    return supportLog.list(caller(req), req.params.name, { grant, after: a, limit: l });
  });
}
