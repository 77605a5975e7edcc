import { api, clientEnv, json } from "../client.js";
import { requireYes } from "../exit.js";

// `clawkeep agent create|ls|rotate-secret|disable`: thin calls to the registry API. The agent
// secret is printed once, on create and on rotate, and never again.

interface AgentView {
  agent_id: string;
  name: string;
  status: string;
  created_at: string;
  agent_secret?: string;
}
const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const enc = encodeURIComponent;

function printSecret(r: AgentView, o: { json?: boolean }, verb: string) {
  if (o.json) return out(JSON.stringify({ agent_id: r.agent_id, agent_secret: r.agent_secret }));
  out(`${verb} agent ${r.name} (${r.agent_id})`);
  out(`agent secret (shown once, store it now; give it to the agent as CLAWKEEP_AGENT_SECRET or a 0600 CLAWKEEP_AGENT_SECRET_FILE): ${r.agent_secret}`);
}

export async function create(name: string, o: { json?: boolean }) {
  printSecret(json<AgentView>(await api(clientEnv(), "POST", "/v1/agents", { body: { name } })), o, "created");
}

export async function ls(o: { json?: boolean }) {
  const r = json<{ agents: AgentView[] }>(await api(clientEnv(), "GET", "/v1/agents"));
  if (o.json) return out(JSON.stringify(r));
  for (const a of r.agents) out(`${a.name}\t${a.agent_id}\t${a.status}\t${a.created_at}`);
}

export async function rotateSecret(name: string, o: { json?: boolean }) {
  printSecret(json<AgentView>(await api(clientEnv(), "POST", `/v1/agents/${enc(name)}/rotate-secret`)), o, "rotated the secret of");
}

export async function disable(name: string, o: { json?: boolean }) {
  const r = json<AgentView>(await api(clientEnv(), "POST", `/v1/agents/${enc(name)}/disable`));
  out(o.json ? JSON.stringify(r) : `disabled agent ${r.name}`);
}

export async function remove(name: string, o: { yes?: boolean; json?: boolean }) {
  requireYes(o, `agent ${name}`);
  const r = json<{ agent_id: string; versions: number; blobs_deleted: number; epochs_destroyed: number[] }>(await api(clientEnv(), "DELETE", `/v1/agents/${enc(name)}`));
  out(o.json ? JSON.stringify(r) : `deleted agent ${name} (${r.agent_id}): ${r.versions} versions, ${r.blobs_deleted} blobs, epochs destroyed: ${r.epochs_destroyed.join(",") || "none"}`);
}

interface GatewayView {
  agent_id: string;
  name: string;
  gateway_url: string | null;
  credential_secret: string;
}

export async function setGateway(name: string, url: string | null, o: { json?: boolean }) {
  const path = `/v1/agents/${enc(name)}/gateway`;
  const r = json<GatewayView>(await api(clientEnv(), url === null ? "DELETE" : "PUT", path, url === null ? {} : { body: { url } }));
  if (o.json) return out(JSON.stringify(r));
  if (r.gateway_url === null) return out(`agent ${r.name} has no gateway now`);
  out(`agent ${r.name}: /v1/agents/${r.name}/gateway/* -> ${r.gateway_url}`);
  out(`the gateway credential is the agent's secret ${r.name}/${r.credential_secret} (clawkeep secret put ${r.name}/${r.credential_secret})`);
}

export async function health(name: string, o: { json?: boolean }) {
  const r = json<{ ok: boolean; status: number; latency_ms: number }>(await api(clientEnv(), "GET", `/v1/agents/${enc(name)}/health`));
  out(o.json ? JSON.stringify(r) : `${r.ok ? "healthy" : "unhealthy"}: gateway answered ${r.status} in ${r.latency_ms} ms`);
  if (!r.ok) process.exitCode = 1;
}
