import * as session from "./session.js";

// The one way the page talks to Clawkeep: same origin, the token in the Authorization header
// (never a URL or a cookie), nothing cached, no Referer.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: (msg: string) => void = () => undefined;
export const whenUnauthorized = (f: (msg: string) => void) => void (onUnauthorized = f);

export const enc = encodeURIComponent;

export async function api<T>(method: string, path: string, o: { body?: unknown; headers?: Record<string, string>; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...o.headers };
  const t = o.token ?? session.token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (o.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
  } catch {
    throw new ApiError(0, "unreachable", "Clawkeep did not answer: is the server running?");
  }
  const data = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
  if (!res.ok) {
    const err = new ApiError(res.status, data?.error?.code ?? "http_error", data?.error?.message ?? `HTTP ${res.status}`);
    if (res.status === 401 && o.token === undefined && session.token()) onUnauthorized("Your session has ended (token expired or revoked): sign in again.");
    throw err;
  }
  return data as T;
}

/** The token as a WebSocket subprotocol entry (docs/formats.md §18): browsers cannot set headers there. */
export function wsProtocols(t: string): string[] {
  const b64 = btoa(t).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return ["clawkeep.v1", `base64url.bearer.clawkeep.${b64}`];
}

export interface Me {
  user: { id: string; name: string; admin: boolean };
  token_id: string;
}
export interface Agent {
  agent_id: string;
  name: string;
  status: string;
  created_at: string;
  updated_at: string;
}
export interface AuditEvent {
  seq: number;
  time: string;
  user_id: string | null;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  metadata: Record<string, unknown>;
  hash: string;
}

export const listAgents = async () => (await api<{ agents: Agent[] }>("GET", "/v1/agents")).agents;
