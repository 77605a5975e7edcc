import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { SETTINGS } from "../../src/config.js";
import { CONFIG_DOC_PATH, renderConfigDoc } from "../../scripts/gen-config-doc.js";

describe("docs/config.md", () => {
  it("is exactly what scripts/gen-config-doc.ts renders from SETTINGS (run `npm run docs:config`)", () => {
    expect(readFileSync(CONFIG_DOC_PATH, "utf8")).toBe(renderConfigDoc());
  });

  it("names every setting's variable, every flag, and the CLI client variables", () => {
    const doc = renderConfigDoc();
    for (const s of Object.values(SETTINGS)) {
      expect(doc).toContain(`\`${s.env}\``);
      if ("flag" in s) expect(doc).toContain(`\`${s.flag}\``);
      if ("secret" in s && s.secret) expect(doc).toContain(`\`${s.env}_FILE\``);
    }
    for (const v of ["CLAWKEEP_ADDR", "CLAWKEEP_TOKEN", "CLAWKEEP_TOKEN_FILE", "http://127.0.0.1:8787"]) expect(doc).toContain(`\`${v}\``);
  });
});
