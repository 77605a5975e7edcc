import http from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { z } from "zod";
import { constantTimeEqual, wipe } from "../crypto/bytes.js";
import { ClawkeepError, ERROR_CODES, type ErrorCode } from "../errors.js";
import { CURVES, generateKey, publicKeyOf, type Curve } from "./curves.js";
import { signWith, type KeyCtx } from "./key-backend.js";
import { openSealedKey, sealPrivateKey, type SealingKey } from "./sealed-key.js";

// signerd (SIGNER_MODE=enclave): the process that holds the sealing key and, in memory, the
// private keys; the API never has either. It answers the API alone (INTERNAL_API_KEY, compared
// in constant time) over a unix socket or loopback, and hands back every key it makes sealed
// under its own key, for the API to keep in key_backups. After a restart it holds no key: the
// API sees `key_not_found` and sends the backup to /v1/restore (the seed's incident handling).
//
// Its attestation is a measurement (SHA-256 over its code files and its public config) signed
// with its own ed25519 key over a nonce of the API's: software attestation, which tells the API
// it talks to the signerd build it allowlisted, not that the machine is honest.

/** The files whose bytes the measurement covers: this module and everything a key passes through. */
const MEASURED = ["daemon", "key-backend", "curves", "sealed-key", "../crypto/envelope", "../crypto/hkdf", "../crypto/bytes"];

export function measurement(cfg: { sealingKeyId: string; attestationKey: string }): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const ext = path.extname(fileURLToPath(import.meta.url));
  const h = createHash("sha256").update("clawkeep/signerd-measurement/v1\n");
  for (const m of MEASURED) {
    const bytes = readFileSync(path.join(here, `${m}${ext}`));
    h.update(`${m}\n${createHash("sha256").update(bytes).digest("hex")}\n`);
  }
  return h.update(`sealing_key_id=${cfg.sealingKeyId}\nattestation_key=${cfg.attestationKey}\n`).digest("hex");
}

export const attestationMessage = (measurementHex: string, bootId: string, nonce: string) => Buffer.from(`clawkeep/signerd-attestation/v1\n${measurementHex}\n${bootId}\n${nonce}`, "utf8");

const Ctx = z.strictObject({ user: z.string().min(1).max(64), identity_id: z.string().regex(/^idn_[0-9a-f]{20}$/), curve: z.enum(CURVES as [Curve, ...Curve[]]) });
const SignBody = Ctx.extend({ public_key: z.string().regex(/^[0-9a-f]+$/).max(130), input: z.string().regex(/^([0-9a-f]{2})*$/).max(8192) });
const RestoreBody = Ctx.extend({ public_key: z.string().regex(/^[0-9a-f]+$/).max(130), sealed: z.string().max(4096) });

export interface SignerdOptions {
  sealingKey: SealingKey;
  /** ed25519 secret key the attestation is signed with. */
  attestationSecret: Uint8Array;
  internalApiKey: string;
}

export function createSignerd(opts: SignerdOptions) {
  const attestationKey = Buffer.from(ed25519.getPublicKey(opts.attestationSecret)).toString("hex");
  const measured = measurement({ sealingKeyId: opts.sealingKey.keyId, attestationKey });
  // New at every start: the API re-attests when it sees another.
  const bootId = randomBytes(12).toString("hex");
  const held = new Map<string, { ctx: KeyCtx; key: Uint8Array; publicKey: string }>();
  const ctxOf = (b: z.infer<typeof Ctx>): KeyCtx => ({ user: b.user, identityId: b.identity_id, curve: b.curve });

  function keep(ctx: KeyCtx, key: Uint8Array) {
    const publicKey = Buffer.from(publicKeyOf(ctx.curve, key)).toString("hex");
    held.set(ctx.identityId, { ctx, key, publicKey });
    return publicKey;
  }

  async function handle(method: string, url: URL, body: unknown): Promise<unknown> {
    if (method === "GET" && url.pathname === "/v1/attestation") {
      const nonce = url.searchParams.get("nonce") ?? "";
      if (!/^[0-9a-f]{32,128}$/.test(nonce)) throw new ClawkeepError("bad_request", "nonce must be 16-64 bytes of hex");
      const signature = Buffer.from(ed25519.sign(attestationMessage(measured, bootId, nonce), opts.attestationSecret)).toString("hex");
      return { v: 1, measurement: measured, boot_id: bootId, attestation_key: attestationKey, sealing_key_id: opts.sealingKey.keyId, signature, keys_held: held.size };
    }
    if (method === "POST" && url.pathname === "/v1/keys") {
      const ctx = ctxOf(parse(Ctx, body));
      const key = generateKey(ctx.curve);
      const publicKey = keep(ctx, key);
      return { public_key: publicKey, sealed: sealPrivateKey(opts.sealingKey, ctx, key), key_id: opts.sealingKey.keyId };
    }
    if (method === "POST" && url.pathname === "/v1/sign") {
      const b = parse(SignBody, body);
      const h = held.get(b.identity_id);
      if (!h || h.ctx.user !== b.user || h.ctx.curve !== b.curve || h.publicKey !== b.public_key) throw new ClawkeepError("not_found", "key_not_found: restore the identity's backup first");
      const sig = signWith(h.ctx.curve, h.key, Buffer.from(b.input, "hex"));
      const hex = (u: Uint8Array) => Buffer.from(u).toString("hex");
      return sig.curve === "secp256k1" ? { curve: sig.curve, signature: hex(sig.signature), r: hex(sig.r), s: hex(sig.s), recovery: sig.recovery } : { curve: sig.curve, signature: hex(sig.signature) };
    }
    if (method === "POST" && url.pathname === "/v1/restore") {
      const b = parse(RestoreBody, body);
      const ctx = ctxOf(b);
      const o = openSealedKey([opts.sealingKey], ctx, b.sealed);
      if (Buffer.from(publicKeyOf(ctx.curve, o.privateKey)).toString("hex") !== b.public_key) {
        wipe(o.privateKey);
        throw new ClawkeepError("integrity_error", "stored data failed its integrity check");
      }
      held.get(ctx.identityId)?.key.fill(0);
      keep(ctx, o.privateKey);
      return { format: o.format, key_id: o.keyId };
    }
    const m = /^\/v1\/keys\/(idn_[0-9a-f]{20})$/.exec(url.pathname);
    if (method === "DELETE" && m) {
      const h = held.get(m[1]!);
      if (h) wipe(h.key);
      held.delete(m[1]!);
      return { forgotten: h !== undefined };
    }
    throw new ClawkeepError("not_found", "no such route");
  }

  const server = http.createServer((req, res) => {
    const send = (status: number, obj: unknown) => {
      res.writeHead(status, { "content-type": "application/json", "x-signerd-boot": bootId, "cache-control": "no-store" });
      res.end(JSON.stringify(obj));
    };
    const fail = (code: ErrorCode, message: string) => send(ERROR_CODES[code].status, { error: { code, message } });
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!auth || !constantTimeEqual(auth, opts.internalApiKey)) {
      req.resume();
      return fail("unauthorized", "missing or wrong INTERNAL_API_KEY");
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 64 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on("end", () => {
      let body: unknown = undefined;
      try {
        if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return fail("bad_request", "body is not JSON");
      }
      handle(req.method ?? "GET", new URL(req.url ?? "/", "http://signerd"), body).then(
        (out) => send(200, out),
        (e) => (e instanceof ClawkeepError ? fail(e.code, e.message) : fail("internal", "internal error")),
      );
    });
  });

  return {
    server,
    measurement: measured,
    attestationKey,
    bootId,
    close() {
      for (const h of held.values()) wipe(h.key);
      held.clear();
      server.close();
    },
  };
}

function parse<T extends z.ZodTypeAny>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw new ClawkeepError("bad_request", `body: ${r.error.issues[0]?.path.join(".") || "?"}: ${r.error.issues[0]?.message ?? "invalid"}`);
  return r.data;
}
