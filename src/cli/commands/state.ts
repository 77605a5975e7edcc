// `clawkeep state …`: encrypted agent-state sync (docs/state.md). Secrets come only from the
// environment (MASTER_KEY or MASTER_KEY_FILE, RCLONE_CRYPT_PASSWORD(2), AWS_*), never argv,
// and are never printed except by `state keys`, whose purpose that is.
import { readFileSync } from "node:fs";
import path from "node:path";
import { ClawkeepError } from "../../errors.js";

export interface TransferOpts {
  local?: string;
  remote?: string;
  delete?: boolean;
  transfers?: string;
  json?: boolean;
}

/** process.env plus MASTER_KEY read from MASTER_KEY_FILE (one trailing newline dropped). */
export function stateEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env.MASTER_KEY || !env.MASTER_KEY_FILE) return env;
  let key: string;
  try {
    key = readFileSync(env.MASTER_KEY_FILE, "utf8");
  } catch {
    throw new ClawkeepError("config_invalid", "MASTER_KEY_FILE: cannot read the file");
  }
  return { ...env, MASTER_KEY: key.replace(/\r?\n$/, "") };
}

export function needDir(v: string | undefined, env: NodeJS.ProcessEnv): string {
  const d = v ?? env.OPENCLAW_STATE_DIR;
  if (!d) throw new ClawkeepError("config_invalid", "--local: the state directory is required (or OPENCLAW_STATE_DIR)");
  return path.resolve(d);
}

export async function needRemote(v: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const { remoteUrlFrom } = await import("../../state/remote.js");
  const url = remoteUrlFrom(v, env);
  if (!url) throw new ClawkeepError("config_invalid", "--remote: a remote URL is required (or S3_BUCKET)");
  return url;
}

export function transfers(v: string | undefined): number {
  const n = Number(v ?? 4);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new ClawkeepError("config_invalid", "--transfers: an integer 1..64");
  return n;
}

export async function keys(o: { obscure?: boolean; json?: boolean }): Promise<void> {
  const env = stateEnv();
  if (!env.MASTER_KEY) throw new ClawkeepError("config_invalid", "MASTER_KEY (or MASTER_KEY_FILE) is not set");
  const { deriveStateKeys } = await import("../../state/keys.js");
  const { obscure } = await import("../../crypto/rclone/obscure.js");
  const k = deriveStateKeys(env.MASTER_KEY);
  const show = (v: string) => (o.obscure ? obscure(v) : v);
  const out = { rclone_crypt_password: show(k.rcloneCryptPassword), rclone_crypt_salt: show(k.rcloneCryptSalt), gateway_auth_token: k.gatewayAuthToken };
  if (o.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  else {
    process.stdout.write(
      `${o.obscure ? "RCLONE_CRYPT_PASSWORD" : "rclone_crypt_password"}=${out.rclone_crypt_password}\n` +
        `${o.obscure ? "RCLONE_CRYPT_PASSWORD2" : "rclone_crypt_salt"}=${out.rclone_crypt_salt}\n` +
        `GATEWAY_AUTH_TOKEN=${out.gateway_auth_token}\n`,
    );
  }
}

async function transfer(direction: "push" | "pull", o: TransferOpts): Promise<void> {
  const env = stateEnv();
  const local = needDir(o.local, env);
  const url = await needRemote(o.remote, env);
  const { openState } = await import("../../state/crypt.js");
  const { createProgress, progressMode } = await import("../../state/progress.js");
  const ctx = await openState(url, env);
  try {
    const opts = { local, delete: o.delete !== false, transfers: transfers(o.transfers), progress: createProgress(progressMode(o.json)) };
    const s = direction === "push" ? await (await import("../../state/push.js")).push(ctx, opts) : await (await import("../../state/pull.js")).pull(ctx, opts);
    if (o.json) process.stdout.write(`${JSON.stringify(s)}\n`);
    else {
      const verb = direction === "push" ? "uploaded" : "restored";
      process.stderr.write(
        `${direction}: ${s.transferred} ${verb}, ${s.deleted} deleted, ${s.skipped} unchanged, ${(s.bytes / 1048576).toFixed(1)} MiB in ${s.seconds.toFixed(1)} s` +
          (s.undecryptable ? `; ${s.undecryptable} remote objects with undecryptable names left alone` : "") +
          (s.changedDuringRead ? `; ${s.changedDuringRead} files changed while read, will be sent again` : "") +
          "\n",
      );
    }
  } finally {
    ctx.remote.close();
  }
}

export const pushCmd = (o: TransferOpts) => transfer("push", o);
export const pullCmd = (o: TransferOpts) => transfer("pull", o);
