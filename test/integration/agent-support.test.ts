import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { expiryTime } from "../../src/agents/ssh-keys.js";
import { tempDir } from "../helpers/runtime.js";
import { cliAgent, cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";

// Support access end to end: the user grants and revokes through the CLI, the agent reconciles
// its authorized_keys; grant, expiry and revoke each change exactly Clawkeep's line, while other
// keys and comments stay byte for byte. Every grant, fetch and revocation is audited.

const OP_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl operator@support";
const EXISTING = "# keys of the machine's owner\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 owner@laptop\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA ci@runner\n";

let dir: string;
let server: ServerProc;
let user: Record<string, string>;
let agentEnv: Record<string, string>;
let keysFile: string;
let pubFile: string;

const reconcile = () => runCli(["agent", "reconcile-ssh", "--authorized-keys", keysFile, "--json"], { env: agentEnv });
const ownedLines = () => readFileSync(keysFile, "utf8").split("\n").filter((l) => l.includes("clawkeep-support:"));

beforeAll(async () => {
  dir = tempDir();
  server = await startServer(dir);
  user = await cliUser(server, "owner");
  agentEnv = (await cliAgent(user, "vps-1")).env;
  keysFile = path.join(dir, "authorized_keys");
  writeFileSync(keysFile, EXISTING, { mode: 0o600 });
  pubFile = path.join(dir, "op.pub");
  writeFileSync(pubFile, `${OP_KEY}\n`);
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("support access", () => {
  let grantId: string;

  it("nothing granted: reconcile leaves the file exactly as it was", async () => {
    const r = await reconcile();
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(keysFile, "utf8")).toBe(EXISTING);
  });

  it("grant → reconcile adds one line with expiry-time and the marker; others untouched, mode kept", async () => {
    const g = await runCli(["agent", "support-grant", "vps-1", "--public-key-file", pubFile, "--ttl", "24h", "--operator", "support@clawkeep", "--json"], { env: user });
    expect(g.code, g.stderr).toBe(0);
    const grant = JSON.parse(g.stdout.toString()) as { id: string; expires_at: string };
    grantId = grant.id;
    expect(Date.parse(grant.expires_at) - Date.now()).toBeGreaterThan(24 * 3600_000 - 60_000);
    expect(JSON.parse((await reconcile()).stdout.toString())).toMatchObject({ added: [grantId], removed: [], offline: false, records: { shipped: 0, rejected: 0, left: 0 } });
    const text = readFileSync(keysFile, "utf8");
    expect(text.startsWith(EXISTING)).toBe(true);
    const wrapper = path.join(dir, "clawkeep-support", "wrapper");
    expect(ownedLines()).toEqual([`restrict,pty,expiry-time="${expiryTime(grant.expires_at)}",command="${wrapper} ${grantId}" ${OP_KEY.split(" ").slice(0, 2).join(" ")} clawkeep-support:${grantId}`]);
    // The wrapper sits next to the file, private to the account, with an empty spool.
    expect(statSync(wrapper).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, "clawkeep-support", "records")).mode & 0o777).toBe(0o700);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse((await reconcile()).stdout.toString())).toMatchObject({ added: [], removed: [] });
  });

  it("limits: at most 7 days, a real public key, and another user's agent is 404", async () => {
    expect((await runCli(["agent", "support-grant", "vps-1", "--public-key-file", pubFile, "--ttl", "8d"], { env: user })).code).toBe(2);
    const bad = path.join(dir, "bad.pub");
    writeFileSync(bad, 'command="rm -rf /" ssh-ed25519 AAAA\nssh-ed25519 BBBB');
    expect((await runCli(["agent", "support-grant", "vps-1", "--public-key-file", bad], { env: user })).code).toBe(2);
    const admin = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: server.adminToken() };
    expect((await runCli(["agent", "support-grant", "vps-1", "--public-key-file", pubFile], { env: admin })).code).toBe(3);
    expect((await runCli(["agent", "support-revoke", "vps-1", grantId], { env: admin })).code).toBe(3);
  });

  it("a spool dir that cannot go in command=\"…\" changes nothing; one that cannot be written removes the support keys", async () => {
    const before = readFileSync(keysFile, "utf8");
    const bad = await runCli(["agent", "reconcile-ssh", "--authorized-keys", keysFile, "--spool-dir", path.join(dir, "a b")], { env: agentEnv });
    expect(bad.code).toBe(2);
    expect(readFileSync(keysFile, "utf8")).toBe(before);
    const notADir = path.join(dir, "not-a-dir");
    writeFileSync(notADir, "");
    const broken = await runCli(["agent", "reconcile-ssh", "--authorized-keys", keysFile, "--spool-dir", notADir], { env: agentEnv });
    expect(broken.code, broken.stderr).toBe(7);
    expect(readFileSync(keysFile, "utf8")).toBe(EXISTING); // fail closed: no unrecorded support key stays
    expect((await reconcile()).code).toBe(0); // the default spool again: the grant's line is back
    expect(readFileSync(keysFile, "utf8")).toBe(before);
  });

  it("revoke → reconcile removes exactly that line", async () => {
    expect((await runCli(["agent", "support-revoke", "vps-1", grantId], { env: user })).code).toBe(0);
    expect(JSON.parse((await reconcile()).stdout.toString())).toMatchObject({ added: [], removed: [grantId] });
    expect(readFileSync(keysFile, "utf8")).toBe(EXISTING);
  });

  it("expiry (server side) → reconcile removes the line", async () => {
    const g = JSON.parse((await runCli(["agent", "support-grant", "vps-1", "--public-key-file", pubFile, "--ttl", "1h", "--json"], { env: user })).stdout.toString()) as { id: string };
    await reconcile();
    expect(ownedLines()).toHaveLength(1);
    const db = new Database(path.join(dir, "clawkeep.db"));
    db.prepare("update support_grants set expires_at = ? where id = ?").run(new Date(Date.now() - 1000).toISOString(), g.id);
    db.close();
    expect(JSON.parse((await reconcile()).stdout.toString())).toMatchObject({ removed: [g.id] });
    expect(readFileSync(keysFile, "utf8")).toBe(EXISTING);
  });

  it("every grant, fetch and revocation is in the owner's audit log", async () => {
    const exp = await runCli(["audit", "export"], { env: user });
    const actions = exp.stdout.toString().trim().split("\n").map((l) => (JSON.parse(l) as { action: string }).action);
    expect(actions.filter((a) => a === "SupportAccessGranted")).toHaveLength(2);
    expect(actions.filter((a) => a === "SupportAccessRevoked")).toHaveLength(1);
    expect(actions.filter((a) => a === "SupportAccessFetched").length).toBeGreaterThanOrEqual(5);
  });

  it("server unreachable: reconcile removes only lines past their expiry-time and exits 6", async () => {
    const past = `expiry-time="200001010000" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoq clawkeep-support:grt_00000000000000000009\n`;
    writeFileSync(keysFile, EXISTING + past);
    const r = await runCli(["agent", "reconcile-ssh", "--authorized-keys", keysFile], { env: { ...agentEnv, CLAWKEEP_ADDR: "http://127.0.0.1:1" } });
    expect(r.code).toBe(6);
    expect(readFileSync(keysFile, "utf8")).toBe(EXISTING);
  });
});
