import { randomBytes } from "node:crypto";
import { constantTimeEqual, wipe } from "../crypto/bytes.js";
import { isE2ee } from "../crypto/e2ee/index.js";
import { ClawkeepError, type ErrorCode } from "../errors.js";
import type { AuditLog } from "../audit/log.js";
import type { SingleUse } from "../store/meta/single-use.js";
import type { AgentRegistry, Caller } from "./registry.js";
import { parseHandshake, signHandshake, signingString } from "./signing.js";
import { issueAgentToken, verifyAgentToken, type AgentClaims } from "./token.js";

// The server side of the agent handshake and of agent tokens. Order of checks: shape and
// canonical form; timestamp window; signature (an unknown agent is checked against a random key,
// so it fails the same way and in about the same time as a wrong secret); disabled; then the
// nonce is claimed in the meta store, so a replay to any node is refused. Every failure is
// audited with its reason; the client learns only the code (and the server's time).

export interface SecretReader {
  list(c: Caller, agent?: string): Promise<{ name: string }[]>;
  get(c: Caller, agent: string, name: string, version?: number, opts?: { unlock?: () => Promise<Buffer> }): Promise<{ name: string; version: number; value: Buffer }>;
}

export interface AgentSecret {
  name: string;
  version: number;
  /** An E2EE value is returned as its envelope text, never opened here. */
  e2ee: boolean;
  encoding: "utf8" | "base64";
  value: string;
}

export function createAgentAccess(deps: {
  registry: AgentRegistry;
  audit: AuditLog;
  singleUse: Pick<SingleUse, "claim">;
  tokenKey: Buffer;
  windowSeconds: number;
  tokenTtlSeconds: number;
}) {
  const { registry, audit } = deps;

  async function handshake(raw: string, ip: string): Promise<{ token: string; expiresAt: number; agentId: string; name: string }> {
    const now = Date.now();
    const serverTime = Math.floor(now / 1000);
    let agentId: string | null = null;
    let userId: string | null = null;
    const fail = async (code: ErrorCode, reason: string, message: string): Promise<never> => {
      await audit.record({ userId, actor: agentId ? `agent:${agentId}` : "anonymous", action: "AgentHandshake", target: `agent/${agentId ?? "?"}`, outcome: "failure", metadata: { reason, ip } });
      throw new ClawkeepError(code, message, { details: { server_time: serverTime } });
    };
    let p;
    try {
      p = parseHandshake(raw);
    } catch (e) {
      if (e instanceof ClawkeepError) return fail(e.code, e.code === "handshake_malformed" ? "malformed" : "non_canonical", e.message);
      throw e;
    }
    agentId = p.agentId;
    if (Math.abs(serverTime - p.timestamp) > deps.windowSeconds) {
      return fail("handshake_clock_skew", p.timestamp < serverTime ? "stale" : "future", `timestamp is outside ±${deps.windowSeconds} s of the server's time`);
    }
    const row = await registry.byId(p.agentId);
    const key = row ? registry.secretOf(row) : randomBytes(32);
    const expected = signHandshake(key, signingString(p.agentId, p.timestamp, p.nonce, p.requestJson));
    wipe(key);
    const ok = constantTimeEqual(expected, p.signature);
    if (!row || !ok) {
      userId = row?.user_id ?? null;
      return fail("handshake_bad_signature", row ? "bad_signature" : "unknown_agent", "handshake signature does not verify");
    }
    userId = row.user_id;
    if (row.status !== "active") return fail("agent_disabled", "disabled", "agent is disabled");
    if (!(await deps.singleUse.claim("handshake", `${p.agentId}:${p.nonce}`, deps.windowSeconds * 2))) {
      return fail("handshake_replay", "replay", "handshake nonce was already used");
    }
    const { token, claims } = issueAgentToken(deps.tokenKey, { agt: row.id, usr: row.user_id, name: row.name, gen: row.secret_generation, only: p.request.only ?? null }, deps.tokenTtlSeconds, now);
    await audit.record({
      userId,
      actor: `agent:${row.id}`,
      action: "AgentHandshake",
      target: `agent/${row.name}`,
      outcome: "success",
      metadata: { ip, jti: claims.jti, exp: claims.exp, only: claims.only ? claims.only.join(",") : null },
    });
    return { token, expiresAt: claims.exp, agentId: row.id, name: row.name };
  }

  // Agent tokens are refused unless the agent still exists, is active, and its secret has not
  // been rotated since the token was issued.
  async function authenticate(bearer: string | undefined, ip: string): Promise<AgentClaims> {
    const v = bearer ? verifyAgentToken(deps.tokenKey, bearer) : { claims: null, reason: "missing" };
    let reason = v.reason;
    let userId: string | null = null;
    if (v.claims) {
      const row = await registry.byId(v.claims.agt);
      userId = row?.user_id ?? null;
      if (!row || row.user_id !== v.claims.usr) reason = "unknown_agent";
      else if (row.status !== "active") reason = "disabled";
      else if (row.secret_generation !== v.claims.gen) reason = "rotated";
      else return v.claims;
    }
    await audit.record({ userId, actor: "anonymous", action: "AgentAuthFailed", target: "agent-token", outcome: "failure", metadata: { reason, ip } });
    throw new ClawkeepError("unauthorized", "missing or invalid agent token");
  }

  /**
   * The agent's own secrets (all, or the token's `only`), E2EE ones as unopened envelopes.
   * Password-mode ones need `unlock` (the agent was given the user's credential password).
   */
  async function readSecrets(secrets: SecretReader, claims: AgentClaims, unlock?: (c: Caller, target: string) => Promise<Buffer>): Promise<AgentSecret[]> {
    const caller: Caller = { userId: claims.usr, actor: `agent:${claims.agt}` };
    let names = (await secrets.list(caller, claims.name)).map((s) => s.name);
    if (claims.only) names = names.filter((n) => claims.only!.includes(n));
    const out: AgentSecret[] = [];
    for (const n of names) {
      const s = await secrets.get(caller, claims.name, n, undefined, unlock ? { unlock: () => unlock(caller, `${claims.name}/${n}`) } : {});
      const text = s.value.toString("utf8");
      const utf8 = Buffer.from(text, "utf8").equals(s.value);
      out.push({ name: s.name, version: s.version, e2ee: utf8 && isE2ee(text), encoding: utf8 ? "utf8" : "base64", value: utf8 ? text : s.value.toString("base64") });
    }
    return out;
  }

  return { handshake, authenticate, readSecrets };
}

export type AgentAccess = ReturnType<typeof createAgentAccess>;
