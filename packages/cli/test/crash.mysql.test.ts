import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService, MYSQL } from '../../../test/support/services.js';
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

// `dozer run` over the MariaDB binlog, killed with SIGKILL at random moments
// while a writer keeps inserting, updating and deleting in small
// transactions, and restarted, again and again; at the end the API must
// serve exactly what MariaDB itself computes with the same SQL over the
// final tables. DOZER_CRASH_KILLS sets the number of kills (`pnpm soak
// --source mysql` runs many more); DOZER_CRASH_SEED repeats a schedule.

const KILLS = killCount(12);
const ORDERS = 'crash_mysql_orders';
const CUSTOMERS = 'crash_mysql_customers';
const log = (line: string) => {
  if (process.env.DOZER_CRASH_VERBOSE) process.stderr.write(`${line}\n`);
};

await describeWithService('MariaDB', MYSQL, 'crash recovery over a MariaDB source', () => {
  let db: mysql.Connection;
  let dir: string;

  const dropAll = () => db.query(`DROP TABLE IF EXISTS ${ORDERS}, ${CUSTOMERS}`);

  beforeAll(async () => {
    db = await mysql.createConnection(MYSQL);
    await dropAll();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-crash-mysql-'));
  });

  afterAll(async () => {
    await dropAll().catch(() => {});
    await db.end();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    `serves exactly what MariaDB computes after ${KILLS} kills under a change load`,
    async () => {
      const seed = crashSeed();
      const random = seededRandom(seed ^ 0x5bd1);
      const regions = ['north', 'south', 'east', 'west', 'centre'];
      const statuses = ['new', 'paid', 'shipped'];
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
      const amount = () => (1 + Math.floor(random() * 49_900) / 100).toFixed(2);
      await db.query(
        `CREATE TABLE ${CUSTOMERS} (id INT PRIMARY KEY, region VARCHAR(20) NOT NULL) ENGINE=InnoDB`,
      );
      await db.query(`CREATE TABLE ${ORDERS} (
        id BIGINT PRIMARY KEY,
        customer_id INT NOT NULL,
        amount DECIMAL(12, 2) NOT NULL,
        status VARCHAR(20) NOT NULL
      ) ENGINE=InnoDB`);
      let customers = 30;
      let orders = 300;
      await db.query(
        `INSERT INTO ${CUSTOMERS} VALUES ${Array.from({ length: customers }, (_, i) => `(${i + 1}, '${regions[(i + 1) % 5]}')`).join(', ')}`,
      );
      await db.query(
        `INSERT INTO ${ORDERS} VALUES ${Array.from(
          { length: orders },
          (_, i) =>
            `(${i + 1}, ${1 + ((i + 1) % 35)}, ${((i + 1) % 500) + 0.25}, '${statuses[(i + 1) % 3]}')`,
        ).join(', ')}`,
      );

      const port = await freePort();
      const configFile = path.join(dir, 'dozer.yaml');
      fs.writeFileSync(
        configFile,
        `version: 1
app_name: crash-mysql
# Checkpoints often, so that most kills land between two of them and the restart resumes.
checkpoint: { interval_ms: 300 }
home_dir: ./home
connections:
  - name: shop
    kind: mysql
    config:
      host: ${MYSQL.host}
      port: ${MYSQL.port}
      user: ${MYSQL.user}
      password: \${MYSQL_PASSWORD}
      database: ${MYSQL.database}
      server_id: 7431
      tables: [${CUSTOMERS}, ${ORDERS}]
sources:
  - { name: customers, connection: shop, table_name: ${CUSTOMERS} }
  - { name: orders, connection: shop, table_name: ${ORDERS} }
${crashSqlYaml()}api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
      );

      // The change load: small transactions of inserts, updates (amounts, statuses, customers,
      // regions) and deletes, about 200 changes a second, on a connection of its own.
      const startLoad = async (): Promise<Load> => {
        const writer = await mysql.createConnection(MYSQL);
        let changes = 0;
        let stopped = false;
        const step = async () => {
          const r = random();
          if (r < 0.35) {
            await writer.query(`INSERT INTO ${ORDERS} VALUES (?, ?, ?, ?)`, [
              ++orders,
              1 + Math.floor(random() * (customers + 5)),
              amount(),
              pick(statuses),
            ]);
          } else if (r < 0.6) {
            await writer.query(`UPDATE ${ORDERS} SET amount = ?, status = ? WHERE id = ?`, [
              amount(),
              pick(statuses),
              1 + Math.floor(random() * orders),
            ]);
          } else if (r < 0.7) {
            await writer.query(`UPDATE ${ORDERS} SET customer_id = ? WHERE id = ?`, [
              1 + Math.floor(random() * (customers + 5)),
              1 + Math.floor(random() * orders),
            ]);
          } else if (r < 0.85) {
            await writer.query(`DELETE FROM ${ORDERS} WHERE id = ?`, [1 + Math.floor(random() * orders)]);
          } else if (r < 0.93) {
            await writer.query(`UPDATE ${CUSTOMERS} SET region = ? WHERE id = ?`, [
              pick(regions),
              1 + Math.floor(random() * customers),
            ]);
          } else if (r < 0.97) {
            await writer.query(`INSERT INTO ${CUSTOMERS} VALUES (?, ?)`, [++customers, pick(regions)]);
          } else {
            await writer.query(`DELETE FROM ${CUSTOMERS} WHERE id = ?`, [
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
        name: 'mysql',
        configFile,
        baseUrl: `http://127.0.0.1:${port}`,
        endpoints: CRASH_ENDPOINTS,
        env: { MYSQL_PASSWORD: MYSQL.password },
        startLoad,
        // MariaDB's own answer over the final tables (decimals as text, compared by value).
        expected: () =>
          serverOracle(async (sql) => ({ rows: (await db.query(sql))[0] as Row[] }), ORDERS, CUSTOMERS),
      };
      log(`mysql crash test: seed ${seed}`);
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
