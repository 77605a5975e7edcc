import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = path.join(ROOT, "bin", "clawkeep");

export interface ServerProc {
  url: string;
  proc: ChildProcess;
  output: () => string;
  adminToken: () => string;
  stop: () => Promise<void>;
  kill9: () => Promise<void>;
}

// Starts the real `clawkeep serve` (the built dist/, as a user runs it) on a free port.
export async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProc> {
  const proc = spawn(process.execPath, [BIN, "serve", "--data-dir", dataDir, "--port", "0"], {
    env: { ...process.env, CLAWKEEP_LOG_LEVEL: "debug", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString("utf8")));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString("utf8")));
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const check = () => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    proc.stderr!.on("data", check);
    proc.on("exit", (code) => reject(new Error(`server exited ${code}:\n${out}`)));
  });
  return {
    url,
    proc,
    output: () => out,
    adminToken: () => readFileSync(path.join(dataDir, "admin.token"), "utf8").trim(),
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await exited;
    },
    async kill9() {
      proc.kill("SIGKILL");
      await exited;
    },
  };
}

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function runCli(args: string[], opts: { env?: Record<string, string>; input?: Buffer | string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
    p.stdin.end(opts.input ?? "");
  });
}

/** `user create NAME` through the CLI as the admin; the environment that acts as that user. */
export async function cliUser(server: ServerProc, name: string): Promise<Record<string, string>> {
  const admin = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: server.adminToken() };
  const r = await runCli(["user", "create", name, "--json"], { env: admin });
  if (r.code !== 0) throw new Error(`user create ${name}: exit ${r.code}: ${r.stderr.toString()}`);
  return { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: (JSON.parse(r.stdout.toString()) as { token: string }).token };
}

/**
 * `agent create NAME` through the CLI as `user`: the id and secret printed once, and the
 * environment that runs `agent …` commands as that agent (no user token in it).
 */
export async function cliAgent(user: Record<string, string>, name: string): Promise<{ agent_id: string; agent_secret: string; env: Record<string, string> }> {
  const r = await runCli(["agent", "create", name, "--json"], { env: user });
  if (r.code !== 0) throw new Error(`agent create ${name}: exit ${r.code}: ${r.stderr.toString()}`);
  const a = JSON.parse(r.stdout.toString()) as { agent_id: string; agent_secret: string };
  return { ...a, env: { CLAWKEEP_ADDR: user.CLAWKEEP_ADDR!, CLAWKEEP_AGENT_ID: a.agent_id, CLAWKEEP_AGENT_SECRET: a.agent_secret, CLAWKEEP_TOKEN: "" } };
}
