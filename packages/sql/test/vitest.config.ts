import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Runs the DuckDB oracle alone until the root config has an `oracle` project:
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
