#!/usr/bin/env node
// The long crash soak: the crash tests of packages/cli/test/crash.* with many
// more kills than CI runs (20 per source).
//
//   pnpm soak --kills 500                 # every source
//   pnpm soak --kills 100 --source pg     # pg | mysql | files | generator
//   pnpm soak --kills 50 --seed 1234      # repeat a kill schedule
//   pnpm soak --split --kills 200         # the separate roles (split-crash.e2e), killed in turn
//
// Postgres must be prepared first (bash scripts/services.sh).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '500' },
    source: { type: 'string', default: 'all' },
    seed: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    split: { type: 'boolean', default: false },
  },
});
const kills = Number(values.kills);
if (!Number.isInteger(kills) || kills < 1) {
  console.error(`soak: --kills must be a positive integer, got ${values.kills}`);
  process.exit(2);
}
const files = values.split
  ? ['packages/cli/test/split-crash.e2e.test.ts']
  : {
      pg: ['packages/cli/test/crash.pg.test.ts'],
      mysql: ['packages/cli/test/crash.mysql.test.ts'],
      files: ['packages/cli/test/crash.e2e.test.ts', '-t', 'object storage'],
      generator: ['packages/cli/test/crash.e2e.test.ts', '-t', 'generator'],
      all: [
        'packages/cli/test/crash.pg.test.ts',
        'packages/cli/test/crash.mysql.test.ts',
        'packages/cli/test/crash.e2e.test.ts',
      ],
    }[values.source];
if (!files) {
  console.error(`soak: --source must be pg, mysql, files, generator or all, got ${values.source}`);
  process.exit(2);
}
const env = {
  ...process.env,
  DOZER_CRASH_KILLS: String(kills),
  ...(values.quiet ? {} : { DOZER_CRASH_VERBOSE: '1' }),
  ...(values.seed !== undefined ? { DOZER_CRASH_SEED: values.seed } : {}),
};
console.log(
  values.split
    ? `soak: ${kills} kills of the separate roles`
    : `soak: ${kills} kills per source (${values.source})`,
);
const r = spawnSync('pnpm', ['exec', 'vitest', 'run', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
