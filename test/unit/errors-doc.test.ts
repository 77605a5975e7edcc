import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { ERROR_CODES } from "../../src/errors.js";
import { EXIT, exitCodeFor } from "../../src/cli/exit.js";

// Keeps docs/errors.md in step with ERROR_CODES and EXIT: every code documented once, with the
// status, CLI exit and description the code really has, and nothing documented that is not.

const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");

function section(title: string): string[] {
  const start = doc.indexOf(`\n## ${title}\n`);
  expect(start, `docs/errors.md has a "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const rest = doc.slice(start + title.length + 5);
  const end = rest.search(/\n## /);
  return (end === -1 ? rest : rest.slice(0, end)).split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| ---"));
}

describe("docs/errors.md", () => {
  it("lists every API error code with its HTTP status, CLI exit and description, and nothing else", () => {
    const rows = section("API error codes").slice(1); // skip the header row
    const documented = new Map<string, { status: number; exit: number; description: string }>();
    for (const row of rows) {
      const m = /^\| `([a-z_]+)` \| (\d{3}) \| (\d+) \| (.+) \|$/.exec(row);
      expect(m, `row is well formed: ${row}`).not.toBeNull();
      const [, code, status, exit, description] = m!;
      expect(documented.has(code!), `${code} documented once`).toBe(false);
      documented.set(code!, { status: Number(status), exit: Number(exit), description: description! });
    }
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(documented.get(code), code).toEqual({ status: spec.status, exit: exitCodeFor(code), description: spec.description });
    }
  });

  it("lists every CLI exit code with its name, and nothing else", () => {
    const rows = section("CLI exit codes").slice(1);
    const documented: Record<string, number> = {};
    for (const row of rows) {
      const m = /^\| (\d+) \| `([A-Za-z]+)` \| .+ \|$/.exec(row);
      expect(m, `row is well formed: ${row}`).not.toBeNull();
      expect(documented[m![2]!], `${m![2]} documented once`).toBeUndefined();
      documented[m![2]!] = Number(m![1]);
    }
    expect(documented).toEqual({ ...EXIT });
  });
});
