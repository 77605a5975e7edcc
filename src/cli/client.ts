import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { CliError, EXIT, exitCodeFor } from "./exit.js";

// A small API client on node:http rather than fetch: loading fetch's implementation costs more
// start-up time than a whole `secret get` should take. The token comes from CLAWKEEP_TOKEN or
// CLAWKEEP_TOKEN_FILE, never from argv, and is sent only in the Authorization header.

export interface ClientEnv {
  addr: URL;
  token: string | undefined;
}

export function clientEnv(env: NodeJS.ProcessEnv = process.env): ClientEnv {
  const raw = env.CLAWKEEP_ADDR || "http://127.0.0.1:8787";
  let addr: URL;
  try {
    addr = new URL(raw);
  } catch {
    throw new CliError("CLAWKEEP_ADDR: not a URL", EXIT.config, "config_invalid");
  }
  if (addr.protocol !== "http:" && addr.protocol !== "https:") throw new CliError("CLAWKEEP_ADDR: must be http:// or https://", EXIT.config, "config_invalid");
  let token = env.CLAWKEEP_TOKEN || undefined;
  if (!token && env.CLAWKEEP_TOKEN_FILE) {
    try {
      token = readFileSync(env.CLAWKEEP_TOKEN_FILE, "utf8").trim();
    } catch {
      throw new CliError("CLAWKEEP_TOKEN_FILE: cannot read the file it names", EXIT.config, "config_invalid");
    }
  }
  return { addr, token };
}

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
    req.on("error", (e) => reject(new CliError(`cannot reach ${url.origin}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, EXIT.unreachable, "unavailable")));
    req.end(payload);
  });
  if (res.status >= 400) {
    let code: string | undefined;
    let message = `HTTP ${res.status}`;
    let details: Record<string, unknown> | undefined;
    try {
      const j = JSON.parse(res.body.toString("utf8")) as { error?: { code?: string; message?: string } & Record<string, unknown> };
      code = j.error?.code;
      if (j.error?.message) message = j.error.message;
      details = j.error;
    } catch {
      // not our error shape; keep the status line
    }
    throw new CliError(`${code ?? "error"}: ${message}`, exitCodeFor(code), code, details);
  }
  return res;
}

export const json = <T>(r: ApiResponse): T => JSON.parse(r.body.toString("utf8")) as T;

export function splitRef(ref: string): { agent: string; name: string } {
  const i = ref.indexOf("/");
  if (i <= 0 || i === ref.length - 1 || ref.indexOf("/", i + 1) !== -1) throw new CliError("expected AGENT/NAME", EXIT.usage, "bad_request");
  return { agent: ref.slice(0, i), name: ref.slice(i + 1) };
}
