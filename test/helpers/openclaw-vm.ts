// One "OpenClaw VM" for the end-to-end suite: `clawkeep openclaw up …` as its own process
// group (Clawkeep, rclone when mounting, `agent run` and the gateway under it), so the test
// can destroy the whole VM at once with SIGKILL, as a host that loses power would.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { BIN } from "./proc.js";

export interface Vm {
  proc: ChildProcess;
  output: () => string;
  /** Resolves with the output once `re` matches it; rejects if the VM exits first. */
  waitFor: (re: RegExp, ms?: number) => Promise<string>;
  exited: Promise<number>;
  /** SIGTERM to Clawkeep (it forwards it to the gateway, then flushes); the exit code. */
  stop: () => Promise<number>;
  /** SIGKILL to every process of the VM at once; a dead FUSE mount is detached. */
  kill9: () => Promise<void>;
}

export function startVm(args: string[], env: Record<string, string>, mountDir?: string): Vm {
  const proc = spawn(process.execPath, [BIN, "openclaw", "up", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString("utf8");
    for (const l of listeners) l();
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  const exited = new Promise<number>((resolve) => proc.on("exit", (c, sig) => resolve(c ?? (sig ? 128 + 9 : -1))));
  let done = false;
  void exited.then(() => (done = true));
  const vm: Vm = {
    proc,
    output: () => out,
    exited,
    waitFor: (re, ms = 120_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (re.test(out)) {
            cleanup();
            resolve(out);
          }
        };
        const t = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${re}:\n${out.slice(-4000)}`));
        }, ms);
        const cleanup = () => {
          clearTimeout(t);
          listeners.delete(check);
        };
        void exited.then(() => setTimeout(() => {
          if (!re.test(out)) {
            cleanup();
            reject(new Error(`VM exited before ${re}:\n${out.slice(-4000)}`));
          }
        }, 50));
        listeners.add(check);
        check();
      }),
    async stop() {
      if (!done) proc.kill("SIGTERM");
      return exited;
    },
    async kill9() {
      try {
        process.kill(-proc.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
      await exited;
      if (mountDir) spawnSync("fusermount3", ["-u", "-z", mountDir]);
    },
  };
  return vm;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** SHA-256 of every object file under an s3rver directory: equal digests, unchanged bucket. */
export function bucketDigest(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(`${path.relative(dir, p)}\0`).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest("hex");
}

/** Every regular file below `dir` (symlinks not followed). */
export function filesBelow(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Where any canary (raw, hex, base64, base64url, UTF-16) occurs in the given files and texts. */
export function canaryHits(canaries: string[], files: string[], texts: Record<string, string> = {}): string[] {
  const hay = [...files.map((f) => ({ where: f, bytes: readFileSync(f) })), ...Object.entries(texts).map(([where, t]) => ({ where, bytes: Buffer.from(t) }))];
  const hits: string[] = [];
  for (const c of canaries) {
    const b = Buffer.from(c);
    const forms = [b, Buffer.from(b.toString("hex")), Buffer.from(b.toString("base64")), Buffer.from(b.toString("base64url")), Buffer.from(c, "utf16le")];
    for (const h of hay) if (forms.some((f) => h.bytes.includes(f))) hits.push(`${c} in ${h.where}`);
  }
  return hits;
}
