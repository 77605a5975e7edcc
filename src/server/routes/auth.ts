import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ClawkeepError } from "../../errors.js";
import type { Login } from "../../users/login.js";

// The seed's challenge login, outside the bearer-token scope: `POST /v1/auth/challenge`,
// `POST /v1/auth/verify` and the bot's `POST /telegram-webhook`.

const Challenge = z.strictObject({ telegram_user_id: z.union([z.string(), z.number().int()]).optional() });
const Verify = z.strictObject({ challenge_id: z.string().max(64), challenge_secret: z.string().max(64) });
// Only the fields read here; Telegram sends many more.
const Update = z.object({ message: z.object({ text: z.string().max(4096).optional(), from: z.object({ id: z.number().int() }).optional() }).optional() });

export function authRoutes(app: FastifyInstance, login: Login) {
  app.post("/v1/auth/challenge", async (req, reply) => {
    const body = Challenge.safeParse(req.body ?? {});
    if (!body.success) throw new ClawkeepError("bad_request", 'body must be {} or {"telegram_user_id": integer} (test mode)');
    const tg = body.data.telegram_user_id;
    const r = await login.challenge({ telegramUserId: tg === undefined ? undefined : String(tg) });
    return reply
      .status(201)
      .header("cache-control", "no-store")
      .send({ challenge_id: r.challengeId, challenge_secret: r.challengeSecret, deep_link: r.deepLink, expires_at: r.expiresAt, status: r.status });
  });

  app.post("/v1/auth/verify", async (req, reply) => {
    const body = Verify.safeParse(req.body ?? {});
    if (!body.success) throw new ClawkeepError("bad_request", 'body must be {"challenge_id": string, "challenge_secret": string}');
    const r = await login.verify({ challengeId: body.data.challenge_id, challengeSecret: body.data.challenge_secret });
    return reply.header("cache-control", "no-store").send({ token: r.token, token_type: "Bearer", expires_at: r.expiresAt, user: { id: r.user.id, name: r.user.name } });
  });

  app.post("/telegram-webhook", async (req, reply) => {
    const given = req.headers["x-telegram-bot-api-secret-token"];
    if (!login.webhookAuthorized(typeof given === "string" ? given : undefined)) {
      throw new ClawkeepError("unauthorized", "missing or wrong X-Telegram-Bot-Api-Secret-Token");
    }
    const u = Update.safeParse(req.body ?? {});
    const m = u.success ? /^\/start(?:@\w+)?\s+(chl_[0-9a-f]{32})\s*$/.exec(u.data.message?.text ?? "") : null;
    const from = u.success ? u.data.message?.from?.id : undefined;
    // Telegram retries anything but 2xx: every update is acknowledged, whether it resolved a challenge or not.
    const resolved = m && from !== undefined ? await login.resolveFromTelegram(m[1]!, String(from)) : false;
    return reply.send({ ok: true, resolved });
  });
}
