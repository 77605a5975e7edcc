import http from "node:http";
import Fastify, { LogController, type FastifyInstance } from "fastify";
import type { Runtime } from "../main.js";
import { authHook } from "./auth.js";
import { errorHandler, sendError } from "./errors.js";
import { registerMetrics } from "./metrics.js";
import { auditRoutes, userRoutes } from "./routes/admin.js";
import { secretRoutes } from "./routes/secrets.js";
import { agentRoutes } from "./routes/agents.js";
import { agentApi } from "./routes/agent-api.js";
import { credentialPasswordRoutes } from "./routes/credential-password.js";
import { gatewayAdminRoutes, gatewayHealthRoutes, gatewayPassThrough } from "./routes/gateway.js";
import { userSignerRoutes, type SignerRouteDeps } from "./routes/identities.js";
import { authRoutes } from "./routes/auth.js";
import { createProxyTransports } from "../proxy/index.js";
import { dashboardRoutes } from "./dashboard.js";

// Log redaction is the second net (values never reach a log call; Redacted<T> is the first): any
// header that can carry a credential is censored wherever it appears in a log object.
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-clawkeep-credential-password"]',
  'headers["x-clawkeep-credential-password"]',
  "password",
  "*.password",
  "headers.authorization",
  "headers.cookie",
  "authorization",
  "token",
  "value",
  "*.token",
  "*.value",
];

export interface AppOptions {
  logger?: boolean | { level: string; stream?: NodeJS.WritableStream };
}

export async function buildApp(rt: Runtime, opts: AppOptions = {}): Promise<FastifyInstance> {
  const maxBody = Math.ceil((rt.config.maxSecretBytes * 4) / 3) + 16 * 1024;
  const logger =
    opts.logger === false
      ? false
      : { level: rt.config.logLevel, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, ...(typeof opts.logger === "object" ? opts.logger : {}) };
  // Set once the proxy exists; until then (and for every other path) requests go to fastify.
  const route: { passThrough?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean } = {};
  const app = Fastify({
    // The server is made here only so gateway pass-through requests can be taken before
    // fastify's router (src/server/routes/gateway.ts); its timeouts are fastify's defaults.
    serverFactory: (handler, o) => {
      const srv = http.createServer((req, res) => {
        if (route.passThrough?.(req, res)) return;
        handler(req, res);
      });
      const t = o as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number };
      srv.keepAliveTimeout = t.keepAliveTimeout ?? 72_000;
      srv.requestTimeout = t.requestTimeout ?? 0;
      srv.setTimeout(t.connectionTimeout ?? 0);
      return srv;
    },
    logger: logger as never,
    bodyLimit: maxBody,
    // Long enough for any valid name, so an over-long name gets invalid_name rather than 414.
    routerOptions: { maxParamLength: 512 },
    // Our own onResponse line replaces fastify's per-request lines, which would log raw URLs.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    trustProxy: false,
  });

  // Values are bytes or JSON; text/plain would silently re-encode them, so it is refused.
  app.removeContentTypeParser("text/plain");
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer", bodyLimit: maxBody }, (_req, body, done) => done(null, body));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((_req, reply) => sendError(reply, "not_found", "no such route"));
  app.decorateRequest("principal", null);

  // One line per request, metadata only: the route pattern (never the filled-in path with its
  // query string), status and duration.
  // Proxied exchanges never reach fastify; they log their own line (src/proxy/events.ts).
  app.addHook("onResponse", async (req, reply) => {
    req.log.info({ method: req.method, route: req.routeOptions.url ?? "unmatched", status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 }, "request");
  });

  const registry = registerMetrics(app, { public: rt.config.metricsPublic, token: rt.config.metricsToken, users: rt.users });
  app.get("/health", async () => ({ ok: true, service: "clawkeep" }));
  // Liveness is /health; readiness also checks this node's storage, for load-balancer checks.
  app.get("/ready", async (req, reply) => {
    try {
      await rt.ready();
      return { ok: true, service: "clawkeep" };
    } catch (err) {
      req.log.warn({ err: (err as Error).name }, "readiness check failed");
      return sendError(reply, "unavailable", "storage is not reachable");
    }
  });

  const signerDeps: SignerRouteDeps = {
    signer: rt.signer,
    freeze: rt.freeze,
    limiter: rt.rateLimiter,
    limits: { perUser: rt.config.rateLimitPerUser, perIdentitySign: rt.config.rateLimitPerIdentitySign },
  };
  if (rt.config.dashboard) dashboardRoutes(app);
  await app.register(async (a) => authRoutes(a, rt.login));
  await app.register(async (v1) => {
    v1.addHook("onRequest", authHook(rt.users));
    secretRoutes(v1, rt.secrets, rt.credentialPasswords);
    credentialPasswordRoutes(v1, rt.credentialPasswords);
    userRoutes(v1, rt.users, rt.erasure);
    auditRoutes(v1, rt.audit);
    agentRoutes(v1, rt.agents, rt.support, rt.erasure, rt.supportLog, { operator: rt.config.supportOperator, publicKey: rt.config.supportPublicKey ?? null });
    gatewayAdminRoutes(v1, rt.proxy);
    userSignerRoutes(v1, signerDeps);
  });
  // The proxy's lines are built only from ProxyEvent (ids, counts, durations, status and close
  // codes, stable error codes): no redaction path can match one of its keys, so running the
  // redactor on every proxied exchange bought nothing and cost ~8% of the proxy's throughput.
  // What keeps bodies, URLs and header values out is that they never reach a log call
  // (src/proxy/events.ts), and the canary test checks it at the most verbose level.
  const proxyLog = app.log.child({}, { redact: { paths: [], censor: "[redacted]" } });
  const transports = createProxyTransports(rt.proxy, proxyLog, registry);
  await app.register((a) => gatewayHealthRoutes(a, rt.proxy, transports));
  const gateway = gatewayPassThrough(rt.proxy, transports, app.log);
  route.passThrough = gateway.handle;
  app.addHook("preClose", async () => gateway.close());
  // WebSocket upgrades never reach fastify's router: the proxy takes every one and answers
  // anything that is not a gateway path with the same JSON 404.
  app.server.on("upgrade", (req, socket, head) => {
    // A failure here must never become an unhandled rejection (it would end the process).
    transports.ws.upgrade(req, socket, head).catch(() => socket.destroy());
  });
  app.addHook("onClose", async () => transports.ws.close());
  await app.register((a) => agentApi(a, { access: rt.agentAccess, secrets: rt.secrets, support: rt.support, supportLog: rt.supportLog, passwords: rt.credentialPasswords, signer: signerDeps }));
  return app;
}
