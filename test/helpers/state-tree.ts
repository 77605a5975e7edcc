// Helpers for the state-sync tests: a tree covering the interop edge cases, a digest of a tree
// (SHA-256 per file, target per symlink) and rclone invocations with a clean environment.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";

const C = 65536;

export const TREE_FILES: Record<string, number> = {
  "empty.txt": 0,
  "one.bin": 1,
  "c-1.bin": C - 1,
  "c.bin": C,
  "c+1.bin": C + 1,
  "2c-1.bin": 2 * C - 1,
  "2c.bin": 2 * C,
  "2c+1.bin": 2 * C + 1,
  "large.bin": 3 * 1024 * 1024 + 7,
  "agents/main/Ünïcödé – 文件 😀.md": 333,
  // 143 bytes: the longest name whose encrypted form (231 chars) fits a 255-byte file name
  // with room for s3rver's own suffix; rclone over a local disk has the same ceiling.
  [`agents/main/${"l".repeat(139)}.txt`]: 44,
  "agents/main/memory/deep/er/nest.json": 1234,
  "config/openclaw.json": 80,
  ".hidden": 5,
};
export const TREE_LINKS: Record<string, string> = { "agents/current": "main", "config/link-to-json": "openclaw.json" };

export function bytesFor(name: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = createHash("sha256").update(name).digest().readUInt32LE(0) || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function makeTree(root: string): void {
  for (const [p, size] of Object.entries(TREE_FILES)) {
    mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    writeFileSync(path.join(root, p), bytesFor(p, size));
  }
  for (const [p, target] of Object.entries(TREE_LINKS)) symlinkSync(target, path.join(root, p));
}

/** rel path → `sha256` of a file or `-> target` of a symlink; skips our bookkeeping dir. */
export function treeDigest(root: string, rel = "", out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    if (rel === "" && name === ".clawkeep-state") continue;
    const p = rel === "" ? name : `${rel}/${name}`;
    const abs = path.join(root, p);
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) out.set(p, `-> ${readlinkSync(abs)}`);
    else if (st.isDirectory()) treeDigest(root, p, out);
    else out.set(p, createHash("sha256").update(readFileSync(abs)).digest("hex"));
  }
  return out;
}

/** Raw object names under a directory (the encrypted layout). */
export function rawNames(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const p = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...rawNames(root, p));
    else out.push(p);
  }
  return out.sort();
}

/** An environment for rclone: no inherited RCLONE_* (they outrank the config) or CA bundle. */
export function rcloneEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("RCLONE_") && k !== "AWS_CA_BUNDLE"));
  return { ...env, HOME: home, XDG_CACHE_HOME: path.join(home, ".cache"), ...extra };
}

/** Async on purpose: s3rver runs in the test process, so a blocking spawnSync would deadlock. */
export function rclone(conf: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("rclone", ["--config", conf, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const t = setTimeout(() => p.kill("SIGKILL"), 120_000);
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`rclone ${args[0]} failed (${String(code)}): ${err}`));
    });
  });
}

export const RCLONE_FOUND = spawnSync("rclone", ["version"], { stdio: "ignore" }).status === 0;
