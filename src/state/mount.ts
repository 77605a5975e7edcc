// The FUSE path of `state up`: `rclone mount` of the crypt remote at the state dir with the
// seed's VFS flags. The config (with the obscured passwords) goes in a 0600 file in a private
// temp dir, never on argv. The mount counts as ready only once the kernel lists it.
//
// rclone 1.60 does NOT upload pending write-back files when it is unmounted or signalled: it
// exits and leaves them in its VFS cache (measured: `fusermount -u`, SIGTERM and SIGINT all
// lose a file written 1 s earlier with --vfs-write-back 5s). So before unmounting, the flush
// asks rclone's remote-control API (`vfs/stats`, loopback only, random credentials passed in
// the environment) until no file is queued or uploading. If that does not happen in
// time, the cache dir is kept, not deleted, and its path is reported.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { writePrivate } from "./rclone-config.js";

export const SEED_VFS_FLAGS = ["--vfs-cache-mode", "writes", "--vfs-write-back", "5s", "--dir-cache-time", "30s", "--vfs-cache-max-size", "500M"];

const onPath = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;

/** Why a FUSE mount cannot work here, or undefined if it can be tried. */
export function fuseUnavailable(): string | undefined {
  if (!onPath("rclone")) return "rclone is not installed";
  try {
    accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
  } catch {
    return "/dev/fuse is not available";
  }
  if (!onPath("fusermount") && !onPath("fusermount3")) return "fusermount is not installed (apt-get install fuse3)";
  return undefined;
}

export function isMounted(dir: string): boolean {
  const esc = dir.replace(/ /g, "\\040");
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === esc && / - fuse\.rclone /.test(l));
}

export interface Mount {
  proc: ChildProcess;
  /** Wait until rclone has uploaded every pending write, then unmount and wait for it to exit. */
  unmount(): Promise<void>;
}

export interface MountOptions {
  timeoutMs?: number;
  /** How long the flush may wait for pending uploads before giving up (keeping the cache). */
  flushTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

interface VfsStats {
  diskCache?: { uploadsInProgress?: number; uploadsQueued?: number; erroredFiles?: number };
}

export async function mountRclone(confText: string, remote: string, dir: string, log: (s: string) => void, env: NodeJS.ProcessEnv = process.env, o: MountOptions = {}): Promise<Mount> {
  const priv = await mkdtemp(path.join(tmpdir(), "clawkeep-rclone-"));
  const conf = path.join(priv, "rclone.conf");
  const cacheDir = path.join(priv, "cache");
  await writePrivate(conf, confText);
  const port = await freePort();
  const rcPass = randomBytes(24).toString("base64url");
  // --umask 077: the mount shows plaintext state, so it is the owner's alone (dirs 0700, files
  // 0600). rclone's mount cannot chmod; OpenClaw sets its state dirs to 0700 and checks the
  // result, which only holds when the mount already shows that mode.
  const args = ["mount", remote, dir, "--config", conf, "--cache-dir", cacheDir, ...SEED_VFS_FLAGS, "--umask", "077", "--rc", "--rc-addr", `127.0.0.1:${port}`];
  // rclone reads RCLONE_* variables as flags; the crypt overrides are already in the config.
  const childEnv: NodeJS.ProcessEnv = { ...env, RCLONE_RC_USER: "clawkeep", RCLONE_RC_PASS: rcPass };
  for (const k of ["MASTER_KEY", "MASTER_KEY_FILE", "RCLONE_CRYPT_PASSWORD", "RCLONE_CRYPT_PASSWORD2"]) delete childEnv[k];
  // rclone's S3 client refuses to start with AWS_CA_BUNDLE set ("unsupported transport",
  // rclone 1.60): the bundle is handed over as rclone's own --ca-cert instead.
  if (childEnv.AWS_CA_BUNDLE) {
    args.push("--ca-cert", childEnv.AWS_CA_BUNDLE);
    delete childEnv.AWS_CA_BUNDLE;
  }
  const proc = spawn("rclone", args, { stdio: ["ignore", "ignore", "pipe"], env: childEnv });
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const cleanup = () => rm(priv, { recursive: true, force: true });
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  while (!isMounted(dir)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGTERM");
      await exited;
      await cleanup();
      throw new Error(`rclone mount did not come up: ${err.trim().split("\n").pop() ?? "timeout"}`);
    }
    await sleep(200);
  }
  log(`rclone FUSE mount ready at ${dir}`);

  const auth = `Basic ${Buffer.from(`clawkeep:${rcPass}`).toString("base64")}`;
  const stats = async (): Promise<VfsStats> => {
    const r = await fetch(`http://127.0.0.1:${port}/vfs/stats`, { method: "POST", headers: { authorization: auth } });
    if (!r.ok) throw new Error(`rclone rc vfs/stats: HTTP ${r.status}`);
    return (await r.json()) as VfsStats;
  };
  const pending = (s: VfsStats) => (s.diskCache?.uploadsQueued ?? 0) + (s.diskCache?.uploadsInProgress ?? 0);
  // A writer's close() returns before FUSE delivers the release that queues its upload, so
  // "nothing pending" counts only after it has held for a second.
  const QUIET_POLLS = 4;

  return {
    proc,
    async unmount() {
      const until = Date.now() + (o.flushTimeoutMs ?? 600_000);
      let drained = false;
      let last = "";
      let quiet = 0;
      while (proc.exitCode === null && Date.now() < until) {
        try {
          const s = await stats();
          const n = pending(s);
          const line = `${n} pending, ${s.diskCache?.erroredFiles ?? 0} failed`;
          if (n > 0 && line !== last) log(`waiting for rclone write-back: ${line}`);
          last = line;
          quiet = n === 0 ? quiet + 1 : 0;
          if (quiet >= QUIET_POLLS) {
            drained = true;
            break;
          }
        } catch (e) {
          last = (e as Error).message;
        }
        await sleep(250);
      }
      // Unmounting makes rclone exit; a process still holding a file open makes a plain
      // unmount fail, so fall back to a lazy one.
      const fm = onPath("fusermount3") ? "fusermount3" : "fusermount";
      if (isMounted(dir) && spawnSync(fm, ["-u", dir], { stdio: "ignore" }).status !== 0) spawnSync(fm, ["-u", "-z", dir], { stdio: "ignore" });
      if (proc.exitCode === null) {
        const t = setTimeout(() => proc.kill("SIGTERM"), 30_000);
        await exited;
        clearTimeout(t);
      }
      if (!drained) {
        // Keep the cache: it holds the writes that did not reach the remote.
        throw new Error(`rclone did not finish uploading (${last || "rclone exited"}); unsent files kept in ${path.join(cacheDir, "vfs")}`);
      }
      await cleanup();
    },
  };
}
