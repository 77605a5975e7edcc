import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { hashMessage } from "viem";
import { writeSection } from "./lib/docs.js";
import { machine } from "./lib/machine.js";
import { freePort, startChild, stopAll } from "./lib/proc.js";
import { cpuMs } from "./lib/cpu.js";

// Signer benchmark (not a test): end-to-end sign flows per second (sign-intent + sign of an
// EIP-191 message, over HTTP, against a real `clawkeep serve` on SQLite) at 1/10/50 connections,
// beside the raw secp256k1 signatures per second of the same library (@noble/curves) on one
// core, in the same run. Settings: BENCH_SECONDS (default 10), BENCH_CONNECTIONS ("1,10,50"),
// BENCH_MODES ("worker,enclave"), BENCH_PROFILE_DIR (server CPU profiles), BENCH_WRITE_DOCS=0.
// Run: npm run build && node --import tsx bench/signer.ts

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "clawkeep");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? "1,10,50").split(",").map(Number);
const RAW_SECONDS = 3;

function post(agent: http.Agent, url: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers } }, (res) => {
      let b = "";
      res.on("data", (d: Buffer) => (b += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on("error", reject);
    req.end(text);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};


function rawSigns(seconds: number): number {
  const sk = secp256k1.utils.randomSecretKey();
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) secp256k1.sign(Buffer.from(hashMessage(`bench ${n++}`).slice(2), "hex"), sk, { prehash: false, lowS: true, format: "recovered" });
  }
  return n / seconds;
}

async function flows(url: string, auth: Record<string, string>, id: string, conns: number, seconds: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  let seq = 0;
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (performance.now() < end) {
        const payload = { kind: "eip191", message: `bench flow ${seq++}` };
        const t0 = performance.now();
        const i = await post(agent, `${url}/v1/identities/${id}/sign-intent`, { payload }, auth);
        const s = i.status === 200 ? await post(agent, `${url}/v1/identities/${id}/sign`, { ticket: (JSON.parse(i.body) as { ticket: string }).ticket, payload }, auth) : i;
        if (s.status === 200) lat.push(performance.now() - t0);
        else errors++;
      }
    }),
  );
  agent.destroy();
  return { perSecond: lat.length / seconds, p50: pct(lat, 50), p99: pct(lat, 99), errors };
}

// The limits still count every request (two meta-store upserts per flow); set high so the bench
// measures the signer rather than a 429.
const LIMITS = { RATE_LIMIT_PER_USER: "1000000", RATE_LIMIT_PER_IDENTITY_SIGN: "1000000", RATE_LIMIT_WINDOW_MS: "1000" };
// BENCH_PROFILE_DIR: the server writes a V8 CPU profile there when it stops (where the time goes).
const PROFILE = process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
const MODES = (process.env.BENCH_MODES ?? "worker,enclave").split(",") as ("worker" | "enclave")[];

async function runMode(mode: "worker" | "enclave"): Promise<string[]> {
  const dir = mkdtempSync(path.join(tmpdir(), `ck-bench-signer-${mode}-`));
  const sdir = mkdtempSync(path.join(tmpdir(), "ck-bench-signerd-"));
  try {
    let extra: Record<string, string> = {};
    if (mode === "enclave") {
      const key = "bench-internal-api-key-0123456789abcdef";
      const att = JSON.parse(execFileSync(process.execPath, [BIN, "signerd", "--dir", sdir, "--print-attestation"], { encoding: "utf8" })) as Record<string, string>;
      await startChild("signerd", [BIN, "signerd", "--dir", sdir], { env: { ...process.env, INTERNAL_API_KEY: key }, cwd: ROOT, ready: /listening on/ });
      extra = { SIGNER_MODE: "enclave", ENCLAVE_BASE_URL: `unix:${path.join(sdir, "signerd.sock")}`, INTERNAL_API_KEY: key, SIGNERD_ATTESTATION_KEY: att.SIGNERD_ATTESTATION_KEY!, SIGNERD_MEASUREMENTS: att.SIGNERD_MEASUREMENTS! };
    }
    const port = await freePort();
    const server = await startChild(`server-${mode}`, [...PROFILE, BIN, "serve", "--data-dir", dir, "--port", String(port)], { env: { ...process.env, CLAWKEEP_LOG_LEVEL: "warn", ...LIMITS, ...extra }, cwd: ROOT, ready: /listening on/ });
    const url = `http://127.0.0.1:${port}`;
    const setup = new http.Agent({ keepAlive: true });
    const admin = { authorization: `Bearer ${readFileSync(path.join(dir, "admin.token"), "utf8").trim()}` };
    const user = JSON.parse((await post(setup, `${url}/v1/users`, { name: "bench" }, admin)).body) as { token: string };
    const auth = { authorization: `Bearer ${user.token}` };
    const id = (JSON.parse((await post(setup, `${url}/v1/identities`, { curve: "secp256k1" }, auth)).body) as { id: string }).id;
    // A policy, so every flow reads and checks one (messages allowed; value limits do not apply to them).
    await put(setup, `${url}/v1/identities/${id}/policy`, { allow_messages: true, max_value_per_tx: "1000000000000000000" }, auth);
    await flows(url, auth, id, 4, 2); // warm-up
    const rows: string[] = [];
    for (const c of CONNECTIONS) {
      // The bare rate is taken just before and just after each row and averaged, so a machine
      // whose speed drifts (a shared host) is compared with itself.
      const before = rawSigns(RAW_SECONDS);
      const cpu0 = cpuMs(server.proc.pid!);
      const own0 = process.cpuUsage();
      const r = await flows(url, auth, id, c, SECONDS);
      const serverCpuPerFlow = (cpuMs(server.proc.pid!) - cpu0) / (r.perSecond * SECONDS);
      const own = process.cpuUsage(own0);
      const loadCpuPerFlow = (own.user + own.system) / 1000 / (r.perSecond * SECONDS);
      const raw = (before + rawSigns(RAW_SECONDS)) / 2;
      rows.push(`| ${mode} | ${c} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${raw.toFixed(0)} | ${((100 * r.perSecond) / raw).toFixed(0)}% | ${serverCpuPerFlow.toFixed(2)} | ${loadCpuPerFlow.toFixed(2)} | ${r.errors} |`);
      process.stderr.write(`bench: ${mode}, ${c} connections: ${r.perSecond.toFixed(0)} flows/s\n`);
    }
    return rows;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    rmSync(sdir, { recursive: true, force: true });
  }
}

function put(agent: http.Agent, url: string, body: unknown, headers: Record<string, string>): Promise<void> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "PUT", agent, headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(text);
  });
}

async function main() {
  const rows: string[] = [];
  for (const mode of MODES) rows.push(...(await runMode(mode)));
  const m = machine();
  const body = `## Signer: sign-intent + sign (\`bench/signer.ts\`)

Measured ${new Date().toISOString().slice(0, 10)} on ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, ${m.os}. One \`clawkeep serve\` on SQLite (embedded default); in enclave mode with \`clawkeep signerd\` on a unix socket beside it. Each flow is \`POST …/sign-intent\` then \`POST …/sign\` of a fresh EIP-191 message on an identity with a policy: two audited requests, one rate-limit statement each (the user's counter; on sign the identity's too), freeze and policy checks, one ticket spent in the meta store, one signature (worker: the key opened in the API process and used on its signing thread; enclave: a request to signerd, whose signature the API verifies). The peer is the raw \`secp256k1.sign\` of @noble/curves (the library both sign with) in this process, on one core, over EIP-191 hashes, measured for ${RAW_SECONDS} s just before and just after each row (the mean is the row's "raw signatures/s"); one raw signature costs ${(1000 / rawSigns(1)).toFixed(2)} ms of CPU. "API CPU ms per flow" is the CPU time (user + system, all threads, from /proc) the \`clawkeep serve\` process used per completed flow; "load generator" is this process's, which shares the two cores. ${SECONDS} s per row.

| mode | connections | flows/s | p50 ms | p99 ms | raw signatures/s | flows vs raw | API CPU ms per flow | load generator CPU ms per flow | errors |
|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|
${rows.join("\n")}`;
  process.stdout.write(`${body}\n`);
  if (process.env.BENCH_WRITE_DOCS !== "0") writeSection(path.join(ROOT, "docs", "benchmarks.md"), "signer", body);
}

await main();
