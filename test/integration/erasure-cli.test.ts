import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { tempDir } from "../helpers/runtime.js";
import { runCli, startServer, type ServerProc } from "../helpers/proc.js";

// `clawkeep agent delete` and `clawkeep user delete` against the real server: both refuse without
// --yes (erasure cannot be undone), then erase; the storage-level proof is in erasure.test.ts.

let dir: string;
let server: ServerProc;
let admin: Record<string, string>;

beforeAll(async () => {
  dir = tempDir();
  server = await startServer(dir);
  admin = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: server.adminToken() };
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const newUser = async (name: string) => {
  const r = await runCli(["user", "create", name, "--json"], { env: admin });
  expect(r.code, r.stderr).toBe(0);
  return { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: (JSON.parse(r.stdout.toString()) as { token: string }).token };
};

describe("erasure through the CLI", () => {
  it("agent delete needs --yes, then erases the agent and its secrets", async () => {
    const user = await newUser("ops");
    expect((await runCli(["agent", "create", "tmp-bot"], { env: user })).code).toBe(0);
    expect((await runCli(["secret", "put", "tmp-bot/K"], { env: user, input: "cli-canary-value" })).code).toBe(0);
    const refused = await runCli(["agent", "delete", "tmp-bot"], { env: user });
    expect(refused.code).toBe(2);
    expect(refused.stderr.toString()).toMatch(/--yes/);
    const del = await runCli(["agent", "delete", "tmp-bot", "--yes", "--json"], { env: user });
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout.toString())).toMatchObject({ name: "tmp-bot", deleted: true, versions: 1, epochs_destroyed: [1] });
    expect((await runCli(["secret", "get", "tmp-bot/K"], { env: user })).code).toBe(3);
    expect((await runCli(["agent", "delete", "tmp-bot", "--yes"], { env: user })).code).toBe(3);
  });

  it("user delete needs --yes and an admin, then the user's token stops working", async () => {
    const gone = await newUser("gone");
    expect((await runCli(["agent", "create", "bot"], { env: gone })).code).toBe(0);
    expect((await runCli(["secret", "put", "bot/K"], { env: gone, input: "v" })).code).toBe(0);
    expect((await runCli(["user", "delete", "gone"], { env: admin })).code).toBe(2);
    expect((await runCli(["user", "delete", "admin", "--yes"], { env: gone })).code).toBe(4);
    const del = await runCli(["user", "delete", "gone", "--yes"], { env: admin });
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout.toString()).toMatch(/^deleted user gone \(usr_[0-9a-f]+\): 1 versions, 1 agents, 1 epochs destroyed/);
    expect((await runCli(["secret", "ls"], { env: gone })).code).toBe(4);
    expect((await runCli(["user", "delete", "admin", "--yes"], { env: admin })).code).toBe(4);
  });
});
