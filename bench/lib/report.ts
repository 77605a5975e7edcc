import type { StartupResult } from "./cli.js";
import type { LoadResult } from "./load.js";
import type { machine } from "./machine.js";

// Markdown for the console and for the bench:http section of docs/benchmarks.md.

export interface HttpRow {
  connections: number;
  bare: LoadResult;
  get: LoadResult;
  put: LoadResult;
}

export interface Report {
  date: string;
  commit: string;
  command: string;
  seconds: number;
  machine: ReturnType<typeof machine>;
  settings: string[];
  rows: HttpRow[];
  cli: { bare: StartupResult; version: StartupResult; get: StartupResult };
  /** One line per cell that had non-2xx answers or errors, with the server's error lines. */
  errorNotes: string[];
}

const f0 = (n: number) => Math.round(n).toLocaleString("en-US");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");
const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(0)}%`;
const bad = (r: LoadResult) => r.non2xx + r.errors + r.timeouts;
const codes = (r: LoadResult) =>
  Object.entries(r.codes)
    .filter(([c]) => !c.startsWith("2"))
    .map(([c, n]) => `${n}×${c}`)
    .join(", ");
const failures = (r: LoadResult) => (bad(r) === 0 ? "0" : `**${r.non2xx} non-2xx${codes(r) ? ` (${codes(r)})` : ""}, ${r.errors} errors, ${r.timeouts} timeouts**`);

export function httpTable(rows: HttpRow[]): string {
  const out = ["| Endpoint | Conns | req/s | p50 ms | p99 ms | vs bare | non-2xx / errors |", "|---|--:|--:|--:|--:|--:|---|"];
  const line = (name: string, c: number, r: LoadResult, bare: LoadResult) =>
    out.push(`| ${name} | ${c} | ${f0(r.rps)} | ${f2(r.p50)} | ${f2(r.p99)} | ${name.startsWith("bare") ? "100%" : pct(r.rps, bare.rps)} | ${failures(r)} |`);
  for (const [label, key] of [["bare fastify `GET /`", "bare"], ["secret `GET`", "get"], ["secret `PUT`", "put"]] as const) {
    for (const row of rows) line(label, row.connections, row[key], row.bare);
  }
  return out.join("\n");
}

export function cliTable(cli: Report["cli"]): string {
  const out = ["| Command | median ms | min ms | vs bare node |", "|---|--:|--:|--:|"];
  for (const r of [cli.bare, cli.version, cli.get]) out.push(`| \`${r.command}\` | ${f2(r.medianMs)} | ${f2(r.minMs)} | ${(r.medianMs / cli.bare.medianMs).toFixed(2)}× |`);
  return out.join("\n");
}

function goals(r: Report): string {
  const yes = (ok: boolean) => (ok ? "yes" : "**no**");
  const at50 = r.rows.find((x) => x.connections === 50) ?? r.rows[r.rows.length - 1]!;
  const ratios = r.rows.map((x) => x.get.rps / x.bare.rps);
  const vRatio = r.cli.version.medianMs / r.cli.bare.medianMs;
  const gRatio = r.cli.get.medianMs / r.cli.bare.medianMs;
  return [
    "| Goal | Measured | Met |",
    "|---|---|---|",
    `| secret GET ≥ 40% of the bare ceiling (at ${r.rows.map((x) => x.connections).join(" / ")} conns) | ${ratios.map((x) => `${(100 * x).toFixed(0)}%`).join(" / ")} | ${yes(ratios.every((x) => x >= 0.4))} |`,
    `| secret GET p99 ≤ 10 ms at ${at50.connections} connections | ${f2(at50.get.p99)} ms | ${yes(at50.get.p99 <= 10)} |`,
    `| \`clawkeep --version\` within 2× of bare node | ${vRatio.toFixed(2)}× | ${yes(vRatio <= 2)} |`,
    `| \`clawkeep secret get\` within 2× of bare node | ${gRatio.toFixed(2)}× | ${yes(gRatio <= 2)} |`,
    `| no non-2xx responses or errors | ${r.rows.reduce((n, x) => n + bad(x.get) + bad(x.put) + bad(x.bare), 0)} | ${yes(r.rows.every((x) => bad(x.get) + bad(x.put) + bad(x.bare) === 0))} |`,
  ].join("\n");
}

export function renderReport(r: Report): string {
  const m = r.machine;
  return `## HTTP API and CLI start-up (\`bench/http.ts\`)

- **Date:** ${r.date}, at commit \`${r.commit}\`
- **Command:** \`${r.command}\`
- **Machine:** ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}, Node ${m.node}
- **Server:** \`node bin/clawkeep serve\` on a fresh temp data dir (embedded SQLite with WAL and
  \`synchronous=NORMAL\` plus an off-thread WAL fdatasync awaited before every answer, file blob store), \`CLAWKEEP_LOG_LEVEL=warn\`${r.settings.length ? `, plus ${r.settings.map((s) => `\`${s}\``).join(", ")}` : ""}.
- **Load:** autocannon in the benchmark process on the same machine (it competes with the
  server for CPU), ${r.seconds} s per cell after a 1 s warm-up, no pipelining. req/s counts 2xx
  answers; latencies are exact percentiles of all 2xx response times. GET reads one 64-byte
  secret (JSON answer); PUT stores a new 64-byte version of the same secret each time. The
  ceiling is a bare fastify 5 \`GET /\` → \`{"hello":"world"}\` (no logger) in its own process.
- **What a request costs the server:** every secret GET appends an audit event (group-committed:
  reads that arrive together share one transaction and one WAL sync) and waits for it to be
  durable; every PUT fsyncs the blob file and its directory, then commits the version row and
  its audit event and waits for the WAL sync.

### HTTP throughput and latency

${httpTable(r.rows)}
${r.errorNotes.length ? `\nFailed requests and what the server logged for them:\n\n${r.errorNotes.map((n) => `- ${n}`).join("\n")}\n` : ""}
### CLI start-up

Wall time from spawn to exit, median of ${r.cli.bare.runs} runs per command, the three commands
taking turns; \`secret get\` reads the secret above from the running server.

${cliTable(r.cli)}

### Goals

${goals(r)}
`;
}
