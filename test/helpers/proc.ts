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
