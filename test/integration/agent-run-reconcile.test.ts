import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { tempDir } from "../helpers/runtime.js";
import { BIN, cliAgent, cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";

// `agent run --reconcile-ssh FILE` keeps authorized_keys in step with support access while CMD
// runs (seed 001 §2): a grant made after start appears, a revocation removes it, other lines stay.

const OP_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const EXISTING = "# owner\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 owner@laptop\n";

let dir: string;
let server: ServerProc;
let user: Record<string, string>;
let agentEnv: Record<string, string>;

beforeAll(async () => {
  dir = tempDir();
  server = await startServer(dir);
  user = await cliUser(server, "owner");
  agentEnv = (await cliAgent(user, "vps-1")).env;
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Waits for a condition the running process brings about; the bound only keeps a broken build
// from hanging the suite, it measures nothing.
async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

describe("agent run --reconcile-ssh", () => {
  it("installs a grant made while CMD runs, removes it after revocation, and touches nothing else", async () => {
    const keys = path.join(dir, "authorized_keys");
    writeFileSync(keys, EXISTING, { mode: 0o600 });
    const pub = path.join(dir, "op.pub");
    writeFileSync(pub, `${OP_KEY} op@x\n`);
    const child = spawn(process.execPath, [BIN, "agent", "run", "--reconcile-ssh", keys, "--reconcile-interval", "1", "--", process.execPath, "-e", "setInterval(() => {}, 1000)"], {
      env: { ...process.env, ...agentEnv },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    try {
      const g = await runCli(["agent", "support-grant", "vps-1", "--public-key-file", pub, "--ttl", "1h", "--json"], { env: user });
      expect(g.code, g.stderr).toBe(0);
      const id = (JSON.parse(g.stdout.toString()) as { id: string }).id;
      await until("the grant's line", () => readFileSync(keys, "utf8").includes(`clawkeep-support:${id}`));
      const withGrant = readFileSync(keys, "utf8");
      expect(withGrant.startsWith(EXISTING)).toBe(true);
      const wrapper = path.join(dir, "clawkeep-support", "wrapper");
      expect(withGrant).toMatch(new RegExp(`^restrict,pty,expiry-time="\\d{12}",command="${wrapper} ${id}" ${OP_KEY} clawkeep-support:${id}$`, "m"));

      // A support command run through the wrapper (as sshd would) is shipped by the next pass.
      const ran = spawnSync(wrapper, [id], { env: { ...process.env, SHELL: "/bin/sh", SSH_ORIGINAL_COMMAND: "echo shipped-by-agent-run" } });
      expect(ran.stdout.toString()).toBe("shipped-by-agent-run\n");
      const recs = path.join(dir, "clawkeep-support", "records");
      expect(readdirSync(recs).filter((f) => f.endsWith(".json"))).toHaveLength(2);
      await until("the records' shipping", () => readdirSync(recs).length === 0);
      const log = await runCli(["agent", "support-log", "vps-1", "--json"], { env: user });
      expect(JSON.parse(log.stdout.toString()).events.map((e: { command?: string; status?: number }) => e.command ?? e.status)).toEqual(["echo shipped-by-agent-run", 0]);

      expect((await runCli(["agent", "support-revoke", "vps-1", id], { env: user })).code).toBe(0);
      await until("the line's removal", () => !readFileSync(keys, "utf8").includes(id));
      expect(readFileSync(keys, "utf8")).toBe(EXISTING);
      expect(child.exitCode).toBeNull(); // CMD kept running throughout
    } finally {
      child.kill("SIGTERM");
    }
    // SIGTERM is forwarded to CMD, whose exit status agent run returns (128 + 15).
    expect(await exited).toBe(143);
  });

  it("refuses a bad interval before running anything", async () => {
    const r = await runCli(["agent", "run", "--reconcile-ssh", path.join(dir, "k"), "--reconcile-interval", "0", "--", "true"], { env: agentEnv });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--reconcile-interval/);
  });
});
