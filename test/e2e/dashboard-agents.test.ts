import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { SKIP_BROWSER } from "../helpers/chromium.js";
import { launch, listen, signIn } from "../helpers/dashboard.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Agents in the dashboard: create (the secret shown once, with a copy button), disable and enable,
// a gateway URL and its health, and erasure behind a typed confirmation.

describe.skipIf(SKIP_BROWSER)("dashboard: agents", () => {
  let env: TestEnv;
  let base: string;
  let browser: Browser;
  let gateway: Gateway;
  let token: string;
  let page: Page;

  beforeAll(async () => {
    env = await startTestEnv();
    base = await listen(env);
    token = await createUser(env, "alice");
    gateway = await startGateway();
    gateway.onRequest = (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    browser = await launch();
    const context = await browser.newContext();
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    page = await context.newPage();
    await signIn(page, base, token);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await env?.close();
  });

  const agents = async () => ((await env.app.inject({ url: "/v1/agents", headers: bearer(token) })).json() as { agents: { name: string; status: string }[] }).agents;

  it("creates an agent and shows its secret exactly once, with a working copy button", async () => {
    await page.getByLabel("New agent name").fill("bot");
    await page.getByRole("button", { name: "Create agent" }).click();
    const secret = (await page.locator("#agent-secret").textContent())!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{20,}/);
    await page.getByRole("button", { name: "Copy secret" }).click();
    await page.getByText("Copied to the clipboard.").waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    // The secret works: a handshake-capable agent exists.
    expect((await agents()).map((a) => a.name)).toEqual(["bot"]);
    await page.getByRole("button", { name: "I have stored it" }).click();
    expect(await page.locator("#agent-secret").count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    // Reloading never brings it back: the server cannot show it again.
    await page.reload();
    await page.locator("#view[data-ready]").waitFor();
    expect(await page.content()).not.toContain(secret);
  });

  it("sets a gateway URL and checks its health through the proxy", async () => {
    await page.getByText("Set…").first().click();
    await page.getByLabel("Gateway URL of bot").fill(gateway.url);
    await page.getByRole("button", { name: "Save gateway" }).click();
    await page.getByText(gateway.url).waitFor();
    await page.getByRole("button", { name: "Check health of bot" }).click();
    await page.getByText(/healthy \(HTTP 200, [0-9.]+ ms\)/).waitFor();
    expect(gateway.requests.some((r) => r.url === "/health")).toBe(true);
  });

  it("disables and enables an agent", async () => {
    await page.getByRole("button", { name: "Disable bot" }).click();
    await page.getByRole("button", { name: "Enable bot" }).waitFor();
    expect((await agents())[0]!.status).toBe("disabled");
    await page.getByRole("button", { name: "Enable bot" }).click();
    await page.getByRole("button", { name: "Disable bot" }).waitFor();
    expect((await agents())[0]!.status).toBe("active");
  });

  it("erases an agent only after its name is typed", async () => {
    await putSecret(env, token, "bot/KEY", "v");
    await page.getByText("Delete…").click();
    const del = page.getByRole("button", { name: "Delete bot" });
    expect(await del.isDisabled()).toBe(true);
    await page.getByLabel("Type bot to confirm").fill("bo");
    expect(await del.isDisabled()).toBe(true);
    await page.getByLabel("Type bot to confirm").fill("bot");
    await del.click();
    await page.getByText("bot is erased").waitFor();
    await page.getByText("No agents yet.").waitFor();
    expect(await agents()).toEqual([]);
    expect((await env.app.inject({ url: "/v1/secrets/bot/KEY", headers: bearer(token) })).statusCode).toBe(404);
  });
});
