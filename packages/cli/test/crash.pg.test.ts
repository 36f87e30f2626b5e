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
  type Load,
  type Row,
  runCrashLoop,
  seededRandom,
} from './crash/harness.js';
import { CRASH_ENDPOINTS, crashSqlYaml, serverOracle } from './crash/oracle.js';
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
      const regions = ['north', 'south', 'east', 'west', 'centre'];
      const statuses = ['new', 'paid', 'shipped'];
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
      const amount = () => (1 + Math.floor(random() * 49_900) / 100).toFixed(2);
      await client.query(`CREATE TABLE crash_customers (id integer PRIMARY KEY, region text NOT NULL)`);
      await client.query(`CREATE TABLE crash_orders (
        id bigint PRIMARY KEY,
        customer_id integer NOT NULL,
        amount numeric(12, 2) NOT NULL,
        status text NOT NULL
      )`);
      let customers = 30;
      let orders = 300;
      await client.query(
        `INSERT INTO crash_customers SELECT g, (ARRAY['north','south','east','west','centre'])[1 + g % 5] FROM generate_series(1, ${customers}) g`,
      );
      await client.query(
        `INSERT INTO crash_orders SELECT g, 1 + g % 35, (g % 500) + 0.25, (ARRAY['new','paid','shipped'])[1 + g % 3] FROM generate_series(1, ${orders}) g`,
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

      // The change load: small transactions of inserts, updates (amounts, statuses, customers,
      // regions) and deletes, about 200 changes a second, on a connection of its own.
      const startLoad = async (): Promise<Load> => {
        const writer = new Client(PG);
        await writer.connect();
        let changes = 0;
        let stopped = false;
        const step = async () => {
          const r = random();
          if (r < 0.35) {
            await writer.query('INSERT INTO crash_orders VALUES ($1, $2, $3, $4)', [
              ++orders,
              1 + Math.floor(random() * (customers + 5)),
              amount(),
              pick(statuses),
            ]);
          } else if (r < 0.6) {
            await writer.query('UPDATE crash_orders SET amount = $2, status = $3 WHERE id = $1', [
              1 + Math.floor(random() * orders),
              amount(),
              pick(statuses),
            ]);
          } else if (r < 0.7) {
            await writer.query('UPDATE crash_orders SET customer_id = $2 WHERE id = $1', [
              1 + Math.floor(random() * orders),
              1 + Math.floor(random() * (customers + 5)),
            ]);
          } else if (r < 0.85) {
            await writer.query('DELETE FROM crash_orders WHERE id = $1', [1 + Math.floor(random() * orders)]);
          } else if (r < 0.93) {
            await writer.query('UPDATE crash_customers SET region = $2 WHERE id = $1', [
              1 + Math.floor(random() * customers),
              pick(regions),
            ]);
          } else if (r < 0.97) {
            await writer.query('INSERT INTO crash_customers VALUES ($1, $2)', [++customers, pick(regions)]);
          } else {
            await writer.query('DELETE FROM crash_customers WHERE id = $1', [
              1 + Math.floor(random() * customers),
            ]);
          }
          changes++;
        };
        const loop = (async () => {
          while (!stopped) {
            await writer.query('BEGIN');
            const n = 1 + Math.floor(random() * 8);
            for (let i = 0; i < n; i++) await step();
            await writer.query('COMMIT');
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
        return {
          stop: async () => {
            stopped = true;
            await loop;
            await writer.end();
          },
          changes: () => changes,
        };
      };

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
