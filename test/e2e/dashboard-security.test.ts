import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { SKIP_BROWSER } from "../helpers/chromium.js";
import { go, launch, listen, recordOutgoing, signIn } from "../helpers/dashboard.js";
import { bearer, createUser, ensureAgent, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// The dashboard's own defences, checked in the browser that enforces them: the headers, a CSP
// that really refuses inline script, eval and framing, no request to any other origin, the token
// only in sessionStorage (never a URL, cookie or localStorage), logout that wipes the tab, the
// challenge login, and a keyboard-only walk through it.

const PAGES: [string, string][] = [
  ["Agents", "#/agents"],
  ["Secrets", "#/secrets"],
  ["Support access", "#/support"],
  ["Audit log", "#/audit"],
  ["Chat", "#/chat"],
];

describe.skipIf(SKIP_BROWSER)("dashboard: headers, CSP, token handling, login", () => {
  let env: TestEnv;
  let base: string;
  let browser: Browser;
  let token: string;

  beforeAll(async () => {
    env = await startTestEnv({
      TELEGRAM_BOT_TOKEN: "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      TELEGRAM_BOT_USERNAME: "clawkeep_test_bot",
      TELEGRAM_WEBHOOK_SECRET: "w".repeat(40),
    });
    base = await listen(env);
    token = await createUser(env, "alice");
    await ensureAgent(env, token, "bot");
    browser = await launch();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  it("every dashboard file carries the strict headers", async () => {
    for (const p of ["/", "/app.js", "/app.css", "/sw.js"]) {
      const r = await fetch(`${base}${p}`);
      expect(r.status, p).toBe(200);
      const csp = r.headers.get("content-security-policy")!;
      for (const d of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "require-trusted-types-for 'script'"]) expect(csp, `${p}: ${d}`).toContain(d);
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:|data:/);
      expect(r.headers.get("referrer-policy")).toBe("no-referrer");
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("x-frame-options")).toBe("DENY");
    }
    const html = await (await fetch(`${base}/`)).text();
    // No inline script or style, and nothing from another origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/<style|style=|https?:\/\//);
  });

  it("CLAWKEEP_DASHBOARD=false serves no page", async () => {
    const off = await startTestEnv({ CLAWKEEP_DASHBOARD: "false" });
    try {
      for (const url of ["/", "/app.js", "/sw.js"]) expect((await off.app.inject({ url })).json(), url).toMatchObject({ error: { code: "not_found" } });
    } finally {
      await off.close();
    }
  });

  async function violations(page: Page) {
    return page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);
  }

  it("the CSP is enforced: no eval, no inline script, no HTML sinks; normal use triggers no violation and no foreign request", async () => {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      (window as unknown as { __csp: string[] }).__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => (window as unknown as { __csp: string[] }).__csp.push(e.violatedDirective));
    });
    const page = await context.newPage();
    const outgoing = recordOutgoing(context);
    await signIn(page, base, token);
    for (const [title, hash] of PAGES) await go(page, title, hash);
    expect(await violations(page)).toEqual([]);

    const urls = (await outgoing.all()).split("\n").filter((l) => /^[A-Z]+ (http|ws)/.test(l) || l.startsWith("WS "));
    expect(urls.length).toBeGreaterThan(5);
    for (const u of urls) expect(u.replace(/^(WS|[A-Z]+) /, "").startsWith(base), u).toBe(true);
    // The token is in headers, never in any URL.
    for (const u of urls) expect(u).not.toContain(token);

    // Code evaluated by DevTools is exempt from the page's CSP, so eval is tried from a timer
    // callback, which runs as the page's own code.
    const evalProbe = await page.evaluate(
      () =>
        new Promise<string>((resolve) =>
          setTimeout(() => {
            try {
              resolve(String(eval("1 + 1")));
            } catch (e) {
              resolve((e as Error).name);
            }
          }, 0),
        ),
    );
    expect(evalProbe).toBe("EvalError");
    const probes = await page.evaluate(() => {
      const out: Record<string, string> = {};
      try {
        document.body.insertAdjacentHTML("beforeend", "<img src=x onerror=alert(1)>");
        out.html = "inserted";
      } catch (e) {
        out.html = (e as Error).name;
      }
      try {
        const s = document.createElement("script");
        s.textContent = "window.__inline = 1";
        document.body.append(s);
        out.inline = String((window as unknown as { __inline?: number }).__inline);
      } catch (e) {
        out.inline = (e as Error).name;
      }
      return out;
    });
    expect(probes).toEqual({ html: "TypeError", inline: "TypeError" });
    await context.close();
  });

  it("the page cannot be framed", async () => {
    const page = await browser.newPage();
    const refused = new Promise<void>((resolve) => page.on("console", (m) => /frame-ancestors|Refused to (display|frame)/.test(m.text()) && resolve()));
    await page.setContent(`<iframe src="${base}/" title="t"></iframe>`);
    await refused;
    const frame = page.frames().find((f) => f !== page.mainFrame())!;
    expect(await frame.locator("#app").count()).toBe(0);
    await page.close();
  });

  it("the token lives in sessionStorage only, and logout wipes the tab", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, base, token);
    const store = await page.evaluate(() => ({ local: localStorage.length, session: Object.keys(sessionStorage), url: location.href, cookie: document.cookie }));
    expect(store).toEqual({ local: 0, session: ["clawkeep.token"], url: `${base}/`, cookie: "" });
    expect(await context.cookies()).toEqual([]);
    // A second tab of the same browser is not signed in.
    const other = await context.newPage();
    await other.goto(`${base}/`);
    await other.getByLabel("API token").waitFor();
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByText("You are logged out").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // A pasted API token is the user's own (their CLI may use it): forgotten here, not revoked.
    expect((await env.app.inject({ url: "/v1/whoami", headers: bearer(token) })).statusCode).toBe(200);
    await context.close();
  });

  it("a wrong token is refused and nothing is kept", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    await page.getByLabel("API token").fill("ck_wrong");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByText("This token is not valid").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.close();
  });

  it("challenge login: the Telegram deep link carries only the challenge id; the session is revoked at logout", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    await page.getByRole("button", { name: "Sign in with Telegram" }).click();
    const href = (await page.locator("#tg-link").getAttribute("href"))!;
    const m = /^https:\/\/t\.me\/clawkeep_test_bot\?start=(chl_[0-9a-f]{32})$/.exec(href);
    expect(m, href).not.toBeNull();
    const hook = await env.app.inject({
      method: "POST",
      url: "/telegram-webhook",
      headers: { "x-telegram-bot-api-secret-token": "w".repeat(40) },
      payload: { message: { text: `/start ${m![1]}`, from: { id: 4242 } } },
    });
    expect(hook.json()).toEqual({ ok: true, resolved: true });
    await page.locator("#view[data-ready]").waitFor();
    await page.getByText("tg-4242").waitFor();
    const session = await page.evaluate(() => sessionStorage.getItem("clawkeep.token"));
    expect((await env.app.inject({ url: "/v1/whoami", headers: bearer(session!) })).statusCode).toBe(200);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByText("You are logged out").waitFor();
    expect((await env.app.inject({ url: "/v1/whoami", headers: bearer(session!) })).statusCode).toBe(401);
    await page.close();
  });

  it("works by keyboard alone: sign in, move between pages, log out", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    // The token field has focus on load.
    await page.keyboard.type(token);
    await page.keyboard.press("Enter");
    await page.locator("#view[data-ready]").waitFor();
    const focusName = () => page.evaluate(() => document.activeElement?.textContent?.trim() ?? "");
    let found = false;
    for (let i = 0; i < 10 && !found; i++) {
      await page.keyboard.press("Tab");
      found = (await focusName()) === "Secrets";
    }
    expect(found).toBe(true);
    await page.keyboard.press("Enter");
    await page.locator('#view[data-ready="#/secrets"]').waitFor();
    // Every form control on every page has a label.
    for (const [title, hash] of PAGES) {
      await go(page, title, hash);
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll("input, select, textarea")].filter((el) => (el as HTMLInputElement).labels?.length === 0 && !el.getAttribute("aria-label")).map((el) => el.outerHTML),
      );
      expect(unlabelled, title).toEqual([]);
    }
    await page.close();
  });
});
