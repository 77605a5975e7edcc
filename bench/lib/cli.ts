import { spawnSync } from "node:child_process";

// Wall time of whole process runs (spawn to exit). The commands take turns (round-robin) so a
// drift in machine load touches all of them alike; one unmeasured warm-up round fills the file
// cache. The result is the median of `runs` per command.

export interface StartupResult {
  command: string;
  medianMs: number;
  minMs: number;
  runs: number;
}

export function timeCommands(argvs: string[][], opts: { cwd: string; env: NodeJS.ProcessEnv; runs: number }): StartupResult[] {
  const once = (args: string[]) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`node ${args.join(" ")}: exit ${r.status ?? r.signal}: ${r.stderr.toString("utf8").slice(0, 500)}`);
    return ms;
  };
  argvs.forEach(once);
  const times = argvs.map(() => [] as number[]);
  for (let i = 0; i < opts.runs; i++) argvs.forEach((a, j) => times[j]!.push(once(a)));
  return argvs.map((args, j) => {
    const t = times[j]!.sort((a, b) => a - b);
    const mid = t.length >> 1;
    return { command: `node ${args.join(" ")}`, medianMs: t.length % 2 ? t[mid]! : (t[mid - 1]! + t[mid]!) / 2, minMs: t[0]!, runs: t.length };
  });
}
