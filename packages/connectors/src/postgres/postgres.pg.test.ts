import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DateValue,
  Decimal,
  Duration,
  Json,
  type OpBatch,
  type Operation,
  type Row,
  Timestamp,
} from '@dozer/core';
import type pg from 'pg';
import { beforeAll, expect, it } from 'vitest';
import { describeWithService, PG } from '../../../../test/support/services.js';
import type { Connector, ConnectorLogger, IngestSink, TableRequest } from '../connector.js';
import { silentLogger } from '../connector.js';
import { ConnectorError } from '../errors.js';
import { checkWalLevel, connect } from './catalog.js';
import type { PostgresConfig } from './config.js';
import { PgClient } from './pg-client.js';
import { postgresConnector } from './postgres-connector.js';

/** A sink that keeps what it receives and lets a test await a condition on it. */
export interface Collector {
  readonly sink: IngestSink;
  readonly batches: OpBatch[];
  readonly snapshotDone: Map<string, string>;
  /** Every op of `table`, in order. */
  ops(table: string): Operation[];
  /** Resolves once `pred` holds after a write (or now). */
  until(pred: () => boolean): Promise<void>;
}

export function collector(): Collector {
  const batches: OpBatch[] = [];
  const snapshotDone = new Map<string, string>();
  let waiters: (() => void)[] = [];
  const notify = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  return {
    batches,
    snapshotDone,
    sink: {
      async write(b) {
        batches.push(b);
        notify();
      },
      async snapshotDone(t, p) {
        snapshotDone.set(t, p);
        notify();
      },
    },
    ops: (table) => batches.filter((b) => b.table === table).flatMap((b) => b.ops),
    async until(pred) {
      while (!pred()) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

/** A logger that keeps warnings, and resolves waiters on each one. */
export function recordingLogger(): ConnectorLogger & {
  warnings: string[];
  untilWarning(re: RegExp): Promise<void>;
} {
  const warnings: string[] = [];
  let waiters: (() => void)[] = [];
  return {
    warnings,
    debug() {},
    info() {},
    warn(m) {
      warnings.push(m);
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    error() {},
    async untilWarning(re) {
      while (!warnings.some((w) => re.test(w))) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

/** Runs SQL as the test superuser. */
export async function sql(
  conn: { host: string; port: number; user: string; password: string; database: string },
  text: string,
  params: unknown[] = [],
): Promise<pg.QueryResult> {
  const c = new PgClient(conn);
  await c.connect();
  try {
    return await c.query(text, params);
  } finally {
    await c.end();
  }
}

const PREFIX = 'dz_pgtest';
const baseConfig: PostgresConfig = {
  host: PG.host,
  port: PG.port,
  user: PG.user,
  password: PG.password,
  database: PG.database,
};

/** A config with its own slot and publication, so tests do not share replication state. */
function configFor(name: string, extra: Partial<PostgresConfig> = {}): PostgresConfig {
  return { ...baseConfig, slot_name: `${PREFIX}_${name}`, publication_name: `${PREFIX}_${name}`, ...extra };
}

async function dropReplicationObjects(name: string): Promise<void> {
  await sql(
    PG,
    `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`,
    [`${PREFIX}_${name}`],
  );
  await sql(PG, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [
    `${PREFIX}_${name}`,
  ]).catch(() => sql(PG, `SELECT pg_drop_replication_slot($1)`, [`${PREFIX}_${name}`]).catch(() => {}));
  await sql(PG, `DROP PUBLICATION IF EXISTS ${PREFIX}_${name}`);
}

interface Running {
  readonly connector: Connector;
  readonly out: Collector;
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

function run(
  config: PostgresConfig,
  tables: TableRequest[],
  logger: ConnectorLogger = silentLogger,
  out: Collector = collector(),
): Running {
  const connector = postgresConnector.create(config, { name: 'pgtest', logger });
  const ac = new AbortController();
  const done = connector.start({ tables, sink: out.sink, signal: ac.signal });
  return {
    connector,
    out,
    done,
    async stop() {
      ac.abort();
      await done;
      await connector.close();
    },
  };
}

/** Applies ops to a map keyed by the first column, as a downstream store would. */
function materialize(ops: Operation[]): Map<string, Row> {
  const m = new Map<string, Row>();
  for (const op of ops) {
    if (op.kind !== 'insert') {
      const key = String(op.old[0]);
      expect(m.has(key), `old row ${key} of a ${op.kind} is known`).toBe(true);
      expect(op.old, `old row of ${op.kind} ${key} is the current row`).toEqual(m.get(key));
      m.delete(key);
    }
    if (op.kind !== 'delete') {
      const key = String(op.new[0]);
      expect(m.has(key), `insert of ${key} is not a duplicate`).toBe(false);
      m.set(key, op.new);
    }
  }
  return m;
}

await describeWithService('PostgreSQL', PG, 'postgres connector', () => {
  beforeAll(async () => {
    await sql(PG, `DROP TABLE IF EXISTS ${PREFIX}_norepl_t; DROP ROLE IF EXISTS ${PREFIX}_norepl`);
  });

  it('snapshots, follows inserts, updates and deletes, resumes after a restart, and confirms acknowledged LSNs', async () => {
    const name = 'basic';
    await dropReplicationObjects(name);
    await sql(
      PG,
      `DROP TABLE IF EXISTS ${PREFIX}_basic; CREATE TABLE ${PREFIX}_basic (id int PRIMARY KEY, name text NOT NULL, qty int)`,
    );
    // Old rows replayed after a restart are exact only with FULL (see the docs; DEFAULT is tested below).
    await sql(PG, `ALTER TABLE ${PREFIX}_basic REPLICA IDENTITY FULL`);
    await sql(PG, `INSERT INTO ${PREFIX}_basic SELECT g, 'n' || g, g FROM generate_series(1, 2500) g`);
    const config = configFor(name, { batch_size: 1000, tables: [`${PREFIX}_basic`] });
    try {
      const info = await postgresConnector.create(config, { name: 't', logger: silentLogger }).listTables();
      expect(info).toEqual([
        {
          name: `${PREFIX}_basic`,
          schema: {
            fields: [
              { name: 'id', type: 'int', nullable: false },
              { name: 'name', type: 'text', nullable: false },
              { name: 'qty', type: 'int', nullable: true },
            ],
            primaryKey: [0],
          },
          // REPLICA IDENTITY FULL: whole old rows, so the engine may take the changes as they are.
          exactChanges: true,
        },
      ]);
      const table = `${PREFIX}_basic`;
      const first = run(config, [{ name: table, resumeFrom: null }]);
      await first.out.until(() => first.out.snapshotDone.has(table));
      expect(first.out.ops(table)).toHaveLength(2500);
      expect(first.out.ops(table)[0]).toEqual({ kind: 'insert', new: [1n, 'n1', 1n] });

      await sql(PG, `INSERT INTO ${table} VALUES (3001, 'x', 1), (3002, 'y', 2)`);
      await sql(PG, `UPDATE ${table} SET qty = 42 WHERE id = 1`);
      await sql(PG, `DELETE FROM ${table} WHERE id = 2`);
      await first.out.until(() => first.out.ops(table).length === 2504);
      const live = first.out.ops(table).slice(2500);
      expect(live).toEqual([
        { kind: 'insert', new: [3001n, 'x', 1n] },
        { kind: 'insert', new: [3002n, 'y', 2n] },
        { kind: 'update', old: [1n, 'n1', 1n], new: [1n, 'n1', 42n] },
        { kind: 'delete', old: [2n, 'n2', 2n] },
      ]);
      // Positions only move forward, and the snapshot's come before the stream's.
      const positions = first.out.batches.map((b) => b.position!);
      for (let i = 1; i < positions.length; i++) {
        expect(first.connector.comparePositions(positions[i - 1]!, positions[i]!)).toBeLessThan(0);
      }
      const last = positions.at(-1)!;
      await first.connector.acknowledge!(table, last);
      const slot = await sql(
        PG,
        'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
        [config.slot_name],
      );
      const confirmed =
        BigInt(`0x${slot.rows[0].lsn.split('/')[0]}`) * 2n ** 32n +
        BigInt(`0x${slot.rows[0].lsn.split('/')[1]}`);
      expect(confirmed).toBeGreaterThanOrEqual(BigInt(`0x${last.slice(0, 16)}`));
      const lag = await first.connector.lag!();
      expect(lag.tables[0]).toMatchObject({ table, position: last });
      // A change in a transaction the first run sees only partly: stop after the first batch of it.
      await first.stop();

      // Changes while stopped, and one big transaction split over several batches.
      await sql(
        PG,
        `BEGIN; INSERT INTO ${table} SELECT g, 'b' || g, 0 FROM generate_series(5001, 7500) g; UPDATE ${table} SET name = 'moved' WHERE id = 3; COMMIT;`,
      );
      const second = run(config, [{ name: table, resumeFrom: last }]);
      await second.out.until(() => second.out.ops(table).length >= 2501);
      const midBatch = second.out.batches.find((b) => b.table === table)!;
      // batch_size 1000 splits the 2501 changes: this batch ends inside the transaction.
      expect(midBatch.ops.length).toBeLessThanOrEqual(1000);
      expect(midBatch.position).not.toMatch(/\/00000000$/);
      await second.stop();

      // Resume from inside that transaction: the rest of it, nothing twice.
      await sql(PG, `INSERT INTO ${table} VALUES (9001, 'after', 9)`);
      const third = run(config, [{ name: table, resumeFrom: midBatch.position }]);
      await third.out.until(() =>
        third.out.ops(table).some((op) => op.kind === 'insert' && op.new[0] === 9001n),
      );
      await third.stop();
      const all = [...first.out.ops(table), ...midBatch.ops, ...third.out.ops(table)];
      const state = materialize(all);
      const db = await sql(PG, `SELECT id, name, qty FROM ${table} ORDER BY id`);
      expect(state.size).toBe(db.rows.length);
      for (const r of db.rows) {
        expect(state.get(String(r.id))).toEqual([
          BigInt(r.id),
          r.name,
          r.qty === null ? null : BigInt(r.qty),
        ]);
      }
    } finally {
      await dropReplicationObjects(name);
      await sql(PG, `DROP TABLE IF EXISTS ${PREFIX}_basic`);
    }
  });

  it('maps every type to its core value exactly, in the snapshot and in the stream', async () => {
    const name = 'types';
    const table = `${PREFIX}_types`;
    await dropReplicationObjects(name);
    await sql(
      PG,
      `DROP TABLE IF EXISTS ${table}; DROP TYPE IF EXISTS ${PREFIX}_mood; CREATE TYPE ${PREFIX}_mood AS ENUM ('sad', 'ok', 'happy')`,
    );
    await sql(
      PG,
      `CREATE TABLE ${table} (id int8 PRIMARY KEY, i2 int2, i4 int4, n numeric, n2 numeric(10,2), f4 float4, f8 float8,
        b bool, t text, vc varchar(10), c char(3), by bytea, u uuid, j json, jb jsonb, d date, tm time, ts timestamp,
        tstz timestamptz, iv interval, arr int4[], tarr text[], mood ${PREFIX}_mood)`,
    );
    const full = `9223372036854775807, -32768, 2147483647, '123456789012345678901234567890.000000000012345', 12.5, 1.5, 0.1,
      true, 'héllo 🌍', 'abc', 'ab', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a":[1,2,{"b":null}]}',
      '{"k": "v", "n": 1.5}', '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+02',
      '1 year 2 months 3 days 04:05:06.789', '{1,NULL,3}', '{"a b","c\\"d",NULL}', 'happy'`;
    const odd = `-5, NULL, NULL, '-0.5', NULL, '-Infinity', 'NaN', false, '', NULL, NULL, '\\x', NULL, 'null', '[]',
      '0044-03-15 BC', '00:00:00', '1969-12-31 23:59:59.999999', NULL, '-1 days -00:00:01.5', '{}', '{{"x"}}', NULL`;
    const expectedFull = (id: bigint) => [
      id === 1n ? 9223372036854775807n : id,
      -32768n,
      2147483647n,
      Decimal.parse('123456789012345678901234567890.000000000012345'),
      Decimal.parse('12.50'),
      1.5,
      0.1,
      true,
      'héllo 🌍',
      'abc',
      'ab ',
      new Uint8Array([0, 255, 16]),
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      new Json({ a: [1, 2, { b: null }] }),
      new Json({ k: 'v', n: 1.5 }),
      DateValue.parse('2024-02-29'),
      Duration.fromMicros(86_399_999_999n),
      Timestamp.parse('2024-01-02T03:04:05.123456Z'),
      Timestamp.parse('2024-01-02T01:04:05.123456Z'),
      new Duration(14, 3, 14_706_789_000n),
      new Json([1, null, 3]),
      new Json(['a b', 'c"d', null]),
      'happy',
    ];
    const expectedOdd = (id: bigint) => [
      id,
      null,
      null,
      Decimal.parse('-0.5'),
      null,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
      false,
      '',
      null,
      null,
      new Uint8Array([]),
      null,
      new Json(null),
      new Json([]),
      DateValue.parse('-0043-03-15'),
      Duration.fromMicros(0n),
      Timestamp.parse('1969-12-31T23:59:59.999999Z'),
      null,
      new Duration(0, -1, -1_500_000n),
      new Json([]),
      new Json([['x']]),
      null,
    ];
    await sql(PG, `INSERT INTO ${table} VALUES (${full}), (${odd})`);
    const config = configFor(name, { tables: [table] });
    const r = run(config, [{ name: table, resumeFrom: null }]);
    try {
      const [info] = await r.connector.listTables();
      expect(info!.schema.fields.map((f) => f.type)).toEqual([
        'int',
        'int',
        'int',
        'decimal',
        'decimal',
        'float',
        'float',
        'boolean',
        'text',
        'string',
        'string',
        'binary',
        'string',
        'json',
        'json',
        'date',
        'duration',
        'timestamp',
        'timestamp',
        'duration',
        'json',
        'json',
        'string',
      ]);
      expect(info!.schema.fields[4]).toEqual({
        name: 'n2',
        type: 'decimal',
        nullable: true,
        precision: 10,
        scale: 2,
      });
      await r.out.until(() => r.out.snapshotDone.has(table));
      await sql(
        PG,
        `INSERT INTO ${table} VALUES (${full.replace('9223372036854775807', '2')}), (${odd.replace('-5', '-6')})`,
      );
      await r.out.until(() => r.out.ops(table).length === 4);
      const rows = r.out.ops(table).map((op) => (op.kind === 'insert' ? op.new : null));
      const byId = new Map(rows.map((row) => [row![0] as bigint, row]));
      expect(byId.get(9223372036854775807n)).toEqual(expectedFull(1n));
      expect(byId.get(-5n)).toEqual(expectedOdd(-5n));
      expect(byId.get(2n)).toEqual(expectedFull(2n));
      expect(byId.get(-6n)).toEqual(expectedOdd(-6n));
    } finally {
      await r.stop();
      await dropReplicationObjects(name);
      await sql(PG, `DROP TABLE IF EXISTS ${table}; DROP TYPE IF EXISTS ${PREFIX}_mood`);
    }
  });

  it('fills unchanged TOAST values and whole old rows under REPLICA IDENTITY DEFAULT and FULL', async () => {
    const name = 'toast';
    const tables = [`${PREFIX}_toast_default`, `${PREFIX}_toast_full`];
    await dropReplicationObjects(name);
    for (const t of tables) {
      await sql(PG, `DROP TABLE IF EXISTS ${t}; CREATE TABLE ${t} (id int PRIMARY KEY, big text, n int)`);
      await sql(
        PG,
        `INSERT INTO ${t} SELECT 1, string_agg(md5(g::text), '') , 1 FROM generate_series(1, 400) g`,
      );
    }
    await sql(PG, `ALTER TABLE ${tables[1]} REPLICA IDENTITY FULL`);
    // Only the FULL table promises exact changes; under DEFAULT old rows may carry only the key.
    const listed = await postgresConnector
      .create(configFor(name, { tables }), { name: 't', logger: silentLogger })
      .listTables();
    expect(listed.map((t) => [t.name, t.exactChanges])).toEqual([
      [tables[0], false],
      [tables[1], true],
    ]);
    const big = (await sql(PG, `SELECT big FROM ${tables[0]}`)).rows[0].big as string;
    expect(big.length).toBe(12_800);
    const r = run(
      configFor(name, { tables }),
      tables.map((t) => ({ name: t, resumeFrom: null })),
    );
    try {
      await r.out.until(() => tables.every((t) => r.out.snapshotDone.has(t)));
      for (const t of tables) {
        await sql(PG, `UPDATE ${t} SET n = 2 WHERE id = 1`);
        await sql(PG, `UPDATE ${t} SET id = 7 WHERE id = 1`);
        await sql(PG, `DELETE FROM ${t} WHERE id = 7`);
      }
      await r.out.until(() => tables.every((t) => r.out.ops(t).length === 4));
      for (const t of tables) {
        expect(r.out.ops(t).slice(1), t).toEqual([
          { kind: 'update', old: [1n, big, 1n], new: [1n, big, 2n] },
          { kind: 'update', old: [1n, big, 2n], new: [7n, big, 2n] },
          { kind: 'delete', old: [7n, big, 2n] },
        ]);
      }
    } finally {
      await r.stop();
      await dropReplicationObjects(name);
      for (const t of tables) await sql(PG, `DROP TABLE IF EXISTS ${t}`);
    }
  });

  it('keeps its row cache on disk past row_cache_memory_mb, with the same old rows, TOAST values and TRUNCATEs', async () => {
    const name = 'spill';
    const keyed = `${PREFIX}_spill_keyed`;
    const keyless = `${PREFIX}_spill_keyless`;
    const tables = [keyed, keyless];
    await dropReplicationObjects(name);
    await sql(
      PG,
      `DROP TABLE IF EXISTS ${keyed}; CREATE TABLE ${keyed} (id int PRIMARY KEY, big text, n int);
       DROP TABLE IF EXISTS ${keyless}; CREATE TABLE ${keyless} (a int, b text);
       ALTER TABLE ${keyless} REPLICA IDENTITY FULL;
       INSERT INTO ${keyed} SELECT g, 'row ' || g, 0 FROM generate_series(1, 20000) g;
       UPDATE ${keyed} SET big = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g) WHERE id = 1;
       INSERT INTO ${keyless} VALUES (1, 'x'), (1, 'x'), (2, NULL)`,
    );
    const big = (await sql(PG, `SELECT big FROM ${keyed} WHERE id = 1`)).rows[0].big as string;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dz-pg-spill-'));
    const config = configFor(name, { tables, row_cache_memory_mb: 0, row_cache_dir: dir });
    const r = run(
      config,
      tables.map((t) => ({ name: t, resumeFrom: null })),
    );
    try {
      await r.out.until(() => tables.every((t) => r.out.snapshotDone.has(t)));
      expect(fs.readdirSync(dir).filter((d) => d.startsWith('dozer-pg-rows-'))).toHaveLength(1);
      // Every row is changed once (old rows from the cache on disk, past several of its disk writes).
      await sql(PG, `UPDATE ${keyed} SET n = id`);
      await sql(PG, `UPDATE ${keyed} SET id = 0 WHERE id = 1`);
      await sql(PG, `DELETE FROM ${keyed} WHERE id % 3 = 0`);
      await sql(PG, `DELETE FROM ${keyless} WHERE b IS NULL`);
      await sql(PG, `TRUNCATE ${keyed}, ${keyless}`);
      const left = 20_000 - Math.floor(20_000 / 3);
      await r.out.until(() => r.out.ops(keyed).length === 20_000 * 2 + 1 + Math.floor(20_000 / 3) + left);
      await r.out.until(() => r.out.ops(keyless).length === 3 + 1 + 2);
      const ops = r.out.ops(keyed);
      // materialize checks that each old row is the row the stream had made current.
      expect(materialize(ops).size).toBe(0);
      // The TOASTed value, not resent by the server, comes back from the cache on disk.
      expect(ops.filter((op) => op.kind === 'update' && op.old[0] === 1n)).toEqual([
        { kind: 'update', old: [1n, big, 0n], new: [1n, big, 1n] },
        { kind: 'update', old: [1n, big, 1n], new: [0n, big, 1n] },
      ]);
      expect(r.out.ops(keyless).slice(3)).toEqual([
        { kind: 'delete', old: [2n, null] },
        { kind: 'delete', old: [1n, 'x'] },
        { kind: 'delete', old: [1n, 'x'] },
      ]);
    } finally {
      await r.stop();
      await dropReplicationObjects(name);
      for (const t of tables) await sql(PG, `DROP TABLE IF EXISTS ${t}`);
    }
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reports a snapshot's rows left by Postgres's estimate, then the stream's lag", async () => {
    const name = 'snaplag';
    const table = `${PREFIX}_snaplag`;
    await dropReplicationObjects(name);
    await sql(
      PG,
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, v text);
       INSERT INTO ${table} SELECT g, 'v' || g FROM generate_series(1, 20000) g; ANALYZE ${table}`,
    );
    // A sink that holds the first batch until released: the snapshot waits after its first 5,000 rows.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let writes = 0;
    let firstWrite!: () => void;
    const wrote = new Promise<void>((r) => {
      firstWrite = r;
    });
    const out = collector();
    const sink = {
      ...out.sink,
      async write(b: Parameters<typeof out.sink.write>[0]) {
        await out.sink.write(b);
        if (writes++ === 0) {
          firstWrite();
          await held;
        }
      },
    };
    const connector = postgresConnector.create(configFor(name, { tables: [table] }), {
      name: 't',
      logger: silentLogger,
    });
    const ac = new AbortController();
    const done = connector.start({ tables: [{ name: table, resumeFrom: null }], sink, signal: ac.signal });
    try {
      await wrote;
      const during = await connector.lag!();
      expect(during.tables).toEqual([{ table, position: null, behindOps: 15_000, behindMillis: null }]);
      release();
      await out.until(() => out.snapshotDone.has(table));
      await sql(PG, `INSERT INTO ${table} VALUES (0, 'new')`);
      await out.until(() => out.ops(table).length === 20_001);
      const after = await connector.lag!();
      expect(after.tables[0]!.behindOps).toBe(0);
      expect(after.tables[0]!.behindMillis).toBe(0);
    } finally {
      release();
      ac.abort();
      await done;
      await connector.close();
      await dropReplicationObjects(name);
      await sql(PG, `DROP TABLE IF EXISTS ${table}`);
    }
  });

  it('turns TRUNCATE into deletes of every row and keeps following new columns after ALTER TABLE', async () => {
    const name = 'trunc';
    const table = `${PREFIX}_trunc`;
    await dropReplicationObjects(name);
    await sql(PG, `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, name text)`);
    await sql(PG, `INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`);
    const logger = recordingLogger();
    const config = configFor(name, { tables: [table] });
    const r = run(config, [{ name: table, resumeFrom: null }], logger);
    try {
      await r.out.until(() => r.out.snapshotDone.has(table));
      await sql(PG, `INSERT INTO ${table} VALUES (3, 'c')`);
      await sql(PG, `TRUNCATE ${table}`);
      await sql(PG, `INSERT INTO ${table} VALUES (4, 'd')`);
      await r.out.until(() => r.out.ops(table).length === 7);
      const ops = r.out.ops(table).slice(3);
      expect(
        ops
          .slice(0, 3)
          .map((op) => (op.kind === 'delete' ? op.old : op))
          .sort((a, b) => Number((a as bigint[])[0]) - Number((b as bigint[])[0])),
      ).toEqual([
        [1n, 'a'],
        [2n, 'b'],
        [3n, 'c'],
      ]);
      expect(ops[3]).toEqual({ kind: 'insert', new: [4n, 'd'] });

      await sql(PG, `ALTER TABLE ${table} ADD COLUMN extra int DEFAULT 5`);
      await sql(PG, `INSERT INTO ${table} VALUES (5, 'e', 6)`);
      await sql(PG, `UPDATE ${table} SET name = 'D', extra = 9 WHERE id = 4`);
      await r.out.until(() => r.out.ops(table).length === 9);
      expect(r.out.ops(table).slice(7)).toEqual([
        { kind: 'insert', new: [5n, 'e'] },
        { kind: 'update', old: [4n, 'd'], new: [4n, 'D'] },
      ]);
      expect(logger.warnings.some((w) => /column added/.test(w))).toBe(true);
      const [info] = await r.connector.listTables();
      expect(info!.schema.fields.map((f) => f.name)).toEqual(['id', 'name', 'extra']);
    } finally {
      await r.stop();
      await dropReplicationObjects(name);
      await sql(PG, `DROP TABLE IF EXISTS ${table}`);
    }
  });

  it('delivers the deletes of a large TRUNCATE in batches, and a restart inside them ingests the table again', async () => {
    const name = 'bigtrunc';
    const table = `${PREFIX}_bigtrunc`;
    await dropReplicationObjects(name);
    await sql(
      PG,
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, name text);
       INSERT INTO ${table} SELECT g, 'row ' || g FROM generate_series(1, 2500) g`,
    );
    const config = configFor(name, { batch_size: 1000, tables: [table] });
    const r = run(config, [{ name: table, resumeFrom: null }]);
    let inside: string;
    try {
      await r.out.until(() => r.out.snapshotDone.has(table));
      const before = r.out.batches.length;
      // One transaction: an insert, the TRUNCATE (2501 rows), an insert.
      await sql(
        PG,
        `BEGIN; INSERT INTO ${table} VALUES (2501, 'x'); TRUNCATE ${table}; INSERT INTO ${table} VALUES (7, 'y'); COMMIT`,
      );
      await r.out.until(() => r.out.ops(table).length === 2500 + 1 + 2501 + 1);
      const batches = r.out.batches.slice(before);
      const positions = batches.map((b) => b.position ?? '');
      // Never more than a batch of deletes at once: the table is not read into memory whole.
      expect(batches.map((b) => b.ops.length)).toEqual([1000, 1000, 503]);
      expect(positions.map((p) => p.includes('+'))).toEqual([true, true, false]);
      for (let i = 1; i < positions.length; i++) {
        expect(r.connector.comparePositions(positions[i - 1]!, positions[i]!)).toBeLessThan(0);
      }
      expect(materialize(r.out.ops(table))).toEqual(new Map([['7', [7n, 'y']]]));
      inside = positions[0]!;
      expect(r.connector.comparePositions(r.out.snapshotDone.get(table)!, inside)).toBeLessThan(0);
    } finally {
      await r.stop();
    }
    try {
      // Resumed from inside the TRUNCATE, the connector cannot know which rows the pipeline still
      // held (its cache is read again, after the TRUNCATE): it asks for the table from scratch.
      const again = run(config, [{ name: table, resumeFrom: inside }]);
      const failure = await again.done.then(
        () => null,
        (e: unknown) => e as Error,
      );
      await again.connector.close();
      expect(failure?.name).toBe('SourceRebuildError');
      expect(failure?.message).toMatch(/was truncated at .* must be ingested again from scratch/);
      expect(again.out.batches).toEqual([]);
    } finally {
      await dropReplicationObjects(name);
      await sql(PG, `DROP TABLE IF EXISTS ${table}`);
    }
  });

  it('follows a partitioned table: changes of its partitions arrive under the table', async () => {
    const name = 'parted';
    const table = `${PREFIX}_parted`;
    await dropReplicationObjects(name);
    await sql(
      PG,
      `DROP TABLE IF EXISTS ${table};
       CREATE TABLE ${table} (id int, region int, note text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
       CREATE TABLE ${table}_1 PARTITION OF ${table} FOR VALUES IN (1);
       CREATE TABLE ${table}_2 (note text, region int NOT NULL, id int NOT NULL);
       ALTER TABLE ${table} ATTACH PARTITION ${table}_2 FOR VALUES IN (2);
       INSERT INTO ${table} VALUES (1, 1, 'a'), (2, 2, 'b')`,
    );
    const r = run(configFor(name, { tables: [table] }), [{ name: table, resumeFrom: null }]);
    try {
      await r.out.until(() => r.out.snapshotDone.has(table));
      await sql(PG, `INSERT INTO ${table} VALUES (3, 1, 'c'), (4, 2, 'd')`);
      await sql(PG, `UPDATE ${table} SET note = 'B' WHERE id = 2`);
      await sql(PG, `DELETE FROM ${table} WHERE id = 1`);
      await r.out.until(() => r.out.ops(table).length === 6);
      expect(r.out.ops(table).slice(2)).toEqual([
        { kind: 'insert', new: [3n, 1n, 'c'] },
        // A partition whose columns are in another order still gives rows in the table's order.
        { kind: 'insert', new: [4n, 2n, 'd'] },
        { kind: 'update', old: [2n, 2n, 'b'], new: [2n, 2n, 'B'] },
        { kind: 'delete', old: [1n, 1n, 'a'] },
      ]);
    } finally {
      await r.stop();
      await dropReplicationObjects(name);
      await sql(PG, `DROP TABLE IF EXISTS ${table}`);
    }
  });

  it('keeps every value intact while a slow sink lets the stream queue up behind it', async () => {
    // pg hands out replication messages as views into a buffer it reuses; queued messages
    // must own their bytes, or values read later come out of newer socket data.
    const name = 'queued';
    const table = `${PREFIX}_queued`;
    await dropReplicationObjects(name);
    await sql(
      PG,
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, label text NOT NULL, at timestamptz NOT NULL)`,
    );
    const out = collector();
    const slow: Collector = {
      ...out,
      sink: {
        async write(b) {
          await new Promise((r) => setTimeout(r, 5));
          await out.sink.write(b);
        },
        snapshotDone: (t, p) => out.sink.snapshotDone(t, p),
      },
    };
    const r = run(
      configFor(name, { batch_size: 500, tables: [table] }),
      [{ name: table, resumeFrom: null }],
      silentLogger,
      slow,
    );
    try {
      await out.until(() => out.snapshotDone.has(table));
      const n = 20_000;
      await sql(
        PG,
        `INSERT INTO ${table} SELECT g, 'label-' || g, '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, ${n}) g`,
      );
      await sql(PG, `UPDATE ${table} SET label = label || '!' WHERE id % 2 = 0`);
      await out.until(() => out.ops(table).length === n + n / 2);
      const rows = materialize(out.ops(table));
      expect(rows.size).toBe(n);
      for (let id = 1; id <= n; id++) {
        const row = rows.get(String(id))!;
        expect(row[1]).toBe(`label-${id}${id % 2 === 0 ? '!' : ''}`);
        expect(row[2]).toEqual(new Timestamp(BigInt(Date.UTC(2024, 0, 1) + id * 1000) * 1000n));
      }
    } finally {
      await r.stop();
      await dropReplicationObjects(name);
    }
  }, 120_000);

  it('reconnects and resumes after the walsender is terminated, losing and repeating nothing', async () => {
    const name = 'reconnect';
    const table = `${PREFIX}_reconnect`;
    await dropReplicationObjects(name);
    await sql(PG, `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, v int)`);
    await sql(PG, `INSERT INTO ${table} VALUES (1, 1)`);
    const logger = recordingLogger();
    const config = configFor(name, { tables: [table] });
    const r = run(config, [{ name: table, resumeFrom: null }], logger);
    try {
      await r.out.until(() => r.out.snapshotDone.has(table));
      await sql(PG, `INSERT INTO ${table} VALUES (2, 2)`);
      await r.out.until(() => r.out.ops(table).length === 2);
      const killed = await sql(
        PG,
        'SELECT pg_terminate_backend(active_pid) AS ok FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
        [config.slot_name],
      );
      expect(killed.rows).toEqual([{ ok: true }]);
      await sql(PG, `INSERT INTO ${table} VALUES (3, 3); UPDATE ${table} SET v = 20 WHERE id = 2`);
      await r.out.until(() => r.out.ops(table).length >= 4);
      await logger.untilWarning(/reconnecting/);
      await sql(PG, `INSERT INTO ${table} VALUES (4, 4)`);
      await r.out.until(() => r.out.ops(table).length >= 5);
      const state = materialize(r.out.ops(table));
      expect([...state.values()].sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
        [1n, 1n],
        [2n, 20n],
        [3n, 3n],
        [4n, 4n],
      ]);
      expect(r.out.ops(table)).toHaveLength(5);
    } finally {
      await r.stop();
      await dropReplicationObjects(name);
      await sql(PG, `DROP TABLE IF EXISTS ${table}`);
    }
  });

  it('reports bad configuration with errors that say how to fix it', async () => {
    const wrongPassword = postgresConnector.create(
      { ...baseConfig, password: 'wrong' },
      { name: 'bad', logger: silentLogger },
    );
    const e1 = await wrongPassword.listTables().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ConnectorError);
    expect((e1 as ConnectorError).retryable).toBe(false);
    expect((e1 as Error).message).toMatch(
      /password authentication failed for user "dozer".*check the user and password options/,
    );

    const unknown = postgresConnector.create(
      { ...baseConfig, tables: ['no_such_table_xyz'] },
      { name: 'bad', logger: silentLogger },
    );
    const e2 = await unknown.listTables().catch((e: unknown) => e);
    expect((e2 as ConnectorError).retryable).toBe(false);
    expect((e2 as Error).message).toMatch(
      /table "no_such_table_xyz" does not exist.*Fix the tables option or create the table/,
    );

    const refused = postgresConnector.create(
      { ...baseConfig, port: 1 },
      { name: 'bad', logger: silentLogger },
    );
    const e3 = await refused.listTables().catch((e: unknown) => e);
    expect((e3 as ConnectorError).retryable).toBe(true);
    expect((e3 as Error).message).toMatch(/connection refused.*check host and port/);

    const role = `${PREFIX}_norepl`;
    const table = `${PREFIX}_norepl_t`;
    await sql(PG, `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY)`);
    await sql(PG, `CREATE ROLE ${role} LOGIN PASSWORD 'pw'; GRANT SELECT ON ${table} TO ${role}`);
    try {
      const noRepl = postgresConnector.create(
        { ...baseConfig, user: role, password: 'pw', tables: [table], slot_name: `${PREFIX}_norepl` },
        { name: 'bad', logger: silentLogger },
      );
      expect(await noRepl.listTables()).toHaveLength(1);
      const e4 = await noRepl
        .start({
          tables: [{ name: table, resumeFrom: null }],
          sink: collector().sink,
          signal: new AbortController().signal,
        })
        .catch((e: unknown) => e);
      expect((e4 as ConnectorError).retryable).toBe(false);
      expect((e4 as Error).message).toMatch(
        /has no REPLICATION attribute.*ALTER ROLE "dz_pgtest_norepl" WITH REPLICATION/,
      );
    } finally {
      await sql(PG, `DROP TABLE IF EXISTS ${table}; DROP ROLE IF EXISTS ${role}`);
    }

    // The real server runs with wal_level = logical; the check passes on its answer.
    const client = await connect(baseConfig, false, 'test');
    try {
      await expect(checkWalLevel(client)).resolves.toBeUndefined();
    } finally {
      await client.end();
    }
  });
});
