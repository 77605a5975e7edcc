import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import { performance } from "node:perf_hooks";
import { ClawkeepError, ERROR_CODES, type ErrorCode } from "../errors.js";
import { assertHostAllowed, RefusedAddressError } from "./address.js";
import type { ProxyEvents } from "./events.js";
import { requestHeaders, responseHeaders } from "./headers.js";
import type { ProxyService, Target } from "./service.js";

// HTTP (and SSE) pass-through. Bodies are piped both ways, so a slow reader pauses the other
// side through ordinary stream backpressure and nothing is held beyond the streams' own
// high-water marks; SSE needs nothing special because every chunk is written as it arrives.

export const errorBody = (code: ErrorCode, message: string, details?: Record<string, string | number>) => JSON.stringify({ error: { ...details, code, message } });

export function sendProxyError(res: ServerResponse, code: ErrorCode, message: string, details?: Record<string, string | number>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(code, message, details);
  res.writeHead(ERROR_CODES[code].status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The stable code for an upstream failure (the error's own text never reaches the client or the log). */
export function upstreamErrorCode(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof RefusedAddressError || (err as { code?: string } | undefined)?.code === "ECLAWKEEP_REFUSED_ADDRESS") return { code: "gateway_address_refused", message: "the gateway address is refused (link-local or metadata)" };
  if (err instanceof ClawkeepError) return { code: err.code, message: err.message };
  const c = (err as NodeJS.ErrnoException | undefined)?.code;
  if (c === "ETIMEDOUT" || c === "ECLAWKEEP_TIMEOUT" || c === "UND_ERR_CONNECT_TIMEOUT" || c === "UND_ERR_HEADERS_TIMEOUT" || c === "UND_ERR_BODY_TIMEOUT") return { code: "gateway_timeout", message: "the gateway did not answer in time" };
  return { code: "gateway_unreachable", message: "the gateway could not be reached" };
}

const timeoutError = () => Object.assign(new Error("timeout"), { code: "ECLAWKEEP_TIMEOUT" });

// What follows "/v1/agents/<name>/gateway" in a request target is appended to the gateway URL's
// path, so it must not be able to climb out of that path or change the host: no "." or ".."
// segment (also percent-encoded, or ended by ";" or "#"), no backslash, no encoded slash or
// backslash (a gateway that decodes them would resolve them), no fragment, and it must start
// with "/" or "?" (anything else would be glued onto the base path or the host).
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|\?|;|#|$)/i;
const UNSAFE = /[\\#]|%2f|%5c/i;

/** The part of `url` after `/v1/agents/<rawName>/gateway`, checked; throws `bad_request` otherwise. */
export function gatewayRest(url: string, rawName: string): string {
  const prefix = `/v1/agents/${rawName}/gateway`;
  if (!url.startsWith(prefix)) throw new ClawkeepError("bad_request", "not a gateway path");
  const rest = url.slice(prefix.length);
  if (rest !== "" && rest[0] !== "/" && rest[0] !== "?") throw new ClawkeepError("bad_request", "not a gateway path");
  const q = rest.indexOf("?");
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  if (UNSAFE.test(pathPart) || DOT_SEGMENT.test(pathPart) || rest.includes("#")) throw new ClawkeepError("bad_request", "dot segments, backslashes, encoded slashes and fragments are not allowed in a gateway path");
  return rest;
}

/** The upstream URL for `rest`, refused unless it stays on the gateway's host and under its path. */
export function upstreamTarget(u: URL, basePath: string, rest: string, scheme: string): string {
  const target = `${scheme}//${u.host}${basePath}${rest}`;
  const t = new URL(target);
  if (t.host !== u.host || !(t.pathname === basePath || t.pathname.startsWith(`${basePath}/`) || (basePath === "" && t.pathname === "/"))) {
    throw new ClawkeepError("bad_request", "the gateway path leaves the gateway URL");
  }
  return target;
}

export function createHttpForwarder(svc: ProxyService, events: ProxyEvents) {
  const s = svc.settings;

  function forward(t: Target, req: IncomingMessage, res: ServerResponse): void {
    // The client may have left while its authentication was checked: its "close" has already
    // fired and would never reach the listener below, so the slot is given back here.
    if (res.destroyed || req.socket.destroyed) {
      t.release();
      return;
    }
    const start = performance.now();
    const rawUrl = req.url ?? "/";
    let rest: string;
    try {
      rest = gatewayRest(rawUrl, rawUrl.split("/", 4)[3] ?? "");
      upstreamTarget(t.url, t.basePath, rest, t.url.protocol);
    } catch (e) {
      t.release();
      const c = e instanceof ClawkeepError ? e : new ClawkeepError("bad_request", "bad gateway path");
      return sendProxyError(res, c.code, c.message);
    }
    events.open("http");
    let up = 0;
    let down = 0;
    let status = 0;
    let outcome = "ok";
    let done = false;
    let abort: ((e?: Error) => void) | undefined;
    const trace = events.traceEnabled();
    const finish = () => {
      if (done) return;
      done = true;
      t.release();
      const ms = performance.now() - start;
      events.close("http", ms, up, down, outcome);
      const ev = { user_id: t.userId, instance_id: t.agentId, event: "http_response", direction: "downstream" as const, bytes: down, latency_ms: ms, status };
      if (outcome === "ok") events.info(ev);
      else events.warn({ ...ev, error: outcome });
    };
    const fail = (err: unknown) => {
      if (done) return;
      const e = upstreamErrorCode(err);
      outcome = e.code;
      if (!res.headersSent) status = ERROR_CODES[e.code].status;
      sendProxyError(res, e.code, e.message);
      finish();
    };

    const u = t.url;
    try {
      assertHostAllowed(u.hostname, s.allowLinkLocal);
    } catch (e) {
      // Registered while allowed, refused now: the address check also runs at connect time.
      return fail(e);
    }
    // A body is streamed only when the request has one; undici frames it (length or chunked).
    const hasBody = req.headers["content-length"] !== undefined ? req.headers["content-length"] !== "0" : req.headers["transfer-encoding"] !== undefined;
    // The body is handed to undici as an async iterable, so counting it cannot start the stream
    // flowing before undici reads it.
    const body = async function* () {
      for await (const c of req as AsyncIterable<Buffer>) {
        up += c.length;
        if (trace) events.trace({ user_id: t.userId, instance_id: t.agentId, event: "http_chunk", direction: "upstream", bytes: c.length, latency_ms: performance.now() - start });
        yield c;
      }
      if (events.debugEnabled()) events.debug({ user_id: t.userId, instance_id: t.agentId, event: "http_request", direction: "upstream", bytes: up, latency_ms: performance.now() - start });
    };
    if (!hasBody) req.resume();
    res.on("close", () => {
      if (!res.writableFinished && !done) {
        // The client went away: stop the gateway's side too.
        outcome = "client_closed";
        abort?.();
      }
      finish();
    });

    svc.dispatcher.dispatch(
      {
        origin: u.origin,
        path: t.basePath + rest,
        method: req.method as never,
        headers: requestHeaders(req.rawHeaders, { credentialHeader: s.credentialHeader, credentialValue: t.credentialValue, host: u.host, framing: false }),
        body: hasBody ? (body() as never) : null,
      },
      {
        onConnect(a) {
          abort = a;
        },
        onHeaders(statusCode, rawHeaders, resume, statusText) {
          if (done) return false;
          status = statusCode;
          events.answered("http", performance.now() - start);
          const raw: string[] = new Array(rawHeaders.length);
          for (let i = 0; i < rawHeaders.length; i++) raw[i] = rawHeaders[i]!.toString("latin1");
          // The gateway's reason phrase is dropped if it carries the credential, like a header.
          const reason = t.secret && statusText?.includes(t.secret) ? undefined : statusText;
          res.writeHead(statusCode, reason as string, responseHeaders(raw, t.secret) as never);
          // An event stream must reach the client before its first event does.
          if (raw.some((v, i) => i % 2 === 0 && v.toLowerCase() === "content-type" && /^text\/event-stream/i.test(raw[i + 1]!))) res.flushHeaders();
          res.on("drain", resume);
          return true;
        },
        onData(chunk) {
          down += chunk.length;
          if (trace) events.trace({ user_id: t.userId, instance_id: t.agentId, event: "http_chunk", direction: "downstream", bytes: chunk.length, latency_ms: performance.now() - start });
          // false pauses the gateway's socket until the client drains (backpressure).
          return res.write(chunk);
        },
        onComplete() {
          res.end();
        },
        onError(err) {
          if (!res.headersSent) return fail(err);
          // The gateway died mid-body: the client must see a broken response, not a short one.
          if (!done) {
            outcome = upstreamErrorCode(err).code;
            res.destroy();
            finish();
          }
        },
      },
    );
  }

  /** GET <gateway><health path> with a short timeout; the body is read and dropped. */
  function health(t: Target): Promise<{ status: number; latencyMs: number }> {
    const start = performance.now();
    const u = t.url;
    return new Promise((resolve, reject) => {
      try {
        assertHostAllowed(u.hostname, s.allowLinkLocal);
      } catch (e) {
        return reject(e);
      }
      const r = (u.protocol === "https:" ? https : http).request({
        protocol: u.protocol,
        hostname: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port || (u.protocol === "https:" ? 443 : 80),
        method: "GET",
        path: t.basePath + s.healthPath,
        headers: requestHeaders([], { credentialHeader: s.credentialHeader, credentialValue: t.credentialValue, host: u.host }) as never,
        agent: svc.agentFor(u),
        lookup: svc.lookup as never,
      });
      const timer = setTimeout(() => r.destroy(timeoutError()), s.healthTimeoutMs);
      r.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      r.on("response", (res) => {
        clearTimeout(timer);
        res.resume();
        resolve({ status: res.statusCode ?? 0, latencyMs: performance.now() - start });
      });
      r.end();
    });
  }

  return { forward, health };
}
