// `state up -- CMD…`: the seed's boot sequence. Derive the keys; with a remote, prefer an
// rclone FUSE mount (seed VFS flags) and fall back to restore + background sync; run CMD with
// GATEWAY_AUTH_TOKEN in its environment, forwarding signals; when it exits, flush (last push, or
// wait for rclone's write-back queue to drain, then unmount) and return its exit code.
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { constants } from "node:os";
import { openState } from "./crypt.js";
import { resolveCryptSecrets } from "./keys.js";
import { fuseUnavailable, type Mount, mountRclone } from "./mount.js";
import { rcloneConf } from "./rclone-config.js";
import { SyncLoop } from "./sync.js";

export interface UpOptions {
  local: string;
  remote: string | undefined;
  mount: boolean;
  writeBackMs: number;
  intervalMs: number;
  log: (s: string) => void;
}

const FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;

export async function up(cmd: string[], o: UpOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const childEnv: NodeJS.ProcessEnv = { ...env };
  if (env.MASTER_KEY) {
    o.log("Deriving keys from MASTER_KEY...");
    const secrets = resolveCryptSecrets(env);
    if (secrets.gatewayAuthToken) childEnv.GATEWAY_AUTH_TOKEN = secrets.gatewayAuthToken;
    o.log("Keys derived (crypt password, crypt salt, gateway token).");
  }
  delete childEnv.MASTER_KEY; // CMD gets the token it needs, not the root secret
  await mkdir(o.local, { recursive: true });

  let mount: Mount | undefined;
  let loop: SyncLoop | undefined;
  let close = () => {};
  if (o.remote === undefined) {
    o.log("No S3_BUCKET or --remote: state stays local.");
  } else {
    o.log(`State remote configured (${o.remote.replace(/^(s3:\/\/[^/]+).*/, "$1")}), setting up...`);
    const why = o.mount ? fuseUnavailable() : "disabled by --no-mount";
    if (why === undefined) {
      o.log("Attempting FUSE mount...");
      try {
        const conf = rcloneConf(o.remote, env, resolveCryptSecrets(env));
        mount = await mountRclone(conf.text, conf.cryptRemote, o.local, o.log, env);
      } catch (e) {
        o.log(`FUSE mount failed (${(e as Error).message}); using the sync fallback.`);
      }
    } else o.log(`FUSE mount not possible (${why}); using the sync fallback.`);
    if (!mount) {
      const ctx = await openState(o.remote, env);
      close = () => ctx.remote.close();
      loop = new SyncLoop(ctx, { local: o.local, delete: true, transfers: 4, writeBackMs: o.writeBackMs, intervalMs: o.intervalMs, log: o.log });
      await loop.start();
    }
  }

  const [file, ...args] = cmd;
  const child = spawn(file as string, args, { stdio: "inherit", env: childEnv });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const handlers = FORWARDED.map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const code = await new Promise<number>((resolve) => {
    child.once("error", (e) => {
      o.log(`cannot start ${file}: ${e.message}`);
      resolve(127);
    });
    child.once("exit", (c, sig) => resolve(c ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0)));
  });
  for (const [s, h] of handlers) process.off(s, h);

  let flushFailed = false;
  try {
    if (loop) await loop.flush();
    if (mount) await mount.unmount();
    if (o.remote !== undefined) o.log("State flushed.");
  } catch (e) {
    flushFailed = true;
    o.log(`final flush failed: ${(e as Error).message}`);
  } finally {
    close();
  }
  return code !== 0 ? code : flushFailed ? 1 : 0;
}
