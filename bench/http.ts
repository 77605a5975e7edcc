// `npm run bench`: throughput and latency of the secret API against a bare fastify ceiling, and
// CLI start-up against bare node. A benchmark, not a test: it prints a markdown report and
// rewrites the bench:http section of docs/benchmarks.md.
//
// Settings (env): BENCH_SECONDS (10) per cell, BENCH_CONNECTIONS ("1,10,50"), BENCH_CLI_RUNS
// (20), BENCH_TMPDIR (os.tmpdir(); the server's data dir goes below it), BENCH_SERVER_NODE_ARGS
// (extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
// BENCH_WRITE_DOCS=0 to leave docs/ alone. CLAWKEEP_* variables pass through to the server.
import { call, serverErrors } from "./lib/api.js";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { timeCommands } from "./lib/cli.js";
import { writeSection } from "./lib/docs.js";
import { runLoad, type LoadResult, type LoadSpec } from "./lib/load.js";
import { machine } from "./lib/machine.js";
import { freePort, killAllSync, startChild, stopAll, type Child } from "./lib/proc.js";
import { renderReport, type HttpRow } from "./lib/report.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const CONNECTIONS = (env.BENCH_CONNECTIONS ?? "1,10,50").split(",").map(Number);
const CLI_RUNS = Number(env.BENCH_CLI_RUNS ?? 20);
const SERVER_NODE_ARGS = (env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
// Pause after each load run: the server may still be working off queued requests.
const SETTLE_MS = 2000;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

if (!(SECONDS > 0) || CONNECTIONS.some((c) => !Number.isInteger(c) || c < 1) || !(CLI_RUNS >= 1)) {
  throw new Error("BENCH_SECONDS, BENCH_CONNECTIONS or BENCH_CLI_RUNS is not a positive number");
}

const tmp = mkdtempSync(path.join(env.BENCH_TMPDIR ?? os.tmpdir(), "clawkeep-bench-"));
const cleanupSync = () => {
  killAllSync();
  rmSync(tmp, { recursive: true, force: true });
};
process.on("exit", cleanupSync);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

// Server settings that differ from the defaults, for the report; values of secrets never shown.
const settings = Object.keys(env)
  .filter((k) => k.startsWith("CLAWKEEP_") && !["CLAWKEEP_LOG_LEVEL", "CLAWKEEP_ADDR", "CLAWKEEP_TOKEN", "CLAWKEEP_TOKEN_FILE"].includes(k))
  .map((k) => (/KEY|TOKEN|SECRET|PASSWORD|URL/.test(k) ? `${k}=…` : `${k}=${env[k]}`))
  .concat(SERVER_NODE_ARGS.length ? [`node ${SERVER_NODE_ARGS.join(" ")}`] : []);

function commitOf(): string {
  const git = (...a: string[]) => spawnSync("git", a, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  const head = git("rev-parse", "--short", "HEAD") || "unknown";
  return git("status", "--porcelain", "--untracked-files=no", "--", "src", "bin", "package.json") ? `${head}+dirty` : head;
}

const errorNotes: string[] = [];

async function measure(name: string, spec: Omit<LoadSpec, "connections" | "seconds">, server: Child): Promise<Map<number, LoadResult>> {
  await runLoad({ ...spec, connections: 10, seconds: 1 });
  server.drain();
  const out = new Map<number, LoadResult>();
  for (const c of CONNECTIONS) {
    await sleep(SETTLE_MS);
    const r = await runLoad({ ...spec, connections: c, seconds: SECONDS });
    log(`${name} c=${c}: ${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, non-2xx ${r.non2xx}, errors ${r.errors}`);
    const why = serverErrors(server.drain());
    if (r.non2xx + r.errors + r.timeouts > 0) {
      const note = `${name} at ${c} connections: status codes ${JSON.stringify(r.codes)}; server errors: ${why || "none logged"}`;
      log(note);
      errorNotes.push(note);
    }
    out.set(c, r);
  }
  return out;
}

async function main(): Promise<void> {
  const dataDir = path.join(tmp, "data");
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serverEnv: NodeJS.ProcessEnv = { ...env, CLAWKEEP_LOG_LEVEL: "warn" };
  for (const k of ["CLAWKEEP_ADDR", "CLAWKEEP_TOKEN", "CLAWKEEP_TOKEN_FILE"]) delete serverEnv[k];
  log(`starting clawkeep on ${base} (data dir ${dataDir})`);
  const server = await startChild("clawkeep", [...SERVER_NODE_ARGS, "bin/clawkeep", "serve", "--data-dir", dataDir, "--port", String(port)], {
    cwd: ROOT,
    env: serverEnv,
    ready: /listening on/,
  });

  const admin = readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  const { token } = (await call(base, admin, "POST", "/v1/users", { name: "bench" })) as { token: string };
  const value = randomBytes(64);
  await call(base, token, "POST", "/v1/agents", { name: "bench" });
  await call(base, token, "PUT", "/v1/secrets/bench/API_KEY", value);
  const check = (await call(base, token, "GET", "/v1/secrets/bench/API_KEY")) as { value: string; encoding: string };
  if (!Buffer.from(check.value, check.encoding as BufferEncoding).equals(value)) throw new Error("the stored secret does not read back");

  const barePort = await freePort();
  const bare = await startChild("bare", ["--import", "tsx", "bench/bare-server.ts", String(barePort)], { cwd: ROOT, env, ready: /listening on/ });
  const bareRes = await measure("bare", { url: `http://127.0.0.1:${barePort}/` }, bare);
  await bare.stop();

  const auth = { authorization: `Bearer ${token}` };
  const secretUrl = `${base}/v1/secrets/bench/API_KEY`;
  const getRes = await measure("GET", { url: secretUrl, headers: auth }, server);
  const putRes = await measure("PUT", { url: secretUrl, method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body: value }, server);

  await sleep(SETTLE_MS);
  log(`CLI start-up, ${CLI_RUNS} runs each`);
  const cliEnv: NodeJS.ProcessEnv = { ...env, CLAWKEEP_ADDR: base, CLAWKEEP_TOKEN: token };
  delete cliEnv.CLAWKEEP_TOKEN_FILE;
  const [bareNode, version, get] = timeCommands([["-e", "0"], ["bin/clawkeep", "--version"], ["bin/clawkeep", "secret", "get", "bench/API_KEY"]], {
    cwd: ROOT,
    env: cliEnv,
    runs: CLI_RUNS,
  });
  const cli = { bare: bareNode!, version: version!, get: get! };
  await server.stop();

  const rows: HttpRow[] = CONNECTIONS.map((c) => ({ connections: c, bare: bareRes.get(c)!, get: getRes.get(c)!, put: putRes.get(c)! }));
  const command = `${SECONDS === 10 ? "" : `BENCH_SECONDS=${SECONDS} `}npm run bench`;
  const md = renderReport({ date: new Date().toISOString().slice(0, 10), commit: commitOf(), command, seconds: SECONDS, machine: machine(), settings, rows, cli, errorNotes });
  process.stdout.write(`\n${md}`);
  if (env.BENCH_WRITE_DOCS !== "0") {
    writeSection(path.join(ROOT, "docs", "benchmarks.md"), "http", md);
    log("updated docs/benchmarks.md");
  }
}

try {
  await main();
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
