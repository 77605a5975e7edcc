import { readFileSync } from "node:fs";
import os from "node:os";

// What the numbers were measured on.
export function machine(): { cpu: string; cores: number; ramGiB: number; node: string; os: string } {
  let cpu = os.cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m?.[1]) cpu = m[1].trim();
  } catch {
    // not Linux: keep os.cpus()
  }
  let osName = `${os.type()} ${os.release()}`;
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync("/etc/os-release", "utf8"));
    if (m?.[1]) osName = `${m[1]} (${os.type()} ${os.release()})`;
  } catch {
    // no os-release
  }
  return { cpu, cores: os.availableParallelism(), ramGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, os: osName };
}
