// `state up -- CMD…` (and `openclaw up`): the seed's boot sequence. Derive the keys; with a
// remote, check it first (reachable, names open with these keys), then prefer an rclone FUSE
// mount (seed VFS flags) and fall back to restore + background sync; prepare the state dir
// (the OpenClaw config bootstrap); run CMD with GATEWAY_AUTH_TOKEN in its environment,
// forwarding signals; when it exits, flush (last push, or wait for rclone's write-back queue to
// drain, then unmount) and return its exit code.
//
// With a readiness URL, the sync fallback pushes nothing until CMD answers it: a CMD that
// exits before it is ready has failed to start, and the remote is left exactly as it was.
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { constants } from "node:os";
import { openState, preflight, type StateContext } from "./crypt.js";
import { resolveCryptSecrets } from "./keys.js";
import { fuseUnavailable, type Mount, mountRclone } from "./mount.js";
import { waitReady } from "./openclaw.js";
import { rcloneConf } from "./rclone-config.js";
import { SyncLoop } from "./sync.js";

export interface UpOptions {
  local: string;
  remote: string | undefined;
  mount: boolean;
  /** Why the mount is not tried when `mount` is false (default: "disabled by --no-mount"). */
  noMountReason?: string;
  writeBackMs: number;
  intervalMs: number;
  log: (s: string) => void;
  /** Runs on the restored or mounted state dir before CMD starts. */
  prepare?: (local: string) => Promise<void>;
  /** Extra variables for CMD, given the derived gateway token (undefined without MASTER_KEY). */
  childEnv?: (gatewayAuthToken: string | undefined) => Record<string, string>;
  /** CMD is ready once this answers 2xx; until then nothing is pushed. */
  readyUrl?: string;
  readyTimeoutMs?: number;
  /** Top-level directories of the state dir the sync fallback leaves out (see scanLocal). */
  exclude?: readonly string[];
}

const FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;

function remoteLine(remote: string): string {
  const m = /^s3:\/\/([^/]+)/.exec(remote);
  return m ? `S3 storage configured (bucket: ${m[1]}), setting up rclone...` : `State remote configured (${remote}), setting up...`;
}

export async function up(cmd: string[], o: UpOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const childEnv: NodeJS.ProcessEnv = { ...env };
  let token: string | undefined;
  if (env.MASTER_KEY) {
    o.log("Deriving keys from MASTER_KEY...");
    token = resolveCryptSecrets(env).gatewayAuthToken;
    if (token) childEnv.GATEWAY_AUTH_TOKEN = token;
    o.log("Keys derived (crypt password, crypt salt, gateway token).");
  }
  delete childEnv.MASTER_KEY; // CMD gets the token it needs, not the root secret
  delete childEnv.MASTER_KEY_FILE;
  Object.assign(childEnv, o.childEnv?.(token) ?? {});

  let mount: Mount | undefined;
  let loop: SyncLoop | undefined;
  let ctx: StateContext | undefined;
  try {
    if (o.remote === undefined) {
      o.log("No S3_BUCKET or --remote: state stays local.");
      await mkdir(o.local, { recursive: true });
    } else {
      o.log(remoteLine(o.remote));
      ctx = await openState(o.remote, env);
      const seen = await preflight(ctx); // throws on a wrong key or an unreachable bucket
      o.log(seen.exists && seen.objects > 0 ? `State remote holds ${seen.objects} objects; keys match.` : "State remote is empty: first boot.");
      await mkdir(o.local, { recursive: true });
      const why = o.mount ? fuseUnavailable() : (o.noMountReason ?? "disabled by --no-mount");
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
        loop = new SyncLoop(ctx, { local: o.local, delete: true, transfers: 4, writeBackMs: o.writeBackMs, intervalMs: o.intervalMs, log: o.log, hold: o.readyUrl !== undefined, exclude: o.exclude });
        await loop.start();
      }
    }
    await o.prepare?.(o.local);
  } catch (e) {
    await mount?.unmount().catch(() => undefined);
    ctx?.remote.close();
    throw e;
  }

  const [file, ...args] = cmd;
  const child = spawn(file as string, args, { stdio: "inherit", env: childEnv });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const handlers = FORWARDED.map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const exited = new Promise<number>((resolve) => {
    child.once("error", (e) => {
      o.log(`cannot start ${file}: ${e.message}`);
      resolve(127);
    });
    child.once("exit", (c, sig) => resolve(c ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0)));
  });
  let ready = o.readyUrl === undefined;
  if (o.readyUrl !== undefined) {
    const timeoutMs = o.readyTimeoutMs ?? 120_000;
    const seen = await waitReady(o.readyUrl, exited, timeoutMs);
    ready = seen === "ready";
    if (ready) {
      o.log(`Gateway ready (${o.readyUrl}).`);
      await loop?.release();
    } else if (seen === "exited") o.log(mount ? "The command exited before it was ready (on a mount its writes go to the remote as they happen)." : "The command exited before it was ready: nothing of this boot is pushed.");
    else {
      // A gateway that never answers would otherwise hold the boot (and its lock) forever.
      o.log(`The command did not answer ${o.readyUrl} within ${Math.round(timeoutMs / 1000)} s: stopping it${mount ? "" : "; nothing of this boot is pushed"}.`);
      child.kill("SIGTERM");
      const hard = setTimeout(() => child.kill("SIGKILL"), 10_000);
      void exited.then(() => clearTimeout(hard));
    }
  }
  const code = await exited;
  for (const [s, h] of handlers) process.off(s, h);

  let flushFailed = false;
  try {
    if (loop) await loop.flush();
    if (mount) await mount.unmount();
    if (o.remote !== undefined) o.log(ready || mount ? "State flushed." : `State kept locally in ${o.local}; the remote is unchanged.`);
  } catch (e) {
    flushFailed = true;
    o.log(`final flush failed: ${(e as Error).message}`);
  } finally {
    ctx?.remote.close();
  }
  if (code === 0 && !ready) return 1;
  return code !== 0 ? code : flushFailed ? 1 : 0;
}

