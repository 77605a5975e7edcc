import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { SKIP_BROWSER } from "../helpers/chromium.js";
import { go, launch, listen, signIn } from "../helpers/dashboard.js";
import { bearer, createUser, ensureAgent, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Seed 001's "Support Access: OFF [Grant access - expires in 24h]" in the browser: grant to the
// operator's configured key (24 h or a chosen time), a live countdown, revoke at once; and the
// support-session command log as the user sees it. The command events themselves come from the
// agent's forced-command wrapper (another change); here they are appended to the audit log the
// way that route does, and the page must show any support event with its command text.

const OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO7Mqm9pC8Vt0XbVWa0Zq1oNq3kq4oV7dZ6kB2kZ8Y1a";

interface Grant {
  id: string;
  operator: string;
  public_key: string;
  expires_at: string;
  revoked_at: string | null;
}

describe.skipIf(SKIP_BROWSER)("dashboard: support access", () => {
  let env: TestEnv;
  let base: string;
  let browser: Browser;
  let token: string;
  let userId: string;
  let page: Page;

  beforeAll(async () => {
    env = await startTestEnv({ CLAWKEEP_SUPPORT_PUBLIC_KEY: `${OPERATOR_KEY} ops@example`, CLAWKEEP_SUPPORT_OPERATOR: "acme-support" });
    base = await listen(env);
    token = await createUser(env, "alice");
    userId = (await env.app.inject({ url: "/v1/whoami", headers: bearer(token) })).json<{ user: { id: string } }>().user.id;
    await ensureAgent(env, token, "bot");
    browser = await launch();
    page = await browser.newPage();
    await signIn(page, base, token);
    await go(page, "Support access", "#/support");
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  const grants = async () => (await env.app.inject({ url: "/v1/agents/bot/support-access", headers: bearer(token) })).json<{ grants: Grant[] }>().grants;

  it("grants the operator's key for 24 h, counts down, and revokes at once", async () => {
    await page.getByText("Support Access: OFF").waitFor();
    expect(await page.getByLabel("Operator key for bot").inputValue()).toBe(`${OPERATOR_KEY} ops@example`);
    await page.getByRole("button", { name: "Grant access to bot" }).click();
    await page.getByText("Support Access: ON").waitFor();
    const [g] = await grants();
    expect(g).toMatchObject({ operator: "acme-support", public_key: OPERATOR_KEY, revoked_at: null });
    const ttl = Date.parse(g!.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(23.9 * 3600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3600_000);

    const timer = page.getByRole("timer");
    const first = await timer.textContent();
    expect(first).toMatch(/^23:59:\d\d$/);
    await page.waitForFunction((t) => document.querySelector('[role="timer"]')?.textContent !== t, first);

    await page.getByRole("button", { name: "Revoke access to bot now" }).click();
    await page.getByText("Support Access: OFF").waitFor();
    expect((await grants())[0]!.revoked_at).not.toBeNull();
  });

  it("grants for a chosen time", async () => {
    await page.getByLabel("Expires after (bot)").selectOption({ label: "1 hour" });
    await page.getByRole("button", { name: "Grant access to bot" }).click();
    await page.getByText("Support Access: ON").waitFor();
    expect(await page.getByRole("timer").textContent()).toMatch(/^00:59:\d\d$/);
    const active = (await grants()).find((g) => !g.revoked_at)!;
    expect(Date.parse(active.expires_at) - Date.now()).toBeLessThanOrEqual(3600_000);
    await page.getByRole("button", { name: "Revoke access to bot now" }).click();
    await page.getByText("Support Access: OFF").waitFor();
  });

  it("shows every command of a support session, with grants and revocations, in the agent's support log", async () => {
    // The events as the agent's support-events route appends them (formats §24).
    const agentId = (await env.app.inject({ url: "/v1/agents", headers: bearer(token) })).json<{ agents: { name: string; agent_id: string }[] }>().agents.find((a) => a.name === "bot")!.agent_id;
    const grantId = (await grants())[0]!.id;
    const ev = (action: string, kind: string, extra: Record<string, string | number | boolean>, id = agentId) =>
      env.rt.audit.record({ userId, actor: `support:${grantId}`, action, target: "agent/bot", outcome: "success", metadata: { agent_id: id, grant_id: grantId, operator: "acme-support", record_id: `rec_${kind}_${Math.random()}`, kind, at: new Date().toISOString(), ...extra } });
    await ev("SupportSessionStarted", "session_start", { tty: true, from: "203.0.113.7" });
    await ev("SupportCommand", "command", { command: "uptime", tty: false, from: "203.0.113.7" });
    await ev("SupportCommand", "command", { command: "journalctl -u openclaw --since '1 hour ago'", command_truncated: false, tty: false, from: "203.0.113.7" });
    await ev("SupportSessionEnded", "session_end", { ref: "rec_x", status: 0 });
    // A deleted agent's events keep its name: one that carries another agent id is not this bot's.
    await ev("SupportCommand", "command", { command: "cat /old-bot-only" }, "agt_00000000000000000000");
    // Another agent's support events stay in that agent's log.
    await ensureAgent(env, token, "other");
    await env.rt.audit.record({ userId, actor: "agent:other", action: "SupportCommand", target: "agent/other", outcome: "success", metadata: { command: "rm -rf /tmp/x" } });

    await go(page, "Audit log", "#/audit");
    await go(page, "Support access", "#/support");
    const log = page.getByRole("table", { name: "Support log of bot" });
    await log.waitFor();
    const text = (await log.textContent())!;
    for (const s of ["SupportAccessGranted", "SupportAccessRevoked", "SupportSessionStarted", "uptime", "journalctl -u openclaw --since '1 hour ago'", "SupportSessionEnded"]) expect(text).toContain(s);
    expect(text).not.toContain("rm -rf /tmp/x");
    expect(text).not.toContain("cat /old-bot-only");
    expect(text).toContain("status: 0");
    expect(await page.getByRole("table", { name: "Support log of other" }).textContent()).toContain("rm -rf /tmp/x");
    // Command text is shown as text, never as markup.
    expect(await log.locator("code", { hasText: "uptime" }).count()).toBe(1);
  });
});
