import { readFileSync, statSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { CliError, EXIT, exitCodeFor } from "./exit.js";
import { reasonOf } from "../store/meta/errors.js";

// A small API client on node:http rather than fetch: loading fetch's implementation costs more
// start-up time than a whole `secret get` should take. The token comes from CLAWKEEP_TOKEN or
// CLAWKEEP_TOKEN_FILE, never from argv, and is sent only in the Authorization header.

export interface ClientEnv {
  addr: URL;
  token: string | undefined;
  /** Where the token came from, for a 401 that should say which setting to fix. */
  tokenFrom?: "CLAWKEEP_TOKEN" | "CLAWKEEP_TOKEN_FILE" | "agent";
}

const EXAMPLE_ADDR = "e.g. http://127.0.0.1:8787";

// A token file is a credential like an SSH key: one that others may read is refused, as ssh does.
function readTokenFile(file: string): string {
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) {
      throw new CliError(`CLAWKEEP_TOKEN_FILE: ${file} is readable by group or others; chmod 600 it`, EXIT.config, "config_invalid");
    }
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`CLAWKEEP_TOKEN_FILE: cannot read ${file} (${reasonOf((e as NodeJS.ErrnoException).code)})`, EXIT.config, "config_invalid");
  }
  const token = text.trim();
  if (!token) throw new CliError(`CLAWKEEP_TOKEN_FILE: ${file} is empty`, EXIT.config, "config_invalid");
  return token;
}

/** The server address and, unless `opts.token` is false (the agent handshake, login), the user's token. */
export function clientEnv(env: NodeJS.ProcessEnv = process.env, opts: { token?: boolean } = {}): ClientEnv {
  const raw = env.CLAWKEEP_ADDR || "http://127.0.0.1:8787";
  let addr: URL;
  try {
    addr = new URL(raw);
  } catch {
    throw new CliError(`CLAWKEEP_ADDR: not a URL (${EXAMPLE_ADDR})`, EXIT.config, "config_invalid");
  }
  if (addr.protocol !== "http:" && addr.protocol !== "https:") throw new CliError(`CLAWKEEP_ADDR: must be http:// or https:// (${EXAMPLE_ADDR})`, EXIT.config, "config_invalid");
  if (opts.token === false) return { addr, token: undefined };
  const fromEnv = env.CLAWKEEP_TOKEN?.trim() || undefined;
  const tokenFrom = fromEnv ? "CLAWKEEP_TOKEN" : env.CLAWKEEP_TOKEN_FILE ? "CLAWKEEP_TOKEN_FILE" : undefined;
  const token = fromEnv ?? (env.CLAWKEEP_TOKEN_FILE ? readTokenFile(env.CLAWKEEP_TOKEN_FILE) : undefined);
  // A pasted "Bearer ck_…" or a token with a line break inside cannot go into a header; say so
  // here rather than fail inside the HTTP library. The token itself is never echoed.
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    throw new CliError(`${tokenFrom}: not a token (it holds spaces or control characters; give the ck_… token alone)`, EXIT.config, "config_invalid");
  }
  return { addr, token, tokenFrom };
}

/** Why a connection failed, in words, and what to check: the same for every command. */
function unreachable(origin: string, e: NodeJS.ErrnoException): CliError {
  const code = e.code ?? "";
  let why: string;
  if (code === "ECONNREFUSED") why = "nothing is listening there: is `clawkeep serve` running, and is CLAWKEEP_ADDR right?";
  else if (code === "ENOTFOUND" || code === "EAI_AGAIN") why = "the host name does not resolve: check CLAWKEEP_ADDR";
  else if (code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "ECONNTIMEOUT") why = "no answer from that address: check CLAWKEEP_ADDR and the network";
  else if (code === "ECONNRESET" || code === "EPIPE") why = "the connection was closed before an answer: is CLAWKEEP_ADDR a Clawkeep server?";
  else if (code === "EPROTO" || code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || /CERT|SELF_SIGNED/.test(code)) {
    why = `the TLS handshake failed (${code}): does the server speak https, and is its certificate trusted?`;
  } else why = `${reasonOf(code || undefined)}: check CLAWKEEP_ADDR`;
  return new CliError(`cannot reach ${origin}: ${why}`, EXIT.unreachable, "unavailable");
}

const CONNECT_TIMEOUT_MS = 15_000;

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export async function api(
  env: ClientEnv,
  method: string,
  path: string,
  opts: { body?: Buffer | object; accept?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const url = new URL(path, env.addr);
  const headers: Record<string, string> = { ...opts.headers, accept: opts.accept ?? "application/json" };
  if (env.token) headers.authorization = `Bearer ${env.token}`;
  let payload: Buffer | undefined;
  if (Buffer.isBuffer(opts.body)) {
    payload = opts.body;
    headers["content-type"] = opts.contentType ?? "application/octet-stream";
  } else if (opts.body !== undefined) {
    payload = Buffer.from(JSON.stringify(opts.body));
    headers["content-type"] = "application/json";
  }
  if (payload) headers["content-length"] = String(payload.length);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const res = await new Promise<ApiResponse>((resolve, reject) => {
    const req = send(url, { method, headers }, (r) => {
      const chunks: Buffer[] = [];
      r.on("data", (c: Buffer) => chunks.push(c));
      r.on("end", () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }));
      r.on("error", reject);
    });
    req.on("error", (e) => reject(e instanceof CliError ? e : unreachable(url.origin, e)));
    // Only the connection is bounded: an answer may legitimately take long (a KDF, --follow).
    req.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (!req.socket || req.socket.connecting) req.destroy(Object.assign(new Error("connect timeout"), { code: "ECONNTIMEOUT" }));
    });
    req.on("socket", (s) => s.once("connect", () => req.setTimeout(0)));
    req.end(payload);
  });
  if (res.status >= 400) {
    let code: string | undefined;
    let message = `HTTP ${res.status}`;
    let details: Record<string, unknown> | undefined;
    try {
      const j = JSON.parse(res.body.toString("utf8")) as { error?: { code?: string; message?: string } & Record<string, unknown> };
      code = typeof j.error?.code === "string" ? j.error.code : undefined;
      if (j.error?.message) message = j.error.message;
      details = j.error;
    } catch {
      // not our error shape: handled below
    }
    // Something answered, but not Clawkeep (another service on that port, a proxy's error page).
    if (!code) throw new CliError(`${url.origin} answered HTTP ${res.status}, not as a Clawkeep server: is CLAWKEEP_ADDR right?`, EXIT.unreachable, "unavailable");
    if (code === "unauthorized") message = unauthorizedHint(env, message);
    throw new CliError(`${code}: ${message}`, exitCodeFor(code), code, details);
  }
  return res;
}

// The server's "missing or invalid bearer token" is true but does not say which setting to fix.
function unauthorizedHint(env: ClientEnv, message: string): string {
  if (env.tokenFrom === "agent") return message;
  if (!env.token) return "no token given: set CLAWKEEP_TOKEN or CLAWKEEP_TOKEN_FILE (the first admin token is <data-dir>/admin.token)";
  return `the token in ${env.tokenFrom ?? "CLAWKEEP_TOKEN"} was refused: it is unknown, revoked or expired (or from another server)`;
}

/** The body as JSON; a body that is not JSON means CLAWKEEP_ADDR points at something else. */
export const json = <T>(r: ApiResponse): T => {
  try {
    return JSON.parse(r.body.toString("utf8")) as T;
  } catch {
    throw new CliError("the server's answer is not JSON: is CLAWKEEP_ADDR a Clawkeep server?", EXIT.unreachable, "unavailable");
  }
};

export function splitRef(ref: string): { agent: string; name: string } {
  const i = ref.indexOf("/");
  if (i <= 0 || i === ref.length - 1 || ref.indexOf("/", i + 1) !== -1) throw new CliError("expected AGENT/NAME", EXIT.usage, "bad_request");
  return { agent: ref.slice(0, i), name: ref.slice(i + 1) };
}
