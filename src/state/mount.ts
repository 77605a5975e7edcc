// The FUSE path of `state up`: `rclone mount` of the crypt remote at the state dir with the
// seed's VFS flags. The config (with the obscured passwords) goes in a 0600 file in a private
// temp dir, never on argv. The mount counts as ready only once the kernel lists it.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
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
  unmount(): Promise<void>;
}

export async function mountRclone(confText: string, remote: string, dir: string, log: (s: string) => void, timeoutMs = 20_000): Promise<Mount> {
  const priv = await mkdtemp(path.join(tmpdir(), "clawkeep-rclone-"));
  const conf = path.join(priv, "rclone.conf");
  await writePrivate(conf, confText);
  const args = ["mount", remote, dir, "--config", conf, "--cache-dir", path.join(priv, "cache"), ...SEED_VFS_FLAGS];
  const proc = spawn("rclone", args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const cleanup = () => rm(priv, { recursive: true, force: true });
  const deadline = Date.now() + timeoutMs;
  while (!isMounted(dir)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGTERM");
      await exited;
      await cleanup();
      throw new Error(`rclone mount did not come up: ${err.trim().split("\n").pop() ?? "timeout"}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`rclone FUSE mount ready at ${dir}`);
  return {
    proc,
    async unmount() {
      // Unmounting makes rclone finish its write-back uploads and exit.
      const fm = onPath("fusermount3") ? "fusermount3" : "fusermount";
      spawnSync(fm, ["-u", dir], { stdio: "ignore" });
      if (proc.exitCode === null) {
        const t = setTimeout(() => proc.kill("SIGTERM"), 60_000);
        await exited;
        clearTimeout(t);
      }
      await cleanup();
    },
  };
}
