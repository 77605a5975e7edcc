import { readFile } from "node:fs/promises";
import { api, clientEnv, json, splitRef } from "../client.js";
import { CliError, EXIT } from "../exit.js";
import { reasonOf } from "../../store/meta/errors.js";

const enc = encodeURIComponent;
const path = (ref: string) => {
  const { agent, name } = splitRef(ref);
  return `/v1/secrets/${enc(agent)}/${enc(name)}`;
};
const out = (s: string): void => {
  process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
};

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) process.stderr.write("Enter the value, then press Ctrl-D:\n");
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

type E2eeOpts = { e2ee?: boolean; passphraseFile?: string };
type PasswordOpts = { passwordMode?: boolean; passwordFile?: string };

export async function put(ref: string, o: { fromFile?: string; allowEmpty?: boolean; extra?: string[]; json?: boolean } & E2eeOpts & PasswordOpts) {
  // A value typed after the name would already be in shell history and `ps`; refuse it before
  // anything else, without echoing it, and say how to pass it instead.
  if (o.extra?.length) {
    throw new CliError("secret put takes the value on stdin or from --from-file, never as an argument (argv lands in shell history and ps): printf %s \"$VALUE\" | clawkeep secret put AGENT/NAME", EXIT.usage, "bad_request");
  }
  const p = path(ref);
  const env = clientEnv();
  let value: Buffer;
  try {
    value = o.fromFile ? await readFile(o.fromFile) : await readStdin();
  } catch (e) {
    throw new CliError(`--from-file: cannot read ${o.fromFile} (${reasonOf((e as NodeJS.ErrnoException).code)})`, EXIT.usage, "bad_request");
  }
  if (value.length === 0 && !o.allowEmpty) {
    throw new CliError(`the value is empty (${o.fromFile ? "the file is empty" : "nothing came on stdin"}); nothing was stored. Pipe the value in, or pass --allow-empty to store an empty one`, EXIT.usage, "bad_request");
  }
  if (o.e2ee) value = await (await import("../e2ee.js")).sealValue(splitRef(ref), value, o);
  let headers: Record<string, string> = {};
  if (o.passwordMode) {
    const { passwordHeader, readPassword } = await import("../passphrase.js");
    headers = { ...passwordHeader(await readPassword({ passwordFile: o.passwordFile, confirm: false })), "x-clawkeep-credential-mode": "password" };
  } else if (o.passwordFile) {
    throw new CliError("--password-file with secret put needs --password-mode", EXIT.usage, "bad_request");
  }
  const r = json<{ agent: string; name: string; version: number; created_at: string; mode: string }>(await api(env, "PUT", p, { body: value, headers }));
  const notes = [o.e2ee ? "end-to-end encrypted" : "", o.passwordMode ? "password mode" : ""].filter(Boolean).join(", ");
  out(o.json ? JSON.stringify({ ...r, e2ee: Boolean(o.e2ee) }) : `stored ${r.agent}/${r.name} version ${r.version}${notes ? ` (${notes})` : ""}`);
}

// A password-mode value needs the credential password: from --password-file, or, when the server
// says it is needed, prompted for on the terminal and the read tried once more.
async function getWithPassword(ref: string, q: string, accept: string, o: PasswordOpts) {
  const { passwordHeader, readPassword } = await import("../passphrase.js");
  const read = (headers: Record<string, string>) => api(clientEnv(), "GET", path(ref) + q, { accept, headers });
  if (o.passwordFile) return read(passwordHeader(await readPassword({ passwordFile: o.passwordFile, confirm: false })));
  try {
    return await read({});
  } catch (e) {
    if (!(e instanceof CliError) || e.code !== "credential_password_required") throw e;
    return read(passwordHeader(await readPassword({ confirm: false })));
  }
}

export async function get(ref: string, o: { version?: string; json?: boolean } & E2eeOpts & PasswordOpts) {
  const q = o.version === undefined ? "" : `?version=${enc(o.version)}`;
  if (o.e2ee) {
    const r = await getWithPassword(ref, q, "application/octet-stream", o);
    process.stdout.write(await (await import("../e2ee.js")).openValue(splitRef(ref), r.body, o));
    return;
  }
  if (o.json) {
    out((await getWithPassword(ref, q, "application/json", o)).body.toString("utf8"));
    return;
  }
  const r = await getWithPassword(ref, q, "application/octet-stream", o);
  process.stdout.write(r.body);
}

export async function ls(agent: string | undefined, o: { json?: boolean }) {
  const r = json<{ secrets: { agent: string; name: string; version: number; versions: number; updated_at: string }[] }>(
    await api(clientEnv(), "GET", agent ? `/v1/secrets/${enc(agent)}` : "/v1/secrets"),
  );
  if (o.json) return out(JSON.stringify(r));
  for (const s of r.secrets) out(`${s.agent}/${s.name}\tv${s.version}\t${s.updated_at}`);
}

export async function versions(ref: string, o: { json?: boolean }) {
  const r = json<{ versions: { version: number; created_at: string; size: number | null; deleted: boolean }[] }>(await api(clientEnv(), "GET", `${path(ref)}/versions`));
  if (o.json) return out(JSON.stringify(r));
  for (const v of r.versions) out(`v${v.version}\t${v.created_at}\t${v.deleted ? "deleted" : `${v.size} bytes`}`);
}

export async function rm(ref: string, o: { json?: boolean }) {
  const r = json<{ agent: string; name: string; version: number }>(await api(clientEnv(), "DELETE", path(ref)));
  out(o.json ? JSON.stringify(r) : `deleted ${r.agent}/${r.name}`);
}
