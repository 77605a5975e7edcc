import { readFileSync, statSync, type Stats } from "node:fs";
import { readFile } from "node:fs/promises";
import { reconcileAuthorizedKeys, type Grant } from "../../agents/ssh-keys.js";
import type { SupportEventView } from "../../agents/support-log.js";
import { agentCreds, agentSession } from "../agent-session.js";
import { api, clientEnv, json, type ClientEnv } from "../client.js";
import { CliError, EXIT } from "../exit.js";
import { defaultSpoolDir, prepareSpool, readSpool, shipSpool, spoolWrapperPath, type ShipResult, type Spool } from "../support-spool.js";
import { writeAtomically } from "../atomic-file.js";

// Support access: the user side (grant, list, revoke, the session log) and the agent side
// (`reconcile-ssh`, which rewrites only Clawkeep's own lines of authorized_keys, atomically,
// keeping the file's mode, and ships the support wrapper's records).

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

export interface ReconcileResult {
  added: string[];
  removed: string[];
  offline: boolean;
  records: ShipResult;
}

/**
 * One reconcile pass: the wrapper (re)written, authorized_keys brought in step, then the spool
 * shipped. `offline` when the server cannot be asked: then only expired lines, and owned lines
 * without the wrapper, go; the records wait for the next pass.
 */
export async function reconcileOnce(file: string, spoolDir = defaultSpoolDir(file)): Promise<ReconcileResult> {
  let session: ClientEnv | null;
  let grants: Grant[] | null = null;
  try {
    session = await agentSession(agentCreds());
    const r = json<{ grants: { id: string; public_key: string; expires_at: string }[] }>(await api(session, "GET", "/v1/agent/support-access"));
    grants = r.grants.map((g) => ({ id: g.id, publicKey: g.public_key, expiresAt: g.expires_at }));
  } catch (e) {
    if (!(e instanceof CliError) || e.exitCode !== EXIT.unreachable) throw e;
    session = null;
  }
  let before = "";
  let mode = 0o600;
  let st: Stats | undefined;
  try {
    before = readFileSync(file, "utf8");
    st = statSync(file);
    mode = st.mode & 0o777;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new CliError("cannot read the authorized_keys file", EXIT.config, "config_invalid");
  }
  // The wrapper exists before any line names it, and is repaired on every pass. If it cannot be
  // written, no support key may stay (its sessions would go unrecorded), but removals still run.
  const wrapper = spoolWrapperPath(spoolDir);
  let spool: Spool;
  try {
    spool = prepareSpool(spoolDir, st ? { uid: st.uid, gid: st.gid } : undefined);
  } catch (e) {
    const r = reconcileAuthorizedKeys(before, [], wrapper);
    if (r.text !== before) writeAtomically(file, r.text, mode);
    throw e;
  }
  const r = reconcileAuthorizedKeys(before, grants, wrapper);
  if (r.text !== before) writeAtomically(file, r.text, mode);
  let records: ShipResult;
  if (session) records = await shipSpool(session, spool);
  else {
    const held = readSpool(spool);
    records = { shipped: 0, rejected: held.rejected, left: held.pending.length };
  }
  return { added: r.added, removed: r.removed, offline: session === null, records };
}

export async function reconcileSsh(o: { authorizedKeys: string; spoolDir?: string; json?: boolean }) {
  const r = await reconcileOnce(o.authorizedKeys, o.spoolDir);
  if (o.json) out(JSON.stringify(r));
  else {
    out(`${r.offline ? "server unreachable; removed expired keys only. " : ""}added ${r.added.length}, removed ${r.removed.length}`);
    if (!r.offline) out(`support records: shipped ${r.records.shipped}, rejected ${r.records.rejected}, left ${r.records.left}`);
  }
  if (r.records.rejected > 0) process.stderr.write(`clawkeep: ${r.records.rejected} support record(s) refused for good (${r.records.error ?? "malformed"}); kept in the spool's rejected/ folder\n`);
  if (r.offline || (r.records.left > 0 && r.records.error === "unavailable")) process.exitCode = EXIT.unreachable;
}

/**
 * The command log of an agent's support sessions: one line per command or interactive session,
 * with its exit status once its end is recorded. Command text is printed as a JSON string, so an
 * operator's escape sequences or newlines cannot rewrite the user's terminal or forge lines.
 */
export async function log(name: string, o: { grant?: string; json?: boolean }) {
  const env = clientEnv();
  const events: SupportEventView[] = [];
  for (let after = 0; ; ) {
    const q = new URLSearchParams({ after: String(after), limit: "1000", ...(o.grant ? { grant: o.grant } : {}) });
    const page = json<{ events: SupportEventView[]; next: number | null }>(await api(env, "GET", `/v1/agents/${enc(name)}/support/events?${q.toString()}`));
    events.push(...page.events);
    if (page.next === null) break;
    after = page.next;
  }
  if (o.json) return out(JSON.stringify({ events }));
  const ends = new Map(events.filter((e) => e.kind === "session_end").map((e) => [`${e.grant_id}/${e.ref}`, e]));
  for (const e of events) {
    if (e.kind === "session_end") continue;
    const end = ends.get(`${e.grant_id}/${e.record_id}`);
    const what = e.kind === "command" ? `$ ${JSON.stringify(e.command)}${e.command_truncated ? " (truncated, not run)" : ""}` : `interactive session${e.tty ? " (tty)" : ""}`;
    const result = end ? `exit ${end.status} at ${end.at}` : "no end recorded";
    out(`${e.at}\t${e.grant_id}\t${e.operator}\t${e.from || "-"}\t${what}\t${result}${e.after_grant_end ? "\tAFTER GRANT END" : ""}`);
  }
}
