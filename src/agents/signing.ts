import { createHash, createHmac, randomBytes } from "node:crypto";
import { ClawkeepError } from "../errors.js";

// The signed agent handshake (docs/formats.md, "agent handshake v1"). Shared by the agent side
// (`clawkeep agent run`) and the server, so both build the same bytes. The body has exactly one
// serialisation; a body that parses but is not byte-for-byte canonical is refused, so nothing
// the signature does not cover can ride along (no duplicate keys, no extra fields).

export const HANDSHAKE_LABEL = "clawkeep-handshake/v1";
const ID_RE = /^agt_[0-9a-f]{20}$/;
const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;
const SIG_RE = /^[A-Za-z0-9_-]{43}$/;
const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const MAX_ONLY = 256;

export interface HandshakeRequest {
  /** Limit the token to these secret names; absent = all of the agent's secrets. */
  only?: string[];
}

export interface ParsedHandshake {
  agentId: string;
  timestamp: number;
  nonce: string;
  request: HandshakeRequest;
  requestJson: string;
  signature: string;
}

export const canonicalRequest = (r: HandshakeRequest): string => (r.only === undefined ? "{}" : JSON.stringify({ only: r.only }));

export const signingString = (agentId: string, timestamp: number, nonce: string, requestJson: string): string =>
  `${HANDSHAKE_LABEL}\n${agentId}\n${timestamp}\n${nonce}\n${createHash("sha256").update(requestJson, "utf8").digest("hex")}`;

/** HMAC-SHA256 keyed with the agent secret's UTF-8 bytes, base64url without padding. */
export const signHandshake = (secret: Uint8Array | string, s: string): string =>
  createHmac("sha256", typeof secret === "string" ? Buffer.from(secret, "utf8") : secret).update(s, "utf8").digest("base64url");

const serialize = (p: Omit<ParsedHandshake, "request">): string =>
  `{"agent_id":${JSON.stringify(p.agentId)},"timestamp":${p.timestamp},"nonce":${JSON.stringify(p.nonce)},"request":${p.requestJson},"signature":${JSON.stringify(p.signature)}}`;

/** The agent side: a signed, canonical body ready to POST. */
export function buildHandshake(agentId: string, secret: string, request: HandshakeRequest = {}, nowMs = Date.now(), nonce = randomBytes(18).toString("base64url")): string {
  const timestamp = Math.floor(nowMs / 1000);
  const requestJson = canonicalRequest(request);
  const signature = signHandshake(secret, signingString(agentId, timestamp, nonce, requestJson));
  return serialize({ agentId, timestamp, nonce, requestJson, signature });
}

const malformed = (why: string) => new ClawkeepError("handshake_malformed", `handshake body: ${why}`);

function checkRequest(r: unknown): HandshakeRequest {
  if (typeof r !== "object" || r === null || Array.isArray(r)) throw malformed("request must be an object");
  const keys = Object.keys(r);
  if (keys.some((k) => k !== "only")) throw malformed("request has an unknown field");
  const only = (r as { only?: unknown }).only;
  if (only === undefined) return {};
  if (!Array.isArray(only) || only.length === 0 || only.length > MAX_ONLY) throw malformed(`request.only must list 1-${MAX_ONLY} names`);
  if (!only.every((n) => typeof n === "string" && SECRET_NAME_RE.test(n)) || new Set(only).size !== only.length) throw malformed("request.only must be distinct secret names");
  return { only: only as string[] };
}

/** The server side: the body's fields, or handshake_malformed / handshake_non_canonical. */
export function parseHandshake(raw: string): ParsedHandshake {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    throw malformed("not JSON (truncated?)");
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw malformed("not an object");
  const b = o as Record<string, unknown>;
  if (Object.keys(b).sort().join(",") !== "agent_id,nonce,request,signature,timestamp") throw malformed("fields must be agent_id, timestamp, nonce, request, signature");
  if (typeof b.agent_id !== "string" || !ID_RE.test(b.agent_id)) throw malformed("agent_id");
  if (typeof b.timestamp !== "number" || !Number.isSafeInteger(b.timestamp) || b.timestamp < 0) throw malformed("timestamp must be integer seconds");
  if (typeof b.nonce !== "string" || !NONCE_RE.test(b.nonce)) throw malformed("nonce must be 16-64 base64url characters");
  if (typeof b.signature !== "string" || !SIG_RE.test(b.signature)) throw malformed("signature must be 43 base64url characters");
  const request = checkRequest(b.request);
  const p = { agentId: b.agent_id, timestamp: b.timestamp, nonce: b.nonce, request, requestJson: canonicalRequest(request), signature: b.signature };
  if (serialize(p) !== raw) throw new ClawkeepError("handshake_non_canonical", "handshake body is not in canonical form");
  return p;
}
