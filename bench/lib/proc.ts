import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { createServer } from "node:net";

// Child processes for the benchmark: started, awaited until they print their "listening on"
// line, and always stopped again (stopAll in a finally, killAllSync on a hard exit).

export interface Child {
  name: string;
  proc: ChildProcess;
  /**
   * The child's stdout and stderr since the previous drain (whole lines, at most the last 8 MiB);
   * with `stdoutFile`, stdout is read back from that file, all of it.
   */
  drain(): string;
  stop(): Promise<void>;
}

const live = new Set<Child>();
const MAX_OUT = 8 << 20;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function startChild(
  name: string,
  args: string[],
  // stdoutFile: a busy server's log goes to a file, as a deployment's would, rather than through
  // a pipe that this process (on the same cores as the server) must keep reading.
  opts: { env: NodeJS.ProcessEnv; cwd: string; ready: RegExp; timeoutMs?: number; stdoutFile?: string },
): Promise<Child> {
  const fd = opts.stdoutFile === undefined ? undefined : openSync(opts.stdoutFile, "a", 0o600);
  const proc = spawn(process.execPath, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", fd ?? "pipe", "pipe"] });
  if (fd !== undefined) closeSync(fd);
  let out = "";
  let fileOffset = 0;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const child: Child = {
    name,
    proc,
    drain() {
      let o = out;
      out = "";
      if (opts.stdoutFile !== undefined) {
        const size = statSync(opts.stdoutFile).size;
        const n = size - fileOffset;
        const buf = Buffer.alloc(n);
        const f = openSync(opts.stdoutFile, "r");
        readSync(f, buf, 0, n, fileOffset);
        closeSync(f);
        fileOffset = size;
        o += buf.toString("utf8");
      }
      return o;
    },
    async stop() {
      live.delete(child);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  live.add(child);
  return new Promise<Child>((resolve, reject) => {
    let started = false;
    const fail = (why: string) => {
      if (started) return;
      void child.stop();
      reject(new Error(`${name}: ${why}\n${out.slice(-4000)}`));
    };
    const timer = setTimeout(() => fail("did not start in time"), opts.timeoutMs ?? 15_000);
    const onData = (b: Buffer) => {
      out += b.toString("utf8");
      if (out.length > MAX_OUT) out = out.slice(out.indexOf("\n", out.length - MAX_OUT) + 1);
      if (!started && opts.ready.test(out)) {
        clearTimeout(timer);
        started = true;
        resolve(child);
      }
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.once("error", (e) => fail(e.message));
    proc.once("exit", (code, sig) => {
      clearTimeout(timer);
      fail(`exited early (code ${code}, signal ${sig})`);
    });
  });
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

export function killAllSync(): void {
  for (const c of live) c.proc.kill("SIGKILL");
  live.clear();
}
