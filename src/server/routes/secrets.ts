import { isUtf8 } from "node:buffer";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { SecretService } from "../../vault/secrets.js";
import type { CredentialPasswords } from "../../vault/credential-password.js";
import { credentialPassword, MODE_HEADER } from "./credential-password.js";
import { parseVersion } from "../../vault/names.js";
import { principal } from "../auth.js";

const PutJson = z.strictObject({ value: z.string(), encoding: z.enum(["utf8", "base64"]).default("utf8") });
/** Canonical padded base64 (what Buffer.from(…, "base64") would silently accept otherwise). */
export const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type P = { agent: string; name: string };

function bodyValue(req: FastifyRequest): Buffer {
  if (Buffer.isBuffer(req.body)) return req.body;
  const parsed = PutJson.safeParse(req.body);
  if (!parsed.success) throw new ClawkeepError("bad_request", 'body must be {"value": string, "encoding"?: "utf8" | "base64"}');
  const { value, encoding } = parsed.data;
  if (encoding === "base64" && !B64.test(value)) throw new ClawkeepError("bad_request", "value is not valid base64");
  return Buffer.from(value, encoding);
}

const caller = (req: FastifyRequest) => {
  const p = principal(req);
  return { userId: p.userId, actor: p.userId };
};

// Values go out as UTF-8 text when they are valid UTF-8 and as base64 otherwise, with `encoding`
// saying which; `Accept: application/octet-stream` returns the raw bytes instead.
function sendValue(reply: FastifyReply, req: FastifyRequest, s: Awaited<ReturnType<SecretService["get"]>>) {
  const accept = req.headers.accept ?? "";
  reply.header("cache-control", "no-store");
  if (accept.includes("application/octet-stream")) {
    return reply.header("content-type", "application/octet-stream").header("x-clawkeep-version", String(s.version)).header(MODE_HEADER, s.mode).send(s.value);
  }
  const utf8 = isUtf8(s.value);
  const encoding = utf8 ? "utf8" : "base64";
  const value = s.value.toString(encoding);
  return reply.send({ agent: s.agent, name: s.name, version: s.version, created_at: s.createdAt, mode: s.mode, encoding, value });
}

export function secretRoutes(app: FastifyInstance, secrets: SecretService, passwords: CredentialPasswords) {
  app.put<{ Params: P }>("/v1/secrets/:agent/:name", async (req, reply) => {
    const mode = req.headers[MODE_HEADER] ?? "platform";
    if (mode !== "platform" && mode !== "password") throw new ClawkeepError("bad_request", `${MODE_HEADER} must be platform or password`);
    const password = credentialPassword(req);
    const c = caller(req);
    const value = bodyValue(req);
    // A password with no mode would silently store a platform value the user thinks is protected.
    if (mode !== "password" && password !== undefined) throw new ClawkeepError("bad_request", `a credential password was given without ${MODE_HEADER}: password`);
    const unlock = password === undefined ? undefined : () => passwords.unlock(c, password, `${req.params.agent}/${req.params.name}`);
    const r = await secrets.put(c, req.params.agent, req.params.name, value, { passwordMode: mode === "password", unlock });
    return reply.status(201).send({ agent: req.params.agent, name: req.params.name, version: r.version, created_at: r.createdAt, mode });
  });

  app.get<{ Params: P; Querystring: { version?: string } }>("/v1/secrets/:agent/:name", async (req, reply) => {
    const q = req.query.version;
    const version = q === undefined ? undefined : parseVersion(q);
    const password = credentialPassword(req);
    const c = caller(req);
    const unlock = password === undefined ? undefined : () => passwords.unlock(c, password, `${req.params.agent}/${req.params.name}`);
    return sendValue(reply, req, await secrets.get(c, req.params.agent, req.params.name, version, { unlock }));
  });

  app.delete<{ Params: P }>("/v1/secrets/:agent/:name", async (req) => {
    const r = await secrets.remove(caller(req), req.params.agent, req.params.name);
    return { agent: req.params.agent, name: req.params.name, version: r.version, deleted: true };
  });

  app.get<{ Params: P }>("/v1/secrets/:agent/:name/versions", async (req) => {
    const v = await secrets.versions(caller(req), req.params.agent, req.params.name);
    return {
      agent: req.params.agent,
      name: req.params.name,
      versions: v.map((x) => ({ version: x.version, created_at: x.createdAt, size: x.size, deleted: x.deleted, epoch: x.epoch, mode: x.mode })),
    };
  });

  const listing = (rows: Awaited<ReturnType<SecretService["list"]>>) => ({
    secrets: rows.map((r) => ({ agent: r.agent, name: r.name, version: r.version, versions: r.versions, updated_at: r.updatedAt })),
  });
  app.get("/v1/secrets", async (req) => listing(await secrets.list(caller(req))));
  app.get<{ Params: { agent: string } }>("/v1/secrets/:agent", async (req) => listing(await secrets.list(caller(req), req.params.agent)));
}
