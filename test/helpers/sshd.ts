import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import path from "node:path";

// A real sshd on a free loopback port, with its own host key, config and authorized_keys file,
// for the support-access tests. Logs go to a file: the logins run synchronously, so a pipe would
// not be read until the end.

export const SSHD = "/usr/sbin/sshd";
export const sshdPresent = existsSync(SSHD) && spawnSync("ssh", ["-V"]).status === 0;
/** Skipped only when sshd is missing and this is not CI (where it is mandatory). */
export const skipSshd = !sshdPresent && process.env.CI !== "true";

export interface Sshd {
  port: number;
  keysFile: string;
  log: () => string;
  keypair: (name: string) => { priv: string; pub: string };
  /** ssh as the current user with this key; extra client options before the destination, command after. */
  ssh: (priv: string, opts: string[], command?: string[], input?: string) => SpawnSyncReturns<Buffer>;
  stop: () => void;
}

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

export async function startSshd(dir: string): Promise<Sshd> {
  const keypair = (name: string) => {
    const priv = path.join(dir, name);
    const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", priv]);
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`);
    return { priv, pub: readFileSync(`${priv}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ") };
  };
  const host = keypair("host");
  const port = await freePort();
  const keysFile = path.join(dir, "authorized_keys");
  const logFile = path.join(dir, "sshd.log");
  // sshd refuses to start without its privilege-separation directory; Debian creates it at boot.
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const config = path.join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${host.priv}`,
      `AuthorizedKeysFile ${keysFile}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin prohibit-password",
      // Forwarding allowed server-wide, so a refusal in the tests is the key's own options.
      "AllowTcpForwarding yes",
      "AllowAgentForwarding yes",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  const proc: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", openSync(logFile, "w")] });
  const log = () => readFileSync(logFile, "utf8");
  const deadline = Date.now() + 10_000;
  while (!log().includes("Server listening")) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`sshd did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const base = ["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-p", String(port)];
  return {
    port,
    keysFile,
    log,
    keypair,
    ssh: (priv, opts, command = [], input) =>
      spawnSync("ssh", ["-i", priv, ...base, ...opts, `${userInfo().username}@127.0.0.1`, ...command], { timeout: 20_000, input: input ?? "", env: { ...process.env, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK ?? "" } }),
    stop: () => void proc.kill("SIGTERM"),
  };
}
