import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { AgentInfo, AgentRegistry } from "../../agents/registry.js";
import { principal } from "../auth.js";

// Agent registry routes, for user tokens. The agent secret appears in a response body exactly
// twice in its life: on create and on rotate-secret.

const NewAgent = z.strictObject({ name: z.string() });
type P = { name: string };

const caller = (req: FastifyRequest) => {
  const p = principal(req);
  return { userId: p.userId, actor: p.userId };
};
const view = (a: AgentInfo) => ({ agent_id: a.id, name: a.name, status: a.status, created_at: a.createdAt, updated_at: a.updatedAt });

export function agentRoutes(app: FastifyInstance, agents: AgentRegistry) {
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
}
