import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { ERROR_CODES } from "../../src/errors.js";
import { exitCodeFor } from "../../src/cli/exit.js";

// Until docs/errors.md is merged with the main table, this keeps the agent codes documented with
// the status, exit and description they really have.
const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
const AGENT_CODES = Object.keys(ERROR_CODES).filter((c) => c.startsWith("handshake_") || c.startsWith("agent_")) as (keyof typeof ERROR_CODES)[];

describe("docs/errors.md (agent codes)", () => {
  it("documents every agent error code exactly", () => {
    expect(AGENT_CODES.length).toBe(6);
    for (const c of AGENT_CODES) {
      const row = `| \`${c}\` | ${ERROR_CODES[c].status} | ${exitCodeFor(c)} | ${ERROR_CODES[c].description} |`;
      expect(doc, c).toContain(row);
    }
  });
});
