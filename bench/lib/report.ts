import type { StartupResult } from "./cli.js";
import type { LoadResult } from "./load.js";
import type { machine } from "./machine.js";

// Markdown for the console and for the bench:http section of docs/benchmarks.md.

export interface Cell {
  /** "bare fastify", "Clawkeep, SQLite + file blobs", … */
  server: string;
  /** "GET /", "GET", "PUT", "PATCH". */
  request: string;
  connections: number;
  r: LoadResult;
  /** CPU time (all threads) of the server process per answered request, µs; null when not measured. */
  cpuUs: number | null;
}

export interface Report {
  date: string;
  commit: string;
  command: string;
  seconds: number;
  machine: ReturnType<typeof machine>;
  settings: string[];
  cells: Cell[];
  cli?: { bare: StartupResult; version: StartupResult; get: StartupResult };
  /** Whether the reference server (Infisical) was measured. */
  reference: boolean;
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
const isBare = (c: Cell) => c.server === "bare fastify";

export function httpTable(cells: Cell[]): string {
  const out = ["| Server | Request | Conns | req/s | p50 ms | p99 ms | vs bare | server CPU µs/req | non-2xx / errors |", "|---|---|--:|--:|--:|--:|--:|--:|---|"];
  for (const c of cells) {
    const bare = cells.find((b) => isBare(b) && b.connections === c.connections);
    const vs = isBare(c) ? "100%" : bare ? pct(c.r.rps, bare.r.rps) : "–";
    out.push(`| ${c.server} | \`${c.request}\` | ${c.connections} | ${f0(c.r.rps)} | ${f2(c.r.p50)} | ${f2(c.r.p99)} | ${vs} | ${c.cpuUs === null ? "–" : f0(c.cpuUs)} | ${failures(c.r)} |`);
  }
  return out.join("\n");
}

export function cliTable(cli: NonNullable<Report["cli"]>): string {
  const out = ["| Command | median ms | min ms | vs bare node |", "|---|--:|--:|--:|"];
  for (const r of [cli.bare, cli.version, cli.get]) out.push(`| \`${r.command}\` | ${f2(r.medianMs)} | ${f2(r.minMs)} | ${(r.medianMs / cli.bare.medianMs).toFixed(2)}× |`);
  return out.join("\n");
}

function goals(r: Report): string {
  const yes = (ok: boolean) => (ok ? "yes" : "**no**");
  const lines = ["| Goal | Measured | Met |", "|---|---|---|"];
  const conns = [...new Set(r.cells.map((c) => c.connections))];
  const top = Math.max(...conns);
  for (const server of [...new Set(r.cells.filter((c) => c.server.startsWith("Clawkeep")).map((c) => c.server))]) {
    const gets = r.cells.filter((c) => c.server === server && c.request === "GET");
    const ratios = gets.map((g) => g.r.rps / (r.cells.find((b) => isBare(b) && b.connections === g.connections)?.r.rps ?? Number.NaN));
    const atTop = gets.find((g) => g.connections === top);
    lines.push(`| ${server}: secret GET ≥ 40% of the bare ceiling (at ${gets.map((g) => g.connections).join(" / ")} conns) | ${ratios.map((x) => `${(100 * x).toFixed(0)}%`).join(" / ")} | ${yes(ratios.every((x) => x >= 0.4))} |`);
    if (atTop) lines.push(`| ${server}: secret GET p99 ≤ 10 ms at ${top} connections | ${f2(atTop.r.p99)} ms | ${yes(atTop.r.p99 <= 10)} |`);
  }
  if (r.cli) {
    const vRatio = r.cli.version.medianMs / r.cli.bare.medianMs;
    const gRatio = r.cli.get.medianMs / r.cli.bare.medianMs;
    lines.push(`| \`clawkeep --version\` within 2× of bare node | ${vRatio.toFixed(2)}× | ${yes(vRatio <= 2)} |`);
    lines.push(`| \`clawkeep secret get\` within 2× of bare node | ${gRatio.toFixed(2)}× | ${yes(gRatio <= 2)} |`);
  }
  const n = r.cells.reduce((a, c) => a + bad(c.r), 0);
  lines.push(`| no non-2xx responses or errors | ${n} | ${yes(n === 0)} |`);
  return lines.join("\n");
}

export function renderReport(r: Report): string {
  const m = r.machine;
  return `## HTTP API and CLI start-up (\`bench/http.ts\`)

- **Date:** ${r.date}, at commit \`${r.commit}\`
- **Command:** \`${r.command}\`${r.reference ? " with the reference server's `INFISICAL_*` variables set" : ""}
- **Machine:** ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}, Node ${m.node}
- **Servers:** \`node bin/clawkeep serve\` on a fresh temp data dir, \`CLAWKEEP_LOG_LEVEL=warn\`${r.settings.length ? `, plus ${r.settings.map((s) => `\`${s}\``).join(", ")}` : ""}, on
  (1) embedded SQLite (WAL, \`synchronous=NORMAL\` plus an off-thread WAL fdatasync awaited
  before every answer) with the file blob store, and (2) PostgreSQL 15 on this machine with an
  s3rver blob store (its own process). The ceiling is a bare fastify 5 \`GET /\` →
  \`{"hello":"world"}\` (no logger) in its own process.${r.reference ? ` The reference secrets server is Infisical's backend (see "Reference server" below).` : ""}
- **Load:** autocannon in the benchmark process on the same machine (it competes with the
  servers for the two cores), ${r.seconds} s per cell after a 1 s warm-up, no pipelining. req/s
  counts 2xx answers; latencies are exact percentiles of all 2xx response times. GET reads one
  64-byte secret (JSON answer); PUT stores a new 64-byte version of the same secret each time.
  "server CPU µs/req" is the CPU time (user + system, all threads, from /proc) of the server's
  own process per answer; PostgreSQL's and s3rver's processes are not in it.
- **What a request costs the server:** every secret GET appends an audit event (group-committed:
  reads that arrive together share one transaction and one durable commit) and waits for it to
  be durable; every PUT writes the blob durably (file: fsync of file and directory; S3: the
  store's acknowledgement), then commits the version row and its audit event durably.

### HTTP throughput and latency

${httpTable(r.cells)}
${r.errorNotes.length ? `\nFailed requests and what the server logged for them:\n\n${r.errorNotes.map((n) => `- ${n}`).join("\n")}\n` : ""}${
    r.cli
      ? `
### CLI start-up

Wall time from spawn to exit, median of ${r.cli.bare.runs} runs per command, the three commands
taking turns; \`secret get\` reads the secret above from the running SQLite server.

${cliTable(r.cli)}
`
      : ""
  }
### Goals

${goals(r)}
`;
}
