import { existsSync } from "node:fs";

// Where the browser tests find Chromium (Debian's package, driven by playwright-core). With
// CI=true a missing browser must fail the tests, never skip them; on a laptop without it the
// browser tests are left out with a printed reason.
export const CHROMIUM_PATH = process.env.CLAWKEEP_TEST_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];
const present = existsSync(CHROMIUM_PATH);
export const SKIP_BROWSER = !present && process.env.CI !== "true";
if (SKIP_BROWSER) console.warn(`[clawkeep tests] no Chromium at ${CHROMIUM_PATH}: browser tests skipped (apt-get install chromium; mandatory with CI=true)`);
