import {
  DateValue,
  Decimal,
  Duration,
  Json,
  type OpBatch,
  type Operation,
  type Row,
  rowsEqual,
  type Schema,
  Timestamp,
} from '@dozer/core';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService, MYSQL } from '../../../../test/support/services.js';
import type { Connector, ConnectorLogger, IngestSink, TableRequest } from '../connector.js';
import { silentLogger } from '../connector.js';
import { ConnectorError, isSourceRebuildError, SourceRebuildError } from '../errors.js';
import { checkServerSettings, readServerSettings } from './catalog.js';
import { openConnection, query } from './client.js';
import type { MysqlConfig } from './config.js';
import { mysqlConnector } from './index.js';

const DB = 'dozer_mysql_connector_test';

await describeWithService('MariaDB', MYSQL, 'mysql connector against MariaDB', () => {
  let admin: mysql.Connection;
  const config = (extra: Partial<MysqlConfig> = {}): MysqlConfig => ({
    host: MYSQL.host,
    port: MYSQL.port,
    user: MYSQL.user,
    password: MYSQL.password,
    database: DB,
    server_id: 7301,
    ...extra,
  });
  const exec = async (...sql: string[]) => {
    for (const s of sql) await admin.query(s);
  };

  beforeAll(async () => {
    const { database: _unused, ...server } = MYSQL;
    admin = await mysql.createConnection(server);
    await exec(`DROP DATABASE IF EXISTS ${DB}`, `CREATE DATABASE ${DB}`, `USE ${DB}`);
  });
  afterAll(async () => {
    await exec(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.end();
  });

  it('snapshots a table, then follows inserts, updates and deletes with increasing positions', async () => {
    await exec(
      'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, qty INT NULL)',
      "INSERT INTO items VALUES (1, 'apple', 3), (2, 'pear', NULL), (3, 'plum', 7)",
    );
    const run = startRun(config({ tables: ['items'] }), [{ name: 'items', resumeFrom: null }]);
    await run.sink.waitSnapshot('items');
    expect(run.sink.ops('items')).toEqual([
      { kind: 'insert', new: [1n, 'apple', 3n] },
      { kind: 'insert', new: [2n, 'pear', null] },
      { kind: 'insert', new: [3n, 'plum', 7n] },
    ]);
    await exec(
      "INSERT INTO items VALUES (4, 'fig', 1)",
      "UPDATE items SET qty = 10, name = 'red apple' WHERE id = 1",
      'DELETE FROM items WHERE id = 2',
    );
    await run.sink.waitOps('items', 6);
    expect(run.sink.ops('items').slice(3)).toEqual([
      { kind: 'insert', new: [4n, 'fig', 1n] },
      { kind: 'update', old: [1n, 'apple', 3n], new: [1n, 'red apple', 10n] },
      { kind: 'delete', old: [2n, 'pear', null] },
    ]);
    const positions = run.sink.batches('items').map((b) => b.position!);
    positions.push(run.sink.snapshotAt('items'));
    positions.sort((a, b) => run.connector.comparePositions(a, b));
    const live = run.sink
      .batches('items')
      .slice(-3)
      .map((b) => b.position!);
    expect(run.connector.comparePositions(run.sink.snapshotAt('items'), live[0]!)).toBeLessThan(0);
    expect(run.connector.comparePositions(live[0]!, live[1]!)).toBeLessThan(0);
    expect(run.connector.comparePositions(live[1]!, live[2]!)).toBeLessThan(0);
    // String order is binlog order for binlog positions.
    expect([...live].sort()).toEqual(live);
    await run.stop();
  });

  it('round-trips every supported column type exactly, in the snapshot and from the binlog', async () => {
    await exec(
      `CREATE TABLE all_types (
          id INT PRIMARY KEY,
          ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
          i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, bo BOOL,
          de DECIMAL(65, 30), de2 DECIMAL(10, 2), fl FLOAT, dbl DOUBLE, b1 BIT(1), b64 BIT(64),
          ch CHAR(10), vc VARCHAR(100), tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
          bn BINARY(4), vb VARBINARY(20), bl BLOB, lb LONGBLOB,
          d DATE, dt DATETIME, dt6 DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME, tm6 TIME(6), yr YEAR,
          js JSON, en ENUM('small', 'medium', 'large'), st SET('a', 'b', 'c'), uu UUID
        )`,
    );
    const cols =
      'id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, bo, de, de2, fl, dbl, b1, b64, ch, vc, tt, tx, mt, lt, bn, vb, bl, lb, d, dt, dt6, ts, tm, tm6, yr, js, en, st, uu';
    const maxValues = (id: number) =>
      `(${id}, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, 1,
          '-12345678901234567890123456789012345.123456789012345678901234567890', '-0.05', 1.1, 0.30000000000000004, b'1', b'1111111111111111111111111111111111111111111111111111111111111110',
          'abc', 'héllo wörld 🎉', 'tiny', 'text', 'medium', 'long text',
          X'01020000', X'00ff00', X'deadbeef', X'',
          '1000-01-01', '9999-12-31 23:59:59', '2024-02-29 12:34:56.123456', '2038-01-19 03:14:07.999', '-838:59:59', '12:00:00.000001', 2155,
          '{"a": [1, 2.5, "x"], "b": null, "c": {"d": true}}', 'large', 'a,c', '123e4567-e89b-12d3-a456-426614174000')`;
    const expectedMax = (id: bigint): Row => [
      id,
      -128n,
      255n,
      -32768n,
      65535n,
      -8388608n,
      16777215n,
      -2147483648n,
      4294967295n,
      -9223372036854775808n,
      18446744073709551615n,
      1n,
      Decimal.parse('-12345678901234567890123456789012345.123456789012345678901234567890'),
      Decimal.parse('-0.05'),
      Math.fround(1.1),
      0.30000000000000004,
      true,
      0xfffffffffffffffen,
      'abc',
      'héllo wörld 🎉',
      'tiny',
      'text',
      'medium',
      'long text',
      new Uint8Array([1, 2, 0, 0]),
      new Uint8Array([0, 255, 0]),
      new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
      new Uint8Array([]),
      DateValue.parse('1000-01-01'),
      Timestamp.parse('9999-12-31T23:59:59Z'),
      Timestamp.parse('2024-02-29T12:34:56.123456Z'),
      Timestamp.parse('2038-01-19T03:14:07.999Z'),
      Duration.fromMicros(-(838n * 3600n + 59n * 60n + 59n) * 1_000_000n),
      Duration.fromMicros(12n * 3600n * 1_000_000n + 1n),
      2155n,
      new Json({ a: [1, 2.5, 'x'], b: null, c: { d: true } }),
      'large',
      'a,c',
      '123e4567-e89b-12d3-a456-426614174000',
    ];
    const zeroish = (id: number) =>
      `(${id}, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -3.4028234e38, -1e308, b'0', b'0', '', '', '', '', '', '',
          X'', X'', X'', X'', '0000-00-00', '0000-00-00 00:00:00', '1970-01-01 00:00:00.000001', '1970-01-01 00:00:01', '00:00:00', '-00:00:00.5', 0,
          '[]', 'small', '', '00000000-0000-0000-0000-000000000000')`;
    const expectedZero = (id: bigint): Row => [
      id,
      0n,
      0n,
      0n,
      0n,
      0n,
      0n,
      0n,
      0n,
      0n,
      0n,
      0n,
      Decimal.parse('0.000000000000000000000000000000'),
      Decimal.parse('0.00'),
      Math.fround(-3.4028234e38),
      -1e308,
      false,
      0n,
      '',
      '',
      '',
      '',
      '',
      '',
      new Uint8Array([0, 0, 0, 0]),
      new Uint8Array([]),
      new Uint8Array([]),
      new Uint8Array([]),
      null,
      null,
      Timestamp.parse('1970-01-01T00:00:00.000001Z'),
      Timestamp.parse('1970-01-01T00:00:01Z'),
      Duration.fromMicros(0n),
      Duration.fromMicros(-500_000n),
      0n,
      new Json([]),
      'small',
      '',
      '00000000-0000-0000-0000-000000000000',
    ];
    const nulls = (id: number) => `(${id}${', NULL'.repeat(38)})`;
    await exec(
      "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'",
      `INSERT INTO all_types (${cols}) VALUES ${maxValues(1)}, ${zeroish(2)}, ${nulls(3)}`,
    );
    const run = startRun(config(), [{ name: 'all_types', resumeFrom: null }]);
    const tables = await run.connector.listTables();
    const schema = tables.find((t) => t.name === 'all_types')!.schema;
    expect(schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      'id:int',
      'ti:int',
      'tiu:uint',
      'si:int',
      'siu:uint',
      'mi:int',
      'miu:uint',
      'i:int',
      'iu:uint',
      'bi:int',
      'biu:uint',
      'bo:int',
      'de:decimal',
      'de2:decimal',
      'fl:float',
      'dbl:float',
      'b1:boolean',
      'b64:uint',
      'ch:string',
      'vc:string',
      'tt:text',
      'tx:text',
      'mt:text',
      'lt:text',
      'bn:binary',
      'vb:binary',
      'bl:binary',
      'lb:binary',
      'd:date',
      'dt:timestamp',
      'dt6:timestamp',
      'ts:timestamp',
      'tm:duration',
      'tm6:duration',
      'yr:int',
      'js:json',
      'en:string',
      'st:string',
      'uu:string',
    ]);
    expect(schema.fields[12]).toMatchObject({ precision: 65, scale: 30 });
    expect(schema.primaryKey).toEqual([0]);
    await run.sink.waitSnapshot('all_types');
    const snap = run.sink.ops('all_types');
    expectRows(schema, snap, [expectedMax(1n), expectedZero(2n), [3n, ...Array<null>(38).fill(null)]]);

    await exec(
      "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'",
      `INSERT INTO all_types (${cols}) VALUES ${maxValues(11)}, ${zeroish(12)}, ${nulls(13)}`,
      'UPDATE all_types SET id = id + 100 WHERE id IN (1, 2, 3)',
    );
    await run.sink.waitOps('all_types', 9);
    const live = run.sink.ops('all_types').slice(3);
    expectRows(schema, live.slice(0, 3), [
      expectedMax(11n),
      expectedZero(12n),
      [13n, ...Array<null>(38).fill(null)],
    ]);
    // Updates carry the full old and new rows.
    const updates = live.slice(3);
    expect(updates.map((u) => u.kind)).toEqual(['update', 'update', 'update']);
    for (const [i, u] of updates.entries()) {
      if (u.kind !== 'update') continue;
      const old = [expectedMax, expectedZero, (id: bigint) => [id, ...Array<null>(38).fill(null)]][i]!(
        BigInt(i + 1),
      );
      expect(rowsEqual(schema, u.old, old), `old row ${i + 1}`).toBe(true);
      expect(rowsEqual(schema, u.new, [BigInt(i + 101), ...old.slice(1)]), `new row ${i + 101}`).toBe(true);
    }
    await run.stop();
  });

  it('takes the snapshot and its binlog position consistently while others write', async () => {
    await exec(
      'CREATE TABLE consistent_t (id INT PRIMARY KEY, v INT)',
      'INSERT INTO consistent_t VALUES (1, 1), (2, 2)',
    );
    const other = await mysql.createConnection({ ...MYSQL, database: DB });
    try {
      // A transaction open before the snapshot and committed while it is read.
      await other.query('START TRANSACTION');
      await other.query('UPDATE consistent_t SET v = 10 WHERE id = 1');
      const run = startRun(config(), [{ name: 'consistent_t', resumeFrom: null }]);
      let release!: () => void;
      run.sink.gate = new Promise<void>((r) => (release = r));
      let reading!: () => void;
      const firstWrite = new Promise<void>((r) => (reading = r));
      const write = run.sink.write.bind(run.sink);
      run.sink.write = (b) => {
        reading();
        return write(b);
      };
      await firstWrite; // the snapshot has its position and is streaming rows
      await other.query('COMMIT');
      await other.query('INSERT INTO consistent_t VALUES (3, 3)');
      release();
      await run.sink.waitOps('consistent_t', 4);
      expect(run.sink.ops('consistent_t')).toEqual([
        { kind: 'insert', new: [1n, 1n] },
        { kind: 'insert', new: [2n, 2n] },
        { kind: 'update', old: [1n, 1n], new: [1n, 10n] },
        { kind: 'insert', new: [3n, 3n] },
      ]);
      await run.stop();
    } finally {
      await other.end();
    }
  });

  it('snapshots new tables and resumes others in one start, each from its own position', async () => {
    await exec('CREATE TABLE mix_old (id INT PRIMARY KEY)', 'CREATE TABLE mix_new (id INT PRIMARY KEY)');
    const first = startRun(config(), [{ name: 'mix_old', resumeFrom: null }]);
    await first.sink.waitSnapshot('mix_old');
    await exec('INSERT INTO mix_old VALUES (1)');
    await first.sink.waitOps('mix_old', 1);
    const oldAt = first.sink.batches('mix_old').at(-1)!.position!;
    await first.stop();
    await exec(
      'INSERT INTO mix_old VALUES (2)',
      'INSERT INTO mix_new VALUES (1)',
      'INSERT INTO mix_new VALUES (2)',
    );
    const second = startRun(config(), [
      { name: 'mix_old', resumeFrom: oldAt },
      { name: 'mix_new', resumeFrom: null },
    ]);
    await second.sink.waitSnapshot('mix_new');
    await exec(
      'START TRANSACTION',
      'INSERT INTO mix_old VALUES (3)',
      'INSERT INTO mix_new VALUES (3)',
      'COMMIT',
    );
    await second.sink.waitOps('mix_old', 2);
    await second.sink.waitOps('mix_new', 3);
    expect(second.sink.snapshots.has('mix_old')).toBe(false);
    expect(second.sink.ops('mix_old')).toEqual([
      { kind: 'insert', new: [2n] },
      { kind: 'insert', new: [3n] },
    ]);
    // The rows inserted before the snapshot come from it, once; the later one from the binlog.
    expect(second.sink.ops('mix_new')).toEqual([
      { kind: 'insert', new: [1n] },
      { kind: 'insert', new: [2n] },
      { kind: 'insert', new: [3n] },
    ]);
    expect(second.sink.batches('mix_new').at(-1)!.position).toBe(
      second.sink.batches('mix_old').at(-1)!.position,
    );
    await second.stop();
  });

  it('delivers multi-row, multi-table transactions at one commit position, in order', async () => {
    await exec(
      'CREATE TABLE tx_a (id INT PRIMARY KEY, v VARCHAR(10))',
      'CREATE TABLE tx_b (id INT PRIMARY KEY, v INT)',
      'INSERT INTO tx_b VALUES (1, 1)',
    );
    const run = startRun(config({ tables: ['tx_a', 'tx_b'] }), [
      { name: 'tx_a', resumeFrom: null },
      { name: 'tx_b', resumeFrom: null },
    ]);
    await run.sink.waitSnapshot('tx_a');
    await run.sink.waitSnapshot('tx_b');
    expect(run.sink.snapshotAt('tx_a')).toBe(run.sink.snapshotAt('tx_b'));
    await exec(
      'START TRANSACTION',
      "INSERT INTO tx_a VALUES (1, 'x'), (2, 'y'), (3, 'z')",
      'UPDATE tx_b SET v = 2 WHERE id = 1',
      'DELETE FROM tx_a WHERE id = 2',
      'COMMIT',
    );
    await run.sink.waitOps('tx_a', 4);
    await run.sink.waitOps('tx_b', 2);
    expect(run.sink.ops('tx_a')).toEqual([
      { kind: 'insert', new: [1n, 'x'] },
      { kind: 'insert', new: [2n, 'y'] },
      { kind: 'insert', new: [3n, 'z'] },
      { kind: 'delete', old: [2n, 'y'] },
    ]);
    const a = run.sink.batches('tx_a');
    const b = run.sink.batches('tx_b');
    expect(a).toHaveLength(1);
    expect(a[0]!.position).toBe(b[b.length - 1]!.position);
    await run.stop();
  });

  it('resumes after a restart with nothing lost or repeated, also inside a large transaction', async () => {
    await exec(
      'CREATE TABLE resume_t (id INT PRIMARY KEY, v INT NOT NULL)',
      'INSERT INTO resume_t VALUES (1, 1)',
    );
    const first = startRun(config({ batch_size: 2 }), [{ name: 'resume_t', resumeFrom: null }]);
    await first.sink.waitSnapshot('resume_t');
    await exec('INSERT INTO resume_t VALUES (2, 2)', 'UPDATE resume_t SET v = 20 WHERE id = 2');
    await first.sink.waitOps('resume_t', 3);
    const after = first.sink.batches('resume_t').at(-1)!.position!;
    await first.stop();

    // Changes while stopped, including a transaction larger than batch_size.
    await exec(
      'DELETE FROM resume_t WHERE id = 1',
      'START TRANSACTION',
      'INSERT INTO resume_t VALUES (3, 3), (4, 4), (5, 5)',
      'UPDATE resume_t SET v = v + 1 WHERE id >= 4',
      'COMMIT',
    );
    const second = startRun(config({ batch_size: 2 }), [{ name: 'resume_t', resumeFrom: after }]);
    await second.sink.waitOps('resume_t', 6);
    expect(second.sink.snapshots.size).toBe(0);
    expect(second.sink.ops('resume_t')).toEqual([
      { kind: 'delete', old: [1n, 1n] },
      { kind: 'insert', new: [3n, 3n] },
      { kind: 'insert', new: [4n, 4n] },
      { kind: 'insert', new: [5n, 5n] },
      { kind: 'update', old: [4n, 4n], new: [4n, 5n] },
      { kind: 'update', old: [5n, 5n], new: [5n, 6n] },
    ]);
    // The transaction came in batches of 2; resume from inside it, after its first batch.
    const batches = second.sink.batches('resume_t');
    expect(batches.map((b) => b.ops.length)).toEqual([1, 2, 2, 1]);
    const inside = batches[1]!.position!;
    expect(second.connector.comparePositions(batches[0]!.position!, inside)).toBeLessThan(0);
    expect(second.connector.comparePositions(inside, batches[2]!.position!)).toBeLessThan(0);
    await second.stop();

    await exec('INSERT INTO resume_t VALUES (6, 6)');
    const third = startRun(config({ batch_size: 2 }), [{ name: 'resume_t', resumeFrom: inside }]);
    await third.sink.waitOps('resume_t', 4);
    expect(third.sink.ops('resume_t')).toEqual([
      { kind: 'insert', new: [5n, 5n] },
      { kind: 'update', old: [4n, 4n], new: [4n, 5n] },
      { kind: 'update', old: [5n, 5n], new: [5n, 6n] },
      { kind: 'insert', new: [6n, 6n] },
    ]);
    await third.stop();
  });

  it('reconnects after the binlog connection is killed and continues where it was', async () => {
    await exec('CREATE TABLE reconnect_t (id INT PRIMARY KEY)');
    const warnings: string[] = [];
    const logger: ConnectorLogger = { ...silentLogger, warn: (m) => warnings.push(m) };
    const run = startRun(config({ server_id: 7302 }), [{ name: 'reconnect_t', resumeFrom: null }], logger);
    await run.sink.waitSnapshot('reconnect_t');
    await exec('INSERT INTO reconnect_t VALUES (1)');
    await run.sink.waitOps('reconnect_t', 1);
    const [dumps] = await admin.query<mysql.RowDataPacket[]>(
      "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
    );
    expect(dumps.length).toBeGreaterThan(0);
    for (const d of dumps) await admin.query(`KILL ${Number(d.id)}`);
    await exec('INSERT INTO reconnect_t VALUES (2)', 'INSERT INTO reconnect_t VALUES (3)');
    await run.sink.waitOps('reconnect_t', 3);
    expect(run.sink.ops('reconnect_t')).toEqual([
      { kind: 'insert', new: [1n] },
      { kind: 'insert', new: [2n] },
      { kind: 'insert', new: [3n] },
    ]);
    expect(warnings).toContain('mysql binlog connection failed; reconnecting');
    await run.stop();
  });

  it('follows the binlog into the next file and resumes across files', async () => {
    await exec('CREATE TABLE rotate_t (id INT PRIMARY KEY)');
    const first = startRun(config(), [{ name: 'rotate_t', resumeFrom: null }]);
    await first.sink.waitSnapshot('rotate_t');
    await exec('INSERT INTO rotate_t VALUES (1)', 'FLUSH BINARY LOGS', 'INSERT INTO rotate_t VALUES (2)');
    await first.sink.waitOps('rotate_t', 2);
    const [p1, p2] = first.sink.batches('rotate_t').map((b) => b.position!);
    expect(p1!.split('/')[0]).not.toBe(p2!.split('/')[0]);
    expect(first.connector.comparePositions(p1!, p2!)).toBeLessThan(0);
    expect(p1! < p2!).toBe(true);
    await first.stop();
    const lag = await first.connector.lag!();
    expect(lag.tables).toEqual([{ table: 'rotate_t', position: p2, behindOps: null, behindMillis: 0 }]);
    await exec('INSERT INTO rotate_t VALUES (3)');
    const second = startRun(config(), [{ name: 'rotate_t', resumeFrom: p1! }]);
    await second.sink.waitOps('rotate_t', 2);
    expect(second.sink.ops('rotate_t')).toEqual([
      { kind: 'insert', new: [2n] },
      { kind: 'insert', new: [3n] },
    ]);
    await second.stop();
  });

  it('projects requested columns and follows tables without a primary key', async () => {
    await exec(
      'CREATE TABLE nokey_t (a INT, b VARCHAR(5), c INT)',
      "INSERT INTO nokey_t VALUES (1, 'x', 10)",
    );
    const run = startRun(config(), [{ name: 'nokey_t', columns: ['c', 'a'], resumeFrom: null }]);
    const [info] = (await run.connector.listTables()).filter((t) => t.name === 'nokey_t');
    expect(info!.schema.primaryKey).toEqual([]);
    await run.sink.waitSnapshot('nokey_t');
    await exec('UPDATE nokey_t SET c = 11 WHERE a = 1', 'DELETE FROM nokey_t');
    await run.sink.waitOps('nokey_t', 3);
    expect(run.sink.ops('nokey_t')).toEqual([
      { kind: 'insert', new: [10n, 1n] },
      { kind: 'update', old: [10n, 1n], new: [11n, 1n] },
      { kind: 'delete', old: [11n, 1n] },
    ]);
    await run.stop();
  });

  it('leaves out columns of unsupported types, with a warning, and ingests the rest', async () => {
    await exec(
      'CREATE TABLE geo_t (id INT PRIMARY KEY, shape POINT NULL, label VARCHAR(10))',
      "INSERT INTO geo_t VALUES (1, POINT(1, 2), 'a')",
    );
    const warnings: Record<string, unknown>[] = [];
    const logger: ConnectorLogger = { ...silentLogger, warn: (_m, f) => warnings.push(f ?? {}) };
    const run = startRun(config(), [{ name: 'geo_t', resumeFrom: null }], logger);
    const info = (await run.connector.listTables()).find((t) => t.name === 'geo_t')!;
    expect(info.schema.fields.map((f) => f.name)).toEqual(['id', 'label']);
    expect(info.schema.primaryKey).toEqual([0]);
    await run.sink.waitSnapshot('geo_t');
    await exec("UPDATE geo_t SET shape = POINT(3, 4), label = 'b' WHERE id = 1");
    await run.sink.waitOps('geo_t', 2);
    expect(run.sink.ops('geo_t')).toEqual([
      { kind: 'insert', new: [1n, 'a'] },
      { kind: 'update', old: [1n, 'a'], new: [1n, 'b'] },
    ]);
    expect(warnings).toContainEqual({ table: 'geo_t', columns: 'shape (point)' });
    await run.stop();
  });

  it('holds the binlog back while the sink is slow and loses nothing', async () => {
    await exec('CREATE TABLE slow_t (id INT PRIMARY KEY)');
    const run = startRun(config(), [{ name: 'slow_t', resumeFrom: null }]);
    await run.sink.waitSnapshot('slow_t');
    let release!: () => void;
    run.sink.gate = new Promise<void>((r) => (release = r));
    const n = 1500; // 4 binlog events each: more than the connector buffers before pausing the connection
    for (let i = 1; i <= n; i++) await admin.query(`INSERT INTO slow_t VALUES (${i})`);
    release();
    await run.sink.waitOps('slow_t', n);
    expect(run.sink.ops('slow_t').map((o) => (o.kind === 'insert' ? o.new[0] : null))).toEqual(
      Array.from({ length: n }, (_, i) => BigInt(i + 1)),
    );
    await run.stop();
  });

  it('stops with an error that says what to do after ALTER TABLE or TRUNCATE of a followed table', async () => {
    await exec('CREATE TABLE alter_t (id INT PRIMARY KEY)', 'CREATE TABLE trunc_t (id INT PRIMARY KEY)');
    const a = startRun(config(), [{ name: 'alter_t', resumeFrom: null }]);
    await a.sink.waitSnapshot('alter_t');
    await exec('ALTER TABLE alter_t ADD COLUMN extra INT', 'INSERT INTO alter_t VALUES (1, 2)');
    const e1 = await a.outcome;
    await a.connector.close();
    expect(e1).toBeInstanceOf(ConnectorError);
    expect((e1 as ConnectorError).retryable).toBe(false);
    expect((e1 as Error).message).toMatch(
      /table "alter_t" now has 2 columns in the binlog but had 1 since ingestion began \(ALTER TABLE\); re-ingest it from a fresh snapshot/,
    );

    const t = startRun(config(), [{ name: 'trunc_t', resumeFrom: null }]);
    await t.sink.waitSnapshot('trunc_t');
    await exec('INSERT INTO trunc_t VALUES (1)', 'TRUNCATE TABLE trunc_t');
    const e2 = await t.outcome;
    await t.connector.close();
    expect(e2).toBeInstanceOf(ConnectorError);
    // A fresh snapshot reads a truncated table fine: the engine rebuilds (a dropped table, below, it cannot).
    expect(isSourceRebuildError(e2)).toBe(true);
    expect((e2 as Error).message).toMatch(
      /table "trunc_t" was truncated \(TRUNCATE TABLE trunc_t\); the binlog has no row changes for TRUNCATE .*re-ingest the table from a fresh snapshot/,
    );
    expect(t.sink.ops('trunc_t')).toEqual([{ kind: 'insert', new: [1n] }]);

    await exec('CREATE TABLE drop_t (id INT PRIMARY KEY)');
    const d = startRun(config(), [{ name: 'drop_t', resumeFrom: null }]);
    await d.sink.waitSnapshot('drop_t');
    await exec('DROP TABLE drop_t');
    const e4 = await d.outcome;
    await d.connector.close();
    expect((e4 as Error).message).toMatch(/table "drop_t" was dropped/);
    expect(isSourceRebuildError(e4)).toBe(false);

    await exec('CREATE TABLE retype_t (id INT PRIMARY KEY, v INT)');
    const r = startRun(config(), [{ name: 'retype_t', resumeFrom: null }]);
    await r.sink.waitSnapshot('retype_t');
    await exec('ALTER TABLE retype_t MODIFY v VARCHAR(10)', "INSERT INTO retype_t VALUES (1, 'one')");
    const e3 = await r.outcome;
    await r.connector.close();
    expect((e3 as Error).message).toMatch(
      /table "retype_t" column "v" changed its type since ingestion began/,
    );
  });

  it("reports a snapshot's rows left by the server's estimate, then none once it is done", async () => {
    const values = Array.from({ length: 3000 }, (_, i) => `(${i + 1})`).join(', ');
    await exec('CREATE TABLE rowsleft_t (id INT PRIMARY KEY)', `INSERT INTO rowsleft_t VALUES ${values}`);
    await exec('ANALYZE TABLE rowsleft_t');
    const [[stats]] = (await admin.query(
      `SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${DB}' AND TABLE_NAME = 'rowsleft_t'`,
    )) as unknown as [{ n: number }[]];
    const estimate = Number(stats!.n);
    expect(estimate).toBeGreaterThan(2000);
    const r = startRun(config({ batch_size: 1000, tables: ['rowsleft_t'] }), [
      { name: 'rowsleft_t', resumeFrom: null },
    ]);
    // The second batch is held: the connector counted the first one's rows when the sink took it.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let second!: () => void;
    const secondWritten = new Promise<void>((resolve) => {
      second = resolve;
    });
    const write = r.sink.write.bind(r.sink);
    r.sink.write = async (batch) => {
      if (r.sink.all.length === 1) {
        second();
        await held;
      }
      await write(batch);
    };
    await secondWritten;
    const [during] = (await r.connector.lag!()).tables;
    expect(during!.behindOps).toBe(Math.max(0, estimate - 1000));
    release();
    await r.sink.waitSnapshot('rowsleft_t');
    const [after] = (await r.connector.lag!()).tables;
    expect(after!.behindOps).toBeNull();
    expect(r.sink.ops('rowsleft_t')).toHaveLength(3000);
    await r.stop();
  });

  it('refuses to resume a snapshot that was interrupted', async () => {
    await exec('CREATE TABLE partial_t (id INT PRIMARY KEY)', 'INSERT INTO partial_t VALUES (1), (2), (3)');
    const first = startRun(config({ batch_size: 2 }), [{ name: 'partial_t', resumeFrom: null }]);
    await first.sink.waitSnapshot('partial_t');
    const mid = first.sink.batches('partial_t')[0]!.position!;
    await first.stop();
    const connector = mysqlConnector.create(config(), { name: 'm', logger: silentLogger });
    const err = await connector
      .start({
        tables: [{ name: 'partial_t', resumeFrom: mid }],
        sink: new CollectingSink(),
        signal: new AbortController().signal,
      })
      .catch((e: unknown) => e);
    // The pipeline rebuilds: the table is ingested again from a fresh snapshot.
    expect(err).toBeInstanceOf(SourceRebuildError);
    expect((err as ConnectorError).retryable).toBe(false);
    expect((err as Error).message).toMatch(
      /table "partial_t" was stopped in the middle of its snapshot .* must be ingested again from scratch/,
    );
    await connector.close();
  });

  it('says how to fix a wrong password and an unknown table', async () => {
    const bad = mysqlConnector.create(config({ password: 'wrong' }), { name: 'm', logger: silentLogger });
    const e1 = await bad.listTables().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ConnectorError);
    expect((e1 as ConnectorError).retryable).toBe(false);
    expect((e1 as Error).message).toMatch(
      /connection "m" \(mysql\): MySQL at .* rejected user "dozer" .*; check user and password in the connection's config/,
    );
    await exec('CREATE TABLE known_t (id INT PRIMARY KEY)');
    const unknown = mysqlConnector.create(config({ tables: ['known_t', 'nope'] }), {
      name: 'm',
      logger: silentLogger,
    });
    const e2 = await unknown.listTables().catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(ConnectorError);
    expect((e2 as ConnectorError).retryable).toBe(false);
    expect((e2 as Error).message).toMatch(
      /table "nope" does not exist in database "dozer_mysql_connector_test"/,
    );
    expect((e2 as Error).message).toMatch(/its tables are: .*known_t/);
  });

  it('says which privileges are missing when the user may not read the binlog', async () => {
    await exec(
      'CREATE TABLE grants_t (id INT PRIMARY KEY)',
      "CREATE USER IF NOT EXISTS 'dozer_mysql_test_ro'@'%' IDENTIFIED BY 'ro'",
      `GRANT SELECT ON ${DB}.* TO 'dozer_mysql_test_ro'@'%'`,
    );
    try {
      const connector = mysqlConnector.create(config({ user: 'dozer_mysql_test_ro', password: 'ro' }), {
        name: 'm',
        logger: silentLogger,
      });
      expect((await connector.listTables()).map((t) => t.name)).toContain('grants_t');
      const err = await connector
        .start({
          tables: [{ name: 'grants_t', resumeFrom: null }],
          sink: new CollectingSink(),
          signal: new AbortController().signal,
        })
        .catch((e: unknown) => e);
      await connector.close();
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as ConnectorError).retryable).toBe(false);
      expect((err as Error).message).toMatch(
        /user "dozer_mysql_test_ro" lacks a privilege .*REPLICATION SLAVE.*grant SELECT, RELOAD, REPLICATION SLAVE and REPLICATION CLIENT/,
      );
    } finally {
      await exec("DROP USER IF EXISTS 'dozer_mysql_test_ro'@'%'");
    }
  });

  it('checks the global binlog format, which a session setting cannot fake', async () => {
    const conn = await openConnection(config(), 'test');
    try {
      await query(conn, "SET SESSION binlog_format = 'STATEMENT'");
      const settings = await readServerSettings(conn);
      expect(settings.binlogFormat).toBe('ROW');
      expect(settings.logBin).toBe(true);
      expect(checkServerSettings(settings, 7301, 'test')).toBeNull();
      expect(checkServerSettings(settings, settings.serverId, 'test')?.message).toMatch(
        /is the server's own server_id/,
      );
    } finally {
      conn.destroy();
    }
  });

  it('fails without retrying when the binlog to resume from is gone', async () => {
    await exec('CREATE TABLE purged_t (id INT PRIMARY KEY)');
    const connector = mysqlConnector.create(config(), { name: 'm', logger: silentLogger });
    const err = await connector
      .start({
        tables: [{ name: 'purged_t', resumeFrom: 'mysql-bin.0000099999/000000000004' }],
        sink: new CollectingSink(),
        signal: new AbortController().signal,
      })
      .catch((e: unknown) => e);
    await connector.close();
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).retryable).toBe(false);
    // The engine rebuilds from a fresh snapshot rather than stopping.
    expect(isSourceRebuildError(err)).toBe(true);
    expect((err as Error).message).toMatch(
      /cannot send the binlog from the requested position .*fresh snapshot/,
    );
  });

  it('says when the server cannot be reached, as a retryable error', async () => {
    const down = mysqlConnector.create(config({ port: 1 }), { name: 'm', logger: silentLogger });
    const e = await down.listTables().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectorError);
    expect((e as ConnectorError).retryable).toBe(true);
    expect((e as Error).message).toMatch(/could not open the connection to MySQL at 127\.0\.0\.1:1/);
  });
});

function expectRows(schema: Schema, ops: readonly Operation[], rows: readonly Row[]): void {
  expect(ops.map((o) => o.kind)).toEqual(rows.map(() => 'insert'));
  ops.forEach((op, i) => {
    if (op.kind !== 'insert') return;
    const want = rows[i]!;
    for (const [j, f] of schema.fields.entries()) {
      const got = op.new[j];
      const w = want[j];
      // Floats compare exactly (Object.is); rowsEqual covers the rest.
      if (typeof w === 'number')
        expect(Object.is(got, w), `${f.name} of row ${i}: ${String(got)} vs ${w}`).toBe(true);
      else
        expect(
          rowsEqual({ fields: [f], primaryKey: [] }, [got ?? null], [w ?? null]),
          `${f.name} of row ${i}: ${String(got)}`,
        ).toBe(true);
    }
  });
}

/** A sink that records everything and lets a test await what it expects (no sleeps). */
class CollectingSink implements IngestSink {
  readonly all: OpBatch[] = [];
  readonly snapshots = new Map<string, string>();
  private waiters: (() => void)[] = [];

  /** While set, writes wait for it: a slow engine. */
  gate: Promise<void> | null = null;

  async write(batch: OpBatch): Promise<void> {
    if (this.gate !== null) await this.gate;
    this.all.push(batch);
    this.notify();
  }
  async snapshotDone(table: string, position: string): Promise<void> {
    this.snapshots.set(table, position);
    this.notify();
  }
  batches(table: string): OpBatch[] {
    return this.all.filter((b) => b.table === table);
  }
  ops(table: string): Operation[] {
    return this.batches(table).flatMap((b) => [...b.ops]);
  }
  snapshotAt(table: string): string {
    const p = this.snapshots.get(table);
    if (p === undefined) throw new Error(`no snapshot of ${table}`);
    return p;
  }
  waitSnapshot(table: string): Promise<void> {
    return this.until(() => this.snapshots.has(table), `snapshot of ${table}`);
  }
  waitOps(table: string, n: number): Promise<void> {
    return this.until(() => this.ops(table).length >= n, `${n} ops of ${table}`);
  }
  failure: unknown = null;
  fail(e: unknown): void {
    this.failure = e;
    this.notify();
  }
  private until(cond: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.failure !== null)
          reject(new Error(`connector failed while waiting for ${what}`, { cause: this.failure }));
        else if (cond()) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }
  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

function startRun(config: MysqlConfig, tables: TableRequest[], logger: ConnectorLogger = silentLogger) {
  const connector: Connector = mysqlConnector.create(config, { name: 'm', logger });
  const sink = new CollectingSink();
  const ac = new AbortController();
  const outcome = connector.start({ tables, sink, signal: ac.signal }).then(
    () => null,
    (e: unknown) => {
      sink.fail(e);
      return e;
    },
  );
  return {
    connector,
    sink,
    /** Resolves when start settles: null, or the error it rejected with. */
    outcome,
    async stop() {
      ac.abort();
      await outcome;
      await connector.close();
      if (sink.failure !== null) throw sink.failure;
    },
  };
}
