import autocannon from "autocannon";

// One autocannon run. Latency percentiles are computed here from every response time (ms,
// fractional): autocannon's own histogram has 1 ms resolution, too coarse for sub-ms requests.

export interface LoadSpec {
  url: string;
  method?: "GET" | "PUT" | "PATCH";
  headers?: Record<string, string>;
  body?: Buffer;
  connections: number;
  seconds: number;
  /** Return every 2xx response time in `times` (for merging runs against several servers). */
  keepTimes?: boolean;
}

export interface LoadResult {
  /** 2xx responses per second. */
  rps: number;
  p50: number;
  p99: number;
  /** All responses, whatever their status. */
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  codes: Record<string, number>;
  /** Every 2xx response time (ms), sorted; only with `keepTimes`. */
  times?: Float64Array;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  let times = new Float64Array(1 << 16);
  let n = 0;
  const codes: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: spec.url,
        method: spec.method ?? "GET",
        headers: spec.headers ?? {},
        ...(spec.body ? { body: spec.body } : {}),
        connections: spec.connections,
        duration: spec.seconds,
      },
      (err, r) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        const sorted = times.subarray(0, n).sort();
        resolve({
          rps: n / r.duration,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          requests: Object.values(codes).reduce((a, b) => a + b, 0),
          non2xx: r.non2xx,
          errors: r.errors,
          timeouts: r.timeouts,
          codes,
          ...(spec.keepTimes ? { times: sorted } : {}),
        });
      },
    );
    inst.on("response", (_client, status, _bytes, ms) => {
      codes[status] = (codes[status] ?? 0) + 1;
      if (status < 200 || status > 299) return;
      if (n === times.length) {
        const bigger = new Float64Array(times.length * 2);
        bigger.set(times);
        times = bigger;
      }
      times[n++] = ms;
    });
  });
}

/** Load runs that ran at the same time against different servers, as one: req/s summed,
 * percentiles over all their response times (each run needs `keepTimes`). */
export function mergeLoads(runs: LoadResult[]): LoadResult {
  const all = new Float64Array(runs.reduce((n, r) => n + (r.times?.length ?? 0), 0));
  let at = 0;
  for (const r of runs) {
    if (!r.times) throw new Error("mergeLoads: a run was made without keepTimes");
    all.set(r.times, at);
    at += r.times.length;
  }
  all.sort();
  const codes: Record<string, number> = {};
  for (const r of runs) for (const [c, n] of Object.entries(r.codes)) codes[c] = (codes[c] ?? 0) + n;
  const sum = (f: (r: LoadResult) => number) => runs.reduce((n, r) => n + f(r), 0);
  return {
    rps: sum((r) => r.rps),
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    requests: sum((r) => r.requests),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    codes,
    times: all,
  };
}
