import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describeWithService,
  dropReplicationSlot,
  PG,
  pgConnectionYaml,
} from '../../../test/support/services.js';
import {
  type CrashScenario,
  crashSeed,
  crashTimeoutMs,
  killCount,
  type Row,
  runCrashLoop,
  seededRandom,
} from './crash/harness.js';
import { CRASH_ENDPOINTS, crashSqlYaml, serverOracle } from './crash/oracle.js';
import { startOrdersLoad } from './crash/orders-load.js';
import { freePort } from './helpers.js';

// `dozer run` over Postgres logical replication, killed with SIGKILL at random
// moments while a writer keeps inserting, updating and deleting, and
// restarted, again and again; at the end the API must serve exactly what
// Postgres itself computes with the same SQL over the final tables.
// DOZER_CRASH_KILLS sets the number of kills (`pnpm soak` runs many more);
// DOZER_CRASH_SEED repeats a failing schedule.

const KILLS = killCount(20);
const SLOT = 'dozer_crash';
const PUBLICATION = 'dozer_crash_pub';
// pg's index pulls in pg-pool, which the test runner's ESM loader mangles; the client alone is enough.
const Client = createRequire(import.meta.url)('pg/lib/client.js') as typeof pg.Client;
const log = (line: string) => {
  if (process.env.DOZER_CRASH_VERBOSE) process.stderr.write(`${line}\n`);
};

await describeWithService('PostgreSQL', PG, 'crash recovery over a Postgres source', () => {
  let client: pg.Client;
  let dir: string;

  const dropAll = async () => {
    await dropReplicationSlot((q, p) => client.query(q, p), SLOT);
    await client.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
    await client.query('DROP TABLE IF EXISTS crash_orders, crash_customers');
  };

  beforeAll(async () => {
    client = new Client(PG);
    await client.connect();
    await dropAll();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-crash-pg-'));
  });

  afterAll(async () => {
    await dropAll().catch(() => {});
    await client.end();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    `serves exactly what Postgres computes after ${KILLS} kills under a change load`,
    async () => {
      const seed = crashSeed();
      const random = seededRandom(seed ^ 0x9e37);
      await client.query(`CREATE TABLE crash_customers (id integer PRIMARY KEY, region text NOT NULL)`);
      await client.query(`CREATE TABLE crash_orders (
        id bigint PRIMARY KEY,
        customer_id integer NOT NULL,
        amount numeric(12, 2) NOT NULL,
        status text NOT NULL
      )`);
      await client.query(
        `INSERT INTO crash_customers SELECT g, (ARRAY['north','south','east','west','centre'])[1 + g % 5] FROM generate_series(1, 30) g`,
      );
      await client.query(
        `INSERT INTO crash_orders SELECT g, 1 + g % 35, (g % 500) + 0.25, (ARRAY['new','paid','shipped'])[1 + g % 3] FROM generate_series(1, 300) g`,
      );

      const port = await freePort();
      const configFile = path.join(dir, 'dozer.yaml');
      fs.writeFileSync(
        configFile,
        `version: 1
app_name: crash-pg
# Checkpoints often, so that most kills land between two of them and the restart resumes.
checkpoint: { interval_ms: 300 }
home_dir: ./home
connections:
${pgConnectionYaml({ slot: SLOT, publication: PUBLICATION, tables: ['crash_customers', 'crash_orders'] })}sources:
  - { name: customers, connection: shop, table_name: crash_customers }
  - { name: orders, connection: shop, table_name: crash_orders }
${crashSqlYaml()}api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
      );

      const startLoad = () =>
        startOrdersLoad({
          connect: async () => {
            const writer = new Client(PG);
            await writer.connect();
            return {
              query: (sql, params) => writer.query(sql, params),
              close: () => writer.end(),
            };
          },
          param: (i) => `$${i}`,
          orders: { table: 'crash_orders', count: 300 },
          customers: { table: 'crash_customers', count: 30 },
          random,
        });

      const scenario: CrashScenario = {
        name: 'postgres',
        configFile,
        baseUrl: `http://127.0.0.1:${port}`,
        endpoints: CRASH_ENDPOINTS,
        env: { PG_PASSWORD: PG.password },
        startLoad,
        expected: () =>
          serverOracle(
            async (sql) => ({ rows: (await client.query(sql)).rows as Row[] }),
            'crash_orders',
            'crash_customers',
          ),
      };
      log(`postgres crash test: seed ${seed}`);
      const report = await runCrashLoop(scenario, { kills: KILLS, seed, log });
      expect(report.kills).toBe(KILLS);
      // The harness checked that every start after a completed checkpoint resumed from the newest one.
      expect(report.checkpoints).toBeGreaterThan(0);
      expect(report.resumed).toBeGreaterThan(0);
      expect(report.changes).toBeGreaterThan(KILLS * 10);
    },
    crashTimeoutMs(KILLS),
  );
});
