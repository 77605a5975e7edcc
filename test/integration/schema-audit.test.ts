import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS } from "../helpers/backends.js";
import { runCli } from "../helpers/proc.js";
import { startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Seed 001: "Our database has no tables for message content", and a user can check it with
// `\dt`. `clawkeep audit schema` lists what the engine's own catalogue holds; this test fails
// the day a table or column for messages, chats, conversations, prompts, responses or history
// appears in the meta store, on either engine.

const CONTENT = /messages?|chats?|conversations?|prompts?|responses?|histor(y|ies)|transcripts?|bod(y|ies)|payloads?/i;

describe.each(BACKENDS)("audit schema ($name)", (backend) => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEnv({}, undefined, backend);
  });
  afterAll(async () => env?.close());

  it("lists every table and column, and none of them can hold message content", async () => {
    const cliEnv = { CLAWKEEP_DATA_DIR: env.dir, ...env.storageEnv };
    const r = await runCli(["audit", "schema", "--json"], { env: cliEnv });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.toString()) as { dialect: string; tables: { table: string; columns: { name: string; type: string }[] }[] };
    expect(out.dialect).toBe(backend.dialect);
    const names = out.tables.map((t) => t.table);
    for (const t of ["users", "tokens", "agents", "secret_versions", "audit_events", "user_epochs"]) expect(names).toContain(t);
    expect(out.tables.find((t) => t.table === "agents")!.columns.map((c) => c.name)).toContain("gateway_url");
    const offending = out.tables.flatMap((t) => [t.table, ...t.columns.map((c) => `${t.table}.${c.name}`)]).filter((n) => CONTENT.test(n));
    expect(offending).toEqual([]);
    const text = await runCli(["audit", "schema"], { env: cliEnv });
    expect(text.code).toBe(0);
    expect(text.stdout.toString()).toMatch(new RegExp(`^meta store \\(${backend.dialect}\\): \\d+ tables\\n`));
    expect(text.stdout.toString()).toContain("\nagents\n");
  });
});
