import { createHmac, randomBytes } from "node:crypto";
import { constantTimeEqual } from "../crypto/bytes.js";
import { ClawkeepError } from "../errors.js";

// Sign tickets (docs/formats.md §20): a compact JWT, HS256 (RFC 7519 / 7518), issued by
// sign-intent and spent by sign. The header is fixed and compared byte for byte, so `alg: none`
// or another algorithm never gets as far as a MAC check. Claims bind the ticket to one user,
// one identity, one payload and the preview the user was shown; `jti` is spent once, in the
// meta store, so a replay fails on every node.

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

const mac = (key: Uint8Array, signingInput: string) => createHmac("sha256", key).update(signingInput).digest();

export function issueTicket(key: Uint8Array, c: Omit<TicketClaims, "jti" | "iat" | "exp">, ttlSeconds: number, nowMs = Date.now()): { ticket: string; claims: TicketClaims } {
  const iat = Math.floor(nowMs / 1000);
  const claims: TicketClaims = { ...c, jti: randomBytes(16).toString("base64url"), iat, exp: iat + ttlSeconds };
  const body = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return { ticket: `${body}.${mac(key, body).toString("base64url")}`, claims };
}

/** Checks form, MAC and expiry; the caller still checks the binding and spends `jti`. */
export function verifyTicket(keys: Uint8Array[], ticket: unknown, nowMs = Date.now()): TicketClaims {
  if (typeof ticket !== "string" || ticket.length > 4096 || !TICKET_RE.test(ticket)) throw new ClawkeepError("ticket_invalid", "ticket is malformed");
  const [h, p, s] = ticket.split(".") as [string, string, string];
  if (h !== HEADER) throw new ClawkeepError("ticket_invalid", "ticket is malformed");
  const given = Buffer.from(s, "base64url");
  if (!keys.some((k) => constantTimeEqual(mac(k, `${h}.${p}`), given))) throw new ClawkeepError("ticket_invalid", "ticket signature does not verify");
  let claims: TicketClaims;
  try {
    claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as TicketClaims;
  } catch {
    throw new ClawkeepError("ticket_invalid", "ticket is malformed");
  }
  for (const f of ["sub", "uid", "jti", "knd", "ph", "vh"] as const) if (typeof claims[f] !== "string") throw new ClawkeepError("ticket_invalid", "ticket is malformed");
  if (!Number.isSafeInteger(claims.exp) || !Number.isSafeInteger(claims.iat)) throw new ClawkeepError("ticket_invalid", "ticket is malformed");
  if (Math.floor(nowMs / 1000) >= claims.exp) throw new ClawkeepError("ticket_expired", "ticket has expired: ask for a new one with sign-intent");
  return claims;
}
