import { closeSync, openSync, readFileSync, readSync } from "node:fs";

// Reads another process's memory through /proc/<pid>/mem (root, or the same user with ptrace
// allowed) and reports which needles occur anywhere in its readable mappings: heap, stacks,
// V8's spaces, native buffers. A needle split across a chunk boundary is still found (chunks
// overlap by the longest needle).

const CHUNK = 1 << 20;

export function memoryContains(pid: number, needles: Buffer[]): boolean[] {
  const found = needles.map(() => false);
  const overlap = Math.max(...needles.map((n) => n.length)) - 1;
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8").trim().split("\n");
  const fd = openSync(`/proc/${pid}/mem`, "r");
  let scanned = 0;
  try {
    for (const line of maps) {
      const [range, perms, , , , name] = line.split(/\s+/);
      if (!perms?.startsWith("r") || name === "[vvar]" || name === "[vsyscall]" || name === "[vvar_vclock]") continue;
      const [lo, hi] = range!.split("-").map((h) => BigInt(`0x${h}`)) as [bigint, bigint];
      for (let at = lo; at < hi; at += BigInt(CHUNK)) {
        const len = Number(hi - at < BigInt(CHUNK + overlap) ? hi - at : BigInt(CHUNK + overlap));
        const buf = Buffer.alloc(len);
        let n: number;
        try {
          n = readSync(fd, buf, 0, len, at);
        } catch {
          continue; // a page that cannot be read (guard pages, I/O mappings)
        }
        scanned += n;
        const view = buf.subarray(0, n);
        needles.forEach((needle, i) => {
          if (!found[i] && view.includes(needle)) found[i] = true;
        });
      }
    }
  } finally {
    closeSync(fd);
  }
  if (scanned < 1 << 20) throw new Error(`read only ${scanned} bytes of process ${pid}'s memory: is ptrace allowed?`);
  return found;
}
