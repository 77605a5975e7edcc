import { readFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import { api, clientEnv, json } from "../client.js";
import { CliError, EXIT, requireYes } from "../exit.js";

// `clawkeep identity create|ls|rm` and `clawkeep sign`: thin calls to the signer API. `sign`
// always shows the server's decoded preview and asks before it spends the ticket; without a
// terminal it signs only with --yes.

interface IdentityView {
  id: string;
  curve: string;
  chain: string;
  address: string;
  label: string | null;
  agent_id: string | null;
  allow_blind_signing: boolean;
  status: string;
  created_at: string;
}
const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const enc = encodeURIComponent;

export async function create(o: { curve: string; label?: string; agent?: string; allowBlindSigning?: boolean; json?: boolean }) {
  const curve = { evm: "secp256k1", solana: "ed25519" }[o.curve] ?? o.curve;
  const body = { curve, ...(o.label ? { label: o.label } : {}), ...(o.agent ? { agent: o.agent } : {}), ...(o.allowBlindSigning ? { allow_blind_signing: true } : {}) };
  const r = json<IdentityView>(await api(clientEnv(), "POST", "/v1/identities", { body }));
  out(o.json ? JSON.stringify(r) : `created identity ${r.id} (${r.chain}): ${r.address}`);
}

export async function ls(o: { json?: boolean }) {
  const r = json<{ identities: IdentityView[] }>(await api(clientEnv(), "GET", "/v1/identities"));
  if (o.json) return out(JSON.stringify(r));
  for (const i of r.identities) out(`${i.id}\t${i.chain}\t${i.address}\t${i.label ?? "-"}\t${i.created_at}`);
}

export async function remove(id: string, o: { yes?: boolean; json?: boolean }) {
  requireYes(o, `identity ${id} (its private key is erased; funds at its address become unreachable)`);
  const r = json<IdentityView>(await api(clientEnv(), "DELETE", `/v1/identities/${enc(id)}`));
  out(o.json ? JSON.stringify(r) : `destroyed identity ${r.id} (${r.address})`);
}

function readJsonFile(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new CliError(`${what}: cannot read JSON from ${file}`, EXIT.usage, "bad_request");
  }
}

const readText = (file: string, what: string): string => {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    throw new CliError(`${what}: cannot read ${file}`, EXIT.usage, "bad_request");
  }
};

export function payloadOf(o: { message?: string; typedData?: string; tx?: string; solanaMessage?: string; digest?: string }): Record<string, unknown> {
  const given = [o.message, o.typedData, o.tx, o.solanaMessage, o.digest].filter((x) => x !== undefined).length;
  if (given !== 1) throw new CliError("give exactly one of --message, --typed-data, --tx, --solana-message, --digest", EXIT.usage, "bad_request");
  if (o.message !== undefined) return { kind: "eip191", message: o.message };
  if (o.typedData !== undefined) return { kind: "eip712", typed_data: readJsonFile(o.typedData, "--typed-data") };
  if (o.tx !== undefined) {
    const t = readText(o.tx, "--tx");
    return { kind: "evm_transaction", transaction: t.startsWith("{") ? ((JSON.parse(t) as { transaction?: string }).transaction ?? "") : t };
  }
  if (o.solanaMessage !== undefined) return { kind: "solana_message", message: readText(o.solanaMessage, "--solana-message") };
  return { kind: "digest", digest: o.digest };
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export async function sign(o: { identity: string; message?: string; typedData?: string; tx?: string; solanaMessage?: string; digest?: string; yes?: boolean; dryRun?: boolean; json?: boolean }) {
  const env = clientEnv();
  const payload = payloadOf(o);
  const id = enc(o.identity);
  if (o.dryRun) {
    const d = json<{ preview: Record<string, unknown>; policy: { allowed: boolean; rule: string | null; reason: string; budget: { left: string } | null } }>(
      await api(env, "POST", `/v1/identities/${id}/sign-intent?dry_run=1`, { body: { payload } }),
    );
    if (o.json) return out(JSON.stringify(d));
    process.stderr.write(`${JSON.stringify(d.preview, null, 2)}\n`);
    out(`${d.policy.allowed ? "allowed" : `denied by rule ${d.policy.rule}`}: ${d.policy.reason}${d.policy.budget ? ` (budget left ${d.policy.budget.left})` : ""}`);
    if (!d.policy.allowed) throw new CliError("the identity's policy would refuse this", EXIT.auth, "policy_denied");
    return;
  }
  const intent = json<{ ticket: string; preview: Record<string, unknown>; expires_at: string }>(await api(env, "POST", `/v1/identities/${id}/sign-intent`, { body: { payload } }));
  // The preview is the server's decoding of the exact bytes that will be signed.
  process.stderr.write(`About to sign with ${o.identity}:\n${JSON.stringify(intent.preview, null, 2)}\n(ticket valid until ${intent.expires_at})\n`);
  if (!o.yes) {
    if (!process.stdin.isTTY) throw new CliError("not a terminal: review the preview above and re-run with --yes to sign", EXIT.usage, "bad_request");
    if (!(await confirm("Sign this? [y/N] "))) throw new CliError("not signed", EXIT.error);
  }
  const r = json<Record<string, unknown>>(await api(env, "POST", `/v1/identities/${id}/sign`, { body: { ticket: intent.ticket, payload } }));
  if (o.json) return out(JSON.stringify(r));
  out(String(r.signed_transaction ?? r.signature));
}
