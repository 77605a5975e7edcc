import { api, clientEnv, json } from "../client.js";
import { CliError, EXIT, requireYes } from "../exit.js";

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

export async function createUser(name: string, o: { admin?: boolean; json?: boolean }) {
  const r = json<{ user: { id: string; name: string }; token: string }>(await api(clientEnv(), "POST", "/v1/users", { body: { name, admin: Boolean(o.admin) } }));
  if (o.json) return out(JSON.stringify(r));
  out(`created user ${r.user.name} (${r.user.id})`);
  out(`token (shown once, store it now): ${r.token}`);
}

export async function createToken(o: { name: string; ttl?: string; json?: boolean }) {
  const body: Record<string, unknown> = { name: o.name };
  if (o.ttl !== undefined) {
    // Number("abc") is NaN, which JSON sends as null and the server then reports in its schema's words.
    if (!/^[0-9]+$/.test(o.ttl) || Number(o.ttl) < 60) throw new CliError("--ttl must be a whole number of seconds, at least 60", EXIT.usage, "bad_request");
    body.ttl_seconds = Number(o.ttl);
  }
  const r = json<{ id: string; token: string; expires_at: string | null }>(await api(clientEnv(), "POST", "/v1/tokens", { body }));
  if (o.json) return out(JSON.stringify(r));
  out(`token ${r.id} (shown once, store it now): ${r.token}`);
}

export async function listTokens(o: { json?: boolean }) {
  const r = json<{ tokens: { id: string; name: string; created_at: string; expires_at: string | null; revoked_at: string | null }[] }>(
    await api(clientEnv(), "GET", "/v1/tokens"),
  );
  if (o.json) return out(JSON.stringify(r));
  for (const t of r.tokens) out(`${t.id}\t${t.name}\t${t.created_at}\t${t.revoked_at ? "revoked" : t.expires_at ? `expires ${t.expires_at}` : "active"}`);
}

export async function revokeToken(id: string) {
  await api(clientEnv(), "DELETE", `/v1/tokens/${encodeURIComponent(id)}`);
  out(`revoked ${id}`);
}

export async function deleteUser(name: string, o: { yes?: boolean; json?: boolean }) {
  requireYes(o, `user ${name}`);
  const r = json<{ user_id: string; versions: number; agents: number; epochs_destroyed: number }>(await api(clientEnv(), "DELETE", `/v1/users/${encodeURIComponent(name)}`));
  out(o.json ? JSON.stringify(r) : `deleted user ${name} (${r.user_id}): ${r.versions} versions, ${r.agents} agents, ${r.epochs_destroyed} epochs destroyed`);
}
