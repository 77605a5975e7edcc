import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, fchmodSync, fsyncSync, openSync, writeSync, constants as fsc } from "node:fs";
import { constants as osc } from "node:os";
import { openE2eeText } from "../../crypto/e2ee/index.js";
import { agentCreds, fetchAgentSecrets } from "../agent-session.js";
import { CliError, EXIT } from "../exit.js";
import { passwordHeader, readSecretFile } from "../passphrase.js";

// `clawkeep agent run [--only NAME…] [--dotenv FILE] -- CMD…` (seed 000's rv-exec pattern):
// handshake, fetch this agent's secrets, open E2EE ones here with ENCRYPTION_SECRET, then start
// CMD with them as environment variables. Nothing is written to disk unless --dotenv. The agent's
// own credentials are removed from CMD's environment: CMD gets its secrets, not the keys to them.

const CREDENTIAL_VARS = ["CLAWKEEP_AGENT_SECRET", "ENCRYPTION_SECRET"];
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function encryptionSecret(env: NodeJS.ProcessEnv): string | undefined {
  if (env.ENCRYPTION_SECRET) return env.ENCRYPTION_SECRET;
  if (env.ENCRYPTION_SECRET_FILE) return readSecretFile(env.ENCRYPTION_SECRET_FILE, "ENCRYPTION_SECRET_FILE");
  return undefined;
}

/** Resolves the agent's secrets to NAME → plaintext, opening E2EE values locally. */
export async function resolveSecrets(only: string[] | undefined, env: NodeJS.ProcessEnv = process.env, passwordFile?: string): Promise<Map<string, string>> {
  const headers = passwordFile ? passwordHeader(readSecretFile(passwordFile, "--password-file")) : {};
  const { agent, secrets } = await fetchAgentSecrets(agentCreds(env), only, headers);
  const missing = (only ?? []).filter((n) => !secrets.some((s) => s.name === n));
  if (missing.length) throw new CliError(`not_found: the agent has no secret ${missing.join(", ")}`, EXIT.notFound, "not_found");
  const pass = secrets.some((s) => s.e2ee) ? encryptionSecret(env) : undefined;
  const out = new Map<string, string>();
  for (const s of secrets) {
    if (s.e2ee) {
      if (!pass) throw new CliError(`${s.name} is end-to-end encrypted: set ENCRYPTION_SECRET or ENCRYPTION_SECRET_FILE`, EXIT.config, "config_invalid");
      try {
        out.set(s.name, await openE2eeText(pass, s.value, { context: `${agent}/${s.name}` }));
      } catch {
        throw new CliError(`${s.name}: the E2EE value does not open with this ENCRYPTION_SECRET (wrong passphrase, or the value was altered)`, EXIT.integrity, "integrity_error");
      }
    } else if (s.encoding !== "utf8" || s.value.includes("\0")) {
      process.stderr.write(`clawkeep: ${s.name} is binary and cannot be an environment variable; left out\n`);
    } else {
      out.set(s.name, s.value);
    }
  }
  return out;
}

// Single-quoted, POSIX-shell style: `NAME='value'`, a ' written as '\''. `set -a; . FILE` and
// common dotenv readers give the value back byte for byte, newlines included.
export const dotenvLine = (name: string, value: string) => `${name}='${value.replace(/'/g, `'\\''`)}'\n`;

function writeDotenv(file: string, values: Map<string, string>) {
  const fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o600);
  try {
    fchmodSync(fd, 0o600); // an existing file keeps its old mode through O_CREAT
    writeSync(fd, [...values].map(([k, v]) => dotenvLine(k, v)).join(""));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Support access while the agent runs (seed 001 §2, "also run by agent run on an interval"): one
// pass before CMD starts, then every interval until CMD exits. A failed pass is reported and
// retried on the next tick; it never stops CMD. Lines already written expire by themselves
// (expiry-time) even if no further pass happens.
function startReconcile(file: string, intervalSeconds: number, spoolDir?: string): { stop: () => Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const pass = () =>
    (running = running.then(async () => {
      try {
        const { reconcileOnce } = await import("./support.js");
        const r = await reconcileOnce(file, spoolDir);
        if (r.added.length || r.removed.length || r.offline) {
          process.stderr.write(`clawkeep: support access: added ${r.added.length}, removed ${r.removed.length}${r.offline ? " (server unreachable)" : ""}\n`);
        }
        if (r.records.rejected || r.records.left > 0) {
          process.stderr.write(`clawkeep: support records: shipped ${r.records.shipped}, refused ${r.records.rejected}, left for later ${r.records.left}${r.records.error ? ` (${r.records.error})` : ""}\n`);
        }
      } catch (e) {
        process.stderr.write(`clawkeep: support access reconcile failed: ${(e as Error).message}\n`);
      }
    }));
  void pass();
  const timer = setInterval(() => void pass(), intervalSeconds * 1000);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

function parseInterval(s: string | undefined): number {
  const n = Number(s ?? "60");
  if (!Number.isSafeInteger(n) || n < 1 || n > 86_400) throw new CliError("--reconcile-interval must be a whole number of seconds, 1..86400", EXIT.usage, "bad_request");
  return n;
}

export async function run(cmd: string[], o: { only?: string[]; dotenv?: string; reconcileSsh?: string; reconcileInterval?: string; spoolDir?: string; passwordFile?: string }) {
  if (cmd.length === 0 && !o.dotenv) throw new CliError("nothing to run: give -- CMD… (or --dotenv FILE)", EXIT.usage, "bad_request");
  const interval = parseInterval(o.reconcileInterval);
  const values = await resolveSecrets(o.only, process.env, o.passwordFile);
  if (o.dotenv) writeDotenv(o.dotenv, values);
  if (cmd.length === 0) return;
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const v of CREDENTIAL_VARS) delete childEnv[v];
  for (const [k, v] of values) childEnv[k] = v;
  // Handlers go in before the spawn: a signal arriving while the child starts must not take the
  // default action (killing us and orphaning CMD); it is held and delivered once CMD exists.
  const started: { child?: ChildProcess } = {};
  const pending: NodeJS.Signals[] = [];
  const forward = (sig: NodeJS.Signals) => () => void (started.child ? started.child.kill(sig) : pending.push(sig));
  const handlers = FORWARDED.map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  const reconcile = o.reconcileSsh ? startReconcile(o.reconcileSsh, interval, o.spoolDir) : undefined;
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: "inherit", env: childEnv });
  started.child = child;
  for (const sig of pending) child.kill(sig);
  const code = await new Promise<number>((resolve) => {
    child.on("error", (e: NodeJS.ErrnoException) => {
      process.stderr.write(`clawkeep: cannot run ${cmd[0]}: ${e.code ?? e.message}\n`);
      resolve(e.code === "ENOENT" ? 127 : 126);
    });
    // A child killed by a signal exits as a shell reports it: 128 + the signal's number.
    child.on("exit", (c, sig) => resolve(c ?? 128 + (sig ? (osc.signals[sig] ?? 0) : 0)));
  });
  for (const [sig, h] of handlers) process.off(sig, h);
  await reconcile?.stop();
  process.exitCode = code;
}
