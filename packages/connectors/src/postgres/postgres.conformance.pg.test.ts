import { afterAll, describe, it } from 'vitest';
import { describeWithService, PG } from '../../../../test/support/services.js';
import { runConnectorConformance } from '../testing/index.js';
import type { PostgresConfig } from './config.js';
import { PgClient } from './pg-client.js';
import { postgresConnector } from './postgres-connector.js';

const NAME = 'dz_pgconf';
const TABLES = [`${NAME}_orders`, `${NAME}_notes`];
const config: PostgresConfig = {
  host: PG.host,
  port: PG.port,
  user: PG.user,
  password: PG.password,
  database: PG.database,
  slot_name: NAME,
  publication_name: NAME,
  tables: TABLES,
  batch_size: 40,
};

async function exec(text: string): Promise<void> {
  const c = new PgClient(PG);
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

async function dropAll(): Promise<void> {
  await exec(
    `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '${NAME}' AND active_pid IS NOT NULL`,
  );
  await exec(
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${NAME}'`,
  );
  await exec(`DROP PUBLICATION IF EXISTS ${NAME}; DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
}

let ready: Promise<void> | null = null;
/** Creates the tables once: the resume checks reuse positions of earlier runs on the same slot. */
function setUp(): Promise<void> {
  ready ??= (async () => {
    await dropAll();
    await exec(
      `CREATE TABLE ${TABLES[0]} (id int PRIMARY KEY, item text NOT NULL, price numeric(10,2), at timestamptz);
       CREATE TABLE ${TABLES[1]} (id bigint PRIMARY KEY, body text, tags text[]);
       -- Old rows replayed after a resume are exact only under FULL (docs/postgres.md); the kit's
       -- resume checks compare them exactly. DEFAULT is covered by postgres.pg.test.ts.
       ALTER TABLE ${TABLES[0]} REPLICA IDENTITY FULL;
       ALTER TABLE ${TABLES[1]} REPLICA IDENTITY FULL;
       INSERT INTO ${TABLES[0]} SELECT g, 'item ' || g, g * 1.5, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 150) g;
       INSERT INTO ${TABLES[1]} SELECT g, 'note ' || g, ARRAY['a', 'b' || g] FROM generate_series(1, 60) g;`,
    );
  })();
  return ready;
}

/** The id each table's changes work on, and where in insert → update → delete it is. */
const cursor = TABLES.map(() => ({ id: 1000, step: 0 }));
/** `count` ops in all, alternating between the tables: insert a row, update it, delete it. */
async function makeChanges(count: number): Promise<void> {
  const stmts: string[] = [];
  for (let i = 0; i < count; i++) {
    const t = i % 2;
    const table = TABLES[t]!;
    const c = cursor[t]!;
    if (c.step === 0) {
      c.id++;
      stmts.push(
        t === 0
          ? `INSERT INTO ${table} VALUES (${c.id}, 'new', 9.99, now())`
          : `INSERT INTO ${table} VALUES (${c.id}, 'new', '{x}')`,
      );
    } else if (c.step === 1) {
      stmts.push(`UPDATE ${table} SET ${t === 0 ? 'item' : 'body'} = 'changed' WHERE id = ${c.id}`);
    } else stmts.push(`DELETE FROM ${table} WHERE id = ${c.id}`);
    c.step = (c.step + 1) % 3;
  }
  await exec(stmts.join(';\n'));
}

await describeWithService('PostgreSQL', PG, 'postgres connector conformance', () => {
  afterAll(dropAll);
  runConnectorConformance(
    {
      factory: postgresConnector,
      config: async () => {
        await setUp();
        return config;
      },
      invalidConfigs: [
        {
          config: { ...config, port: 'abc' },
          expectIssueAt: ['port'],
          message: 'expected an integer 1..65535, got "abc"',
        },
        { config: { host: 'h', user: 'u' }, expectIssueAt: ['database'] },
        {
          config: { ...config, tables: ['a', 'a'] },
          expectIssueAt: ['tables', 1],
          message: 'table "a" is listed twice',
        },
      ],
      makeChanges,
      liveOps: 30,
      snapshotRows: { [TABLES[0]!]: 150, [TABLES[1]!]: 60 },
      // A snapshot reads one exported snapshot that ends with it; see docs/postgres.md.
      resumeMidSnapshot: false,
      failingConfig: { config: { ...config, password: 'wrong' }, retryable: false },
      malformedPosition: 'not-a-position',
      timeoutMs: 20_000,
    },
    { describe, it: (name, fn) => it(name, fn, 60_000) },
  );
});
