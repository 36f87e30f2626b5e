#!/usr/bin/env bash
# Runs every check and test of the repo: lint (Biome), the layering check,
# the type check, then all vitest projects. Services the tests need must be
# prepared first (`bash scripts/services.sh`; .ci/run does it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== lint (biome) and layering"
pnpm exec biome check .
node scripts/check-layering.mjs
echo "== typecheck"
pnpm exec tsc -p tsconfig.json
echo "== tests"
report=$(mktemp)
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
rm -f "$report"
exit $status
