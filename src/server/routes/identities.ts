import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { IdentityInfo, Signer, SignerCaller } from "../../signer/identities.js";
import { principal } from "../auth.js";

// Signer routes (seed 003): identities, sign-intent → preview + ticket, sign, restore.
// Responses that carry a ticket or a signature are never cached.

const NewIdentity = z.strictObject({
  curve: z.string(),
  label: z.string().optional(),
  agent: z.string().optional(),
  allow_blind_signing: z.boolean().optional(),
});
const Intent = z.strictObject({ payload: z.unknown() });
const Sign = z.strictObject({ ticket: z.string().max(4096), payload: z.unknown() });
type P = { id: string };

const caller = (req: FastifyRequest): SignerCaller => {
  const p = principal(req);
  return { userId: p.userId, actor: p.userId };
};

const view = (i: IdentityInfo) => ({
  id: i.id,
  curve: i.curve,
  chain: i.curve === "secp256k1" ? "evm" : "solana",
  address: i.address,
  public_key: i.publicKey,
  label: i.label,
  agent_id: i.agentId,
  allow_blind_signing: i.allowBlind,
  status: i.status,
  created_at: i.createdAt,
  destroyed_at: i.destroyedAt,
});

export function identityRoutes(app: FastifyInstance, signer: Signer) {
  app.post("/v1/identities", async (req, reply) => {
    const body = NewIdentity.safeParse(req.body ?? {});
    if (!body.success) throw new ClawkeepError("bad_request", 'body must be {"curve": "secp256k1"|"ed25519", "label"?: string, "agent"?: string, "allow_blind_signing"?: boolean}');
    const i = await signer.create(caller(req), { curve: body.data.curve, label: body.data.label, agent: body.data.agent, allowBlindSigning: body.data.allow_blind_signing });
    return reply.status(201).send(view(i));
  });
  app.get("/v1/identities", async (req) => ({ identities: (await signer.list(caller(req))).map(view) }));
  app.get<{ Params: P }>("/v1/identities/:id", async (req) => view(await signer.get(caller(req), req.params.id)));
  app.delete<{ Params: P }>("/v1/identities/:id", async (req) => view(await signer.destroy(caller(req), req.params.id)));

  app.post<{ Params: P }>("/v1/identities/:id/sign-intent", async (req, reply) => {
    const body = Intent.safeParse(req.body ?? {});
    if (!body.success || body.data.payload === undefined) throw new ClawkeepError("bad_request", 'body must be {"payload": {"kind": ..., ...}}');
    const r = await signer.signIntent(caller(req), req.params.id, body.data.payload);
    return reply
      .header("cache-control", "no-store")
      .send({ ticket: r.ticket, expires_at: r.expiresAt, kind: r.kind, preview: r.preview, preview_hash: r.previewHash, payload_hash: r.payloadHash });
  });

  app.post<{ Params: P }>("/v1/identities/:id/sign", async (req, reply) => {
    const body = Sign.safeParse(req.body ?? {});
    if (!body.success || body.data.payload === undefined) throw new ClawkeepError("bad_request", 'body must be {"ticket": string, "payload": {...}} (the payload sent to sign-intent)');
    return reply.header("cache-control", "no-store").send(await signer.sign(caller(req), req.params.id, body.data.ticket, body.data.payload));
  });

  app.post<{ Params: P }>("/v1/identities/:id/restore", async (req) => signer.restore(caller(req), req.params.id));
}
