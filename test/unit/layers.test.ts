import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The dependency rule of ARCHITECTURE.md, enforced: for each layer, the layers its files may
// import from (type-only imports count too: a layer should not even know another's shapes).

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "src");

const ALLOWED: Record<string, string[]> = {
  crypto: [],
  store: ["errors", "redacted"],
  keys: ["crypto", "store", "errors", "redacted"],
  audit: ["crypto", "store", "errors"],
  vault: ["crypto", "keys", "store", "audit", "errors"],
  users: ["crypto", "keys", "store", "audit", "errors"],
  agents: ["crypto", "keys", "store", "audit", "vault", "errors"],
  state: ["crypto", "store", "errors", "redacted"],
  proxy: ["agents", "users", "errors"],
  signer: ["crypto", "keys", "store", "audit", "errors"],
  ops: ["main", "crypto", "keys", "store", "audit", "vault", "errors"],
  server: ["main", "vault", "users", "agents", "audit", "proxy", "signer", "errors", "redacted"],
  cli: ["main", "server", "config", "crypto", "keys", "store", "audit", "vault", "users", "agents", "ops", "state", "signer", "errors", "redacted"],
  main: ["config", "crypto", "keys", "store", "audit", "vault", "users", "agents", "proxy", "signer", "errors", "redacted"],
  config: ["errors", "redacted"],
  errors: [],
  redacted: [],
  // The browser page: bundled on its own (scripts/build-dashboard.ts) and served as files, so it
  // shares nothing with the server but the E2EE module the CLI uses too.
  dashboard: ["crypto"],
};

const layerOf = (abs: string): string => path.relative(SRC, abs).split(path.sep)[0]!.replace(/\.(ts|js)$/, "");

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

describe("dependency rule", () => {
  it("every src file imports only from the layers its own layer may use", () => {
    const broken: string[] = [];
    for (const file of sources(SRC)) {
      const from = layerOf(file);
      expect(ALLOWED, `layer ${from} has a rule`).toHaveProperty(from);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from\s+|import\()\s*"(\.{1,2}\/[^"]+)"/g)) {
        const to = layerOf(path.resolve(path.dirname(file), m[1]!));
        if (to !== from && !ALLOWED[from]!.includes(to)) broken.push(`${path.relative(SRC, file)} → ${m[1]} (${from} → ${to})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("the dashboard uses only src/crypto/e2ee of ours, and nothing imports the dashboard", () => {
    const broken: string[] = [];
    for (const file of sources(SRC)) {
      const from = layerOf(file);
      for (const m of readFileSync(file, "utf8").matchAll(/(?:from\s+|import\()\s*"(\.{1,2}\/[^"]+)"/g)) {
        const target = path.resolve(path.dirname(file), m[1]!);
        const to = layerOf(target);
        if (from === "dashboard" && to === "crypto" && path.relative(SRC, target) !== path.join("crypto", "e2ee", "index.js")) broken.push(`${path.relative(SRC, file)} → ${m[1]}`);
        if (from !== "dashboard" && to === "dashboard") broken.push(`${path.relative(SRC, file)} → ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("only the composition root and the CLI reach concrete adapters", () => {
    const users: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, "utf8");
      if (/(?:from\s+|import\()\s*"[^"]*(store\/blobs\/file|store\/meta\/index)\.js"/.test(text)) users.push(path.relative(SRC, file));
    }
    // The operator tools work on the configured storage without a server (see ARCHITECTURE.md):
    // offline audit verification, migrate/backup/restore/sweep, and the backup module itself
    // (which reads the migration list), and cli/offline.ts, which checks read-only that a data
    // dir holds a deployment before those tools touch it.
    expect(users.sort()).toEqual(["cli/commands/audit.ts", "cli/commands/ops.ts", "cli/offline.ts", "main.ts", "ops/backup.ts"]);
  });
});
