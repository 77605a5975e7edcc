import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { ClawkeepError } from "../errors.js";

// Sign tickets (docs/formats.md §20): a compact JWT, HS256 (RFC 7519 / 7518). The header is fixed
// and compared byte for byte, so `alg: none` or another algorithm never gets as far as a MAC
// check. Claims bind the ticket to one user, one identity, one payload and the preview the user
// was shown; `jti` is spent once, in the meta store, so a replay fails on every node.
// The MAC is Node's HMAC-SHA256, called directly: a JWT library reaches it through WebCrypto,
// which cost a sixth of a whole sign flow (importing the key and hopping to the thread pool on
// every ticket). The layout is checked against jose in test/unit/tickets.test.ts.

export interface TicketClaims {
  /** Identity id. */
  sub: string;
  /** User id that asked for it. */
  uid: string;
  /** Agent id of the caller, when an agent asked. */
  aid?: string;
  jti: string;
  iat: number;
  exp: number;
  /** Payload kind. */
  knd: string;
  /** SHA-256 (hex) of the payload's signing input. */
  ph: string;
  /** SHA-256 (hex) of the preview's canonical JSON. */
  vh: string;
}

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const TICKET_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;
const malformed = () => new ClawkeepError("ticket_invalid", "ticket is malformed");
const mac = (key: Uint8Array, signingInput: string) => createHmac("sha256", key).update(signingInput).digest();

export async function issueTicket(key: Uint8Array, c: Omit<TicketClaims, "jti" | "iat" | "exp">, ttlSeconds: number, nowMs = Date.now()): Promise<{ ticket: string; claims: TicketClaims }> {
  const iat = Math.floor(nowMs / 1000);
  const claims: TicketClaims = { ...c, jti: randomBytes(16).toString("base64url"), iat, exp: iat + ttlSeconds };
  const input = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return { ticket: `${input}.${mac(key, input).toString("base64url")}`, claims };
}

/** Checks form, MAC and expiry; the caller still checks the binding and spends `jti`. */
export async function verifyTicket(keys: Uint8Array[], ticket: unknown, nowMs = Date.now()): Promise<TicketClaims> {
  if (typeof ticket !== "string" || ticket.length > 4096 || !TICKET_RE.test(ticket)) throw malformed();
  const [header, body, sigText] = ticket.split(".") as [string, string, string];
  // Our one header, byte for byte: no algorithm or key hint from the token is ever considered.
  if (header !== HEADER) throw malformed();
  const sig = Buffer.from(sigText, "base64url");
  // 43 characters carry 258 bits: only the canonical spelling of the 32 bytes is accepted, so a
  // spent ticket cannot come back under another spelling of its MAC.
  if (sig.length !== 32 || sig.toString("base64url") !== sigText) throw malformed();
  const input = `${header}.${body}`;
  if (!keys.some((k) => timingSafeEqual(mac(k, input), sig))) throw new ClawkeepError("ticket_invalid", "ticket signature does not verify");
  let claims: TicketClaims;
  try {
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as TicketClaims;
  } catch {
    throw malformed();
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw malformed();
  for (const f of ["sub", "uid", "jti", "knd", "ph", "vh"] as const) if (typeof claims[f] !== "string") throw malformed();
  if (claims.aid !== undefined && typeof claims.aid !== "string") throw malformed();
  if (!Number.isSafeInteger(claims.exp) || !Number.isSafeInteger(claims.iat)) throw malformed();
  if (Math.floor(nowMs / 1000) >= claims.exp) throw new ClawkeepError("ticket_expired", "ticket has expired: ask for a new one with sign-intent");
  return claims;
}
