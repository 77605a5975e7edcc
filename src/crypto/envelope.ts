import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

// Versioned AES-256-GCM envelope (NIST SP 800-38D), specified in docs/formats.md.
//
//   header (4) = "C" "K" kind version      kind: 'S' secret value, 'D' wrapped DEK, 'A' agent secret,
//                                          'P' password-mode value (sealed inside an 'S'),
//                                          'K' signer private key
//   nonce  (12) random, chosen here — callers never pick nonces
//   ct || tag(16)
//
// The AAD binds the ciphertext to where it belongs. Callers pass a typed context, never loose
// bytes; it is encoded canonically (length-prefixed fields) after the header, so a blob moved to
// another pointer, or a header byte changed, fails to open.

export type AadContext =
  | { kind: "secret"; user: string; agent: string; name: string; version: number; epoch: number; blobId: string }
  | { kind: "dek"; user: string; epoch: number }
  | { kind: "agent-secret"; user: string; agentId: string; generation: number }
  | { kind: "password-secret"; user: string; agent: string; name: string; version: number }
  | { kind: "signing-key"; user: string; identityId: string; curve: string };

const KIND_BYTE = { secret: 0x53, dek: 0x44, "agent-secret": 0x41, "password-secret": 0x50, "signing-key": 0x4b } as const;
const LABEL = {
  secret: "clawkeep/secret/v1",
  dek: "clawkeep/dek/v1",
  "agent-secret": "clawkeep/agent-secret/v1",
  "password-secret": "clawkeep/password-secret/v1",
  "signing-key": "clawkeep/signing-key/v1",
} as const;
const VERSION = 0x01;
const HEADER_LEN = 4;
const NONCE_LEN = 12;
const TAG_LEN = 16;
export const ENVELOPE_OVERHEAD = HEADER_LEN + NONCE_LEN + TAG_LEN;

export class EnvelopeError extends Error {
  constructor(readonly reason: "malformed" | "unsupported" | "auth_failed") {
    super(`envelope ${reason}`);
    this.name = "EnvelopeError";
  }
}

function fields(ctx: AadContext): string[] {
  switch (ctx.kind) {
    case "secret":
      return [ctx.user, ctx.agent, ctx.name, String(ctx.version), String(ctx.epoch), ctx.blobId];
    case "dek":
      return [ctx.user, String(ctx.epoch)];
    case "agent-secret":
      return [ctx.user, ctx.agentId, String(ctx.generation)];
    case "password-secret":
      return [ctx.user, ctx.agent, ctx.name, String(ctx.version)];
    case "signing-key":
      return [ctx.user, ctx.identityId, ctx.curve];
  }
}

export function encodeAad(header: Uint8Array, ctx: AadContext): Buffer {
  const parts: Buffer[] = [Buffer.from(header)];
  for (const f of [LABEL[ctx.kind], ...fields(ctx)]) {
    const b = Buffer.from(f, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

function header(ctx: AadContext): Buffer {
  return Buffer.from([0x43, 0x4b, KIND_BYTE[ctx.kind], VERSION]);
}

export function seal(key: Uint8Array, plaintext: Uint8Array, ctx: AadContext): Buffer {
  if (key.length !== 32) throw new RangeError("key must be 32 bytes");
  const h = header(ctx);
  const nonce = randomBytes(NONCE_LEN);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_LEN });
  cipher.setAAD(encodeAad(h, ctx));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([h, nonce, ct, cipher.getAuthTag()]);
}

export function open(key: Uint8Array, envelope: Uint8Array, ctx: AadContext): Buffer {
  if (key.length !== 32) throw new RangeError("key must be 32 bytes");
  const env = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (env.length < ENVELOPE_OVERHEAD || env[0] !== 0x43 || env[1] !== 0x4b) throw new EnvelopeError("malformed");
  const expected = header(ctx);
  if (env[2] !== expected[2] || env[3] !== VERSION) throw new EnvelopeError("unsupported");
  const nonce = env.subarray(HEADER_LEN, HEADER_LEN + NONCE_LEN);
  const ct = env.subarray(HEADER_LEN + NONCE_LEN, env.length - TAG_LEN);
  const tag = env.subarray(env.length - TAG_LEN);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_LEN });
  decipher.setAAD(encodeAad(expected, ctx));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    throw new EnvelopeError("auth_failed");
  }
}
