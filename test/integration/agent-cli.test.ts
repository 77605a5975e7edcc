import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isE2ee } from "../../src/crypto/e2ee/index.js";
import { tempDir } from "../helpers/runtime.js";
import { BIN, cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";

// The real server and the real CLI: agent create, E2EE put, and `agent run` injecting exactly the
// agent's secrets into a command, passing signals and exit codes through, and --dotenv.

let dir: string;
let server: ServerProc;
let user: Record<string, string>;
let agentEnv: Record<string, string>;
const PASS = "e2ee passphrase for tests";
const TRICKY = `it's "quoted" $HOME \\n back\\slash\nsecond line\n`;
let passFile: string;

beforeAll(async () => {
  dir = tempDir();
  server = await startServer(dir);
  user = await cliUser(server, "ops");
  const created = await runCli(["agent", "create", "deploy-bot", "--json"], { env: user });
  expect(created.code, created.stderr).toBe(0);
  const j = JSON.parse(created.stdout.toString()) as Record<string, string>;
  expect(Object.keys(j).sort()).toEqual(["agent_id", "agent_secret"]);
  passFile = path.join(dir, "pass");
  writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 });
  agentEnv = { CLAWKEEP_ADDR: server.url, CLAWKEEP_AGENT_ID: j.agent_id!, CLAWKEEP_AGENT_SECRET: j.agent_secret!, ENCRYPTION_SECRET: PASS, CLAWKEEP_TOKEN: "" };
  expect((await runCli(["agent", "create", "other-bot"], { env: user })).code).toBe(0);
  for (const [ref, value] of [["deploy-bot/PLAIN_KEY", "plain-value-1"], ["deploy-bot/TRICKY", TRICKY], ["other-bot/NOT_MINE", "nope"]]) {
    expect((await runCli(["secret", "put", ref!], { env: user, input: value })).code).toBe(0);
  }
  const e = await runCli(["secret", "put", "--e2ee", "--passphrase-file", passFile, "deploy-bot/E2E_TOKEN"], { env: user, input: "e2e-plaintext-7f3a" });
  expect(e.code, e.stderr).toBe(0);
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const parseEnv0 = (b: Buffer) =>
  Object.fromEntries(
    b
      .toString("utf8")
      .split("\0")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );

describe("agent registry through the CLI", () => {
  it("ls shows the agent, never its secret", async () => {
    const ls = await runCli(["agent", "ls", "--json"], { env: user });
    expect(JSON.parse(ls.stdout.toString()).agents).toEqual([expect.objectContaining({ name: "deploy-bot", status: "active" }), expect.objectContaining({ name: "other-bot" })]);
    expect(ls.stdout.toString()).not.toContain(agentEnv.CLAWKEEP_AGENT_SECRET!);
  });

  it("an E2EE value is stored as an envelope and opens only with the passphrase", async () => {
    const raw = await runCli(["secret", "get", "deploy-bot/E2E_TOKEN"], { env: user });
    expect(isE2ee(raw.stdout.toString())).toBe(true);
    expect(raw.stdout.toString()).not.toContain("e2e-plaintext");
    const opened = await runCli(["secret", "get", "--e2ee", "--passphrase-file", passFile, "deploy-bot/E2E_TOKEN"], { env: user });
    expect(opened.stdout.toString()).toBe("e2e-plaintext-7f3a");
    const loose = path.join(dir, "loose-pass");
    writeFileSync(loose, PASS, { mode: 0o644 });
    chmodSync(loose, 0o644);
    expect((await runCli(["secret", "get", "--e2ee", "--passphrase-file", loose, "deploy-bot/E2E_TOKEN"], { env: user })).code).toBe(7);
  });
});

describe("agent run", () => {
  it("-- env shows exactly the inherited environment plus the agent's secrets (credentials removed)", async () => {
    const r = await runCli(["agent", "run", "--", "env", "-0"], { env: agentEnv });
    expect(r.code, r.stderr).toBe(0);
    const got = parseEnv0(r.stdout);
    const expected: Record<string, string> = { ...(process.env as Record<string, string>), ...agentEnv, PLAIN_KEY: "plain-value-1", TRICKY, E2E_TOKEN: "e2e-plaintext-7f3a" };
    delete expected.CLAWKEEP_AGENT_SECRET;
    delete expected.ENCRYPTION_SECRET;
    expect(got).toEqual(expected);
  });

  it("--only limits what is fetched and injected", async () => {
    const r = await runCli(["agent", "run", "--only", "PLAIN_KEY", "--", "env", "-0"], { env: agentEnv });
    const got = parseEnv0(r.stdout);
    expect(got.PLAIN_KEY).toBe("plain-value-1");
    expect(got.E2E_TOKEN).toBeUndefined();
    expect(got.TRICKY).toBeUndefined();
    expect((await runCli(["agent", "run", "--only", "NO_SUCH", "--", "true"], { env: agentEnv })).code).toBe(3);
  });

  it("returns CMD's exit code, 127 for a missing command", async () => {
    expect((await runCli(["agent", "run", "--", "sh", "-c", "exit 42"], { env: agentEnv })).code).toBe(42);
    expect((await runCli(["agent", "run", "--", "sh", "-c", "exit 0"], { env: agentEnv })).code).toBe(0);
    expect((await runCli(["agent", "run", "--", "/nonexistent/cmd"], { env: agentEnv })).code).toBe(127);
  });

  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    it(`forwards ${sig} to CMD and returns its exit code`, async () => {
      const script = `process.on("${sig}", () => { process.stdout.write("got ${sig}\\n"); process.exit(7); }); process.stdout.write("ready\\n"); setInterval(() => {}, 1000);`;
      const p = spawn(process.execPath, [BIN, "agent", "run", "--", process.execPath, "-e", script], { env: { ...process.env, ...agentEnv }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      await new Promise<void>((resolve) => p.stdout.on("data", (d: Buffer) => ((out += d.toString()), out.includes("ready") && resolve())));
      p.kill(sig);
      const code = await new Promise<number | null>((r) => p.on("close", (c) => r(c)));
      expect(out).toContain(`got ${sig}`);
      expect(code).toBe(7);
    });
  }

  it("a CMD killed by a signal it does not handle exits 128 + signal number", async () => {
    const p = spawn(process.execPath, [BIN, "agent", "run", "--", "sh", "-c", 'echo ready; exec sleep 30'], { env: { ...process.env, ...agentEnv }, stdio: ["ignore", "pipe", "pipe"] });
    await new Promise<void>((resolve) => p.stdout.on("data", () => resolve()));
    p.kill("SIGTERM");
    expect(await new Promise((r) => p.on("close", (c) => r(c)))).toBe(143);
  });

  it("--dotenv writes a 0600 file that a shell reads back byte for byte", async () => {
    const f = path.join(dir, "deploy.env");
    writeFileSync(f, "old\n", { mode: 0o644 });
    const r = await runCli(["agent", "run", "--dotenv", f, "--", "true"], { env: agentEnv });
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const sh = spawn("bash", ["-c", `set -a; . '${f}'; node -e 'process.stdout.write(JSON.stringify([process.env.PLAIN_KEY, process.env.TRICKY, process.env.E2E_TOKEN]))'`], { env: { PATH: process.env.PATH } });
    let out = "";
    sh.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((res) => sh.on("close", res));
    expect(JSON.parse(out)).toEqual(["plain-value-1", TRICKY, "e2e-plaintext-7f3a"]);
    expect(readFileSync(f, "utf8")).not.toContain(agentEnv.CLAWKEEP_AGENT_SECRET!);
  });

  it("refuses bad credentials with stable exit codes, and reads a 0600 secret file", async () => {
    const { CLAWKEEP_AGENT_SECRET: secret, ...rest } = agentEnv;
    expect((await runCli(["agent", "run", "--", "true"], { env: { ...rest, CLAWKEEP_AGENT_SECRET: "" } })).code).toBe(7);
    const wrong = await runCli(["agent", "run", "--", "true"], { env: { ...rest, CLAWKEEP_AGENT_SECRET: `cks_${"A".repeat(43)}` } });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain("handshake_bad_signature");
    const sf = path.join(dir, "agent.secret");
    writeFileSync(sf, `${secret}\n`, { mode: 0o600 });
    expect((await runCli(["agent", "run", "--", "true"], { env: { ...rest, CLAWKEEP_AGENT_SECRET: "", CLAWKEEP_AGENT_SECRET_FILE: sf } })).code).toBe(0);
    chmodSync(sf, 0o644);
    expect((await runCli(["agent", "run", "--", "true"], { env: { ...rest, CLAWKEEP_AGENT_SECRET: "", CLAWKEEP_AGENT_SECRET_FILE: sf } })).code).toBe(7);
    const badPass = await runCli(["agent", "run", "--", "true"], { env: { ...agentEnv, ENCRYPTION_SECRET: "not the passphrase" } });
    expect(badPass.code).toBe(5);
    expect(badPass.stderr).not.toContain("not the passphrase");
  });
});
