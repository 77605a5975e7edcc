import { buildHandshake } from "../agents/signing.js";
import { api, clientEnv, json, type ClientEnv } from "./client.js";
import { CliError, EXIT } from "./exit.js";
import { readSecretFile } from "./passphrase.js";

// The agent side of the handshake: credentials from CLAWKEEP_AGENT_ID and CLAWKEEP_AGENT_SECRET
// (or a 0600 CLAWKEEP_AGENT_SECRET_FILE), never argv. The secret only signs; it is not sent.

export interface AgentCreds {
  agentId: string;
  secret: string;
}

export function agentCreds(env: NodeJS.ProcessEnv = process.env): AgentCreds {
  const agentId = env.CLAWKEEP_AGENT_ID;
  if (!agentId || !/^agt_[0-9a-f]{20}$/.test(agentId)) throw new CliError("CLAWKEEP_AGENT_ID: missing or not an agent id (agt_…)", EXIT.config, "config_invalid");
  const secret = env.CLAWKEEP_AGENT_SECRET || (env.CLAWKEEP_AGENT_SECRET_FILE ? readSecretFile(env.CLAWKEEP_AGENT_SECRET_FILE, "CLAWKEEP_AGENT_SECRET_FILE") : "");
  if (!/^cks_[A-Za-z0-9_-]{43}$/.test(secret)) throw new CliError("CLAWKEEP_AGENT_SECRET(_FILE): missing or not an agent secret (cks_…)", EXIT.config, "config_invalid");
  return { agentId, secret };
}

export interface AgentSecretOut {
  name: string;
  version: number;
  e2ee: boolean;
  encoding: "utf8" | "base64";
  value: string;
}

async function postHandshake(c: ClientEnv, body: string) {
  return json<{ agent_token: string; agent: string }>(await api(c, "POST", "/v1/agents/handshake", { body: Buffer.from(body, "utf8"), contentType: "application/json" }));
}

/** A signed handshake; on clock skew, retries once on the server's clock. Returns an API client env carrying the agent token. */
export async function agentSession(creds: AgentCreds, only?: string[]): Promise<ClientEnv> {
  const base = clientEnv(process.env, { token: false });
  const request = only?.length ? { only } : {};
  let hs;
  try {
    hs = await postHandshake(base, buildHandshake(creds.agentId, creds.secret, request));
  } catch (e) {
    const serverTime = e instanceof CliError ? e.details?.server_time : undefined;
    if (!(e instanceof CliError) || e.code !== "handshake_clock_skew" || typeof serverTime !== "number") throw e;
    process.stderr.write(`clawkeep: this machine's clock is ${Math.round(Date.now() / 1000 - serverTime)} s off the server's; using the server's time\n`);
    hs = await postHandshake(base, buildHandshake(creds.agentId, creds.secret, request, serverTime * 1000));
  }
  return { ...base, token: hs.agent_token, tokenFrom: "agent" };
}

/** Handshake, then the agent's secrets (password-mode ones opened server-side only with `headers` carrying the credential password). */
export async function fetchAgentSecrets(creds: AgentCreds, only?: string[], headers: Record<string, string> = {}): Promise<{ agent: string; secrets: AgentSecretOut[] }> {
  return json<{ agent: string; secrets: AgentSecretOut[] }>(await api(await agentSession(creds, only), "GET", "/v1/agent/secrets", { headers }));
}
