import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { jwtVerify, SignJWT, UnsecuredJWT } from "jose";
import { issueTicket, verifyTicket, type TicketClaims } from "../../src/signer/tickets.js";

// Tickets are HS256 JWTs made with Node's HMAC directly; jose, an independent implementation,
// is the peer that says they are the JWTs they claim to be, in both directions.

const key = randomBytes(32);
const base = { sub: "idn_0123456789abcdef0123", uid: "usr_1", knd: "eip191", ph: "a".repeat(64), vh: "b".repeat(64) };
const code = async (p: Promise<unknown>) => p.then(() => "ok", (e: { code?: string }) => e.code ?? String(e));

describe("sign tickets", () => {
  it("jose verifies a ticket we issue, with exactly our claims", async () => {
    const { ticket, claims } = await issueTicket(key, base, 120);
    const { payload, protectedHeader } = await jwtVerify(ticket, key, { algorithms: ["HS256"] });
    expect(protectedHeader).toEqual({ alg: "HS256", typ: "JWT" });
    expect(payload).toEqual(claims);
  });

  it("a ticket jose signs with the same key and header verifies here", async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims: TicketClaims = { ...base, aid: "agt_1", jti: "j1", iat: now, exp: now + 60 };
    const ticket = await new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
    expect(await verifyTicket([key], ticket)).toEqual(claims);
  });

  it("refuses another key, alg none, another algorithm, a non-canonical MAC, a bad payload and an expired ticket", async () => {
    const { ticket, claims } = await issueTicket(key, base, 60);
    expect(await code(verifyTicket([randomBytes(32)], ticket))).toBe("ticket_invalid");
    // An older key still verifies (rotation), the primary first.
    expect((await verifyTicket([randomBytes(32), key], ticket)).jti).toBe(claims.jti);

    const none = new UnsecuredJWT({ ...claims }).encode();
    expect(await code(verifyTicket([key], none))).toBe("ticket_invalid");
    const hs512 = await new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS512", typ: "JWT" }).sign(randomBytes(64));
    expect(await code(verifyTicket([key], hs512))).toBe("ticket_invalid");

    // The 43rd character holds 2 spare bits: flipping them spells the same MAC another way.
    const last = ticket.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = ticket.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1]!;
    expect(Buffer.from(twin.split(".")[2]!, "base64url")).toEqual(Buffer.from(ticket.split(".")[2]!, "base64url"));
    expect(await code(verifyTicket([key], twin))).toBe("ticket_invalid");

    const [h] = ticket.split(".");
    const forge = async (payload: unknown) => {
      const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
      const { createHmac } = await import("node:crypto");
      return `${h}.${body}.${createHmac("sha256", key).update(`${h}.${body}`).digest("base64url")}`;
    };
    expect(await code(verifyTicket([key], await forge([1, 2])))).toBe("ticket_invalid");
    expect(await code(verifyTicket([key], await forge({ ...claims, exp: "soon" })))).toBe("ticket_invalid");
    expect(await code(verifyTicket([key], await forge({ ...claims, ph: 7 })))).toBe("ticket_invalid");

    expect(await code(verifyTicket([key], ticket, (claims.exp - 1) * 1000))).toBe("ok");
    expect(await code(verifyTicket([key], ticket, claims.exp * 1000))).toBe("ticket_expired");
    expect(await code(verifyTicket([key], 42))).toBe("ticket_invalid");
  });
});
