// Long-running and config-writing `state` commands: sync, rclone-config, up (docs/state.md).
import { ClawkeepError } from "../../errors.js";
import { needDir, needRemote, stateEnv, transfers, type TransferOpts } from "./state.js";

const log = (s: string) => process.stderr.write(`${s}\n`);

function seconds(name: string, v: string | undefined, dflt: number): number {
  const n = Number(v ?? dflt);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new ClawkeepError("config_invalid", `${name}: seconds, > 0`);
  return Math.round(n * 1000);
}

export async function syncCmd(o: TransferOpts & { writeBack?: string; interval?: string }): Promise<void> {
  const env = stateEnv();
  const local = needDir(o.local, env);
  const url = await needRemote(o.remote, env);
  const { openState } = await import("../../state/crypt.js");
  const { SyncLoop } = await import("../../state/sync.js");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(local, { recursive: true });
  const ctx = await openState(url, env);
  const loop = new SyncLoop(ctx, {
    local,
    delete: o.delete !== false,
    transfers: transfers(o.transfers),
    writeBackMs: seconds("--write-back", o.writeBack, 5),
    intervalMs: seconds("--interval", o.interval, 60),
    log,
  });
  await loop.start();
  // SIGTERM/SIGINT: stop watching, push what is pending, exit (non-zero if that push failed).
  // The handlers go in before the "syncing" line: a supervisor may signal as soon as it sees it.
  const stop = new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  log(`syncing ${local} <-> ${ctx.remote.label}`);
  await stop;
  try {
    await loop.flush();
    log("flushed");
  } finally {
    ctx.remote.close();
  }
}

export async function rcloneConfigCmd(o: { remote?: string; output: string; envAuth?: boolean }): Promise<void> {
  const env = stateEnv();
  const url = await needRemote(o.remote, env);
  const { resolveCryptSecrets, StateKeyError } = await import("../../state/keys.js");
  const { rcloneConf, writePrivate } = await import("../../state/rclone-config.js");
  let secrets;
  try {
    secrets = resolveCryptSecrets(env);
  } catch (e) {
    throw new ClawkeepError("config_invalid", e instanceof StateKeyError ? "MASTER_KEY (or RCLONE_CRYPT_PASSWORD) is not set" : "RCLONE_CRYPT_PASSWORD(2) is not a valid obscured value");
  }
  const conf = rcloneConf(url, env, secrets, { envAuth: o.envAuth });
  await writePrivate(o.output, conf.text);
  log(`wrote ${o.output} (mode 0600); crypt remote: ${conf.cryptRemote}`);
}

export async function upCmd(cmd: string[], o: { local?: string; remote?: string; mount?: boolean; writeBack?: string; interval?: string }): Promise<void> {
  const env = stateEnv();
  const { remoteUrlFrom } = await import("../../state/remote.js");
  const { up } = await import("../../state/up.js");
  const code = await up(
    cmd,
    {
      local: needDir(o.local ?? env.OPENCLAW_STATE_DIR ?? "/data/openclaw", env),
      remote: remoteUrlFrom(o.remote, env),
      mount: o.mount !== false,
      writeBackMs: seconds("--write-back", o.writeBack, 5),
      intervalMs: seconds("--interval", o.interval, 60),
      log,
    },
    env,
  );
  process.exitCode = code;
}

// `openclaw up [-- CMD…]`: `state up` for an OpenClaw gateway (docs/openclaw.md). The config is
// bootstrapped when none exists, the gateway gets OPENCLAW_STATE_DIR and the derived token as
// OPENCLAW_GATEWAY_TOKEN, and it counts as started once its /health answers.
export async function openclawUpCmd(cmd: string[], o: { local?: string; remote?: string; mount?: boolean; writeBack?: string; interval?: string; port?: string; readyTimeout?: string }): Promise<void> {
  const env = stateEnv();
  const { remoteUrlFrom } = await import("../../state/remote.js");
  const { up } = await import("../../state/up.js");
  const oc = await import("../../state/openclaw.js");
  const port = Number(o.port ?? oc.OPENCLAW_DEFAULT_PORT);
  if (!Number.isSafeInteger(port) || port < 1 || port > 65_535) throw new ClawkeepError("config_invalid", "--port: 1..65535");
  const local = needDir(o.local ?? env.OPENCLAW_STATE_DIR ?? "/data/openclaw", env);
  const code = await up(
    cmd.length > 0 ? cmd : ["openclaw", "gateway", "--port", String(port)],
    {
      local,
      remote: remoteUrlFrom(o.remote, env),
      // OpenClaw 2026.9 checks that a file keeps its inode across its own atomic writes, which
      // rclone's FUSE mount does not promise: its gateway refuses to start there (measured,
      // docs/openclaw.md). So the sync fallback is the default here, and --mount opts in.
      mount: o.mount === true,
      noMountReason: o.mount === false ? undefined : "OpenClaw refuses an rclone mount as its state dir; --mount tries anyway",
      writeBackMs: seconds("--write-back", o.writeBack, 5),
      intervalMs: seconds("--interval", o.interval, 60),
      log,
      exclude: oc.OPENCLAW_UNSYNCED,
      readyUrl: `http://127.0.0.1:${port}/health`,
      readyTimeoutMs: seconds("--ready-timeout", o.readyTimeout, 120),
      childEnv: (token) => ({ OPENCLAW_STATE_DIR: local, ...(token && !env[oc.TOKEN_ENV] ? { [oc.TOKEN_ENV]: token } : {}) }),
      prepare: async (dir) => {
        if (await oc.bootstrapOpenclawConfig(dir, port)) log(`Bootstrapped ${oc.OPENCLAW_CONFIG} (gateway token from ${oc.TOKEN_ENV}).`);
        else log(`Using the existing ${oc.OPENCLAW_CONFIG}.`);
      },
    },
    env,
  );
  process.exitCode = code;
}
