import { readFileSync } from "node:fs";
import { api, clientEnv, json } from "../client.js";
import { CliError, EXIT } from "../exit.js";

// `clawkeep identity policy` and `clawkeep signer freeze|unfreeze|status`: thin calls to the
// signer's policy and freeze routes (docs/signer.md).

const out = (s: string): void => void process.stdout.write(`${s}\n`);

export async function policy(id: string, o: { set?: string; clear?: boolean; json?: boolean }) {
  const path = `/v1/identities/${encodeURIComponent(id)}/policy`;
  let r: { identity: string; policy: Record<string, unknown> };
  if (o.set !== undefined && o.clear) throw new CliError("give --set <file> or --clear, not both", EXIT.usage, "bad_request");
  if (o.set !== undefined) {
    let body: object;
    try {
      body = JSON.parse(readFileSync(o.set, "utf8"));
    } catch {
      throw new CliError(`--set: cannot read JSON from ${o.set}`, EXIT.usage, "bad_request");
    }
    r = json(await api(clientEnv(), "PUT", path, { body }));
  } else if (o.clear) {
    r = json(await api(clientEnv(), "PUT", path, { body: {} }));
  } else {
    r = json(await api(clientEnv(), "GET", path));
  }
  out(o.json || Object.keys(r.policy).length ? JSON.stringify(o.json ? r : r.policy, null, o.json ? undefined : 2) : "no policy: every previewable payload is allowed");
}

export async function freeze(o: { agent?: string; json?: boolean }) {
  const r = json<{ subject: string; frozen_at: string }>(await api(clientEnv(), "POST", "/v1/signer/freeze", { body: o.agent ? { agent: o.agent } : {} }));
  out(o.json ? JSON.stringify(r) : `signing frozen for ${o.agent ? `agent ${o.agent}` : "you"} since ${r.frozen_at}; every open ticket is void. Lift it after a fresh \`clawkeep login\`.`);
}

export async function unfreeze(o: { agent?: string; json?: boolean }) {
  const r = json<{ subject: string; frozen: boolean; was_frozen_at: string | null }>(await api(clientEnv(), "POST", "/v1/signer/unfreeze", { body: o.agent ? { agent: o.agent } : {} }));
  out(o.json ? JSON.stringify(r) : r.was_frozen_at ? `signing unfrozen for ${o.agent ? `agent ${o.agent}` : "you"} (frozen since ${r.was_frozen_at})` : "nothing was frozen");
}

export async function status(o: { json?: boolean }) {
  const r = json<{ frozen: { subject: string; frozen_at: string }[] }>(await api(clientEnv(), "GET", "/v1/signer/freeze"));
  if (o.json) return out(JSON.stringify(r));
  if (r.frozen.length === 0) return out("nothing is frozen");
  for (const f of r.frozen) out(`${f.subject}\tfrozen since ${f.frozen_at}`);
}

/** Operator: seal every signing key again under the primary sealing key (online, resumable). */
export async function reseal(o: { dataDir?: string; json?: boolean }) {
  const { operatorConfig } = await import("../offline.js");
  const { createRuntime } = await import("../../main.js");
  const rt = await createRuntime(await operatorConfig(o.dataDir), { createMasterKey: false });
  try {
    let last = 0;
    const r = await rt.resealSigningKeys((p) => {
      const done = p.resealed + p.current + p.failed;
      if (Date.now() - last > 1000 || done === p.total) {
        last = Date.now();
        process.stderr.write(`resealing: ${done}/${p.total} (resealed ${p.resealed}, already current ${p.current}, failed ${p.failed})\n`);
      }
    });
    out(o.json ? JSON.stringify(r) : `resealed ${r.resealed} signing keys (${r.current} already under the primary key, ${r.failed} failed); re-MACed ${r.rowsRemacced} rows`);
    if (r.failed > 0) throw new CliError(`${r.failed} keys could not be opened with any loaded sealing key (see the audit log: IdentityResealFailed)`, EXIT.integrity, "integrity_error");
  } finally {
    await rt.close();
  }
}

/**
 * The seed's `cash init` after a mode switch: each of your identities whose key this signer cannot
 * open (restore answers 409) is destroyed and replaced by a fresh one with the same curve, label
 * and agent. Funds at the old address stay there: recover them first.
 */
export async function migrate(o: { yes?: boolean; json?: boolean }) {
  const env = clientEnv();
  type Id = { id: string; curve: string; address: string; label: string | null; agent_id: string | null };
  const agents = json<{ agents: { agent_id: string; name: string }[] }>(await api(env, "GET", "/v1/agents")).agents;
  const ids = json<{ identities: Id[] }>(await api(env, "GET", "/v1/identities")).identities;
  const res: { old: Id; fresh?: Id; status: string }[] = [];
  for (const i of ids) {
    let code: string | undefined;
    try {
      json(await api(env, "POST", `/v1/identities/${i.id}/restore`));
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      code = e.code ?? "error";
    }
    if (code !== "sealed_key_incompatible") {
      res.push({ old: i, status: code ?? "ok" });
      continue;
    }
    if (!o.yes) {
      res.push({ old: i, status: "incompatible (re-run with --yes to replace it)" });
      continue;
    }
    json(await api(env, "DELETE", `/v1/identities/${i.id}`));
    const agent = agents.find((a) => a.agent_id === i.agent_id)?.name;
    const fresh = json<Id>(await api(env, "POST", "/v1/identities", { body: { curve: i.curve, ...(i.label ? { label: i.label } : {}), ...(agent ? { agent } : {}) } }));
    res.push({ old: i, fresh, status: "replaced" });
  }
  if (res.some((r) => r.fresh)) process.stderr.write("funds at a replaced address are not reachable any more: move them before switching modes\n");
  if (o.json) return out(JSON.stringify(res));
  for (const r of res) out(`${r.old.id}\t${r.old.address}\t${r.status}${r.fresh ? ` → ${r.fresh.id} ${r.fresh.address}` : ""}`);
}
