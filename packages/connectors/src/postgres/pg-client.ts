import { createRequire } from 'node:module';
import type pg from 'pg';

/**
 * `pg`'s Client, loaded from `pg/lib/client.js` rather than the package
 * root: the root also loads `pg-pool`, whose `import` export condition
 * gives an ES module where `pg` requires a class when a resolver applies
 * the `import` condition to `require` calls (the repo's vitest config
 * does). The connector needs no pool.
 */
export const PgClient = createRequire(import.meta.url)('pg/lib/client.js') as typeof pg.Client;
