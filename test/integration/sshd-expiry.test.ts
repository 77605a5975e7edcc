import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import path from "node:path";
import { reconcileAuthorizedKeys } from "../../src/agents/ssh-keys.js";
import { tempDir } from "../helpers/runtime.js";

// Support access promises that a granted key stops working at expiry even if reconcile never runs
// again: the promise rests on OpenSSH honouring the `expiry-time` option Clawkeep writes. This
// test asks a real sshd: the same file, written by reconcile, lets the key in before its
// expiry-time and keeps it out after, with no further reconcile in between.

const SSHD = "/usr/sbin/sshd";
const present = existsSync(SSHD) && spawnSync("ssh", ["-V"]).status === 0;
const skip = !present && process.env.CI !== "true";
if (skip) console.warn("[clawkeep tests] no sshd/ssh: sshd expiry test skipped (apt-get install openssh-server openssh-client; mandatory with CI=true)");

let dir: string;
let sshd: ChildProcess | undefined;
let port: number;
const keysFile = () => path.join(dir, "authorized_keys");
// sshd logs to a file: the logins run synchronously, so a pipe would not be read until the end.
const sshdLog = () => readFileSync(path.join(dir, "sshd.log"), "utf8");

function keypair(name: string): { priv: string; pub: string } {
  const priv = path.join(dir, name);
  const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", priv]);
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`);
  return { priv, pub: readFileSync(`${priv}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ") };
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

function login(priv: string): number | null {
  const r = spawnSync("ssh", ["-i", priv, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-p", String(port), `${userInfo().username}@127.0.0.1`, "true"], { timeout: 20_000 });
  return r.status;
}

beforeAll(async () => {
  if (skip) return;
  dir = tempDir();
  const host = keypair("host");
  port = await freePort();
  // sshd refuses to start without its privilege-separation directory; Debian creates it at boot.
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const config = path.join(dir, "sshd_config");
  writeFileSync(config, [`Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${host.priv}`, `AuthorizedKeysFile ${keysFile()}`, `PidFile ${path.join(dir, "sshd.pid")}`, "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "LogLevel VERBOSE", ""].join("\n"));
  sshd = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", openSync(path.join(dir, "sshd.log"), "w")] });
  const deadline = Date.now() + 10_000;
  while (!sshdLog().includes("Server listening")) {
    if (Date.now() > deadline || sshd.exitCode !== null) throw new Error(`sshd did not start: ${sshdLog()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}, 30_000);

afterAll(() => {
  sshd?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip)("support access against a real sshd", () => {
  it("a reconciled key logs in before its expiry-time and is refused after it, with no reconcile in between", () => {
    const current = keypair("current");
    const lapsed = keypair("lapsed");
    const now = Date.now();
    const owner = keypair("owner");
    // Reconcile at a moment when both grants were live: the one that has lapsed since was written
    // then, exactly as an agent that has not reconciled again would still have it.
    const earlier = new Date(now - 10 * 60_000);
    const grants = [
      { id: "grt_00000000000000000001", publicKey: current.pub, expiresAt: new Date(now + 60 * 60_000).toISOString() },
      { id: "grt_00000000000000000002", publicKey: lapsed.pub, expiresAt: new Date(now - 2 * 60_000).toISOString() },
    ];
    const { text, added } = reconcileAuthorizedKeys(`# owner's key\n${owner.pub} owner\n`, grants, earlier);
    expect(added).toHaveLength(2);
    writeFileSync(keysFile(), text, { mode: 0o600 });

    expect(login(owner.priv), sshdLog()).toBe(0); // lines Clawkeep does not own keep working
    expect(login(current.priv), sshdLog()).toBe(0);
    expect(login(lapsed.priv)).toBe(255); // sshd itself enforces expiry-time
    expect(sshdLog()).toMatch(/Refused by key options/); // the refusal is the expiry-time option, not a missing key
  }, 60_000);
});
