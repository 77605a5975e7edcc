// `npm run bench`: throughput and latency of a secret GET and PUT on each storage back end, beside
// a bare fastify ceiling and (when one is running) a reference secrets server, all in one run;
// and CLI start-up against bare node. A benchmark, not a test: it prints a markdown report and
// rewrites the bench:http section of docs/benchmarks.md.
//
// Settings (env): BENCH_SECONDS (10) per cell, BENCH_CONNECTIONS ("1,10,50"), BENCH_BACKENDS
// ("sqlite,postgres": embedded SQLite + file blobs; PostgreSQL + an s3rver blob store), BENCH_PG_URL,
// BENCH_CLI_RUNS (20), BENCH_TMPDIR, BENCH_SERVER_NODE_ARGS (extra node flags for the server,
// e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_WRITE_DOCS=0 to leave docs/ alone.
// CLAWKEEP_* variables pass through to the server.
//
// Reference server: set INFISICAL_GET_URL, INFISICAL_PUT_URL, INFISICAL_PUT_METHOD,
// INFISICAL_PUT_BODY, INFISICAL_TOKEN (and INFISICAL_PID for its CPU column) for an Infisical
// backend started outside this repository (docs/benchmarks.md says how it was built and run).
import { call, serverErrors } from "./lib/api.js";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { timeCommands } from "./lib/cli.js";
import { cpuMs } from "./lib/cpu.js";
import { writeSection } from "./lib/docs.js";
import { runLoad, type LoadSpec } from "./lib/load.js";
import { machine } from "./lib/machine.js";
import { createPgDatabase, dbNameOf, dropAllSync, dropPgDatabase } from "./lib/pg.js";
import { freePort, killAllSync, startChild, stopAll, type Child } from "./lib/proc.js";
import { renderReport, type Cell } from "./lib/report.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const CONNECTIONS = (env.BENCH_CONNECTIONS ?? "1,10,50").split(",").map(Number);
const BACKENDS = (env.BENCH_BACKENDS ?? "sqlite,postgres").split(",") as Backend[];
const CLI_RUNS = Number(env.BENCH_CLI_RUNS ?? 20);
const SERVER_NODE_ARGS = (env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
// Pause after each load run: the server may still be working off queued requests.
const SETTLE_MS = 2000;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
type Backend = "sqlite" | "postgres";

if (!(SECONDS > 0) || CONNECTIONS.some((c) => !Number.isInteger(c) || c < 1) || !(CLI_RUNS >= 1) || BACKENDS.some((b) => b !== "sqlite" && b !== "postgres")) {
  throw new Error("BENCH_SECONDS, BENCH_CONNECTIONS or BENCH_CLI_RUNS is not a positive number, or BENCH_BACKENDS names something other than sqlite and postgres");
}

const tmp = mkdtempSync(path.join(env.BENCH_TMPDIR ?? os.tmpdir(), "clawkeep-bench-"));
process.on("exit", () => {
  killAllSync();
  dropAllSync();
  rmSync(tmp, { recursive: true, force: true });
});
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
const cells: Cell[] = [];

/** One load run per connection count; `pid`: the process whose CPU per request is reported. */
async function measure(server: string, request: string, spec: Omit<LoadSpec, "connections" | "seconds">, pid: number | null, logs?: Child): Promise<void> {
  await runLoad({ ...spec, connections: 10, seconds: 1 });
  logs?.drain();
  for (const c of CONNECTIONS) {
    await sleep(SETTLE_MS);
    const cpu0 = pid === null ? 0 : cpuMs(pid);
    const r = await runLoad({ ...spec, connections: c, seconds: SECONDS });
    const cpuUs = pid === null || r.requests === 0 ? null : ((cpuMs(pid) - cpu0) * 1000) / r.requests;
    log(`${server} ${request} c=${c}: ${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${cpuUs?.toFixed(0) ?? "–"} µs CPU/req, non-2xx ${r.non2xx}, errors ${r.errors}`);
    if (r.non2xx + r.errors + r.timeouts > 0) {
      const note = `${server} ${request} at ${c} connections: status codes ${JSON.stringify(r.codes)}; server errors: ${(logs && serverErrors(logs.drain())) || "none logged"}`;
      log(note);
      errorNotes.push(note);
    }
    cells.push({ server, request, connections: c, r, cpuUs });
  }
}

const LABEL: Record<Backend, string> = { sqlite: "Clawkeep, SQLite + file blobs", postgres: "Clawkeep, PostgreSQL + s3rver" };

async function startClawkeep(backend: Backend): Promise<{ server: Child; base: string; token: string; stop: () => Promise<void> }> {
  const dir = path.join(tmp, backend);
  const dataDir = path.join(dir, "data");
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serverEnv: NodeJS.ProcessEnv = { ...env, CLAWKEEP_LOG_LEVEL: "warn" };
  for (const k of ["CLAWKEEP_ADDR", "CLAWKEEP_TOKEN", "CLAWKEEP_TOKEN_FILE", "CLAWKEEP_DATABASE_URL", "CLAWKEEP_BLOB_URL"]) delete serverEnv[k];
  let s3: Child | undefined;
  let dbUrl: string | undefined;
  if (backend === "postgres") {
    dbUrl = await createPgDatabase();
    mkdirSync(path.join(dir, "s3"), { recursive: true });
    s3 = await startChild("s3rver", ["--import", "tsx", "bench/s3-server.ts", path.join(dir, "s3"), "clawkeep-bench"], { cwd: ROOT, env, ready: /listening on/ });
    const endpoint = /listening on (\S+)/.exec(s3.drain())![1]!;
    Object.assign(serverEnv, {
      CLAWKEEP_DATABASE_URL: dbUrl,
      CLAWKEEP_BLOB_URL: "s3://clawkeep-bench/blobs",
      S3_ENDPOINT: endpoint,
      S3_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
    });
  }
  log(`starting clawkeep (${backend}) on ${base}`);
  const server = await startChild(`clawkeep-${backend}`, [...SERVER_NODE_ARGS, "bin/clawkeep", "serve", "--data-dir", dataDir, "--port", String(port)], {
    cwd: ROOT,
    env: serverEnv,
    ready: /listening on/,
  });
  const admin = readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  const { token } = (await call(base, admin, "POST", "/v1/users", { name: "bench" })) as { token: string };
  await call(base, token, "POST", "/v1/agents", { name: "bench" });
  return {
    server,
    base,
    token,
    async stop() {
      await server.stop();
      await s3?.stop();
      if (dbUrl) await dropPgDatabase(dbNameOf(dbUrl));
    },
  };
}

async function benchClawkeep(backend: Backend): Promise<{ base: string; token: string; stop: () => Promise<void> }> {
  const k = await startClawkeep(backend);
  const value = randomBytes(64);
  await call(k.base, k.token, "PUT", "/v1/secrets/bench/API_KEY", value);
  const check = (await call(k.base, k.token, "GET", "/v1/secrets/bench/API_KEY")) as { value: string; encoding: string };
  if (!Buffer.from(check.value, check.encoding as BufferEncoding).equals(value)) throw new Error("the stored secret does not read back");
  const auth = { authorization: `Bearer ${k.token}` };
  const url = `${k.base}/v1/secrets/bench/API_KEY`;
  const pid = k.server.proc.pid!;
  await measure(LABEL[backend], "GET", { url, headers: auth }, pid, k.server);
  await measure(LABEL[backend], "PUT", { url, method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body: value }, pid, k.server);
  return k;
}

async function benchInfisical(): Promise<boolean> {
  const { INFISICAL_GET_URL: get, INFISICAL_PUT_URL: put, INFISICAL_PUT_BODY: body, INFISICAL_TOKEN: token } = env;
  if (!get || !put || !body || !token) {
    log("no reference server (INFISICAL_GET_URL … unset): skipped");
    return false;
  }
  const method = (env.INFISICAL_PUT_METHOD ?? "PATCH") as "PATCH" | "PUT";
  const auth = { authorization: `Bearer ${token}` };
  const probe = await fetch(get, { headers: auth });
  if (!probe.ok) throw new Error(`the reference server answered ${probe.status} to its GET`);
  const pid = env.INFISICAL_PID ? Number(env.INFISICAL_PID) : null;
  await measure("Infisical (reference)", "GET", { url: get, headers: auth }, pid);
  await measure("Infisical (reference)", method, { url: put, method, headers: { ...auth, "content-type": "application/json" }, body: Buffer.from(body) }, pid);
  return true;
}

async function main(): Promise<void> {
  const barePort = await freePort();
  const bare = await startChild("bare", ["--import", "tsx", "bench/bare-server.ts", String(barePort)], { cwd: ROOT, env, ready: /listening on/ });
  await measure("bare fastify", "GET /", { url: `http://127.0.0.1:${barePort}/` }, bare.proc.pid!, bare);
  await bare.stop();

  let cliTarget: { base: string; token: string; stop: () => Promise<void> } | undefined;
  for (const backend of BACKENDS) {
    const k = await benchClawkeep(backend);
    if (!cliTarget && backend === "sqlite") cliTarget = k;
    else await k.stop();
  }
  const reference = await benchInfisical();

  let cli;
  if (cliTarget) {
    await sleep(SETTLE_MS);
    log(`CLI start-up, ${CLI_RUNS} runs each`);
    const cliEnv: NodeJS.ProcessEnv = { ...env, CLAWKEEP_ADDR: cliTarget.base, CLAWKEEP_TOKEN: cliTarget.token };
    delete cliEnv.CLAWKEEP_TOKEN_FILE;
    const [bareNode, version, get] = timeCommands([["-e", "0"], ["bin/clawkeep", "--version"], ["bin/clawkeep", "secret", "get", "bench/API_KEY"]], {
      cwd: ROOT,
      env: cliEnv,
      runs: CLI_RUNS,
    });
    cli = { bare: bareNode!, version: version!, get: get! };
    await cliTarget.stop();
  }

  const command = `${SECONDS === 10 ? "" : `BENCH_SECONDS=${SECONDS} `}npm run bench`;
  const md = renderReport({ date: new Date().toISOString().slice(0, 10), commit: commitOf(), command, seconds: SECONDS, machine: machine(), settings, cells, cli, reference, errorNotes });
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
}
