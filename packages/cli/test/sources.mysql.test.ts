import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService, MYSQL, mysqlConnectionYaml } from '../../../test/support/services.js';
import { type DozerProcess, freePort, getJson, postJson, runDozer, spawnDozer, until } from './helpers.js';

// A MariaDB table behind `dozer run`: the snapshot, live changes read from
// the binlog, exact values in REST JSON (a bigint past 2^53, decimals,
// datetime(6)), and a restart that serves the same rows again.
const TABLE = 'cli_e2e_mysql_orders';
const TYPES = 'cli_e2e_mysql_types';
const TYPE_COLUMNS = `(
  id INT PRIMARY KEY,
  i8 TINYINT, u64 BIGINT UNSIGNED, flag BIT(1), bits BIT(12),
  f FLOAT, d DOUBLE, dec0 DECIMAL(65, 30),
  c CHAR(4), vc VARCHAR(20), txt MEDIUMTEXT, e ENUM('small', 'large'), st SET('a', 'b', 'c'),
  bin BINARY(3), blb BLOB,
  dt DATE, tm TIME(6), ts TIMESTAMP(3) NULL, yr YEAR,
  j JSON
)`;
const TYPE_ROW = (id: number) =>
  `(${id}, -128, 18446744073709551615, b'1', b'101010101010', 1.5, -2.25e-300, '-12345678901234567890123456789012345.123456789012345678901234567891', 'ab', 'ünï ✓', 'long text', 'large', 'a,c', x'00ff10', x'deadbeef', '2024-02-29', '-838:59:59.000001', '2024-03-01 10:00:00.125', 2155, '{"k": [1, "x", null], "n": 1.5}')`;

await describeWithService('MariaDB', MYSQL, 'dozer run over a MariaDB source', () => {
  let db: mysql.Connection;
  let dir: string;
  let base: string;
  let file: string;
  let dozer: DozerProcess | undefined;

  const rows = async (p: string) =>
    (await postJson(`${base}${p}/query`, { $order_by: { id: 'asc' }, $limit: 1000 })).body as Array<
      Record<string, unknown>
    >;
  const ids = async () => (await rows('/orders')).map((r) => r.id);

  beforeAll(async () => {
    db = await mysql.createConnection(MYSQL);
    await db.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await db.query(`CREATE TABLE ${TABLE} (
      id BIGINT PRIMARY KEY,
      customer VARCHAR(40) NOT NULL,
      amount DECIMAL(24, 6) NOT NULL,
      placed_at DATETIME(6) NOT NULL,
      qty INT UNSIGNED NULL,
      note TEXT NULL
    ) ENGINE=InnoDB`);
    await db.query(`DROP TABLE IF EXISTS ${TYPES}`);
    await db.query(`CREATE TABLE ${TYPES} ${TYPE_COLUMNS}`);
    await db.query(`INSERT INTO ${TYPES} VALUES ${TYPE_ROW(1)}`);
    await db.query(`INSERT INTO ${TABLE} VALUES
      (9007199254740993, 'ada', 12.345678, '2024-03-01 10:00:00.123456', 1, 'first'),
      (2, 'bob', 0.000001, '2024-03-01 11:30:00.000001', NULL, NULL),
      (3, 'ada', 100000000000000.5, '1999-12-31 23:59:59.999999', 4294967295, 'ünïcødé ✓')`);

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-mysql-e2e-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    file = path.join(dir, 'dozer.yaml');
    fs.writeFileSync(
      file,
      `version: 1
app_name: mysql-e2e
home_dir: ./home
connections:
${mysqlConnectionYaml({ serverId: 7411, tables: [TABLE, TYPES] })}sources:
  - name: orders
    connection: shop
    table_name: ${TABLE}
  - name: types
    connection: shop
    table_name: ${TYPES}
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
  - name: types
    path: /types
    table_name: types
api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
    );
  }, 60_000);

  afterAll(async () => {
    dozer?.child.kill('SIGKILL');
    await dozer?.exited;
    await db?.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await db?.query(`DROP TABLE IF EXISTS ${TYPES}`);
    await db?.end();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    dozer = spawnDozer(['run', '-c', file], { env: { MYSQL_PASSWORD: MYSQL.password } });
    await dozer.waitFor('Serving 3 endpoint(s)', 90_000);
  };

  it('serves the snapshot with exact values, then follows live changes from the binlog', async () => {
    await start();
    await until(async () => (await rows('/orders')).length === 3, 60_000, 'the snapshot of 3 orders');
    expect(await rows('/orders')).toEqual([
      {
        id: '2',
        customer: 'bob',
        amount: '0.000001',
        placed_at: '2024-03-01T11:30:00.000001Z',
        qty: null,
        note: null,
      },
      {
        id: '3',
        customer: 'ada',
        amount: '100000000000000.500000',
        placed_at: '1999-12-31T23:59:59.999999Z',
        qty: '4294967295',
        note: 'ünïcødé ✓',
      },
      {
        id: '9007199254740993',
        customer: 'ada',
        amount: '12.345678',
        placed_at: '2024-03-01T10:00:00.123456Z',
        qty: '1',
        note: 'first',
      },
    ]);
    expect((await getJson(`${base}/orders/9007199254740993`)).body).toMatchObject({
      customer: 'ada',
      amount: '12.345678',
    });

    await db.query(
      `INSERT INTO ${TABLE} VALUES (9007199254740995, 'cy', 1.5, '2024-05-06 07:08:09.000010', 7, NULL)`,
    );
    await db.query(`UPDATE ${TABLE} SET amount = 2.000001, customer = 'bob' WHERE id = 3`);
    await db.query(`DELETE FROM ${TABLE} WHERE id = 2`);
    await until(
      async () =>
        JSON.stringify(await ids()) === JSON.stringify(['3', '9007199254740993', '9007199254740995']),
      30_000,
      'the insert, update and delete to reach REST',
    );
    expect((await rows('/orders')).find((r) => r.id === '9007199254740995')).toEqual({
      id: '9007199254740995',
      customer: 'cy',
      amount: '1.500000',
      placed_at: '2024-05-06T07:08:09.000010Z',
      qty: '7',
      note: null,
    });
    expect((await rows('/orders')).find((r) => r.id === '3')).toMatchObject({
      customer: 'bob',
      amount: '2.000001',
    });
    // A transaction of several statements arrives whole.
    await db.query('START TRANSACTION');
    await db.query(`UPDATE ${TABLE} SET qty = qty + 1 WHERE id = 9007199254740993`);
    await db.query(`INSERT INTO ${TABLE} VALUES (10, 'dee', 0.5, '2024-06-01 00:00:00', NULL, 'tx')`);
    await db.query('COMMIT');
    await until(async () => (await ids()).includes('10'), 30_000, 'the committed transaction');
    expect((await rows('/orders')).find((r) => r.id === '9007199254740993')).toMatchObject({ qty: '2' });
    const byCustomer = (await postJson(`${base}/by-customer/query`, { $order_by: { customer: 'asc' } })).body;
    expect(byCustomer).toEqual([
      { customer: 'ada', orders: '1', total: '12.345678' },
      { customer: 'bob', orders: '1', total: '2.000001' },
      { customer: 'cy', orders: '1', total: '1.500000' },
      { customer: 'dee', orders: '1', total: '0.500000' },
    ]);
  });

  it('gives every type the same exact REST value from the snapshot and from the binlog', async () => {
    await db.query(`INSERT INTO ${TYPES} VALUES ${TYPE_ROW(2)}`);
    await db.query(`INSERT INTO ${TYPES} (id) VALUES (3)`);
    await until(async () => (await rows('/types')).length === 3, 30_000, 'the typed rows from the binlog');
    const [snap, live, nulls] = await rows('/types');
    const expected = {
      id: '1',
      i8: '-128',
      u64: '18446744073709551615',
      flag: true,
      bits: '2730',
      f: 1.5,
      d: -2.25e-300,
      dec0: '-12345678901234567890123456789012345.123456789012345678901234567891',
      c: 'ab',
      vc: 'ünï ✓',
      txt: 'long text',
      e: 'large',
      st: 'a,c',
      bin: Buffer.from([0x00, 0xff, 0x10]).toString('base64'),
      blb: Buffer.from('deadbeef', 'hex').toString('base64'),
      dt: '2024-02-29',
      tm: '-PT838H59M59.000001S',
      ts: '2024-03-01T10:00:00.125000Z',
      yr: '2155',
      j: { k: [1, 'x', null], n: 1.5 },
    };
    expect(snap).toEqual(expected);
    expect(live).toEqual({ ...expected, id: '2' });
    expect(nulls).toEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, k === 'id' ? '3' : null])));
  });

  it('serves the same rows after a restart, with nothing lost or duplicated', async () => {
    const before = await rows('/orders');
    const types = await rows('/types');
    dozer!.child.kill('SIGINT');
    expect(await dozer!.exited).toBe(0);
    await db.query(`INSERT INTO ${TABLE} VALUES (11, 'eve', 4, '2024-07-01 12:00:00.5', NULL, NULL)`);
    await start();
    await until(
      async () => (await rows('/orders')).length === before.length + 1,
      60_000,
      'the rows after restart',
    );
    const after = await rows('/orders');
    expect(after.filter((r) => r.id !== '11')).toEqual(before);
    await until(async () => (await rows('/types')).length === 3, 30_000, 'the typed rows after restart');
    expect(await rows('/types')).toEqual(types);
    expect(after.find((r) => r.id === '11')).toEqual({
      id: '11',
      customer: 'eve',
      amount: '4.000000',
      placed_at: '2024-07-01T12:00:00.500000Z',
      qty: null,
      note: null,
    });
    // And it keeps following the binlog after the restart.
    await db.query(`DELETE FROM ${TABLE} WHERE id = 10`);
    await until(async () => !(await ids()).includes('10'), 30_000, 'the delete after restart');
    expect(await ids()).toEqual(['3', '11', '9007199254740993', '9007199254740995']);
  });
  it('rebuilds the pipeline when a followed table is truncated, and serves the table as it is', async () => {
    const types = await rows('/types');
    // The binlog has no rows for a TRUNCATE: the connector asks for a rebuild from fresh snapshots.
    await db.query(`TRUNCATE TABLE ${TABLE}`);
    await dozer!.waitFor(
      /table "cli_e2e_mysql_orders" was truncated \(TRUNCATE TABLE .*; rebuilding the whole pipeline from the sources/,
      30_000,
    );
    // None while the API restarts.
    const served = async () => (await ids().catch(() => undefined))?.join(',');
    await until(async () => (await served()) === '', 60_000, 'the truncated table after the rebuild');
    await db.query(`INSERT INTO ${TABLE} VALUES (12, 'fay', 1, '2024-08-01 00:00:00', NULL, NULL)`);
    await until(async () => (await served()) === '12', 30_000, 'a change after the rebuild');
    expect(await rows('/types')).toEqual(types);
    expect(dozer!.child.exitCode).toBeNull();
  });
  it('stops with the fix for a wrong password and for an unknown table', async () => {
    const wrong = await runDozer(['run', '-c', file], { env: { MYSQL_PASSWORD: 'not-the-password' } });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(new RegExp(`rejected user "${MYSQL.user}".*check user and password`));
    const missing = path.join(dir, 'missing.yaml');
    fs.writeFileSync(missing, fs.readFileSync(file, 'utf8').replaceAll(TYPES, 'cli_e2e_mysql_no_such_table'));
    const unknown = await runDozer(['run', '-c', missing], { env: { MYSQL_PASSWORD: MYSQL.password } });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/table "cli_e2e_mysql_no_such_table" does not exist in database/);
    expect(unknown.stderr).toContain(TABLE);
  });
});
