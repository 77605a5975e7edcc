import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { sendError } from "./errors.js";

// The dashboard is a static page built into dist/dashboard at `npm install` (scripts/build-
// dashboard.ts). The server only hands the files out, with headers that make the browser enforce
// what the page promises: its own scripts only (no inline script, no eval, no third-party origin),
// requests to this origin only, never framed, no Referer. Everything the page does with data it
// does through the ordinary API with the user's bearer token.

/** dist/dashboard beside this file's package, whether it runs from src/ (tests) or dist/. */
export const DASHBOARD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "dashboard");

// 'self' in connect-src covers ws:/wss: to this origin (CSP Level 3), which the chat page needs.
// Trusted Types: the one sink the page uses (service-worker registration) goes through a policy
// named "clawkeep"; any other string-to-code sink (innerHTML, eval, javascript: URLs) throws.
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types clawkeep",
].join("; ");

export const DASHBOARD_HEADERS: Record<string, string> = {
  "content-security-policy": DASHBOARD_CSP,
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
  // A stale copy of the page must never outlive an upgrade of the API it talks to.
  "cache-control": "no-cache",
};

const FILES: [route: string, file: string, type: string][] = [
  ["/", "index.html", "text/html; charset=utf-8"],
  ["/app.js", "app.js", "text/javascript; charset=utf-8"],
  ["/app.css", "app.css", "text/css; charset=utf-8"],
  // Served from the root so it may control /v1/agents/ (the gateway pages), never the dashboard.
  ["/sw.js", "sw.js", "text/javascript; charset=utf-8"],
];

export function dashboardRoutes(app: FastifyInstance, dir = DASHBOARD_DIR) {
  const built = existsSync(path.join(dir, "index.html"));
  for (const [route, file, type] of FILES) {
    // Read once: the files are small and never change while the server runs.
    const body = built ? readFileSync(path.join(dir, file)) : null;
    app.get(route, async (_req, reply) => {
      reply.headers(DASHBOARD_HEADERS);
      if (!body) return sendError(reply, "not_found", "the dashboard is not built (run `npm run build`)");
      return reply.type(type).send(body);
    });
  }
}
