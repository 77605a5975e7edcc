import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { openE2eeText, sealE2ee, serializeE2ee, type E2eeEnvelope } from "../../src/crypto/e2ee/index.js";
import { CHROMIUM_ARGS, CHROMIUM_PATH, SKIP_BROWSER } from "../helpers/chromium.js";

// The same src/crypto/e2ee code, bundled for the browser (platform "browser": a Node import would
// fail the build), runs in real headless Chromium from a page on a local HTTP server (localhost
// is a secure context, so crypto.subtle exists). Envelopes cross in both directions.

declare global {
  interface Window {
    e2ee: typeof import("../../src/crypto/e2ee/index.js");
  }
}

describe.skipIf(SKIP_BROWSER)("E2EE interop: headless Chromium ⇄ Node", () => {
  let server: http.Server;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [path.resolve(import.meta.dirname, "../../src/crypto/e2ee/index.ts")],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      write: false,
    });
    const js = bundle.outputFiles[0]!.text;
    const html = `<!doctype html><meta charset="utf-8"><script type="module">import * as e2ee from "/e2ee.js"; window.e2ee = e2ee; document.title = "ready";</script>`;
    server = http.createServer((req, res) => {
      if (req.url === "/e2ee.js") res.writeHead(200, { "content-type": "text/javascript" }).end(js);
      else if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(html);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => document.title === "ready");
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
  });

  it("the page really is Chromium with WebCrypto", async () => {
    expect(await page.evaluate(() => navigator.userAgent)).toMatch(/Chrome\/\d+/);
    expect(await page.evaluate(() => typeof crypto.subtle.deriveKey)).toBe("function");
  });

  it("an envelope sealed in Chromium opens in Node", async () => {
    const text = await page.evaluate(async () => {
      const e = await window.e2ee.sealE2ee("browser passphrase ✓", "sk-from-the-browser 🔑", { context: "web/TOKEN" });
      return window.e2ee.serializeE2ee(e);
    });
    expect(JSON.parse(text)).toMatchObject({ v: 1, alg: "A256GCM", kdf: "PBKDF2-SHA256", iter: 600000 });
    expect(await openE2eeText("browser passphrase ✓", text, { context: "web/TOKEN" })).toBe("sk-from-the-browser 🔑");
  });

  it("an envelope sealed in Node opens in Chromium, and a wrong passphrase fails there too", async () => {
    const env = serializeE2ee(await sealE2ee("node passphrase", "value from node\nline 2", { context: "bot/CONFIG" }));
    const out = await page.evaluate(async (e) => {
      const ok = await window.e2ee.openE2eeText("node passphrase", e, { context: "bot/CONFIG" });
      let wrong = "opened";
      try {
        await window.e2ee.openE2eeText("not it", e, { context: "bot/CONFIG" });
      } catch (err) {
        wrong = (err as { reason?: string }).reason ?? String(err);
      }
      return { ok, wrong };
    }, env);
    expect(out).toEqual({ ok: "value from node\nline 2", wrong: "auth_failed" });
  });

  it("the committed vector opens in Chromium", async () => {
    const { buildAgentVectors } = await import("../helpers/agent-vectors.js");
    const v = buildAgentVectors()["e2ee-ok"]!;
    const pt = await page.evaluate(
      async ([p, e, c]) => window.e2ee.openE2eeText(p!, e!, { context: c! }),
      [v.passphrase as string, v.envelope as string, v.context as string],
    );
    expect(pt).toBe(v.plaintext);
    const parsed = JSON.parse(v.envelope as string) as E2eeEnvelope;
    expect(parsed.iter).toBe(600000);
  });
});
