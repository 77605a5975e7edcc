import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ClawkeepError } from "../../src/errors.js";
import { buildHandshake, parseHandshake, signingString } from "../../src/agents/signing.js";
import { issueAgentToken, verifyAgentToken } from "../../src/agents/token.js";
import { buildAgentVectors } from "../helpers/agent-vectors.js";

// The handshake body and the agent token against their vectors (made from docs/formats.md with
// node:crypto), and the parser's refusals.

const v = buildAgentVectors();
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as ClawkeepError).code;
  }
  return "ok";
};

describe("handshake v1", () => {
  const h = v["handshake-ok"]!;
  it("builds the vector's exact bytes and parses them back", () => {
    const body = buildHandshake(h.agent_id as string, h.agent_secret as string, JSON.parse(h.request_json as string), (h.timestamp as number) * 1000 + 999, h.nonce as string);
    expect(body).toBe(h.body);
    const p = parseHandshake(body);
    expect(p).toMatchObject({ agentId: h.agent_id, timestamp: h.timestamp, nonce: h.nonce, signature: h.signature, requestJson: h.request_json });
    expect(signingString(p.agentId, p.timestamp, p.nonce, p.requestJson)).toBe(h.signing_string);
  });

  it("any edit of the body is refused, or changes what the signature covers", () => {
    const body = h.body as string;
    fc.assert(
      fc.property(fc.nat(body.length - 1), fc.string({ minLength: 1, maxLength: 3 }), (pos, ins) => {
        const mutated = body.slice(0, pos) + ins + body.slice(pos);
        const c = code(() => parseHandshake(mutated));
        if (c === "ok") {
          const p = parseHandshake(mutated);
          expect(signingString(p.agentId, p.timestamp, p.nonce, p.requestJson) !== h.signing_string || p.signature !== h.signature).toBe(true);
        } else expect(["handshake_malformed", "handshake_non_canonical"]).toContain(c);
      }),
    );
    for (let n = 0; n < body.length; n += 7) expect(code(() => parseHandshake(body.slice(0, n)))).toBe("handshake_malformed");
    expect(code(() => parseHandshake(body.replace('"request":{"only":["OPENAI_API_KEY"]}', '"request":{"only":["A","A"]}')))).toBe("handshake_malformed");
    expect(code(() => parseHandshake(body.replace('"request":{', '"request":{"x":1,')))).toBe("handshake_malformed");
  });
});

describe("agent token v1", () => {
  const t = v["agent-token-ok"]!;
  const key = Buffer.from(t.key_hex as string, "hex");
  const claims = t.claims as { iat: number; exp: number };
  it("verifies the vector and refuses it once expired or under another key", () => {
    expect(verifyAgentToken(key, t.token as string, claims.iat * 1000).claims).toEqual(t.claims);
    expect(verifyAgentToken(key, t.token as string, claims.exp * 1000).reason).toBe("expired");
    expect(verifyAgentToken(Buffer.alloc(32), t.token as string, claims.iat * 1000).reason).toBe("bad_mac");
    expect(verifyAgentToken(key, `${t.token as string}x`, claims.iat * 1000).reason).toBe("malformed");
  });
  it("issue → verify round trip", () => {
    const { token, claims: c } = issueAgentToken(key, { agt: "agt_1", usr: "usr_1", name: "bot", gen: 3, only: null }, 60);
    expect(verifyAgentToken(key, token).claims).toEqual(c);
  });
});
