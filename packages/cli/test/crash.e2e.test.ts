import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createConnectorRegistry, silentLogger } from '@dozer/connectors';
import type { Operation, Value } from '@dozer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { makeFilesLake } from './crash/files-lake.js';
import {
  type CrashScenario,
  crashSeed,
  crashTimeoutMs,
  killCount,
  type Load,
  runCrashLoop,
  seededRandom,
} from './crash/harness.js';
import { CRASH_ENDPOINTS, crashSqlYaml, duckdbOracle } from './crash/oracle.js';
import { freePort } from './helpers.js';

// `dozer run` killed with SIGKILL at random moments while its sources change,
// and restarted, again and again; at the end the API must serve exactly what
// DuckDB computes with the same SQL over the sources' final contents. Every
// start after a completed checkpoint must resume from the newest one (store
// rolled back to its epoch, SQL state restored, sources from their positions)
// rather than rebuild.
// DOZER_CRASH_KILLS sets the number of kills (`pnpm soak` runs many more);
// DOZER_CRASH_SEED repeats a failing kill schedule.

const KILLS = killCount(20);
const log = (line: string) => {
  if (process.env.DOZER_CRASH_VERBOSE) process.stderr.write(`${line}\n`);
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-crash-'));
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function apiYaml(): Promise<{ yaml: string; base: string }> {
  const port = await freePort();
  return {
    base: `http://127.0.0.1:${port}`,
    yaml: `api:\n  rest: { host: 127.0.0.1, port: ${port} }\n  grpc: { host: 127.0.0.1, port: ${await freePort()} }\n`,
  };
}

const sqlLiteral = (v: Value): string => {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return `'${v.replaceAll("'", "''")}'`;
  return String(v);
};

describe('generator source', () => {
  it(
    `serves exactly the generated data after ${KILLS} kills`,
    async () => {
      const seed = crashSeed();
      const home = path.join(dir, 'generator');
      fs.mkdirSync(home);
      const generator = {
        seed: 7,
        batch_size: 50,
        tables: [
          {
            name: 'customers',
            columns: [
              { name: 'id', type: 'int', primary_key: true, nullable: false },
              {
                name: 'region',
                type: 'string',
                nullable: false,
                generator: { kind: 'one_of', values: ['north', 'south', 'east', 'west', 'centre'] },
              },
            ],
            rows: 40,
            rate: 80,
            max_ops: 400,
            update_ratio: 0.6,
            delete_ratio: 0.1,
          },
          {
            name: 'orders',
            columns: [
              { name: 'id', type: 'int', primary_key: true, nullable: false },
              {
                name: 'customer_id',
                type: 'int',
                nullable: false,
                generator: { kind: 'range', min: 1, max: 60 },
              },
              {
                name: 'amount',
                type: 'decimal',
                precision: 12,
                scale: 2,
                nullable: false,
                generator: { kind: 'range', min: 1, max: 500 },
              },
              {
                name: 'status',
                type: 'string',
                nullable: false,
                generator: { kind: 'one_of', values: ['new', 'paid', 'shipped'] },
              },
            ],
            rows: 400,
            rate: 600,
            max_ops: 3000,
            update_ratio: 0.4,
            delete_ratio: 0.15,
          },
        ],
      };
      const api = await apiYaml();
      const configFile = path.join(home, 'dozer.yaml');
      fs.writeFileSync(
        configFile,
        `version: 1
app_name: crash-generator
# Checkpoints often, so that most kills land between two of them and the restart resumes.
checkpoint: { interval_ms: 300 }
home_dir: ./home
# The SQL operators on two worker threads here (the files test keeps them on the main thread).
threads: 2
connections:
  - name: gen
    kind: generator
    config: ${JSON.stringify(generator)}
sources:
  - { name: customers, connection: gen, table_name: customers }
  - { name: orders, connection: gen, table_name: orders }
${crashSqlYaml()}${api.yaml}`,
      );
      // The oracle: the same generator config run in this process to its end (the
      // generator's output is a function of its seed and config), into DuckDB.
      const oracle = (async () => {
        const registry = createConnectorRegistry();
        const factory = await registry.resolve('generator');
        const config = (
          parseYaml(fs.readFileSync(configFile, 'utf8')) as { connections: [{ config: unknown }] }
        ).connections[0].config;
        const connector = factory.create(config, { name: 'gen', logger: silentLogger });
        const tables = new Map<string, Map<string, readonly Value[]>>([
          ['customers', new Map()],
          ['orders', new Map()],
        ]);
        const apply = (table: string, op: Operation) => {
          const rows = tables.get(table)!;
          if (op.kind !== 'insert') rows.delete(String(op.old[0]));
          if (op.kind !== 'delete') rows.set(String(op.new[0]), op.new);
        };
        try {
          await connector.start({
            tables: [
              { name: 'customers', resumeFrom: null },
              { name: 'orders', resumeFrom: null },
            ],
            signal: new AbortController().signal,
            sink: {
              write: async (batch) => {
                for (const op of batch.ops) apply(batch.table, op);
              },
              snapshotDone: async () => {},
            },
          });
        } finally {
          await connector.close();
        }
        const values = (rows: Map<string, readonly Value[]>) =>
          [...rows.values()].map((r) => `(${r.map(sqlLiteral).join(', ')})`).join(',\n');
        return duckdbOracle([
          'CREATE TABLE customers (id BIGINT, region VARCHAR)',
          'CREATE TABLE orders (id BIGINT, customer_id BIGINT, amount DECIMAL(12, 2), status VARCHAR)',
          `INSERT INTO customers VALUES ${values(tables.get('customers')!)}`,
          `INSERT INTO orders VALUES ${values(tables.get('orders')!)}`,
        ]);
      })();
      const scenario: CrashScenario = {
        name: 'generator',
        configFile,
        baseUrl: api.base,
        endpoints: CRASH_ENDPOINTS,
        // The generator is its own change load: every run generates while it is killed.
        startLoad: async () => ({ stop: async () => {}, changes: () => 0 }),
        expected: () => oracle,
      };
      log(`generator crash test: seed ${seed}`);
      const report = await runCrashLoop(scenario, { kills: KILLS, seed, log });
      expect(report.kills).toBe(KILLS);
      // The harness checked that every start after a completed checkpoint resumed from the newest one.
      expect(report.checkpoints).toBeGreaterThan(0);
      expect(report.resumed).toBeGreaterThan(0);
      expect(report.expectedRows).toBeGreaterThan(100);
    },
    crashTimeoutMs(KILLS),
  );
});

describe('object storage source (local directory)', () => {
  it(
    `loads every file exactly once across ${KILLS} kills while files keep arriving`,
    async () => {
      const seed = crashSeed();
      const home = path.join(dir, 'files');
      const data = path.join(home, 'data');
      fs.mkdirSync(path.join(data, 'orders'), { recursive: true });
      fs.mkdirSync(path.join(data, 'customers'), { recursive: true });
      const random = seededRandom(seed ^ 0x5eed);
      const lake = makeFilesLake(data, random);
      lake.addCustomers(30);
      lake.addOrders(200);

      const api = await apiYaml();
      const configFile = path.join(home, 'dozer.yaml');
      fs.writeFileSync(
        configFile,
        `version: 1
app_name: crash-files
# Checkpoints often, so that most kills land between two of them and the restart resumes.
checkpoint: { interval_ms: 300 }
home_dir: ./home
${lake.yaml}${crashSqlYaml()}${api.yaml}`,
      );
      const scenario: CrashScenario = {
        name: 'files',
        configFile,
        baseUrl: api.base,
        endpoints: CRASH_ENDPOINTS,
        startLoad: async (): Promise<Load> => {
          let stopped = false;
          const loop = (async () => {
            for (let i = 1; !stopped; i++) {
              lake.addOrders(5 + Math.floor(random() * 30));
              if (i % 10 === 0) lake.addCustomers(2);
              await new Promise((r) => setTimeout(r, 100));
            }
          })();
          return {
            stop: async () => {
              stopped = true;
              await loop;
            },
            changes: () => lake.rows(),
          };
        },
        expected: () => duckdbOracle(lake.oracleSetup),
      };
      log(`files crash test: seed ${seed}`);
      const report = await runCrashLoop(scenario, { kills: KILLS, seed, log });
      expect(report.kills).toBe(KILLS);
      // The harness checked that every start after a completed checkpoint resumed from the newest one.
      expect(report.checkpoints).toBeGreaterThan(0);
      expect(report.resumed).toBeGreaterThan(0);
      // The load added files while the runs were killed: more than the 230 rows present at the start.
      expect(report.changes).toBeGreaterThan(230);
    },
    crashTimeoutMs(KILLS),
  );
});
