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
