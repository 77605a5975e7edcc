import { api, clientEnv, json } from "../client.js";
import { readPassword } from "../passphrase.js";

// The user side of the password-derived mode: the password goes to the server in a request body
// once, to set it; the server keeps only the Argon2id salt, parameters and a verifier.

interface Status {
  set: boolean;
  kdf: { alg: string; memory_kib: number; iterations: number; parallelism: number } | null;
}
const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const describe = (s: Status) => (s.kdf ? `argon2id, ${s.kdf.memory_kib} KiB, ${s.kdf.iterations} iterations, parallelism ${s.kdf.parallelism}` : "");

export async function set(o: { passwordFile?: string; json?: boolean }) {
  const password = await readPassword({ passwordFile: o.passwordFile, confirm: true });
  const r = json<Status>(await api(clientEnv(), "PUT", "/v1/credential-password", { body: { password } }));
  out(o.json ? JSON.stringify(r) : `credential password set (${describe(r)}); it is not stored: lose it and password-mode values are lost`);
}

export async function status(o: { json?: boolean }) {
  const r = json<Status>(await api(clientEnv(), "GET", "/v1/credential-password"));
  out(o.json ? JSON.stringify(r) : r.set ? `set (${describe(r)})` : "not set");
}
