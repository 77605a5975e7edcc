import type { FastifyInstance } from "fastify";
import type { Redacted } from "../redacted.js";
import type { UserService } from "../users/users.js";
import { bearerOf } from "./auth.js";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

// Prometheus metrics with low-cardinality labels only (route pattern, method, status): no path
// parameter, query value or user id reaches a label. Proxied exchanges never reach fastify;
// they have their own clawkeep_proxy_* series.
export interface MetricsAccess {
  /** Serve without authentication (CLAWKEEP_METRICS_PUBLIC). */
  public: boolean;
  /** A scrape token (CLAWKEEP_METRICS_TOKEN). */
  token: Redacted<string> | undefined;
  users: Pick<UserService, "authorizeScrape">;
}

export function registerMetrics(app: FastifyInstance, access: MetricsAccess): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "clawkeep_" });
  const requests = new Counter({
    name: "clawkeep_http_requests_total",
    help: "HTTP requests by route pattern, method and status",
    labelNames: ["route", "method", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "clawkeep_http_request_duration_seconds",
    help: "HTTP request duration by route pattern",
    labelNames: ["route", "method"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    duration.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });
  app.get("/metrics", async (req, reply) => {
    if (!access.public) await access.users.authorizeScrape(bearerOf(req), req.ip, access.token);
    reply.header("content-type", registry.contentType);
    return registry.metrics();
  });
  return registry;
}
