import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Browser } from "playwright-core";
import { SKIP_BROWSER } from "../helpers/chromium.js";
import { go, launch, recordOutgoing, signIn, spellings } from "../helpers/dashboard.js";
import { cliAgent, cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";
import { filesUnder, tempDir } from "../helpers/runtime.js";

// Seed 002's zero-knowledge promise, end to end with the real `clawkeep serve`: a user puts and
// reads an E2EE value in Chromium while every request and WebSocket frame the browser sends is
// recorded. Neither the plaintext nor the passphrase is in any of them, nor in the database, the
// blob folder or the server's log; the CLI and `agent run` open the browser's value, and the
// browser opens the CLI's.

describe.skipIf(SKIP_BROWSER)("dashboard: E2EE values never leave the browser in the clear", () => {
  let dir: string;
  let outside: string;
  let server: ServerProc;
  let browser: Browser;
  let user: Record<string, string>;
  let agentEnv: Record<string, string>;

  beforeAll(async () => {
    dir = tempDir("ck-dash-e2ee-");
    outside = tempDir("ck-dash-pass-");
    server = await startServer(dir);
    user = await cliUser(server, "alice");
    agentEnv = (await cliAgent(user, "bot")).env;
    browser = await launch();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it("put and read in the browser; the CLI and agent run open it; the browser opens the CLI's; nothing leaks", async () => {
    const canary = `browser-canary-${randomBytes(12).toString("hex")}`;
    const cliCanary = `cli-canary-${randomBytes(12).toString("hex")}`;
    const pass = `pass-${randomBytes(12).toString("hex")} ✓`;
    const passFile = path.join(outside, "pass");
    writeFileSync(passFile, pass, { mode: 0o600 });

    const context = await browser.newContext();
    const page = await context.newPage();
    const outgoing = recordOutgoing(context);
    await signIn(page, server.url, user.CLAWKEEP_TOKEN!);
    await go(page, "Secrets", "#/secrets");

    // The Encryption Master Key prompt, once per tab.
    await page.getByLabel("Encryption Master Key").fill(pass);
    await page.getByLabel("Repeat it").fill(pass);
    await page.getByRole("button", { name: "Use this passphrase" }).click();
    await page.getByText("Passphrase set for this tab").waitFor();
    await page.getByText("if you lose it, every value sealed with it is lost for good").waitFor();

    await page.getByLabel("Agent", { exact: true }).selectOption("bot");
    await page.getByLabel("Name", { exact: true }).fill("API_KEY");
    await page.getByLabel("Value", { exact: true }).fill(canary);
    await page.getByLabel("Mode", { exact: true }).selectOption("e2ee");
    await page.getByRole("button", { name: "Store", exact: true }).click();
    await page.getByText("Stored bot/API_KEY version 1 (sealed in this browser").waitFor();

    // The CLI opens the browser's envelope, and so does the agent's own `agent run`.
    const got = await runCli(["secret", "get", "--e2ee", "bot/API_KEY", "--passphrase-file", passFile], { env: user });
    expect(got.stderr).toBe("");
    expect(got.stdout.toString()).toBe(canary);
    const run = await runCli(["agent", "run", "--", process.execPath, "-e", "process.stdout.write(process.env.API_KEY)"], { env: { ...agentEnv, ENCRYPTION_SECRET: pass } });
    expect(run.stdout.toString()).toBe(canary);

    // The CLI seals one; after a reload (same tab: no second prompt) the browser opens both.
    const put = await runCli(["secret", "put", "--e2ee", "bot/FROM_CLI", "--passphrase-file", passFile], { env: user, input: cliCanary });
    expect(put.code).toBe(0);
    await page.reload();
    await page.locator('#view[data-ready="#/secrets"]').waitFor();
    await page.getByText("Passphrase set for this tab").waitFor();
    await page.getByRole("button", { name: "Reveal bot/FROM_CLI" }).click();
    await page.getByText(cliCanary).waitFor();
    await page.getByText("end-to-end: opened in this browser").waitFor();
    await page.getByRole("button", { name: "Reveal bot/API_KEY" }).click();
    await page.getByText(canary).waitFor();

    // The list never shows a value; the server only ever had the envelope.
    const raw = await runCli(["secret", "get", "bot/API_KEY"], { env: user });
    expect(JSON.parse(raw.stdout.toString())).toMatchObject({ v: 1, alg: "A256GCM", kdf: "PBKDF2-SHA256", iter: 600000 });

    // Storage: the passphrase is in this tab's sessionStorage only.
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await context.cookies()).toEqual([]);

    const sent = await outgoing.all();
    // The recording really saw the traffic: the envelope went out, sealed.
    expect(sent).toContain("PBKDF2-SHA256");
    expect(sent).toContain("/v1/secrets/bot/API_KEY");
    const secrets = [canary, cliCanary, pass, pass.replace(" ✓", "")];
    for (const s of secrets) for (const sp of spellings(s)) expect(sent.includes(sp), `browser sent ${s}`).toBe(false);

    // Nor at rest, nor in the server's log (stop it first so the WAL and log are complete).
    await server.stop();
    for (const f of filesUnder(dir)) {
      const bytes = readFileSync(f).toString("latin1");
      for (const s of [canary, cliCanary, pass]) for (const sp of spellings(s)) expect(bytes.includes(sp), `${path.relative(dir, f)} holds ${s}`).toBe(false);
    }
    const log = server.output();
    expect(log).toContain("listening on");
    for (const s of secrets) for (const sp of spellings(s)) expect(log.includes(sp), `server log holds ${s}`).toBe(false);

    // Logout wipes the tab (the server is gone, which the page survives).
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("API token").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await context.close();
  }, 120_000);
});
