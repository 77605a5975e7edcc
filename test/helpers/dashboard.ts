import { existsSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { DASHBOARD_DIR } from "../../src/server/dashboard.js";
import type { TestEnv } from "./runtime.js";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "./chromium.js";

// Driving the dashboard in real Chromium against a real Clawkeep server (an in-process runtime
// listening on a port, or `clawkeep serve` itself). The page is the one `npm run build` made.

export function requireBuilt() {
  if (!existsSync(path.join(DASHBOARD_DIR, "index.html"))) throw new Error("dist/dashboard is missing: run `npm run build` first");
}

export const launch = (): Promise<Browser> => {
  requireBuilt();
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
};

/** The in-process app on a real loopback port (Chromium needs a socket; 127.0.0.1 is a secure context). */
export async function listen(env: TestEnv): Promise<string> {
  await env.app.listen({ port: 0, host: "127.0.0.1" });
  const a = env.app.server.address();
  if (a === null || typeof a === "string") throw new Error("no address");
  return `http://127.0.0.1:${a.port}`;
}

export async function signIn(page: Page, base: string, token: string) {
  await page.goto(`${base}/`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#view[data-ready]").waitFor();
}

export async function go(page: Page, title: string, hash: string) {
  await page.getByRole("link", { name: title, exact: true }).click();
  await page.locator(`#view[data-ready="${hash}"]`).waitFor();
}

/** Everything the browser sends: each request (URL, every header, body) and each WebSocket frame. */
export function recordOutgoing(context: BrowserContext) {
  const sent: string[] = [];
  const pending: Promise<void>[] = [];
  const onPage = (p: Page) =>
    p.on("websocket", (ws) => {
      sent.push(`WS ${ws.url()}`);
      ws.on("framesent", (f) => sent.push(typeof f.payload === "string" ? f.payload : Buffer.from(f.payload).toString("latin1")));
    });
  context.pages().forEach(onPage);
  context.on("page", onPage);
  context.on("request", (r) => {
    pending.push(
      r.allHeaders().then(
        (hdrs) => void sent.push(`${r.method()} ${r.url()}\n${JSON.stringify(hdrs)}\n${r.postDataBuffer()?.toString("latin1") ?? ""}`),
        () => void sent.push(`${r.method()} ${r.url()}\n${r.postDataBuffer()?.toString("latin1") ?? ""}`),
      ),
    );
  });
  return {
    async all(): Promise<string> {
      await Promise.all(pending);
      return sent.join("\n");
    },
  };
}

/** Every way a secret could be spelled in bytes someone might scan. */
export const spellings = (s: string) => [s, Buffer.from(s).toString("base64"), Buffer.from(s).toString("base64url"), Buffer.from(s).toString("hex"), encodeURIComponent(s)];
