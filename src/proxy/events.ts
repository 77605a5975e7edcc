import { Counter, Gauge, Histogram, type Registry } from "prom-client";

// Metadata only, in seed 001's shape: timestamp, user_id, instance_id (the agent id), event,
// direction, bytes, latency_ms, plus status / close_code / error (a stable code) where they
// apply. Nothing else is ever passed to the logger from the proxy: no body, frame, URL, query
// value or header value, so there is nothing for a log level to reveal. One line per exchange
// or connection at info; per-message and per-chunk lines at debug/trace, behind a level check
// so the hot path builds no object when they are off.

export type Transport = "http" | "ws";
export type Direction = "upstream" | "downstream" | "both";

export interface ProxyLogger {
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  trace(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  level: string;
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const enabled = (log: ProxyLogger, level: string) => (LEVELS[log.level] ?? 30) <= LEVELS[level]!;

export interface ProxyEvent {
  user_id: string;
  instance_id: string;
  event: string;
  direction: Direction;
  bytes: number;
  latency_ms: number;
  status?: number;
  close_code?: number;
  error?: string;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export function createProxyEvents(log: ProxyLogger, registry?: Registry) {
  const registers = registry ? [registry] : [];
  const opened = new Counter({ name: "clawkeep_proxy_connections_opened_total", help: "Proxied HTTP exchanges and WebSocket connections opened", labelNames: ["transport"] as const, registers });
  const closed = new Counter({
    name: "clawkeep_proxy_connections_closed_total",
    help: "Proxied HTTP exchanges and WebSocket connections closed, by outcome (ok or an error code)",
    labelNames: ["transport", "outcome"] as const,
    registers,
  });
  const active = new Gauge({ name: "clawkeep_proxy_active_connections", help: "Proxied exchanges and connections in flight", labelNames: ["transport"] as const, registers });
  const bytes = new Counter({ name: "clawkeep_proxy_bytes_total", help: "Body and frame payload bytes relayed, by direction", labelNames: ["transport", "direction"] as const, registers });
  const latency = new Histogram({
    name: "clawkeep_proxy_upstream_latency_seconds",
    help: "Time until the gateway answered (HTTP response headers, WebSocket handshake)",
    labelNames: ["transport"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers,
  });
  const duration = new Histogram({
    name: "clawkeep_proxy_duration_seconds",
    help: "Lifetime of a proxied exchange or connection",
    labelNames: ["transport"] as const,
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
    registers,
  });

  const line = (level: "info" | "debug" | "trace" | "warn", e: ProxyEvent) => log[level]({ timestamp: new Date().toISOString(), ...e, latency_ms: round(e.latency_ms) }, "proxy");

  // Label children bound once: prom-client hashes a label object on every call otherwise, and
  // this runs several times per proxied request.
  const per = (t: Transport) => ({
    opened: opened.labels(t),
    active: active.labels(t),
    latency: latency.labels(t),
    duration: duration.labels(t),
    up: bytes.labels(t, "upstream"),
    down: bytes.labels(t, "downstream"),
    closed: new Map<string, ReturnType<typeof closed.labels>>(),
  });
  const series = { http: per("http"), ws: per("ws") };
  const closedFor = (t: Transport, outcome: string) => {
    const m = series[t].closed;
    let c = m.get(outcome);
    if (!c) m.set(outcome, (c = closed.labels(t, outcome)));
    return c;
  };

  return {
    debugEnabled: () => enabled(log, "debug"),
    traceEnabled: () => enabled(log, "trace"),
    open(t: Transport) {
      series[t].opened.inc();
      series[t].active.inc();
    },
    answered(t: Transport, ms: number) {
      series[t].latency.observe(ms / 1000);
    },
    close(t: Transport, ms: number, up: number, down: number, outcome: string) {
      const x = series[t];
      x.active.dec();
      closedFor(t, outcome).inc();
      x.duration.observe(ms / 1000);
      if (up) x.up.inc(up);
      if (down) x.down.inc(down);
    },
    info: (e: ProxyEvent) => line("info", e),
    warn: (e: ProxyEvent) => line("warn", e),
    debug: (e: ProxyEvent) => line("debug", e),
    trace: (e: ProxyEvent) => line("trace", e),
  };
}

export type ProxyEvents = ReturnType<typeof createProxyEvents>;
