import { spawn, type ChildProcess } from "node:child_process";
import { BIN } from "./proc.js";

/** Starts the real `clawkeep signerd --dir DIR`, resolved once it listens. */
export function startSignerd(dir: string, key: string): Promise<{ proc: ChildProcess; out: () => string }> {
  const proc = spawn(process.execPath, [BIN, "signerd", "--dir", dir], { env: { ...process.env, INTERNAL_API_KEY: key }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`signerd did not start:\n${out}`)), 20_000);
    proc.stderr!.on("data", () => {
      if (out.includes("listening on")) {
        clearTimeout(t);
        resolve({ proc, out: () => out });
      }
    });
    proc.on("exit", (c) => reject(new Error(`signerd exited ${c}:\n${out}`)));
  });
}
