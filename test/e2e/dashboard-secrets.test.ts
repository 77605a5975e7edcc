import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { SKIP_BROWSER } from "../helpers/chromium.js";
import { go, launch, listen, recordOutgoing, signIn } from "../helpers/dashboard.js";
import { bearer, createUser, ensureAgent, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Secrets in the dashboard, platform-managed and password-derived: put, reveal one at a time,
// versions; the list shows names, versions and dates, never a value. (E2EE: dashboard-e2ee.)

describe.skipIf(SKIP_BROWSER)("dashboard: secrets in the platform and password modes", () => {
  let env: TestEnv;
  let base: string;
  let browser: Browser;
  let token: string;
  let page: Page;
  let outgoing: ReturnType<typeof recordOutgoing>;

  beforeAll(async () => {
    env = await startTestEnv();
    base = await listen(env);
    token = await createUser(env, "alice");
    await ensureAgent(env, token, "bot");
    browser = await launch();
    const context = await browser.newContext();
    outgoing = recordOutgoing(context);
    page = await context.newPage();
    await signIn(page, base, token);
    await go(page, "Secrets", "#/secrets");
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  async function store(name: string, value: string, mode: string) {
    await page.getByLabel("Agent", { exact: true }).selectOption("bot");
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("Value", { exact: true }).fill(value);
    await page.getByLabel("Mode", { exact: true }).selectOption(mode);
  }

  it("platform mode: put, list without values, reveal, versions", async () => {
    const v1 = `plat-${randomBytes(8).toString("hex")}`;
    const v2 = `plat-${randomBytes(8).toString("hex")}`;
    for (const [i, v] of [v1, v2].entries()) {
      await store("OPENAI_API_KEY", v, "platform");
      await page.getByRole("button", { name: "Store", exact: true }).click();
      await page.getByText(`Stored bot/OPENAI_API_KEY version ${i + 1}.`).waitFor();
    }
    const list = await page.locator("table").first().textContent();
    expect(list).toContain("OPENAI_API_KEY");
    expect(list).toContain("v2");
    expect(await page.content()).not.toContain(v1);
    expect(await page.content()).not.toContain(v2);
    await page.getByRole("button", { name: "Reveal bot/OPENAI_API_KEY" }).click();
    await page.getByText(v2).waitFor();
    await page.getByRole("button", { name: "Hide" }).click();
    expect(await page.content()).not.toContain(v2);
    await page.getByRole("button", { name: "Versions of bot/OPENAI_API_KEY" }).click();
    await page.getByRole("table", { name: "Versions of bot/OPENAI_API_KEY" }).waitFor();
    expect(await page.getByRole("table", { name: "Versions of bot/OPENAI_API_KEY" }).locator("tbody tr").count()).toBe(2);
    const r = await env.app.inject({ url: "/v1/secrets/bot/OPENAI_API_KEY", headers: bearer(token) });
    expect(r.json()).toMatchObject({ value: v2, mode: "platform", version: 2 });
  });

  it("password mode: set the credential password once, put, and reveal only with it", async () => {
    const value = `pw-${randomBytes(8).toString("hex")}`;
    const password = `cred-${randomBytes(8).toString("hex")}`;
    await store("DB_PASSWORD", value, "password");
    await page.getByLabel("New credential password").fill(password);
    await page.getByLabel("Repeat the credential password").fill(password);
    await page.getByRole("button", { name: "Set credential password" }).click();
    await page.getByText("Credential password set").waitFor();
    await page.getByLabel("Credential password", { exact: true }).fill(password);
    await page.getByRole("button", { name: "Store", exact: true }).click();
    await page.getByText("Stored bot/DB_PASSWORD version 1.").waitFor();
    // The server will not open it without the password.
    expect((await env.app.inject({ url: "/v1/secrets/bot/DB_PASSWORD", headers: bearer(token) })).json()).toMatchObject({ error: { code: "credential_password_required" } });

    await page.getByRole("button", { name: "Reveal bot/DB_PASSWORD" }).click();
    await page.getByText("This value is in password mode").waitFor();
    await page.getByLabel("Credential password for bot/DB_PASSWORD").fill("wrong-password");
    await page.getByRole("button", { name: "Reveal bot/DB_PASSWORD" }).click();
    await page.getByText("Wrong credential password.").waitFor();
    await page.getByLabel("Credential password for bot/DB_PASSWORD").fill(password);
    await page.getByRole("button", { name: "Reveal bot/DB_PASSWORD" }).click();
    await page.getByText(value).waitFor();
    await page.getByText("password mode", { exact: false }).first().waitFor();

    // The password travelled in a header only, never in a URL.
    const sent = await outgoing.all();
    for (const line of sent.split("\n").filter((l) => /^[A-Z]+ http/.test(l))) expect(line).not.toContain(password);
    expect(sent).toContain(Buffer.from(password).toString("base64"));
  }, 60_000);
});
