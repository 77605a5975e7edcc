import { createCipheriv, createHash, createHmac, pbkdf2Sync } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Generators for the agent-side vectors (test/vectors/agents/*.json). They follow the spec in
// docs/formats.md with node:crypto only and never import src/, so a vector checks the real code
// against the written format rather than against itself. One case per file, each with `expect`.
// Regenerate: `node --import tsx -e 'import("./test/helpers/agent-vectors.ts").then(m => m.writeVectors())'`.

export const AGENT_VECTOR_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "vectors", "agents");

const hex = (n: number, from: number) => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));

function e2ee(passphrase: string, plaintext: string, context: string, iter: number) {
  const salt = hex(16, 0x00);
  const iv = hex(12, 0xa0);
  const key = pbkdf2Sync(Buffer.from(passphrase, "utf8"), salt, iter, 32, "sha256");
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(Buffer.from(`clawkeep-e2ee/v1\n${iter}\n${context}`, "utf8"));
  const ct = Buffer.concat([c.update(plaintext, "utf8"), c.final(), c.getAuthTag()]);
  return JSON.stringify({ v: 1, alg: "A256GCM", kdf: "PBKDF2-SHA256", iter, salt: salt.toString("base64"), iv: iv.toString("base64"), ct: ct.toString("base64") });
}

const PASS = "correct horse battery staple";
const CTX = "billing-bot/OPENAI_API_KEY";
const PT = "sk-test-0123456789abcdef";

function handshake(agentId: string, secret: string, timestamp: number, nonce: string, request: Record<string, unknown>) {
  const requestJson = JSON.stringify(request);
  const requestHash = createHash("sha256").update(requestJson, "utf8").digest("hex");
  const signingString = `clawkeep-handshake/v1\n${agentId}\n${timestamp}\n${nonce}\n${requestHash}`;
  const signature = createHmac("sha256", Buffer.from(secret, "utf8")).update(signingString, "utf8").digest("base64url");
  const body = `{"agent_id":${JSON.stringify(agentId)},"timestamp":${timestamp},"nonce":${JSON.stringify(nonce)},"request":${requestJson},"signature":"${signature}"}`;
  return { agent_secret: secret, agent_id: agentId, timestamp, nonce, request_json: requestJson, request_sha256_hex: requestHash, signing_string: signingString, signature, body };
}

function agentToken(keyHex: string, claims: Record<string, unknown>) {
  const payload = Buffer.from(JSON.stringify(claims), "utf8").toString("base64url");
  const mac = createHmac("sha256", Buffer.from(keyHex, "hex")).update(`clawkeep/agent-token/v1\nckat1.${payload}`, "utf8").digest("base64url");
  return { key_hex: keyHex, claims, token: `ckat1.${payload}.${mac}` };
}

export function buildAgentVectors(): Record<string, Record<string, unknown>> {
  const env = e2ee(PASS, PT, CTX, 600_000);
  const hs = handshake("agt_00112233445566778899", "cks_" + hex(32, 0x40).toString("base64url"), 1767225600, "bm9uY2Utbm9uY2Utbm9uY2U", { only: ["OPENAI_API_KEY"] });
  return {
    "e2ee-ok": { format: "clawkeep E2EE envelope v1", description: "Sealed with the spec's fixed salt 00..0f and IV a0..ab.", expect: "ok", passphrase: PASS, context: CTX, plaintext: PT, envelope: env },
    "e2ee-wrong-passphrase": { format: "clawkeep E2EE envelope v1", description: "e2ee-ok's envelope opened with another passphrase.", expect: "auth_failed", passphrase: "Correct horse battery staple", context: CTX, plaintext: null, envelope: env },
    "e2ee-wrong-context": { format: "clawkeep E2EE envelope v1", description: "e2ee-ok's envelope opened as another secret (a swapped value).", expect: "auth_failed", passphrase: PASS, context: "billing-bot/OTHER", plaintext: null, envelope: env },
    "e2ee-low-iterations": { format: "clawkeep E2EE envelope v1", description: "A well-formed envelope with 1,000 iterations: refused before any key derivation.", expect: "unsupported", passphrase: PASS, context: CTX, plaintext: null, envelope: e2ee(PASS, PT, CTX, 1000) },
    "handshake-ok": { format: "clawkeep handshake v1", description: "A signed handshake body, byte for byte.", expect: "ok", ...hs },
    "agent-token-ok": {
      format: "clawkeep agent token v1 (ckat1)",
      description: "key_hex is the session purpose key; the MAC covers 'clawkeep/agent-token/v1\\n' + 'ckat1.' + payload.",
      expect: "ok",
      ...agentToken("c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf", { v: 1, agt: "agt_00112233445566778899", usr: "usr_00112233445566778899", name: "billing-bot", gen: 1, iat: 1767225600, exp: 1767226200, jti: "00112233445566778899aabbccddeeff", only: null }),
    },
  };
}

export const renderVector = (v: Record<string, unknown>) => `${JSON.stringify(v, null, 2)}\n`;

export async function writeVectors() {
  const { writeFileSync, mkdirSync } = await import("node:fs");
  mkdirSync(AGENT_VECTOR_DIR, { recursive: true });
  for (const [name, v] of Object.entries(buildAgentVectors())) writeFileSync(path.join(AGENT_VECTOR_DIR, `${name}.json`), renderVector(v));
}
