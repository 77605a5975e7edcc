import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { CredentialPasswords } from "../../vault/credential-password.js";
import type { Caller } from "../../vault/secrets.js";
import { principal } from "../auth.js";
import { B64 } from "./secrets.js";

// The password-derived credential mode over HTTP (formats §17). The password travels only in a
// request header (base64 of its UTF-8 bytes, so any character survives HTTP) or, to set it, in
// the JSON body: never in a URL. Log redaction covers both.

export const PASSWORD_HEADER = "x-clawkeep-credential-password";
export const MODE_HEADER = "x-clawkeep-credential-mode";

/** The credential password of this request, if it carries one. */
export function credentialPassword(req: FastifyRequest): string | undefined {
  const h = req.headers[PASSWORD_HEADER];
  if (h === undefined) return undefined;
  if (typeof h !== "string" || !B64.test(h) || h.length === 0) throw new ClawkeepError("bad_request", `${PASSWORD_HEADER} must be the base64 of the password's UTF-8 bytes`);
  return Buffer.from(h, "base64").toString("utf8");
}

/** A per-request unlock: Argon2id runs at most once however many values it opens; the key is wiped after. */
export function requestUnlock(passwords: CredentialPasswords, password: string | undefined) {
  let memo: Promise<Buffer> | undefined;
  return {
    unlock: password === undefined ? undefined : async (c: Caller, target: string) => Buffer.from(await (memo ??= passwords.unlock(c, password, target))),
    async wipe() {
      (await memo?.catch(() => null))?.fill(0);
    },
  };
}

const SetBody = z.strictObject({ password: z.string() });

export function credentialPasswordRoutes(app: FastifyInstance, passwords: CredentialPasswords) {
  const caller = (req: FastifyRequest) => ({ userId: principal(req).userId, actor: principal(req).userId });
  const view = (s: { set: boolean; params: { memoryKib: number; iterations: number; parallelism: number } | null }) => ({
    set: s.set,
    kdf: s.params ? { alg: "argon2id", memory_kib: s.params.memoryKib, iterations: s.params.iterations, parallelism: s.params.parallelism } : null,
  });
  app.get("/v1/credential-password", async (req) => view(await passwords.status(caller(req))));
  app.put("/v1/credential-password", async (req, reply) => {
    const body = SetBody.safeParse(req.body ?? {});
    if (!body.success) throw new ClawkeepError("bad_request", 'body must be {"password": string}');
    const params = await passwords.set(caller(req), body.data.password);
    return reply.status(201).send(view({ set: true, params }));
  });
}
