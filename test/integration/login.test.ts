import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, startTestEnv, type TestEnv } from "../helpers/runtime.js";
import { loadConfig } from "../../src/config.js";

// The seed's challenge login, in test mode (no bot) and with a bot (its webhook driven as
// Telegram would drive it), on each storage backend.

type Json = Record<string, unknown>;
const BOT = { TELEGRAM_BOT_TOKEN: "123456:AAbbCCddEEffGGhhIIjjKKllMMnn", TELEGRAM_BOT_USERNAME: "clawkeep_test_bot", TELEGRAM_WEBHOOK_SECRET: "w".repeat(40) };

for (const backend of BACKENDS) {
  describe(`challenge login (${backend.name})`, () => {
    let test: TestEnv;
    let live: TestEnv;
    beforeAll(async () => {
      test = await startTestEnv({}, undefined, backend);
      live = await startTestEnv(BOT, undefined, backend);
    });
    afterAll(async () => {
      await test?.close();
      await live?.close();
    });

    const post = async (env: TestEnv, url: string, payload: unknown, headers: Record<string, string> = {}) => {
      const r = await env.app.inject({ method: "POST", url, payload: payload as Json, headers });
      return { status: r.statusCode, body: r.json() as Json };
    };
    const code = (r: { body: Json }) => (r.body.error as { code: string } | undefined)?.code;
    const verify = (env: TestEnv, c: Json) => post(env, "/v1/auth/verify", { challenge_id: c.challenge_id, challenge_secret: c.challenge_secret });
    const update = (text: string, from = 777001) => ({ update_id: 1, message: { message_id: 5, date: 0, chat: { id: from, type: "private" }, from: { id: from, is_bot: false, first_name: "A" }, text } });

    it("test mode: a challenge naming a telegram_user_id resolves at once and verifies into a session, once", async () => {
      const c = (await post(test, "/v1/auth/challenge", { telegram_user_id: 424242 })).body;
      expect(c).toMatchObject({ status: "resolved", challenge_id: expect.stringMatching(/^chl_[0-9a-f]{32}$/) });
      expect(c.deep_link).toContain(c.challenge_id as string);
      expect(c.deep_link).not.toContain(c.challenge_secret as string);
      const s = await verify(test, c);
      expect(s.status, JSON.stringify(s.body)).toBe(200);
      expect(s.body).toMatchObject({ token_type: "Bearer", user: { name: "tg-424242" } });
      const ttl = Date.parse(s.body.expires_at as string) - Date.now();
      expect(ttl).toBeGreaterThan(86_000_000);
      expect(ttl).toBeLessThanOrEqual(86_400_000);
      // The session is a principal like any token.
      const me = await test.app.inject({ method: "GET", url: "/v1/identities", headers: bearer(s.body.token as string) });
      expect(me.statusCode).toBe(200);
      const again = await verify(test, c);
      expect([again.status, code(again)]).toEqual([409, "challenge_used"]);

      // The same account signs in as the same user next time.
      const c2 = (await post(test, "/v1/auth/challenge", { telegram_user_id: "424242" })).body;
      const s2 = await verify(test, c2);
      expect((s2.body.user as Json).id).toBe((s.body.user as Json).id);
    });

    it("concurrent verifies of one challenge: exactly one session", async () => {
      const c = (await post(test, "/v1/auth/challenge", { telegram_user_id: 5150 })).body;
      const rs = await Promise.all(Array.from({ length: 8 }, () => verify(test, c)));
      expect(rs.filter((r) => r.status === 200)).toHaveLength(1);
      expect(rs.filter((r) => r.status !== 200).every((r) => code(r) === "challenge_used")).toBe(true);
    });

    it("test mode: without a telegram_user_id the challenge stays pending, and there is no webhook to resolve it", async () => {
      const c = (await post(test, "/v1/auth/challenge", {})).body;
      expect(c.status).toBe("pending");
      const v = await verify(test, c);
      expect([v.status, code(v)]).toEqual([409, "challenge_pending"]);
      const w = await post(test, "/telegram-webhook", update(`/start ${c.challenge_id as string}`), { "x-telegram-bot-api-secret-token": "w".repeat(40) });
      expect(w.status).toBe(401);
      expect(code(await verify(test, c))).toBe("challenge_pending");
    });

    it("a wrong secret, an unknown id, an expired challenge are refused; the secret is kept only as a hash", async () => {
      const c = (await post(test, "/v1/auth/challenge", { telegram_user_id: 99 })).body;
      const wrong = await post(test, "/v1/auth/verify", { challenge_id: c.challenge_id, challenge_secret: "A".repeat(43) });
      expect([wrong.status, code(wrong)]).toEqual([404, "not_found"]);
      expect(code(await post(test, "/v1/auth/verify", { challenge_id: `chl_${"0".repeat(32)}`, challenge_secret: c.challenge_secret }))).toBe("not_found");
      expect(code(await post(test, "/v1/auth/verify", { challenge_id: 1 }))).toBe("bad_request");
      const raw = await test.raw();
      try {
        const dump = JSON.stringify(await raw.all("select * from auth_challenges"));
        expect(dump).toContain(c.challenge_id as string);
        expect(dump).not.toContain(c.challenge_secret as string);
        await raw.run("update auth_challenges set expires_at = ? where id = ?", new Date(Date.now() - 1000).toISOString(), c.challenge_id);
      } finally {
        await raw.close();
      }
      const e = await verify(test, c);
      expect([e.status, code(e)]).toEqual([410, "challenge_expired"]);
      // The wrong secret did not spend it: it failed for being expired, not used.
      const audit = (await test.app.inject({ method: "GET", url: "/v1/audit?limit=1000", headers: bearer(test.adminToken) })).json() as { events: { action: string; metadata: Json }[] };
      const codes = audit.events.filter((x) => x.action === "AuthVerifyRefused").map((x) => x.metadata.code);
      expect(codes).toEqual(expect.arrayContaining(["not_found", "challenge_expired", "challenge_used", "challenge_pending"]));
    });

    it("with a bot: the deep link opens the bot, only the webhook with the right secret resolves, and it resolves for the sender", async () => {
      expect(code(await post(live, "/v1/auth/challenge", { telegram_user_id: 1 }))).toBe("bad_request");
      const c = (await post(live, "/v1/auth/challenge", {})).body;
      expect(c.deep_link).toBe(`https://t.me/clawkeep_test_bot?start=${c.challenge_id as string}`);
      const hook = (text: string, secret?: string, from?: number) =>
        post(live, "/telegram-webhook", update(text, from), secret === undefined ? {} : { "x-telegram-bot-api-secret-token": secret });
      expect((await hook(`/start ${c.challenge_id as string}`)).status).toBe(401);
      expect((await hook(`/start ${c.challenge_id as string}`, "x".repeat(40))).status).toBe(401);
      expect(code(await verify(live, c))).toBe("challenge_pending");
      // Anything else from Telegram is acknowledged and changes nothing.
      expect((await hook("hello", BOT.TELEGRAM_WEBHOOK_SECRET)).body).toEqual({ ok: true, resolved: false });
      expect((await hook(`/start ${c.challenge_id as string}`, BOT.TELEGRAM_WEBHOOK_SECRET, 31337)).body).toEqual({ ok: true, resolved: true });
      // A second /start (another account) cannot take it over.
      expect((await hook(`/start ${c.challenge_id as string}`, BOT.TELEGRAM_WEBHOOK_SECRET, 666)).body).toEqual({ ok: true, resolved: false });
      const s = await verify(live, c);
      expect(s.body).toMatchObject({ user: { name: "tg-31337" } });
    });

    it("test mode is refused on a non-loopback bind: nobody from the network signs in as any account", async () => {
      const open = await startTestEnv({ CLAWKEEP_BIND: "0.0.0.0" }, undefined, backend);
      try {
        const r = await open.app.inject({ method: "POST", url: "/v1/auth/challenge", payload: { telegram_user_id: 424242 } });
        expect([r.statusCode, (r.json() as { error: { code: string } }).error.code]).toEqual([400, "bad_request"]);
      } finally {
        await open.close();
      }
    });

    it("TELEGRAM_BOT_TOKEN without its username and webhook secret is a configuration error", () => {
      expect(() => loadConfig({ TELEGRAM_BOT_TOKEN: BOT.TELEGRAM_BOT_TOKEN })).toThrow(/TELEGRAM_BOT_USERNAME and TELEGRAM_WEBHOOK_SECRET/);
    });
  });
}
