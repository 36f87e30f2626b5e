#!/usr/bin/env bash
# Runs the sample pipeline of dozer.yaml (the file `dozer init` writes) from
# source: generator → SQL → LMDB store → REST on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --conditions=@dozer/source --import tsx packages/cli/src/main.ts run -c dozer.yaml "$@"
