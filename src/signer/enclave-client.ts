import http from "node:http";
import { randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ClawkeepError, ERROR_CODES, type ErrorCode } from "../errors.js";
import { attestationMessage } from "./daemon.js";
import { verifySignature, type KeyBackend, type KeyCtx, type Signature } from "./key-backend.js";

// The API's side of SIGNER_MODE=enclave: every key operation goes to signerd. Before the first
// request, and again whenever signerd answers with another boot id (it restarted), the API asks
// for a fresh attestation over its own nonce and refuses a signerd whose key is not the pinned
// SIGNERD_ATTESTATION_KEY or whose measurement is not in SIGNERD_MEASUREMENTS. A signature that
// comes back is verified against the identity's public key before anyone sees it.

export interface EnclaveSettings {
  /** ENCLAVE_BASE_URL: `unix:/path/to.sock` or `http://127.0.0.1:<port>`. */
  baseUrl: string;
  internalApiKey: string;
  attestationKey: string;
  measurements: string[];
}

type Reply = { status: number; body: Record<string, unknown>; boot: string | undefined };

export function enclaveBackend(s: EnclaveSettings): KeyBackend & { attest(): Promise<string> } {
  const unix = s.baseUrl.startsWith("unix:") ? s.baseUrl.slice(5) : undefined;
  const base = unix ? undefined : new URL(s.baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let attestedBoot: string | undefined;
  let attesting: Promise<string> | undefined;

  function raw(method: string, pathname: string, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent,
          method,
          path: pathname,
          ...(unix ? { socketPath: unix } : { host: base!.hostname, port: base!.port }),
          headers: { authorization: `Bearer ${s.internalApiKey}`, ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}) },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"), boot: res.headers["x-signerd-boot"] as string | undefined });
            } catch {
              reject(new ClawkeepError("unavailable", "signerd sent a malformed answer"));
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => reject(new ClawkeepError("unavailable", "signerd is not reachable (ENCLAVE_BASE_URL)")));
      req.end(payload);
    });
  }

  async function attest(): Promise<string> {
    const nonce = randomBytes(16).toString("hex");
    const r = await raw("GET", `/v1/attestation?nonce=${nonce}`);
    const b = r.body as { measurement?: string; boot_id?: string; attestation_key?: string; signature?: string };
    if (r.status !== 200 || typeof b.measurement !== "string" || typeof b.boot_id !== "string" || typeof b.signature !== "string") {
      throw new ClawkeepError("unavailable", "signerd did not attest");
    }
    let good: boolean;
    try {
      good = b.attestation_key === s.attestationKey && ed25519.verify(Buffer.from(b.signature, "hex"), attestationMessage(b.measurement, b.boot_id, nonce), Buffer.from(s.attestationKey, "hex"));
    } catch {
      good = false;
    }
    if (!good) throw new ClawkeepError("signer_untrusted", "signerd's attestation is not signed by SIGNERD_ATTESTATION_KEY");
    if (!s.measurements.includes(b.measurement)) throw new ClawkeepError("signer_untrusted", `signerd's measurement ${b.measurement} is not in SIGNERD_MEASUREMENTS`);
    attestedBoot = b.boot_id;
    return b.boot_id;
  }

  async function ensureAttested(): Promise<void> {
    if (attestedBoot) return;
    attesting ??= attest().finally(() => (attesting = undefined));
    await attesting;
  }

  /** One request to an attested signerd; a restarted one (new boot id) is attested before its answer is used. */
  async function call(method: string, pathname: string, body?: unknown): Promise<Reply> {
    await ensureAttested();
    let r: Reply;
    try {
      r = await raw(method, pathname, body);
    } catch (e) {
      attestedBoot = undefined; // it may come back as another process
      throw e;
    }
    if (r.boot !== attestedBoot) {
      attestedBoot = undefined;
      await ensureAttested();
      r = await raw(method, pathname, body);
      if (r.boot !== attestedBoot) throw new ClawkeepError("unavailable", "signerd restarted during the request; retry");
    }
    return r;
  }

  const fail = (r: Reply): never => {
    const e = r.body.error as { code?: string; message?: string } | undefined;
    const code = (e?.code && e.code in ERROR_CODES ? e.code : "internal") as ErrorCode;
    throw new ClawkeepError(code === "unauthorized" ? "unavailable" : code, code === "unauthorized" ? "signerd refused INTERNAL_API_KEY" : (e?.message ?? "signerd failed"));
  };
  const ctxBody = (ctx: KeyCtx) => ({ user: ctx.user, identity_id: ctx.identityId, curve: ctx.curve });
  const bytes = (hex: unknown) => Buffer.from(String(hex), "hex");

  return {
    mode: "enclave",
    attest,
    async generate(ctx) {
      const r = await call("POST", "/v1/keys", ctxBody(ctx));
      if (r.status !== 200) fail(r);
      return { publicKey: bytes(r.body.public_key), sealed: String(r.body.sealed), keyId: String(r.body.key_id) };
    },
    async sign(ctx, publicKeyHex, sealed, input) {
      const req = { ...ctxBody(ctx), public_key: publicKeyHex, input: Buffer.from(input).toString("hex") };
      let r = await call("POST", "/v1/sign", req);
      if (r.status === 404) {
        // signerd restarted and holds no key: hand it the backup and try once more.
        const back = await call("POST", "/v1/restore", { ...ctxBody(ctx), public_key: publicKeyHex, sealed });
        if (back.status !== 200) fail(back);
        r = await call("POST", "/v1/sign", req);
      }
      if (r.status !== 200) fail(r);
      const b = r.body;
      const sig: Signature = b.curve === "secp256k1" ? { curve: "secp256k1", signature: bytes(b.signature), r: bytes(b.r), s: bytes(b.s), recovery: Number(b.recovery) } : { curve: "ed25519", signature: bytes(b.signature) };
      if (!verifySignature(ctx.curve, publicKeyHex, input, sig)) throw new ClawkeepError("integrity_error", "signerd returned a signature that does not verify");
      return sig;
    },
    async restore(ctx, publicKeyHex, sealed) {
      const r = await call("POST", "/v1/restore", { ...ctxBody(ctx), public_key: publicKeyHex, sealed });
      if (r.status !== 200) fail(r);
      return { format: String(r.body.format) };
    },
    async forget(ctx) {
      await call("DELETE", `/v1/keys/${ctx.identityId}`);
    },
  };
}
