import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The DuckDB oracle alone, without the other projects of the root config (which also has it as the
// `oracle` project: pnpm exec vitest run --project oracle):
//   pnpm exec vitest run -c packages/sql/test/vitest.config.ts
// Same resolve conditions as the root config, so @dozer/* resolve to their sources.
const conditions = ['@dozer/source', 'node', 'import', 'module', 'default'];

export default defineConfig({
  root: fileURLToPath(new URL('../../..', import.meta.url)),
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@dozer/source'] } },
  test: {
    name: 'oracle',
    include: ['packages/*/test/**/*.oracle.test.ts'],
    testTimeout: 120_000,
  },
});
