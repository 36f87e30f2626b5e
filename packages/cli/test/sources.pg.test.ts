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
import { type DozerProcess, freePort, getJson, postJson, spawnDozer, until } from './helpers.js';

// A Postgres table behind `dozer run`: the snapshot, live changes, exact
// values in REST JSON, the slot confirmed only for what the store holds, and a
// restart that serves the same rows again.
const SLOT = 'dozer_cli_e2e';
// pg's index pulls in pg-pool, which the test runner's ESM loader mangles; the client alone is enough.
const Client = createRequire(import.meta.url)('pg/lib/client.js') as typeof pg.Client;
const PUBLICATION = 'dozer_cli_e2e_pub';

await describeWithService('PostgreSQL', PG, 'dozer run over a Postgres source', () => {
  let client: pg.Client;
  let dir: string;
  let base: string;
  let file: string;
  let dozer: DozerProcess | undefined;

  const rows = async (p: string) =>
    (await postJson(`${base}${p}/query`, { $order_by: { id: 'asc' }, $limit: 1000 })).body as Array<
      Record<string, unknown>
    >;

  beforeAll(async () => {
    client = new Client(PG);
    await client.connect();
    await dropReplicationSlot((q, p) => client.query(q, p), SLOT);
    await client.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
    await client.query('DROP TABLE IF EXISTS cli_e2e_orders');
    await client.query(`CREATE TABLE cli_e2e_orders (
      id bigint PRIMARY KEY,
      customer text NOT NULL,
      amount numeric(24, 6) NOT NULL,
      placed_at timestamptz NOT NULL,
      meta jsonb
    )`);
    await client.query(`INSERT INTO cli_e2e_orders VALUES
      (9007199254740993, 'ada', 12.345678, '2024-03-01 10:00:00.123456+00', '{"vip": true}'),
      (2, 'bob', 0.000001, '2024-03-01 11:30:00.000001+00', NULL),
      (3, 'ada', 100000000000000.5, '1999-12-31 23:59:59.999999+00', '[1, 2]')`);

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-pg-e2e-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    file = path.join(dir, 'dozer.yaml');
    fs.writeFileSync(
      file,
      `version: 1
app_name: pg-e2e
home_dir: ./home
connections:
${pgConnectionYaml({ slot: SLOT, publication: PUBLICATION, tables: ['cli_e2e_orders'] })}sources:
  - name: orders
    connection: shop
    table_name: cli_e2e_orders
sql: |
  SELECT customer, COUNT(*) AS orders, SUM(amount) AS total
  FROM orders GROUP BY customer INTO by_customer;
endpoints:
  - name: orders
    path: /orders
    table_name: orders
  - name: by_customer
    path: /by-customer
    table_name: by_customer
    index:
      primary_key: [customer]
api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
    );
  }, 60_000);

  afterAll(async () => {
    dozer?.child.kill('SIGKILL');
    await dozer?.exited;
    await dropReplicationSlot((q, p) => client.query(q, p), SLOT);
    await client.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
    await client.query('DROP TABLE IF EXISTS cli_e2e_orders');
    await client.end();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    dozer = spawnDozer(['run', '-c', file], { env: { PG_PASSWORD: PG.password } });
    await dozer.waitFor('Serving 2 endpoint(s)', 90_000);
  };

  it('serves the snapshot with exact values, then follows live changes', async () => {
    await start();
    await until(async () => (await rows('/orders')).length === 3, 60_000, 'the snapshot of 3 orders');
    expect(await rows('/orders')).toEqual([
      { id: '2', customer: 'bob', amount: '0.000001', placed_at: '2024-03-01T11:30:00.000001Z', meta: null },
      {
        id: '3',
        customer: 'ada',
        amount: '100000000000000.500000',
        placed_at: '1999-12-31T23:59:59.999999Z',
        meta: [1, 2],
      },
      {
        id: '9007199254740993',
        customer: 'ada',
        amount: '12.345678',
        placed_at: '2024-03-01T10:00:00.123456Z',
        meta: { vip: true },
      },
    ]);
    expect((await getJson(`${base}/orders/9007199254740993`)).body).toMatchObject({ customer: 'ada' });

    await client.query(`INSERT INTO cli_e2e_orders VALUES (4, 'cy', 1.5, now(), NULL)`);
    await client.query(`UPDATE cli_e2e_orders SET amount = 2.000001, customer = 'bob' WHERE id = 3`);
    await client.query(`DELETE FROM cli_e2e_orders WHERE id = 2`);
    await until(
      async () =>
        JSON.stringify((await rows('/orders')).map((r) => r.id)) ===
        JSON.stringify(['3', '4', '9007199254740993']),
      30_000,
      'the insert, update and delete to reach REST',
    );
    const byCustomer = (await postJson(`${base}/by-customer/query`, { $order_by: { customer: 'asc' } })).body;
    expect(byCustomer).toEqual([
      { customer: 'ada', orders: '1', total: '12.345678' },
      { customer: 'bob', orders: '1', total: '2.000001' },
      { customer: 'cy', orders: '1', total: '1.500000' },
    ]);
  });

  it('confirms the slot only up to what the store holds', async () => {
    const lsnOf = async () =>
      (
        await client.query<{ lag: string }>(
          `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1`,
          [SLOT],
        )
      ).rows[0]?.lag;
    await client.query(`INSERT INTO cli_e2e_orders VALUES (5, 'dee', 3, now(), NULL)`);
    await until(async () => (await rows('/orders')).some((r) => r.id === '5'), 30_000, 'order 5 in REST');
    const { rows: current } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await until(
      async () => {
        const r = await client.query<{ ok: boolean }>(
          `SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1`,
          [SLOT, current[0]!.lsn],
        );
        return r.rows[0]?.ok === true;
      },
      30_000,
      `the slot confirmed past the insert (lag now ${await lsnOf()} bytes)`,
    );
  });

  it('serves the same rows after a restart, with nothing duplicated', async () => {
    const before = await rows('/orders');
    dozer!.child.kill('SIGINT');
    expect(await dozer!.exited).toBe(0);
    await client.query(`INSERT INTO cli_e2e_orders VALUES (6, 'eve', 4, now(), NULL)`);
    await start();
    await until(
      async () => (await rows('/orders')).length === before.length + 1,
      60_000,
      'the rows after restart',
    );
    const after = await rows('/orders');
    expect(after.filter((r) => r.id !== '6')).toEqual(before);
    expect(after.find((r) => r.id === '6')).toMatchObject({ customer: 'eve', amount: '4.000000' });
  });
});
