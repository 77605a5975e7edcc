import { randomBytes } from "node:crypto";
import { errors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { ClawkeepError } from "../errors.js";

// Sign tickets (docs/formats.md §20): a compact JWT, HS256 (RFC 7519 / 7518, through jose), issued by
// sign-intent and spent by sign. The header is fixed and compared byte for byte, so `alg: none`
// or another algorithm never gets as far as a MAC check (and jose allows HS256 only). Claims bind the ticket to one user,
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

export async function issueTicket(key: Uint8Array, c: Omit<TicketClaims, "jti" | "iat" | "exp">, ttlSeconds: number, nowMs = Date.now()): Promise<{ ticket: string; claims: TicketClaims }> {
  const iat = Math.floor(nowMs / 1000);
  const claims: TicketClaims = { ...c, jti: randomBytes(16).toString("base64url"), iat, exp: iat + ttlSeconds };
  const ticket = await new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
  return { ticket, claims };
}

/** Checks form, MAC and expiry; the caller still checks the binding and spends `jti`. */
export async function verifyTicket(keys: Uint8Array[], ticket: unknown, nowMs = Date.now()): Promise<TicketClaims> {
  if (typeof ticket !== "string" || ticket.length > 4096 || !TICKET_RE.test(ticket)) throw new ClawkeepError("ticket_invalid", "ticket is malformed");
  // Our one header, byte for byte: no algorithm or key hint from the token is ever considered.
  if (ticket.slice(0, ticket.indexOf(".")) !== HEADER) throw new ClawkeepError("ticket_invalid", "ticket is malformed");
  for (const key of keys) {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(ticket, key, { algorithms: ["HS256"], typ: "JWT", currentDate: new Date(nowMs), clockTolerance: 0 }));
    } catch (e) {
      if (e instanceof errors.JWTExpired) throw new ClawkeepError("ticket_expired", "ticket has expired: ask for a new one with sign-intent");
      if (e instanceof errors.JWSSignatureVerificationFailed) continue;
      throw new ClawkeepError("ticket_invalid", "ticket is malformed");
    }
    const claims = payload as unknown as TicketClaims;
    for (const f of ["sub", "uid", "jti", "knd", "ph", "vh"] as const) if (typeof claims[f] !== "string") throw new ClawkeepError("ticket_invalid", "ticket is malformed");
    if (!Number.isSafeInteger(claims.exp) || !Number.isSafeInteger(claims.iat)) throw new ClawkeepError("ticket_invalid", "ticket is malformed");
    return claims;
  }
  throw new ClawkeepError("ticket_invalid", "ticket signature does not verify");
}
