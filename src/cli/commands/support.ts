import { closeSync, constants as fsc, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { reconcileAuthorizedKeys, type Grant } from "../../agents/ssh-keys.js";
import { agentCreds, agentSession } from "../agent-session.js";
import { api, clientEnv, json } from "../client.js";
import { CliError, EXIT } from "../exit.js";

// Support access: the user side (grant, list, revoke) and the agent side (`reconcile-ssh`, which
// rewrites only Clawkeep's own lines of authorized_keys, atomically, keeping the file's mode).

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const enc = encodeURIComponent;
interface GrantView {
  id: string;
  operator: string;
  public_key: string;
  expires_at: string;
  revoked_at: string | null;
  verified: boolean;
}

export function parseDuration(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s);
  if (!m) throw new CliError("--ttl must be a number of seconds or end in s, m, h or d", EXIT.usage, "bad_request");
  return Number(m[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
}

export async function grant(name: string, o: { publicKeyFile: string; ttl?: string; operator?: string; json?: boolean }) {
  let key: string;
  try {
    key = (await readFile(o.publicKeyFile, "utf8")).trim();
  } catch {
    throw new CliError("cannot read --public-key-file", EXIT.usage, "bad_request");
  }
  const body: Record<string, unknown> = { public_key: key };
  if (o.ttl !== undefined) body.ttl_seconds = parseDuration(o.ttl);
  if (o.operator !== undefined) body.operator = o.operator;
  const g = json<GrantView>(await api(clientEnv(), "POST", `/v1/agents/${enc(name)}/support-access`, { body }));
  out(o.json ? JSON.stringify(g) : `granted support access ${g.id} to ${name} until ${g.expires_at}`);
}

export async function ls(name: string, o: { json?: boolean }) {
  const r = json<{ grants: GrantView[] }>(await api(clientEnv(), "GET", `/v1/agents/${enc(name)}/support-access`));
  if (o.json) return out(JSON.stringify(r));
  const now = Date.now();
  for (const g of r.grants) out(`${g.id}\t${g.operator}\t${g.revoked_at ? "revoked" : !g.verified ? "FORGED (row MAC invalid; never installed)" : Date.parse(g.expires_at) <= now ? "expired" : `until ${g.expires_at}`}`);
}

export async function revoke(name: string, id: string, o: { json?: boolean }) {
  const g = json<GrantView>(await api(clientEnv(), "DELETE", `/v1/agents/${enc(name)}/support-access/${enc(id)}`));
  out(o.json ? JSON.stringify(g) : `revoked ${g.id}`);
}

function writeAtomically(file: string, text: string, mode: number) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.clawkeep-${process.pid}`);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** One reconcile pass; `offline` when the server cannot be asked (only expired lines go then). */
export async function reconcileOnce(file: string): Promise<{ added: string[]; removed: string[]; offline: boolean }> {
  let grants: Grant[] | null = null;
  let offline = false;
  try {
    const session = await agentSession(agentCreds());
    const r = json<{ grants: { id: string; public_key: string; expires_at: string }[] }>(await api(session, "GET", "/v1/agent/support-access"));
    grants = r.grants.map((g) => ({ id: g.id, publicKey: g.public_key, expiresAt: g.expires_at }));
  } catch (e) {
    if (!(e instanceof CliError) || e.exitCode !== EXIT.unreachable) throw e;
    offline = true;
  }
  let before = "";
  let mode = 0o600;
  try {
    before = readFileSync(file, "utf8");
    mode = statSync(file).mode & 0o777;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new CliError("cannot read the authorized_keys file", EXIT.config, "config_invalid");
  }
  const r = reconcileAuthorizedKeys(before, grants);
  if (r.text !== before) writeAtomically(file, r.text, mode);
  return { added: r.added, removed: r.removed, offline };
}

export async function reconcileSsh(o: { authorizedKeys: string; json?: boolean }) {
  const r = await reconcileOnce(o.authorizedKeys);
  if (o.json) return out(JSON.stringify(r));
  out(`${r.offline ? "server unreachable; removed expired keys only. " : ""}added ${r.added.length}, removed ${r.removed.length}`);
  if (r.offline) process.exitCode = EXIT.unreachable;
}
