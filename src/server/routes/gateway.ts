import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { ProxyService, ProxyTransports } from "../../proxy/index.js";
import { sendProxyError, upstreamErrorCode } from "../../proxy/http.js";
import type { Target } from "../../proxy/service.js";
import { bearerOf, principal } from "../auth.js";

// Gateway routes. Registration (GET/PUT/DELETE /v1/agents/:name/gateway) lives in the ordinary
// authenticated scope; the health check gets its own scope because the proxy authenticates
// itself (user or agent token); the pass-through (/v1/agents/:name/gateway/*) bypasses fastify.

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

// The pass-through is answered before fastify sees the request (as WebSocket upgrades are):
// it needs none of fastify's parsing, hooks or reply machinery, only to authenticate and pipe,
// and going around them is what lets it keep pace with a bare proxy. Everything else, including
// /v1/agents/:name/gateway itself (registration), goes to fastify.
const PASS_THROUGH = /^\/v1\/agents\/([^/?#]+)\/gateway\//;

export interface ProxyLog {
  error(obj: object, msg?: string): void;
}

export function gatewayPassThrough(proxy: ProxyService, transports: ProxyTransports, log: ProxyLog) {
  let closing = false;

  async function pass(req: IncomingMessage, res: ServerResponse, rawName: string): Promise<void> {
    if (closing) {
      // Expected during shutdown, so not logged as an error (fastify's own 503 is not either).
      req.resume();
      res.setHeader("connection", "close");
      return sendProxyError(res, "unavailable", "the server is shutting down");
    }
    let target: Target;
    try {
      let name: string;
      try {
        name = decodeURIComponent(rawName);
      } catch {
        throw new ClawkeepError("not_found", "no such agent");
      }
      target = await proxy.open(bearerOf(req), name, req.socket.remoteAddress ?? "");
    } catch (e) {
      // Refused before anything was forwarded: drain the body so the connection can be reused.
      req.resume();
      if (e instanceof ClawkeepError) {
        if (e.status >= 500) log.error({ code: e.code }, e.message);
        return sendProxyError(res, e.code, e.message, e.details);
      }
      log.error({ err: e }, "unhandled error");
      return sendProxyError(res, "internal", "internal error");
    }
    transports.http.forward(target, req, res);
  }

  return {
    /** Takes the request if it is a pass-through one (true), otherwise leaves it alone (false). */
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      const url = req.url;
      if (url === undefined || !url.startsWith("/v1/agents/")) return false;
      const m = PASS_THROUGH.exec(url);
      if (!m) return false;
      // A failure here must never become an unhandled rejection (it would end the process).
      pass(req, res, m[1]!).catch(() => res.destroy());
      return true;
    },
    /** From now on a pass-through request gets 503, as fastify answers its own routes. */
    close() {
      closing = true;
    },
  };
}

export async function gatewayHealthRoutes(app: FastifyInstance, proxy: ProxyService, transports: ProxyTransports) {
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
