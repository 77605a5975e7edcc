import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { sealE2ee, serializeE2ee } from "../src/crypto/e2ee/index.js";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../test/helpers/chromium.js";
import { go, listen, requireBuilt, signIn } from "../test/helpers/dashboard.js";
import { startGateway } from "../test/helpers/gateway.js";
import { bearer, createUser, putSecret, startTestEnv } from "../test/helpers/runtime.js";

// Screenshots of every dashboard page for docs/dashboard.md, taken in real Chromium against a
// real (throwaway) Clawkeep with a little made-up data. Run after `npm run build`:
//   node --import tsx scripts/dashboard-screenshots.ts

const OUT = path.resolve(import.meta.dirname, "..", "docs", "dashboard");
const OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO7Mqm9pC8Vt0XbVWa0Zq1oNq3kq4oV7dZ6kB2kZ8Y1a";
const PASS = "correct horse battery staple";

requireBuilt();
mkdirSync(OUT, { recursive: true });
const env = await startTestEnv({ CLAWKEEP_SUPPORT_PUBLIC_KEY: OPERATOR_KEY, CLAWKEEP_SUPPORT_OPERATOR: "acme-support", CLAWKEEP_LOG_LEVEL: "warn" });
const gateway = await startGateway();
gateway.onRequest = (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
gateway.onSocket = (ws) => ws.on("message", (d) => ws.send(`Hi! You said: ${String(d)}`));
const base = await listen(env);
const token = await createUser(env, "alice");
const userId = (await env.app.inject({ url: "/v1/whoami", headers: bearer(token) })).json<{ user: { id: string } }>().user.id;
await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(token), payload: { name: "research-bot" } });
await env.app.inject({ method: "PUT", url: "/v1/agents/research-bot/gateway", headers: bearer(token), payload: { url: gateway.url } });
await putSecret(env, token, "research-bot/OPENAI_API_KEY", "sk-demo-not-a-real-key");
await putSecret(env, token, "research-bot/GATEWAY_AUTH_TOKEN", "gw-demo");
const sealed = serializeE2ee(await sealE2ee(PASS, "postgres://bot:s3cret@db.internal/bot", { context: "research-bot/DATABASE_URL" }));
await putSecret(env, token, "research-bot/DATABASE_URL", sealed);
const grant = (await env.app.inject({ method: "POST", url: "/v1/agents/research-bot/support-access", headers: bearer(token), payload: { public_key: OPERATOR_KEY, operator: "acme-support" } })).json<{ id: string }>();
// Support-session events as the agent's wrapper records them (formats §24).
for (const [action, metadata] of [
  ["SupportSessionStarted", { tty: true, from: "203.0.113.7" }],
  ["SupportCommand", { command: "systemctl status openclaw", tty: false, from: "203.0.113.7" }],
  ["SupportCommand", { command: "journalctl -u openclaw -n 50", tty: false, from: "203.0.113.7" }],
  ["SupportSessionEnded", { status: 0 }],
] as const) {
  await env.rt.audit.record({ userId, actor: `support:${grant.id}`, action, target: "agent/research-bot", outcome: "success", metadata: { grant_id: grant.id, operator: "acme-support", ...metadata } });
}

const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
const shot = (name: string) => page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
try {
  await page.goto(`${base}/`);
  await page.getByLabel("API token").waitFor();
  await shot("login");

  await signIn(page, base, token);
  await page.getByLabel("New agent name").fill("mail-bot");
  await page.getByRole("button", { name: "Create agent" }).click();
  await page.locator("#agent-secret").waitFor();
  await page.getByRole("button", { name: "Check health of research-bot" }).click();
  await page.getByText(/healthy/).waitFor();
  await shot("agents");

  await go(page, "Secrets", "#/secrets");
  await page.getByLabel("Encryption Master Key").fill(PASS);
  await page.getByLabel("Repeat it").fill(PASS);
  await page.getByRole("button", { name: "Use this passphrase" }).click();
  await page.getByRole("button", { name: "Reveal research-bot/DATABASE_URL" }).click();
  await page.getByText("end-to-end: opened in this browser").waitFor();
  await shot("secrets");

  await go(page, "Support access", "#/support");
  await page.getByRole("timer").first().waitFor();
  await shot("support");

  await go(page, "Audit log", "#/audit");
  await shot("audit");

  await go(page, "Chat", "#/chat");
  await page.getByLabel("Agent", { exact: true }).selectOption("research-bot");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByText("Connected to").waitFor();
  await page.getByLabel("Message", { exact: true }).fill("What's on my calendar today?");
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByText("Hi! You said").waitFor();
  await shot("chat");
  console.log(`screenshots written to ${path.relative(process.cwd(), OUT)}/`);
} finally {
  await browser.close();
  await gateway.stop();
  await env.close();
}
