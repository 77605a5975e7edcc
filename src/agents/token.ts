import { createHmac, randomBytes } from "node:crypto";
import { constantTimeEqual } from "../crypto/bytes.js";

// Agent tokens (docs/formats.md, "agent token v1"): `ckat1.<payload>.<mac>`, payload = base64url
// of the claims' JSON, mac = base64url(HMAC-SHA256(session key, "clawkeep/agent-token/v1\n" +
// "ckat1." + payload)). The label keeps these MACs apart from anything else signed with the
// session purpose key. Stateless, so any node verifies them; `gen` ties a token to the agent
// secret's generation, so rotating the secret (or disabling the agent) ends it at once.

export interface AgentClaims {
  v: 1;
  agt: string;
  usr: string;
  name: string;
  gen: number;
  iat: number;
  exp: number;
  jti: string;
  only: string[] | null;
}

const PREFIX = "ckat1.";
const TOKEN_RE = /^ckat1\.([A-Za-z0-9_-]{1,4096})\.([A-Za-z0-9_-]{43})$/;
const mac = (key: Uint8Array, payload: string) => createHmac("sha256", key).update(`clawkeep/agent-token/v1\n${PREFIX}${payload}`, "utf8").digest("base64url");

export const looksLikeAgentToken = (t: string): boolean => t.startsWith(PREFIX);

export function issueAgentToken(key: Uint8Array, c: Omit<AgentClaims, "v" | "iat" | "exp" | "jti">, ttlSeconds: number, nowMs = Date.now()) {
  const iat = Math.floor(nowMs / 1000);
  const claims: AgentClaims = { v: 1, agt: c.agt, usr: c.usr, name: c.name, gen: c.gen, iat, exp: iat + ttlSeconds, jti: randomBytes(16).toString("hex"), only: c.only };
  const payload = Buffer.from(JSON.stringify(claims), "utf8").toString("base64url");
  return { token: `${PREFIX}${payload}.${mac(key, payload)}`, claims };
}

/** The claims of a well-formed, authentic, unexpired token; null otherwise (the caller audits why). */
export function verifyAgentToken(key: Uint8Array, token: string, nowMs = Date.now()): { claims: AgentClaims | null; reason: string } {
  const m = TOKEN_RE.exec(token);
  if (!m) return { claims: null, reason: "malformed" };
  if (!constantTimeEqual(mac(key, m[1]!), m[2]!)) return { claims: null, reason: "bad_mac" };
  let c: AgentClaims;
  try {
    c = JSON.parse(Buffer.from(m[1]!, "base64url").toString("utf8")) as AgentClaims;
  } catch {
    return { claims: null, reason: "malformed" };
  }
  if (c.v !== 1 || typeof c.exp !== "number" || typeof c.agt !== "string" || typeof c.usr !== "string") return { claims: null, reason: "malformed" };
  if (c.exp <= Math.floor(nowMs / 1000)) return { claims: null, reason: "expired" };
  return { claims: c, reason: "ok" };
}
