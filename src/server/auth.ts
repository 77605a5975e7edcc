import type { FastifyReply, FastifyRequest } from "fastify";
import { ClawkeepError } from "../errors.js";
import type { Principal, UserService } from "../users/users.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function bearerOf(req: { headers: { authorization?: string | string[] | undefined } }): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== "string") return undefined;
  const m = /^Bearer (.+)$/i.exec(h.trim());
  return m?.[1]?.trim();
}

export const authHook = (users: UserService) => async (req: FastifyRequest, _reply: FastifyReply) => {
  req.principal = await users.authenticate(bearerOf(req), req.ip);
};

export function principal(req: FastifyRequest): Principal {
  if (!req.principal) throw new ClawkeepError("unauthorized", "missing or invalid bearer token");
  return req.principal;
}

export function requireAdmin(req: FastifyRequest): Principal {
  const p = principal(req);
  if (!p.isAdmin) throw new ClawkeepError("forbidden", "admin only");
  return p;
}
