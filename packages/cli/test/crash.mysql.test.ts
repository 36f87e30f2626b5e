import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService, MYSQL, mysqlConnectionYaml } from '../../../test/support/services.js';
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
      await db.query(
        `CREATE TABLE ${CUSTOMERS} (id INT PRIMARY KEY, region VARCHAR(20) NOT NULL) ENGINE=InnoDB`,
      );
      await db.query(`CREATE TABLE ${ORDERS} (
        id BIGINT PRIMARY KEY,
        customer_id INT NOT NULL,
        amount DECIMAL(12, 2) NOT NULL,
        status VARCHAR(20) NOT NULL
      ) ENGINE=InnoDB`);
      await db.query(
        `INSERT INTO ${CUSTOMERS} VALUES ${Array.from({ length: 30 }, (_, i) => `(${i + 1}, '${regions[(i + 1) % 5]}')`).join(', ')}`,
      );
      await db.query(
        `INSERT INTO ${ORDERS} VALUES ${Array.from(
          { length: 300 },
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
${mysqlConnectionYaml({ serverId: 7431, tables: [CUSTOMERS, ORDERS] })}sources:
  - { name: customers, connection: shop, table_name: ${CUSTOMERS} }
  - { name: orders, connection: shop, table_name: ${ORDERS} }
${crashSqlYaml()}api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
      );

      const startLoad = () =>
        startOrdersLoad({
          connect: async () => {
            const writer = await mysql.createConnection(MYSQL);
            return {
              query: (sql, params) => writer.query(sql, params),
              close: () => writer.end(),
            };
          },
          param: () => '?',
          orders: { table: ORDERS, count: 300 },
          customers: { table: CUSTOMERS, count: 30 },
          random,
        });

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
