import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { SKIP_BROWSER } from "../helpers/chromium.js";
import { go, launch, listen, recordOutgoing, signIn } from "../helpers/dashboard.js";
import { rawHeader, startGateway, type Gateway } from "../helpers/gateway.js";
import { bearer, createUser, ensureAgent, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Chat through the pipe: the page's WebSocket goes to /v1/agents/:name/gateway/… with the token as
// a Sec-WebSocket-Protocol entry, never in the URL; the gateway sees its own credential, not the
// user's token. And the gateway's own web UI, opened in a new tab through the pass-through, with
// the token added by the service worker: never in a link, never in that tab's storage, not
// followed through a redirect, not lent to another agent's gateway, and gone at logout.

const GATEWAY_HTML = `<!doctype html><title>Gateway UI</title><h1>OpenClaw-ish gateway</h1>
<script>fetch("data").then(r => r.text()).then(t => { document.body.dataset.got = t; });</script>`;

describe.skipIf(SKIP_BROWSER)("dashboard: chat and the gateway's web UI", () => {
  let env: TestEnv;
  let base: string;
  let browser: Browser;
  let gateway: Gateway;
  let token: string;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    env = await startTestEnv();
    base = await listen(env);
    token = await createUser(env, "alice");
    gateway = await startGateway();
    gateway.onRequest = (req, res) => {
      if (req.url === "/") return res.writeHead(200, { "content-type": "text/html" }).end(GATEWAY_HTML);
      if (req.url === "/data") return res.writeHead(200, { "content-type": "text/plain" }).end("gateway-data-ok");
      if (req.url === "/redir") return res.writeHead(302, { location: "/v1/secrets" }).end();
      res.writeHead(404).end();
    };
    gateway.onSocket = (ws) => ws.on("message", (d, isBinary) => ws.send(isBinary ? (d as Buffer) : `echo: ${String(d)}`));
    for (const name of ["bot", "other"]) {
      await ensureAgent(env, token, name);
      await env.app.inject({ method: "PUT", url: `/v1/agents/${name}/gateway`, headers: bearer(token), payload: { url: gateway.url } });
    }
    await putSecret(env, token, "bot/GATEWAY_AUTH_TOKEN", "gw-credential-123");
    browser = await launch();
    context = await browser.newContext();
    page = await context.newPage();
    await signIn(page, base, token);
    await go(page, "Chat", "#/chat");
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await env?.close();
  });

  it("chats over a WebSocket through Clawkeep; the token is a subprotocol entry, never in the URL", async () => {
    const outgoing = recordOutgoing(context);
    const wsUrl = new Promise<string>((resolve) => page.on("websocket", (ws) => resolve(ws.url())));
    await page.getByLabel("Agent", { exact: true }).selectOption("bot");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByText("Connected to bot through Clawkeep.").waitFor();
    expect(await wsUrl).toBe(`${base.replace("http", "ws")}/v1/agents/bot/gateway/`);
    await page.getByLabel("Message", { exact: true }).fill("hello agent");
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByRole("log").getByText("echo: hello agent").waitFor();

    const rec = gateway.sockets.at(-1)!;
    expect(rec.frames.map((f) => f.data.toString())).toEqual(["hello agent"]);
    // The gateway got its own credential; the user's token stayed with Clawkeep.
    expect(rawHeader(rec.rawHeaders, "authorization")).toBe("Bearer gw-credential-123");
    expect(rec.rawHeaders.join("\n")).not.toContain(token);
    expect(rec.rawHeaders.join("\n")).not.toContain(Buffer.from(token).toString("base64url"));
    const sent = await outgoing.all();
    expect(sent).toContain("hello agent");
    for (const l of sent.split("\n").filter((x) => /^(WS|[A-Z]+) /.test(x))) expect(l).not.toContain(token);

    await page.getByRole("button", { name: "Disconnect" }).click();
    await page.getByText("Disconnected.").waitFor();
  });

  it("opens the gateway's own web UI in a new tab, the token added by the service worker", async () => {
    await page.getByLabel("Agent", { exact: true }).selectOption("bot");
    const popupP = context.waitForEvent("page");
    await page.getByRole("button", { name: "Open the gateway's web UI" }).click();
    const ui = await popupP;
    await ui.waitForFunction(() => document.body?.dataset.got === "gateway-data-ok", undefined, { timeout: 15_000 });
    expect(ui.url()).toBe(`${base}/v1/agents/bot/gateway/`);
    expect(await ui.title()).toBe("Gateway UI");
    // Nothing of the dashboard's session in the gateway tab: no opener, no copied sessionStorage.
    expect(await ui.evaluate(() => ({ n: sessionStorage.length, opener: window.opener === null, cookie: document.cookie }))).toEqual({ n: 0, opener: true, cookie: "" });
    const seen = gateway.requests.filter((r) => r.url === "/" || r.url === "/data");
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const r of seen) {
      expect(rawHeader(r.rawHeaders, "authorization")).toBe("Bearer gw-credential-123");
      expect(r.rawHeaders.join("\n")).not.toContain(token);
    }

    // A redirect is not followed with the token; another agent's gateway is not reachable from here.
    const probes = await ui.evaluate(async () => {
      const redir = await fetch("redir").then((r) => `status ${r.status}`, (e: Error) => e.name);
      const other = await fetch("/v1/agents/other/gateway/data").then((r) => r.status);
      const secrets = await fetch("/v1/secrets").then((r) => r.status);
      return { redir, other, secrets };
    });
    expect(probes).toEqual({ redir: "TypeError", other: 401, secrets: 401 });
    await ui.goto(`${base}/v1/agents/bot/gateway/redir`);
    expect(ui.url()).toBe(`${base}/v1/secrets`);
    expect(await ui.textContent("body")).toContain("unauthorized");

    // Logout: the worker forgets the token, and the gateway tab stops working.
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByText("You are logged out").waitFor();
    await ui.goto(`${base}/v1/agents/bot/gateway/`);
    await ui.getByText("open it again from the Clawkeep dashboard").waitFor();
    await ui.close();
  });
});
