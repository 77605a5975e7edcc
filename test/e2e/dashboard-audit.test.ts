import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { SKIP_BROWSER } from "../helpers/chromium.js";
import { go, launch, listen, signIn } from "../helpers/dashboard.js";
import { createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// The audit page: a user's own events, paged (50 a page, forward by sequence number and back),
// and the chain's verification status: an administrator sees it in full (intact with its length,
// or the event where it breaks); a user sees whether it is intact and when it was checked, never
// its length or where it breaks (the chain is global: those tell of every user's activity).

describe.skipIf(SKIP_BROWSER)("dashboard: audit log", () => {
  let env: TestEnv;
  let base: string;
  let browser: Browser;
  let alice: string;

  beforeAll(async () => {
    env = await startTestEnv();
    base = await listen(env);
    alice = await createUser(env, "alice");
    const bob = await createUser(env, "bob");
    for (let i = 0; i < 60; i++) await putSecret(env, alice, `bot/K${i}`, "v");
    await putSecret(env, bob, "bobs/ONLY_BOB", "v");
    browser = await launch();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  it("pages through the user's own events, forward and back", async () => {
    const page = await browser.newPage();
    await signIn(page, base, alice);
    await go(page, "Audit log", "#/audit");
    const rows = page.locator("table tbody tr");
    await rows.first().waitFor();
    expect(await rows.count()).toBe(50);
    const firstPage = (await page.locator("table").textContent())!;
    expect(firstPage).toContain("bot/K0");
    expect(firstPage).not.toContain("ONLY_BOB");
    await page.getByText(/Chain verified at .+: every hash and MAC intact\./).waitFor();
    expect(await page.getByRole("region", { name: "Chain verification" }).textContent()).not.toMatch(/\d+ events/);

    await page.getByRole("button", { name: "Next page" }).click();
    await page.getByText("Page 2").waitFor();
    const second = (await page.locator("table").textContent())!;
    expect(second).toContain("bot/K59");
    expect(second).not.toContain("bot/K0 ");
    expect(second).not.toContain("ONLY_BOB");
    expect(await page.getByRole("button", { name: "Next page" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "Previous page" }).click();
    await page.getByText("Page 1").waitFor();
    expect(await page.locator("table").textContent()).toBe(firstPage);
    await page.close();
  });

  it("an admin sees the chain verified, and a tampered event is reported with its place; a user sees it broken, without the place", async () => {
    const page = await browser.newPage();
    await signIn(page, base, env.adminToken);
    await go(page, "Audit log", "#/audit");
    await page.getByText(/Chain verified: \d+ events, every hash and MAC intact\./).waitFor();

    const raw = await env.raw();
    const [victim] = await raw.all<{ seq: number }>("SELECT seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 10");
    await raw.run("UPDATE audit_events SET target = 'secret/bot/FORGED' WHERE seq = ?", victim!.seq);
    await raw.close();
    await page.getByRole("button", { name: "Verify the chain" }).click();
    await page.getByText(`Chain BROKEN at event ${victim!.seq}`).waitFor();
    await page.close();

    // The user's status follows the administrator's fresh check: broken, without the place.
    const user = await browser.newPage();
    await signIn(user, base, alice);
    await go(user, "Audit log", "#/audit");
    await user.getByText(/Chain BROKEN \(checked .+\): the audit log was altered/).waitFor();
    expect(await user.getByRole("region", { name: "Chain verification" }).textContent()).not.toContain(String(victim!.seq));
    const api = await env.app.inject({ url: "/v1/audit/verify", headers: { authorization: `Bearer ${alice}` } });
    expect(Object.keys(api.json()).sort()).toEqual(["ok", "verified_at"]);
    expect(api.json().ok).toBe(false);
    await user.close();
  });
});
