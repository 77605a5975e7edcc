// What `clawkeep openclaw up` adds to the seed's boot sequence for an OpenClaw gateway: the
// config bootstrap ("if no config exists, create one with the derived gateway token") and the
// readiness probe that tells a started gateway from one that failed to start.
//
// The bootstrapped config names the token by reference (`${OPENCLAW_GATEWAY_TOKEN}`, OpenClaw's
// env substitution) and `up` puts the derived value in the gateway's environment: the gateway
// gets the same stable token on every boot, and the token itself is never written into the
// state dir, so neither the local disk nor the bucket holds it.
import { constants, promises as fs } from "node:fs";
import path from "node:path";

export const OPENCLAW_CONFIG = "openclaw.json";
export const OPENCLAW_DEFAULT_PORT = 18789;
export const TOKEN_ENV = "OPENCLAW_GATEWAY_TOKEN";
/**
 * What OpenClaw rebuilds by itself: `cache/` (its Control UI assets, ~55 MB of the ~57 MB a
 * fresh state dir holds) and `tmp/` (lock files, which would be stale on another VM anyway).
 * Checked: a state dir without them boots with its sessions, memory and config intact.
 */
export const OPENCLAW_UNSYNCED = ["cache", "tmp"] as const;

export function openclawConfig(port: number): Record<string, unknown> {
  return {
    gateway: {
      mode: "local",
      port,
      // Loopback only: Clawkeep's proxy (or an operator's tunnel) is the way in.
      bind: "loopback",
      auth: { mode: "token", token: `\${${TOKEN_ENV}}` },
      // OpenClaw's OpenAI-compatible HTTP surface: what Clawkeep's pass-through carries for a
      // chat turn (the proxy adds the gateway token as a bearer header; the WebSocket protocol
      // wants it inside its connect frame instead, which a pass-through does not rewrite).
      http: { endpoints: { chatCompletions: { enabled: true } } },
    },
  };
}

/**
 * Writes `openclaw.json` into the state dir unless one exists (the gateway's own, restored or
 * mounted, always wins). Written under a temporary name and renamed into place, so a crash
 * leaves either no config or a whole one (rename, not link: an rclone mount has no hard links;
 * the gateway, the only other writer, has not started yet).
 */
export async function bootstrapOpenclawConfig(stateDir: string, port: number): Promise<boolean> {
  const target = path.join(stateDir, OPENCLAW_CONFIG);
  try {
    await fs.lstat(target);
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const tmp = path.join(stateDir, `.${OPENCLAW_CONFIG}.${process.pid}.tmp`);
  const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(openclawConfig(port), null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, target);
    return true;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Polls `url` until it answers 2xx: "ready", or "exited" if `exited` settles first (the
 * gateway failed to start), or "timeout" once `timeoutMs` passes.
 */
export async function waitReady(url: string, exited: Promise<unknown>, timeoutMs: number): Promise<"ready" | "exited" | "timeout"> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!gone && Date.now() < deadline) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.body?.cancel();
      if (r.ok && !gone) return "ready";
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return gone ? "exited" : "timeout";
}
