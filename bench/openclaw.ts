// Benchmark (not a test) for a real OpenClaw gateway (the pinned peer of test/e2e, on Node 24)
// kept by Clawkeep, in one run on one machine:
//   1. boot-to-ready (GET /health answers 2xx) of the bare gateway on a state dir that is
//      already there, against `clawkeep openclaw up` restoring that same state (≥ 50 MB) from
//      S3 (s3rver) into an empty dir first, and against `openclaw up` on the warm dir;
//   2. chat latency (one turn, OpenAI-compatible endpoint, a local stand-in model) straight to
//      the gateway against through Clawkeep's pass-through, alternating, p50/p99.
// Run: npm run build && bash .ci/peers.sh && node --openssl-legacy-provider --import tsx bench/openclaw.ts [--write-docs]
// (--openssl-legacy-provider: s3rver's listing tokens use DES; see vitest.config.ts.)
// BENCH_BOOTS (default 3) boots per row, BENCH_TURNS (default 100) chat turns per path.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { startModelServer } from "../test/helpers/model-server.js";
import { NODE24, OPENCLAW_MJS, OPENCLAW_VERSION, PEERS_MISSING, openclawBinDir } from "../test/helpers/openclaw-peer.js";
import { freePort, filesBelow, startVm } from "../test/helpers/openclaw-vm.js";
import { cliUser, runCli, startServer } from "../test/helpers/proc.js";
import { tempDir } from "../test/helpers/runtime.js";
import { startS3 } from "../test/helpers/s3.js";
import { writeSection } from "./lib/docs.js";
import { machine } from "./lib/machine.js";

if (PEERS_MISSING) {
  console.error(`bench/openclaw: ${PEERS_MISSING}`);
  process.exit(2);
}
const BOOTS = Number(process.env.BENCH_BOOTS ?? 3);
const TURNS = Number(process.env.BENCH_TURNS ?? 100);
const MASTER_KEY = "bench-openclaw-master-key";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const log = (s: string) => process.stderr.write(`${s}\n`);

const work = tempDir("ck-bench-openclaw-");
const s3 = await startS3("bench-openclaw");
const model = await startModelServer();
const port = await freePort();
const server = await startServer(path.join(work, "clawkeep"));
const user = await cliUser(server, "ops");
const created = JSON.parse((await runCli(["agent", "create", "oc-bot", "--json"], { env: user })).stdout.toString()) as { agent_id: string; agent_secret: string };
await runCli(["secret", "put", "oc-bot/OPENAI_API_KEY"], { env: user, input: "sk-bench" });
const keys = JSON.parse((await runCli(["state", "keys", "--json"], { env: { MASTER_KEY, MASTER_KEY_FILE: "" } })).stdout.toString()) as { gateway_auth_token: string };
const token = keys.gateway_auth_token;
await runCli(["secret", "put", "oc-bot/GATEWAY_AUTH_TOKEN"], { env: user, input: token });
await runCli(["agent", "set-gateway", "oc-bot", `http://127.0.0.1:${port}`], { env: user });
const bin = openclawBinDir(work);
writeFileSync(path.join(bin, "clawkeep-agent-run"), `#!/bin/sh\nexec "${process.execPath}" "${path.resolve("bin/clawkeep")}" agent run "$@"\n`, { mode: 0o755 });
const vmEnv: Record<string, string> = {
  ...s3.env,
  CLAWKEEP_ADDR: server.url,
  CLAWKEEP_AGENT_ID: created.agent_id,
  CLAWKEEP_AGENT_SECRET: created.agent_secret,
  CLAWKEEP_TOKEN: "",
  PATH: `${bin}:${process.env.PATH}`,
  MASTER_KEY,
  MASTER_KEY_FILE: "",
  RCLONE_CRYPT_PASSWORD: "",
  RCLONE_CRYPT_PASSWORD2: "",
  S3_BUCKET: s3.bucket,
  OPENCLAW_GATEWAY_TOKEN: "",
};
const gatewayCmd = ["--", "clawkeep-agent-run", "--", "openclaw", "gateway", "--port", String(port)];

async function bootUp(local: string): Promise<{ ms: number; stop: () => Promise<number>; out: () => string }> {
  const t0 = performance.now();
  const vm = startVm(["--port", String(port), "--local", local, ...gatewayCmd], vmEnv);
  await vm.waitFor(/Gateway ready/, 180_000);
  return { ms: performance.now() - t0, stop: () => vm.stop(), out: vm.output };
}

// The state: one boot bootstraps it; the operator adds the model; a few turns fill a session.
const seed = path.join(work, "seed");
{
  const b = await bootUp(seed);
  await b.stop();
  const cfg = JSON.parse(readFileSync(path.join(seed, "openclaw.json"), "utf8")) as Record<string, unknown>;
  cfg.models = { mode: "merge", providers: { vendor: { baseUrl: model.baseUrl, apiKey: "${OPENAI_API_KEY}", api: "openai-completions", models: [{ id: "echo-1", name: "Echo", contextWindow: 32000, maxTokens: 1000 }] } } };
  cfg.agents = { defaults: { model: { primary: "vendor/echo-1" } } };
  writeFileSync(path.join(seed, "openclaw.json"), JSON.stringify(cfg, null, 2), { mode: 0o600 });
  const b2 = await bootUp(seed);
  for (let i = 0; i < 5; i++) await chat(`http://127.0.0.1:${port}`, token, "seed", `MSG-seed${i}`);
  await b2.stop();
}
// Attachments the agent keeps: incompressible, so the synced state is ≥ 50 MB (OpenClaw's own
// fresh state is ~3 MB once its regenerable cache/ and tmp/ are left out).
mkdirSync(path.join(seed, "workspace", "attachments"), { recursive: true });
for (let i = 0; i < 48; i++) writeFileSync(path.join(seed, "workspace", "attachments", `file-${i}.bin`), randomBytes(1 << 20));
{
  const b3 = await bootUp(seed); // pushes the attachments
  await b3.stop();
}
const synced = filesBelow(seed).filter((f) => !f.includes("/.clawkeep-state/") && !/^(cache|tmp)\//.test(path.relative(seed, f)));
const stateBytes = synced.reduce((a, f) => a + readFileSync(f).length, 0);
const stateFiles = synced.length;
log(`state: ${stateFiles} files, ${(stateBytes / 2 ** 20).toFixed(1)} MiB`);

async function bareBoot(dir: string): Promise<number> {
  const t0 = performance.now();
  const p = spawn(NODE24, [OPENCLAW_MJS, "gateway", "--port", String(port)], {
    env: { ...process.env, PATH: `${path.dirname(NODE24)}:${process.env.PATH}`, OPENCLAW_STATE_DIR: dir, OPENCLAW_GATEWAY_TOKEN: token, OPENAI_API_KEY: "sk-bench" },
    stdio: "ignore",
  });
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const ms = performance.now() - t0;
  p.kill("SIGTERM");
  await new Promise((r) => p.once("exit", r));
  return ms;
}

const rows: Record<string, number[]> = { bare: [], bareWarm: [], restore: [], warm: [] };
let restoreLine = "";
for (let i = 0; i < BOOTS; i++) {
  const bare = path.join(work, `bare-${i}`);
  cpSync(seed, bare, { recursive: true });
  rmSync(path.join(bare, ".clawkeep-state"), { recursive: true, force: true });
  // The first boot in a new place (as after a restore) and a second one in the same place.
  rows.bare!.push(await bareBoot(bare));
  rows.bareWarm!.push(await bareBoot(bare));
  const fresh = path.join(work, `restore-${i}`);
  const r = await bootUp(fresh);
  rows.restore!.push(r.ms);
  restoreLine = /restored [^\n]+/.exec(r.out())?.[0] ?? restoreLine;
  await r.stop();
  const w = await bootUp(fresh);
  rows.warm!.push(w.ms);
  await w.stop();
  log(`boot round ${i + 1}: bare ${rows.bare!.at(-1)!.toFixed(0)} ms, bare again ${rows.bareWarm!.at(-1)!.toFixed(0)} ms, restore ${rows.restore!.at(-1)!.toFixed(0)} ms, warm ${rows.warm!.at(-1)!.toFixed(0)} ms`);
}

async function chat(base: string, bearer: string, user: string, content: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openclaw", user, messages: [{ role: "user", content }] }),
  });
  const body = (await r.json()) as { choices?: { message?: { content?: string } }[] };
  if (r.status !== 200 || !body.choices?.[0]?.message?.content?.includes(content.split(" ")[0]!)) throw new Error(`chat ${r.status}`);
  return performance.now() - t0;
}

const running = await bootUp(path.join(work, "restore-0"));
const direct: number[] = [];
const proxied: number[] = [];
for (let i = 0; i < 5; i++) {
  await chat(`http://127.0.0.1:${port}`, token, "warm-d", `MSG-w${i}`);
  await chat(`${server.url}/v1/agents/oc-bot/gateway`, user.CLAWKEEP_TOKEN!, "warm-p", `MSG-w${i}`);
}
for (let i = 0; i < TURNS; i++) {
  // Alternating, each path on its own session of the same length.
  direct.push(await chat(`http://127.0.0.1:${port}`, token, "bench-direct", `MSG-d${i}`));
  proxied.push(await chat(`${server.url}/v1/agents/oc-bot/gateway`, user.CLAWKEEP_TOKEN!, "bench-proxied", `MSG-p${i}`));
}
await running.stop();
await server.stop();
await model.stop();
await s3.stop();
spawnSync("rm", ["-rf", work]);

const m = machine();
const f = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);
const body = `## OpenClaw gateway on Clawkeep (\`bench/openclaw.ts\`)

Measured ${new Date().toISOString().slice(0, 10)} on ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Clawkeep on Node ${m.node}, openclaw ${OPENCLAW_VERSION} on Node 24, ${m.os}. S3 is s3rver in the bench process; the model is a local stand-in answering at once, so chat figures are the gateway's and the pipe's own cost. Command: \`node --openssl-legacy-provider --import tsx bench/openclaw.ts\`.

### Boot to ready (GET /health 2xx), synced state of ${stateFiles} files, ${f1(stateBytes / 2 ** 20)} MiB; median of ${BOOTS}

| Boot | median ms | runs (ms) | vs bare |
|---|--:|---|--:|
| bare \`openclaw gateway\`, state dir copied into a new place (first boot there) | ${f(median(rows.bare!))} | ${rows.bare!.map(f).join(" / ")} | 1.00× |
| bare \`openclaw gateway\`, second boot in the same place | ${f(median(rows.bareWarm!))} | ${rows.bareWarm!.map(f).join(" / ")} | ${(median(rows.bareWarm!) / median(rows.bare!)).toFixed(2)}× |
| \`clawkeep openclaw up\` + \`agent run\`, restore from S3 into an empty dir | ${f(median(rows.restore!))} | ${rows.restore!.map(f).join(" / ")} | ${(median(rows.restore!) / median(rows.bare!)).toFixed(2)}× |
| \`clawkeep openclaw up\` + \`agent run\`, second boot in the same place (nothing to restore) | ${f(median(rows.warm!))} | ${rows.warm!.map(f).join(" / ")} | ${(median(rows.warm!) / median(rows.bare!)).toFixed(2)}× (${(median(rows.warm!) / median(rows.bareWarm!)).toFixed(2)}× the bare second boot) |

The restore itself: ${restoreLine || "n/a"} (OpenClaw's regenerable \`cache/\` and \`tmp/\` are not synced; the bare gateway has them on disk). The Clawkeep boot includes the key derivation, the bucket check, the restore, the config check, the \`agent run\` handshake and secret fetch, then the same gateway start.

### Chat turn latency, ${TURNS} turns per path, alternating (ms)

| Path | p50 | p99 | mean |
|---|--:|--:|--:|
| straight to the gateway (gateway token) | ${f1(pct(direct, 50))} | ${f1(pct(direct, 99))} | ${f1(direct.reduce((a, b) => a + b, 0) / direct.length)} |
| through Clawkeep (user's Clawkeep token) | ${f1(pct(proxied, 50))} | ${f1(pct(proxied, 99))} | ${f1(proxied.reduce((a, b) => a + b, 0) / proxied.length)} |
| added by Clawkeep | ${f1(pct(proxied, 50) - pct(direct, 50))} | ${f1(pct(proxied, 99) - pct(direct, 99))} | ${f1((proxied.reduce((a, b) => a + b, 0) - direct.reduce((a, b) => a + b, 0)) / direct.length)} |
`;
console.log(body);
if (process.argv.includes("--write-docs")) writeSection(path.resolve("docs/benchmarks.md"), "openclaw", body);
process.exit(0);
