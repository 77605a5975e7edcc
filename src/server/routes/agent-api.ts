import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AgentAccess, SecretReader } from "../../agents/handshake.js";
import type { AgentClaims } from "../../agents/token.js";
import type { SupportAccess } from "../../agents/support.js";
import type { SupportLog } from "../../agents/support-log.js";
import { BATCH_BODY_LIMIT } from "../../agents/support-records.js";
import { ClawkeepError } from "../../errors.js";
import { bearerOf } from "../auth.js";
import type { CredentialPasswords } from "../../vault/credential-password.js";
import { credentialPassword, requestUnlock } from "./credential-password.js";
import { identityRoutes, type SignerRouteDeps } from "./identities.js";

// The agent-facing API, in its own plugin scope: the handshake (no bearer; the body is signed)
// and routes for agent tokens only. User tokens are refused here, and agent tokens are refused
// on every user route (the user auth hook accepts only `ck_` tokens).

declare module "fastify" {
  interface FastifyRequest {
    agent: AgentClaims | null;
  }
}

export async function agentApi(app: FastifyInstance, deps: { access: AgentAccess; secrets: SecretReader; support: SupportAccess; supportLog: SupportLog; passwords: CredentialPasswords; signer: SignerRouteDeps }) {
  // The signature covers the body's exact bytes, so the handshake reads it as text and parses
  // it itself; so do the signer routes below (with a limit that fits a large transaction).
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: 16 * 1024 }, (_req, body, done) => done(null, body));
  app.decorateRequest("agent", null);

  app.post("/v1/agents/handshake", async (req) => {
    if (typeof req.body !== "string") throw new ClawkeepError("handshake_malformed", "handshake body must be application/json");
    const r = await deps.access.handshake(req.body, req.ip);
    return { agent_token: r.token, token_type: "Bearer", expires_at: r.expiresAt, agent_id: r.agentId, agent: r.name };
  });

  await app.register(async (scoped) => {
    scoped.addHook("onRequest", async (req: FastifyRequest) => {
      req.agent = await deps.access.authenticate(bearerOf(req), req.ip);
    });
    scoped.get("/v1/agent/secrets", async (req, reply) => {
      const claims = req.agent!;
      // Password-mode values open only when the agent was given the user's credential password.
      const u = requestUnlock(deps.passwords, credentialPassword(req));
      let secrets;
      try {
        secrets = await deps.access.readSecrets(deps.secrets, claims, u.unlock);
      } finally {
        await u.wipe();
      }
      return reply.header("cache-control", "no-store").send({ agent_id: claims.agt, agent: claims.name, secrets });
    });
    // An agent is its own signer principal: it sees and uses only identities bound to it.
    await scoped.register(async (signing) => {
      signing.removeContentTypeParser("application/json");
      signing.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: 512 * 1024 }, (_req, body, done) => done(null, body));
      identityRoutes(signing, deps.signer, "/v1/agent/identities", (req) => {
        const a = req.agent!;
        return { userId: a.usr, actor: `agent:${a.agt}`, agentId: a.agt };
      });
    });
    scoped.get("/v1/agent/support-access", async (req) => {
      const claims = req.agent!;
      const grants = await deps.support.activeFor({ agentId: claims.agt, userId: claims.usr });
      return { agent_id: claims.agt, grants: grants.map((g) => ({ id: g.id, public_key: g.publicKey, expires_at: g.expiresAt })) };
    });
    // Support-session records (formats §24): batches of up to 200, each command up to 64 KiB.
    await scoped.register(async (records) => {
      records.removeContentTypeParser("application/json");
      records.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: BATCH_BODY_LIMIT }, (_req, body, done) => done(null, body));
      records.post("/v1/agent/support/events", async (req) => {
        const claims = req.agent!;
        return deps.supportLog.ingest({ agentId: claims.agt, userId: claims.usr, name: claims.name }, req.body);
      });
    });
  });
}
