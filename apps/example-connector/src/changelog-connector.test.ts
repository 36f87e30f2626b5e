import { appendFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type Connector,
  ConnectorError,
  createConnectorRegistry,
  type IngestSink,
  silentLogger,
  type TableRequest,
} from '@dozer/connectors';
import { runConnectorConformance } from '@dozer/connectors/testing';
import {
  DateValue,
  Decimal,
  Duration,
  Json,
  type OpBatch,
  type Operation,
  Point,
  rowToObject,
  Timestamp,
} from '@dozer/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChangelogConfig, ChangelogTableConfig } from './config.js';
import { connector } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'dozer-changelog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tables: ChangelogTableConfig[] = [
  {
    name: 'users',
    primary_key: ['id'],
    columns: [
      { name: 'id', type: 'int' },
      { name: 'name', type: 'string' },
      { name: 'email', type: 'string', nullable: true },
      { name: 'balance', type: 'decimal', precision: 12, scale: 2 },
      { name: 'joined', type: 'timestamp' },
      { name: 'birthday', type: 'date', nullable: true },
      { name: 'active', type: 'boolean' },
      { name: 'prefs', type: 'json', nullable: true },
      { name: 'avatar', type: 'binary', nullable: true },
      { name: 'score', type: 'float' },
      { name: 'session', type: 'duration', nullable: true },
      { name: 'home', type: 'point', nullable: true },
      { name: 'visits', type: 'uint' },
    ],
  },
  {
    name: 'orders',
    primary_key: ['region', 'number'],
    columns: [
      { name: 'region', type: 'string' },
      { name: 'number', type: 'uint' },
      { name: 'total', type: 'decimal', precision: 10, scale: 2 },
    ],
  },
];

/** Writes a changelog the way an application would, keeping track of which rows exist. */
class Changelog {
  private readonly users = new Set<number>();
  private readonly orders = new Set<string>();
  private nextUser = 1;
  private nextOrder = 1;
  private step = 0;

  constructor(readonly file: string) {
    writeFileSync(file, '');
  }

  user(id: number, version: number) {
    return {
      id,
      name: `user ${id}`,
      email: id % 4 === 0 ? null : `u${id}@example.com`,
      balance: `${id * 3 + version}.${String(id % 100).padStart(2, '0')}`,
      joined: `2024-03-${String((id % 28) + 1).padStart(2, '0')}T10:00:00.${String(id).padStart(6, '0')}Z`,
      birthday: id % 5 === 0 ? null : '1990-07-14',
      active: (id + version) % 2 === 0,
      prefs: id % 3 === 0 ? null : { theme: 'dark', v: version, tags: ['a', id] },
      avatar: id % 6 === 0 ? null : Buffer.from(`img${id}`).toString('base64'),
      score: id / 8 + version,
      session: id % 7 === 0 ? null : `PT${id}M`,
      home: id % 2 === 0 ? { x: id, y: -id / 2 } : null,
      visits: String(2n ** 63n + BigInt(id + version)),
    };
  }

  /** `n` records over both tables: inserts, updates and deletes in turn, plus lines of a table nobody ingests. */
  changes(n: number): string[] {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.step++;
      const onUsers = s % 3 !== 2;
      const kind = this.users.size < 5 || s % 5 < 3 ? 'insert' : s % 5 === 3 ? 'update' : 'delete';
      if (onUsers) {
        if (kind === 'insert') {
          const id = this.nextUser++;
          this.users.add(id);
          lines.push(JSON.stringify({ op: 'insert', table: 'users', row: this.user(id, 0) }));
        } else {
          const id = [...this.users][s % this.users.size]!;
          if (kind === 'delete') this.users.delete(id);
          const row = kind === 'update' ? this.user(id, s) : { id };
          lines.push(JSON.stringify({ op: kind, table: 'users', row }));
        }
      } else if (kind === 'insert' || this.orders.size === 0) {
        const number = this.nextOrder++;
        const region = ['eu', 'us'][number % 2]!;
        this.orders.add(`${region}/${number}`);
        lines.push(
          JSON.stringify({ op: 'insert', table: 'orders', row: { region, number, total: number * 1.25 } }),
        );
      } else {
        const key = [...this.orders][s % this.orders.size]!;
        const [region, number] = key.split('/') as [string, string];
        if (kind === 'delete') this.orders.delete(key);
        const row = kind === 'update' ? { region, number, total: `${s}.50` } : { region, number };
        lines.push(JSON.stringify({ op: kind, table: 'orders', row }));
      }
      if (s % 7 === 0) lines.push(JSON.stringify({ op: 'insert', table: 'audit', row: { anything: s } }), '');
    }
    return lines;
  }

  append(n: number): void {
    appendFileSync(this.file, `${this.changes(n).join('\n')}\n`);
  }
}

// The conformance kit, as a plugin author runs it.
const log = new Changelog(join(dir, 'kit.ndjson'));
log.append(300);
const config: ChangelogConfig = { path: log.file, tables, batch_size: 40, poll_interval_ms: 20 };

runConnectorConformance(
  {
    factory: connector,
    config,
    invalidConfigs: [
      {
        config: { ...config, poll_interval_ms: 'abc' },
        expectIssueAt: ['poll_interval_ms'],
        message: 'expected an integer 10..60000, got "abc"',
      },
      { config: { ...config, path: '' }, expectIssueAt: ['path'] },
      {
        config: { ...config, tables: [{ ...tables[1], primary_key: ['nope'] }] },
        expectIssueAt: ['tables', 0, 'primary_key', 0],
        message: 'expected one of the table\'s columns (region, number, total), got "nope"',
      },
    ],
    makeChanges: async (n) => log.append(n),
    liveOps: 30,
    failingConfig: { config: { ...config, path: join(dir, 'missing.ndjson') }, retryable: false },
  },
  { describe, it: (name, fn) => it(name, fn, 30_000) },
);

const ctx = { name: 'changes', logger: silentLogger };

/** Starts a connector and collects what it writes until `until` holds, then stops it. */
async function collect(
  c: Connector,
  requests: TableRequest[],
  until: (batches: OpBatch[], snapshots: string[]) => boolean,
): Promise<{ batches: OpBatch[]; snapshots: string[] }> {
  const batches: OpBatch[] = [];
  const snapshots: string[] = [];
  const ac = new AbortController();
  const check = () => {
    if (until(batches, snapshots)) ac.abort();
  };
  const sink: IngestSink = {
    write: async (b) => {
      batches.push(b);
      check();
    },
    snapshotDone: async (t, p) => {
      snapshots.push(`${t}@${p}`);
      check();
    },
  };
  await c.start({ tables: requests, sink, signal: ac.signal });
  return { batches, snapshots };
}

const opsOf = (batches: OpBatch[]): Operation[] => batches.flatMap((b) => b.ops);

describe('changelog connector', () => {
  it('turns records into operations with exact values, old rows from the earlier records', async () => {
    const file = join(dir, 'values.ndjson');
    const ins = {
      id: 9007199254740993n.toString(),
      name: 'Ada',
      email: null,
      balance: '12345678.90',
      joined: '2024-02-29T23:59:59.123456Z',
      birthday: '1815-12-10',
      active: true,
      prefs: { nested: { list: [1, 'two', null] } },
      avatar: Buffer.from([0, 1, 254, 255]).toString('base64'),
      score: -0.1,
      session: 'P1Y2M3DT4H5M6.000007S',
      home: { x: 1.5, y: -2 },
      visits: '18446744073709551615',
    };
    writeFileSync(file, `${JSON.stringify({ op: 'insert', table: 'users', row: ins })}\n`);
    const c = connector.create({ path: file, tables, poll_interval_ms: 10 }, ctx);
    let appended = false;
    const { batches, snapshots } = await collect(c, [{ name: 'users', resumeFrom: null }], (b, snaps) => {
      // Changes after the snapshot, as a live application would append them.
      if (snaps.length === 1 && !appended) {
        appended = true;
        appendFileSync(
          file,
          `${JSON.stringify({ op: 'update', table: 'users', row: { ...ins, email: 'ada@example.com', visits: 0 } })}\n${JSON.stringify({ op: 'delete', table: 'users', row: { id: ins.id } })}\n`,
        );
      }
      return opsOf(b).length >= 3;
    });
    await c.close();
    const ops = opsOf(batches);
    const first = ops[0]!;
    expect(first.kind).toBe('insert');
    const row = first.kind === 'insert' ? first.new : [];
    expect(row).toEqual([
      9007199254740993n,
      'Ada',
      null,
      new Decimal(1234567890n, 2),
      new Timestamp(Timestamp.parse('2024-02-29T23:59:59Z').micros + 123456n),
      DateValue.parse('1815-12-10'),
      true,
      new Json({ nested: { list: [1, 'two', null] } }),
      new Uint8Array([0, 1, 254, 255]),
      -0.1,
      new Duration(14, 3, (4n * 3600n + 5n * 60n + 6n) * 1_000_000n + 7n),
      new Point(1.5, -2),
      18446744073709551615n,
    ]);
    expect(ops.map((o) => o.kind)).toEqual(['insert', 'update', 'delete']);
    const update = ops[1]!;
    if (update.kind !== 'update') throw new Error('expected an update');
    expect(update.old).toEqual(row);
    expect(update.new[2]).toBe('ada@example.com');
    expect(update.new[12]).toBe(0n);
    const del = ops[2]!;
    expect(del.kind === 'delete' && del.old).toEqual(update.new);
    const size = Buffer.byteLength(`${JSON.stringify({ op: 'insert', table: 'users', row: ins })}\n`);
    expect(snapshots).toEqual([`users@${size}`]);
    expect(batches[0]!.position).toBe(`${size}:1`);
  });

  it('takes a snapshot of the state at the end of the file, not its history', async () => {
    const file = join(dir, 'compact.ndjson');
    const lines = [
      { op: 'insert', table: 'orders', row: { region: 'eu', number: 1, total: '1.00' } },
      { op: 'insert', table: 'orders', row: { region: 'eu', number: 2, total: '2.00' } },
      { op: 'update', table: 'orders', row: { region: 'eu', number: 1, total: '1.50' } },
      { op: 'delete', table: 'orders', row: { region: 'eu', number: 2 } },
      { op: 'insert', table: 'orders', row: { region: 'us', number: 2, total: '9.99' } },
    ];
    writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const c = connector.create({ path: file, tables }, ctx);
    const { batches } = await collect(c, [{ name: 'orders', resumeFrom: null }], (_b, s) => s.length === 1);
    await c.close();
    const schema = (await c.listTables())[1]!.schema;
    expect(opsOf(batches).map((o) => o.kind === 'insert' && rowToObject(schema, o.new))).toEqual([
      { region: 'eu', number: '1', total: '1.50' },
      { region: 'us', number: '2', total: '9.99' },
    ]);
  });

  it('names the file and line of a bad record, and says how to fix it', async () => {
    const file = join(dir, 'bad.ndjson');
    const good = JSON.stringify({
      op: 'insert',
      table: 'orders',
      row: { region: 'eu', number: 1, total: 1 },
    });
    const cases: [string, string][] = [
      ['{"op": "insert", "table": "orders", "row": {', 'not JSON'],
      [
        JSON.stringify({ op: 'upsert', table: 'orders', row: {} }),
        '"op" must be "insert", "update" or "delete", got "upsert"',
      ],
      [
        JSON.stringify({ op: 'update', table: 'orders', row: { region: 'us', number: 5, total: 1 } }),
        'updates the row with key ["us","5"], which does not exist',
      ],
      [good, 'inserts a row with key ["eu","1"], which exists; use "op": "update"'],
      [
        JSON.stringify({ op: 'insert', table: 'orders', row: { region: 'eu', number: 2, total: 'lots' } }),
        'row.total: not a decimal number: "lots" for decimal field "total"',
      ],
      [
        JSON.stringify({ op: 'insert', table: 'orders', row: { region: 'eu', number: 2, total: '1.234' } }),
        "row.total: 1.234 has more than the column's 2 digits after the point",
      ],
      [
        JSON.stringify({ op: 'insert', table: 'orders', row: { region: 'eu', number: 2, totl: 1 } }),
        'table "orders" has no column "totl" (columns: region, number, total)',
      ],
    ];
    for (const [bad, problem] of cases) {
      writeFileSync(file, `${good}\n\n${bad}\n`);
      const c = connector.create({ path: file, tables }, ctx);
      const e = await collect(c, [{ name: 'orders', resumeFrom: null }], () => false).catch(
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ConnectorError);
      expect((e as ConnectorError).retryable).toBe(false);
      expect((e as Error).message).toContain(`${file}:3: ${problem}`);
      expect((e as Error).message).toContain('Fix the record; the changelog holds one JSON record a line');
    }
  });

  it('refuses to resume in a file that was truncated or edited', async () => {
    const file = join(dir, 'truncated.ndjson');
    const line = `${JSON.stringify({ op: 'insert', table: 'orders', row: { region: 'eu', number: 1, total: 1 } })}\n`;
    writeFileSync(file, line + line.replace('"number":1', '"number":2'));
    const c1 = connector.create({ path: file, tables }, ctx);
    await expect(
      collect(c1, [{ name: 'orders', resumeFrom: `${line.length + 3}` }], () => false),
    ).rejects.toThrow(
      `${file}: cannot resume "orders" at byte ${line.length + 3}: no line ends there; the file was edited. The changelog must only be appended to`,
    );
    truncateSync(file, line.length);
    const c2 = connector.create({ path: file, tables }, ctx);
    await expect(
      collect(c2, [{ name: 'orders', resumeFrom: `${2 * line.length}` }], () => false),
    ).rejects.toThrow(`the file has only ${line.length} bytes; it was truncated or replaced`);
  });

  it('is loaded at run time by the registry, like any plugin', async () => {
    const entry = fileURLToPath(new URL('./index.ts', import.meta.url));
    const factory = await createConnectorRegistry({ builtins: false }).resolve(pathToFileURL(entry).href);
    expect(factory.kind).toBe('changelog');
    expect(factory.validateConfig({ path: 'x.ndjson', tables: [] })).toEqual([
      { path: ['tables'], message: 'expected a non-empty list of tables, got a list' },
    ]);
  });
});
