// `node --import tsx bench/proxy.ts`: the pass-through's cost, in one run on one machine.
// HTTP with wrk at 50 connections: straight to the upstream, through a bare @fastify/http-proxy,
// and through Clawkeep's proxy (user-token auth, agent lookup, gateway credential, metadata
// logging at info, metrics). WebSocket echo at 1 and 50 connections: straight to the upstream,
// through a bare `ws` relay, and through Clawkeep. Each server is its own process. A benchmark,
// not a test: it prints a markdown report and rewrites the bench:proxy section of
// docs/benchmarks.md.
//
// Settings (env): BENCH_SECONDS (10) per cell, BENCH_WRK_CONNECTIONS (50), BENCH_WRK_THREADS (2),
// BENCH_WS_CONNECTIONS ("1,50"), BENCH_ROUNDS (3: the three paths are measured in turn this many
// times and each cell reports its median round, which damps a busy machine's noise),
// BENCH_WRITE_DOCS=0 to leave docs/ alone, BENCH_CLAWKEEP_NODE_ARGS for Node flags to Clawkeep's
// process only (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", which NODE_OPTIONS does not allow).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";
import { call } from "./lib/api.js";
import { writeSection } from "./lib/docs.js";
import { percentile } from "./lib/load.js";
import { machine } from "./lib/machine.js";
import { freePort, killAllSync, startChild, stopAll } from "./lib/proc.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const WRK_C = Number(env.BENCH_WRK_CONNECTIONS ?? 50);
const WRK_T = Number(env.BENCH_WRK_THREADS ?? 2);
const WS_CONNS = (env.BENCH_WS_CONNECTIONS ?? "1,50").split(",").map(Number);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const SETTLE_MS = 1500;
const median = <T extends { rps: number }>(rs: T[]): T => [...rs].sort((a, b) => a.rps - b.rps)[Math.floor(rs.length / 2)]!;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

const tmp = mkdtempSync(path.join(os.tmpdir(), "clawkeep-proxy-bench-"));
process.on("exit", () => {
  killAllSync();
  rmSync(tmp, { recursive: true, force: true });
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

interface HttpResult {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

// The token reaches wrk through its environment and a Lua script, never its argv.
const WRK_SCRIPT = path.join(tmp, "auth.lua");
writeFileSync(WRK_SCRIPT, 'local a = os.getenv("BENCH_AUTH")\nif a and a ~= "" then wrk.headers["Authorization"] = a end\n');

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

function wrk(url: string, auth: string, seconds: number, conns = WRK_C, threads = WRK_T): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const p = spawn("wrk", [`-t${threads}`, `-c${conns}`, `-d${seconds}s`, "--latency", "-s", WRK_SCRIPT, url], { env: { ...env, BENCH_AUTH: auth } });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", reject);
    p.on("close", () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const pct = (q: string) => toMs(new RegExp(`^\\s+${q}%\\s+(\\S+)`, "m").exec(out)?.[1] ?? "");
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const errors = se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      if (!Number.isFinite(rps)) return reject(new Error(`wrk output not understood:\n${out}`));
      resolve({ rps, p50: pct("50"), p99: pct("99"), non2xx, errors });
    });
  });
}

interface WsResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** n connections, each sending a 64-byte message and waiting for its echo, for `seconds`. */
async function wsEcho(url: string, headers: Record<string, string>, n: number, seconds: number): Promise<WsResult> {
  const msg = Buffer.alloc(64, 0x62);
  const socks = await Promise.all(
    Array.from({ length: n }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, { headers, perMessageDeflate: false });
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    })),
  );
  let times = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    socks.map(
      (ws) =>
        new Promise<void>((resolve) => {
          let t0 = 0;
          const send = () => {
            if (performance.now() >= end) return resolve();
            t0 = performance.now();
            ws.send(msg, { binary: true });
          };
          ws.on("message", () => {
            if (count === times.length) {
              const bigger = new Float64Array(times.length * 2);
              bigger.set(times);
              times = bigger;
            }
            times[count++] = performance.now() - t0;
            send();
          });
          ws.on("error", () => {
            errors++;
            resolve();
          });
          send();
        }),
    ),
  );
  for (const ws of socks) ws.close();
  const sorted = times.subarray(0, count).sort();
  return { rps: count / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), errors };
}

const f0 = (n: number) => Math.round(n).toLocaleString("en-US");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

async function main() {
  const node = ["--import", "tsx"];
  const upPort = await freePort();
  const upstream = await startChild("upstream", [...node, "bench/proxy/upstream.ts", String(upPort)], { cwd: ROOT, env, ready: /listening on/ });
  const upUrl = `http://127.0.0.1:${upPort}`;
  const barePort = await freePort();
  const bare = await startChild("bare-http-proxy", [...node, "bench/proxy/bare-http-proxy.ts", String(barePort), upUrl], { cwd: ROOT, env, ready: /listening on/ });
  const relayPort = await freePort();
  const relay = await startChild("bare-ws-relay", [...node, "bench/proxy/bare-ws-relay.ts", String(relayPort), upUrl.replace("http", "ws")], { cwd: ROOT, env, ready: /listening on/ });

  const dataDir = path.join(tmp, "data");
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serverEnv: NodeJS.ProcessEnv = { ...env, CLAWKEEP_LOG_LEVEL: "info", CLAWKEEP_PROXY_MAX_CONNECTIONS_PER_USER: "10000" };
  const server = await startChild("clawkeep", [...(env.BENCH_CLAWKEEP_NODE_ARGS ?? "").split(" ").filter(Boolean), "bin/clawkeep", "serve", "--data-dir", dataDir, "--port", String(port)], { cwd: ROOT, env: serverEnv, ready: /listening on/, stdoutFile: path.join(tmp, "clawkeep.log") });
  const admin = readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  const { token } = (await call(base, admin, "POST", "/v1/users", { name: "bench" })) as { token: string };
  await call(base, token, "POST", "/v1/agents", { name: "bot" });
  await call(base, token, "PUT", "/v1/agents/bot/gateway", { url: upUrl });
  await call(base, token, "PUT", "/v1/secrets/bot/GATEWAY_AUTH_TOKEN", Buffer.from("gateway-credential-for-the-bench"));
  const auth = `Bearer ${token}`;

  const targets = [
    { name: "direct to the upstream", url: `${upUrl}/v1/chat`, auth: "" },
    { name: "bare @fastify/http-proxy", url: `http://127.0.0.1:${barePort}/gw/v1/chat`, auth: "" },
    { name: "Clawkeep proxy (auth + metadata log)", url: `${base}/v1/agents/bot/gateway/v1/chat`, auth },
  ];
  const rounds: HttpResult[][] = targets.map(() => []);
  for (const t of targets) await wrk(t.url, t.auth, 2); // warm-up: JIT, keep-alive pools, credential cache
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      await sleep(SETTLE_MS);
      server.drain();
      const r = await wrk(t.url, t.auth, SECONDS);
      log(`round ${round + 1} ${t.name}: ${f0(r.rps)} req/s, p50 ${f2(r.p50)} ms, p99 ${f2(r.p99)} ms, non-2xx ${r.non2xx}, errors ${r.errors}`);
      rounds[i]!.push(r);
    }
  }
  const http = rounds.map(median);
  const logLines = server.drain().split("\n").filter((l) => l.includes('"event":"http_response"')).length;

  // One request at a time: what a single exchange pays for the hop, without the queueing that
  // 50 connections on two shared cores add. Median round by p99 here (the figure of interest).
  const single: HttpResult[][] = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      await sleep(SETTLE_MS);
      const r = await wrk(t.url, t.auth, SECONDS, 1, 1);
      log(`round ${round + 1} c=1 ${t.name}: ${f0(r.rps)} req/s, p50 ${f2(r.p50)} ms, p99 ${f2(r.p99)} ms`);
      single[i]!.push(r);
    }
  }
  const byP99 = (rs: HttpResult[]) => [...rs].sort((a, b) => a.p99 - b.p99)[Math.floor(rs.length / 2)]!;
  const http1 = single.map(byP99);

  const wsTargets: { name: string; url: string; headers: Record<string, string> }[] = [
    { name: "direct to the upstream", url: upUrl.replace("http", "ws") + "/", headers: {} },
    { name: "bare `ws` relay", url: `ws://127.0.0.1:${relayPort}/`, headers: {} },
    { name: "Clawkeep proxy (auth + metadata log)", url: `${base.replace("http", "ws")}/v1/agents/bot/gateway/ws`, headers: { authorization: auth } },
  ];
  const ws: { conns: number; res: WsResult[] }[] = [];
  for (const n of WS_CONNS) {
    const per: WsResult[][] = wsTargets.map(() => []);
    for (const t of wsTargets) await wsEcho(t.url, t.headers, n, 1);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, t] of wsTargets.entries()) {
        await sleep(SETTLE_MS);
        const r = await wsEcho(t.url, t.headers, n, SECONDS);
        log(`round ${round + 1} ws c=${n} ${t.name}: ${f0(r.rps)} msg/s, p50 ${f2(r.p50)} ms, p99 ${f2(r.p99)} ms, errors ${r.errors}`);
        per[i]!.push(r);
      }
    }
    ws.push({ conns: n, res: per.map(median) });
  }
  await Promise.all([server.stop(), bare.stop(), relay.stop(), upstream.stop()]);

  const m = machine();
  const [direct, bareR, ck] = http as [HttpResult, HttpResult, HttpResult];
  const lines = [
    "## Proxy pass-through (`bench/proxy.ts`)",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} on ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, ${m.os}. Every server is its own process on this machine, as are wrk and the WebSocket client; ${SECONDS} s per measurement after a warm-up, the three paths measured in turn ${ROUNDS} times, each cell the median round (by throughput). Command: \`${SECONDS === 10 ? "" : `BENCH_SECONDS=${SECONDS} `}${ROUNDS === 3 ? "" : `BENCH_ROUNDS=${ROUNDS} `}node --import tsx bench/proxy.ts\`.`,
    "",
    `### HTTP, wrk -t${WRK_T} -c${WRK_C} (GET, ${Buffer.byteLength(JSON.stringify({ ok: true, reply: "x".repeat(64) }))}-byte JSON answer)`,
    "",
    "| Path | req/s | p50 ms | p99 ms | p99 added over direct | req/s vs bare proxy | non-2xx / errors |",
    "|---|--:|--:|--:|--:|--:|---|",
    ...targets.map((t, i) => {
      const r = http[i]!;
      return `| ${t.name} | ${f0(r.rps)} | ${f2(r.p50)} | ${f2(r.p99)} | ${i === 0 ? "–" : `${f2(r.p99 - direct.p99)} ms`} | ${i === 0 ? "–" : ratio(r.rps, bareR.rps)} | ${r.non2xx} / ${r.errors} |`;
    }),
    "",
    `Clawkeep logged ${f0(logLines)} \`http_response\` lines (info) in its last measured run: the metadata log was on. Rounds (req/s): ${targets.map((t, i) => `${t.name} ${rounds[i]!.map((r) => f0(r.rps)).join(" / ")}`).join("; ")}.`,
    "",
    "### HTTP, one request at a time (wrk -t1 -c1; each cell the median round by p99)",
    "",
    "| Path | req/s | p50 ms | p99 ms | p50 added over direct | p99 added over direct |",
    "|---|--:|--:|--:|--:|--:|",
    ...targets.map((t, i) => {
      const r = http1[i]!;
      return `| ${t.name} | ${f0(r.rps)} | ${f2(r.p50)} | ${f2(r.p99)} | ${i === 0 ? "–" : `${f2(r.p50 - http1[0]!.p50)} ms`} | ${i === 0 ? "–" : `${f2(r.p99 - http1[0]!.p99)} ms`} |`;
    }),
    "",
    "### WebSocket echo (64-byte binary message, one in flight per connection)",
    "",
    "| Conns | Path | msg/s | p50 ms | p99 ms | p99 added over direct | msg/s vs bare relay |",
    "|--:|---|--:|--:|--:|--:|--:|",
    ...ws.flatMap((row) =>
      wsTargets.map((t, i) => {
        const r = row.res[i]!;
        return `| ${row.conns} | ${t.name} | ${f0(r.rps)} | ${f2(r.p50)} | ${f2(r.p99)} | ${i === 0 ? "–" : `${f2(r.p99 - row.res[0]!.p99)} ms`} | ${i === 0 ? "–" : ratio(r.rps, row.res[1]!.rps)} |`;
      }),
    ),
    "",
    "### Against the aims",
    "",
    `- HTTP at ${WRK_C} connections: Clawkeep ran at ${ratio(ck.rps, bareR.rps)} the bare @fastify/http-proxy's req/s (aim ≥ 1.00×) and added ${f2(ck.p99 - direct.p99)} ms to the direct p99 (the bare proxy added ${f2(bareR.p99 - direct.p99)} ms).`,
    `- HTTP one request at a time: Clawkeep added ${f2(http1[2]!.p99 - http1[0]!.p99)} ms to the direct p99 (aim ≤ 2 ms; the bare proxy added ${f2(http1[1]!.p99 - http1[0]!.p99)} ms).`,
    ...ws.map((row) => `- WebSocket at ${row.conns} connection${row.conns === 1 ? "" : "s"}: Clawkeep ran at ${ratio(row.res[2]!.rps, row.res[1]!.rps)} the bare relay's messages/s, p99 ${f2(row.res[2]!.p99 - row.res[0]!.p99)} ms over direct.`),
  ];
  const md = lines.join("\n");
  process.stdout.write(`\n${md}\n`);
  if (env.BENCH_WRITE_DOCS !== "0") {
    writeSection(path.join(ROOT, "docs", "benchmarks.md"), "proxy", md);
    log("updated docs/benchmarks.md");
  }
}

try {
  await main();
} finally {
  await stopAll();
}
