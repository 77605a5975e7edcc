import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { ProxyService, ProxyTransports } from "../../proxy/index.js";
import { upstreamErrorCode } from "../../proxy/http.js";
import { bearerOf, principal } from "../auth.js";

// Gateway routes. Registration (GET/PUT/DELETE /v1/agents/:name/gateway) lives in the ordinary
// authenticated scope; the pass-through (/v1/agents/:name/gateway/*) and the health check get
// their own scope with no body parsing, because the proxy authenticates itself (user or agent
// token) and streams the body untouched.

type P = { name: string };
const SetGateway = z.strictObject({ url: z.string() });

const caller = (req: FastifyRequest) => {
  const p = principal(req);
  return { userId: p.userId, actor: p.userId };
};

export function gatewayAdminRoutes(app: FastifyInstance, proxy: ProxyService) {
  app.get<{ Params: P }>("/v1/agents/:name/gateway", async (req) => proxy.getGateway(caller(req), req.params.name));
  app.put<{ Params: P }>("/v1/agents/:name/gateway", async (req) => {
    const body = SetGateway.safeParse(req.body ?? {});
    if (!body.success) throw new ClawkeepError("bad_request", 'body must be {"url": string}');
    return proxy.setGateway(caller(req), req.params.name, body.data.url);
  });
  app.delete<{ Params: P }>("/v1/agents/:name/gateway", async (req) => proxy.setGateway(caller(req), req.params.name, null));
}

export async function gatewayProxyRoutes(app: FastifyInstance, proxy: ProxyService, transports: ProxyTransports) {
  // Leave every body as an unread stream: the forwarder pipes it to the gateway.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_req, _payload, done) => done(null));

  app.all<{ Params: P }>("/v1/agents/:name/gateway/*", { config: { proxied: true } }, async (req, reply) => {
    const target = await proxy.open(bearerOf(req), req.params.name, req.ip);
    reply.hijack();
    transports.http.forward(target, req.raw, reply.raw);
  });

  app.get<{ Params: P }>("/v1/agents/:name/health", async (req, reply) => {
    const target = await proxy.open(bearerOf(req), req.params.name, req.ip);
    try {
      const r = await transports.http.health(target);
      return reply.header("cache-control", "no-store").send({ agent_id: target.agentId, name: target.agentName, ok: r.status >= 200 && r.status < 400, status: r.status, latency_ms: Math.round(r.latencyMs * 100) / 100 });
    } catch (e) {
      const u = upstreamErrorCode(e);
      throw new ClawkeepError(u.code, u.message);
    } finally {
      target.release();
    }
  });
}
