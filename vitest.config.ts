import { defineConfig } from 'vitest/config';

// Packages are tested on their source: the `@dozer/source` export condition
// points each workspace package at `src/index.ts`, so no build is needed.
const conditions = ['@dozer/source', 'node', 'import', 'module', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@dozer/source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'scripts/**/*.test.ts'],
          exclude: ['**/*.{pg,mysql,s3,e2e}.test.ts', '**/node_modules/**'],
        },
      },
      {
        // Incremental results against DuckDB over random change streams.
        extends: true,
        test: {
          name: 'oracle',
          include: ['packages/*/test/**/*.oracle.test.ts'],
          testTimeout: 300_000,
        },
      },
      {
        // Tests against real servers: PostgreSQL, MariaDB, an S3-compatible server.
        extends: true,
        test: {
          name: 'services',
          include: [
            'packages/*/src/**/*.{pg,mysql,s3}.test.ts',
            'packages/*/test/**/*.{pg,mysql,s3}.test.ts',
          ],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['packages/*/test/**/*.e2e.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
