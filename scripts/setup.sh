#!/usr/bin/env bash
# Installs what the repo needs to build and run: pnpm (pinned in package.json's
# `packageManager`, installed with npm because corepack's pnpm fails here) and
# the workspace's dependencies. Idempotent and quiet when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "Dozer-TS needs Node.js 20.19 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

want=$(node -p 'require("./package.json").packageManager.split("@")[1]')
have=$(pnpm --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "[setup] installing pnpm $want with npm (found: ${have:-none})"
  npm install -g --silent "pnpm@$want" >/dev/null
fi

# Skip the install when the lockfile has not changed since the last one.
stamp=node_modules/.dozer-install-stamp
if [ ! -f "$stamp" ] || [ pnpm-lock.yaml -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "[setup] pnpm install"
  if [ "${CI:-}" = true ]; then pnpm install --frozen-lockfile --reporter=silent; else pnpm install --reporter=silent; fi
  touch "$stamp"
fi
