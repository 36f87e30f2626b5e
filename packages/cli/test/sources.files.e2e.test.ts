import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type DozerProcess,
  dropFile,
  freePort,
  lakeYaml,
  postJson,
  runDozer,
  spawnDozer,
  until,
} from './helpers.js';

// A local directory of CSV, JSON lines and Parquet files behind `dozer run`: the files
// present at start, a file added while running, a malformed row that goes to
// the dead-letter file with its file and line, and a restart that serves the
// same rows again.
let dir: string;
let data: string;
let deadLetter: string;
let base: string;
let file: string;
let dozer: DozerProcess | undefined;

const drop = (rel: string, text: string) => dropFile(data, rel, text);

/** Writes the rows of a DuckDB query as a Snappy Parquet file, under a hidden name first. */
async function writeParquet(rel: string, select: string): Promise<void> {
  const target = path.join(data, rel);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const duck = await DuckDBInstance.create(':memory:');
  const c = await duck.connect();
  try {
    await c.run(`COPY (${select}) TO '${tmp}' (FORMAT parquet, COMPRESSION snappy)`);
  } finally {
    c.closeSync();
    duck.closeSync();
  }
  fs.renameSync(tmp, target);
}

const query = async (p: string, orderBy: string) =>
  (await postJson(`${base}${p}/query`, { $order_by: { [orderBy]: 'asc' }, $limit: 1000 })).body as Array<
    Record<string, unknown>
  >;
const deadRows = () =>
  fs.existsSync(deadLetter)
    ? fs
        .readFileSync(deadLetter, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-files-e2e-'));
  data = path.join(dir, 'data');
  deadLetter = path.join(dir, 'dead', 'orders.jsonl');
  drop(
    'orders/2024-01-01.csv',
    [
      'id,customer,amount,placed_at,note',
      '9007199254740993,ada,12.345678,2024-03-01T10:00:00.123456Z,"quoted, with a comma"',
      'x2,bob,1.00,2024-03-01T11:00:00Z,the id is not a number',
      '3,"ce ""cy""",0.000001,1999-12-31 23:59:59.999999,',
      '',
    ].join('\n'),
  );
  drop(
    'events/0001.jsonl',
    [
      '{"seq": 1, "kind": "click", "at": "2024-03-01T10:00:00Z", "props": {"x": 1}}',
      '{"seq": 2, "kind": "view", "at": "2024-03-01T10:00:01Z", "props": null}',
      '',
    ].join('\n'),
  );
  await writeParquet(
    'readings/part-0001.parquet',
    `SELECT * FROM (VALUES
       (9007199254740993::BIGINT, 'a'::VARCHAR, 12.345678::DECIMAL(18, 6), TIMESTAMP '2024-03-01 10:00:00.123456', [1, 2]::INTEGER[], true),
       (2::BIGINT, NULL, -0.000001::DECIMAL(18, 6), TIMESTAMP '1999-12-31 23:59:59.999999', []::INTEGER[], NULL)
     ) t(id, sensor, value, "at", tags, ok)`,
  );
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  file = path.join(dir, 'dozer.yaml');
  fs.writeFileSync(
    file,
    `version: 1
app_name: files-e2e
home_dir: ./home
${lakeYaml(data, [
  {
    name: 'orders',
    pattern: '*.csv',
    columns: {
      id: 'int',
      customer: 'string!',
      amount: 'decimal(24,6)',
      placed_at: 'timestamp',
      note: 'text',
    },
    primaryKey: ['id'],
    options: { on_error: 'dead_letter', dead_letter_path: JSON.stringify(deadLetter), poll_interval_ms: 200 },
  },
  { name: 'events', pattern: '*.jsonl', options: { poll_interval_ms: 200 } },
  { name: 'readings', pattern: '*.parquet', options: { poll_interval_ms: 200 } },
])}sql: |
  SELECT kind, COUNT(*) AS n FROM events GROUP BY kind INTO by_kind;
endpoints:
  - name: orders
    path: /orders
    table_name: orders
  - name: events
    path: /events
    table_name: events
  - name: readings
    path: /readings
    table_name: readings
  - name: by_kind
    path: /by-kind
    table_name: by_kind
    index:
      primary_key: [kind]
api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
  );
});

afterAll(async () => {
  dozer?.child.kill('SIGKILL');
  await dozer?.exited;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const start = async () => {
  dozer = spawnDozer(['run', '-c', file]);
  await dozer.waitFor('Serving 4 endpoint(s)', 90_000);
};

it('loads the files present at start, with the malformed row in the dead-letter file', async () => {
  await start();
  await until(async () => (await query('/orders', 'id')).length === 2, 60_000, 'the 2 good orders');
  await until(async () => (await query('/events', 'seq')).length === 2, 60_000, 'the 2 events');
  expect(await query('/orders', 'id')).toEqual([
    {
      id: '3',
      customer: 'ce "cy"',
      amount: '0.000001',
      placed_at: '1999-12-31T23:59:59.999999Z',
      note: null,
    },
    {
      id: '9007199254740993',
      customer: 'ada',
      amount: '12.345678',
      placed_at: '2024-03-01T10:00:00.123456Z',
      note: 'quoted, with a comma',
    },
  ]);
  expect(await query('/events', 'seq')).toEqual([
    { seq: '1', kind: 'click', at: '2024-03-01T10:00:00.000000Z', props: { x: 1 } },
    { seq: '2', kind: 'view', at: '2024-03-01T10:00:01.000000Z', props: null },
  ]);
  // Parquet, schema from the file's footer: exact decimals and microseconds, lists as JSON.
  await until(async () => (await query('/readings', 'id')).length === 2, 60_000, 'the 2 readings');
  expect(await query('/readings', 'id')).toEqual([
    { id: '2', sensor: null, value: '-0.000001', at: '1999-12-31T23:59:59.999999Z', tags: [], ok: null },
    {
      id: '9007199254740993',
      sensor: 'a',
      value: '12.345678',
      at: '2024-03-01T10:00:00.123456Z',
      tags: [1, 2],
      ok: true,
    },
  ]);
  const dead = deadRows();
  expect(dead).toHaveLength(1);
  expect(dead[0]).toMatchObject({ table: 'orders', line: 3 });
  expect(String(dead[0]!.file)).toContain('orders/2024-01-01.csv');
  expect(String(dead[0]!.error)).toContain('id');
  expect(String(dead[0]!.raw)).toContain('x2,bob');
  expect(dozer!.stderr()).toMatch(/2024-01-01\.csv:3/);
});

it('ingests files added while running, once each', async () => {
  drop(
    'orders/2024-01-02.csv',
    'customer,id,amount,placed_at,note\ndee,4,5.5,2024-03-02T00:00:00Z,second file\n',
  );
  drop('events/0002.jsonl', '{"seq": 3, "kind": "click", "at": "2024-03-02T00:00:00Z", "props": [1, 2]}\n');
  await writeParquet(
    'readings/part-0002.parquet',
    `SELECT 3::BIGINT AS id, 'b'::VARCHAR AS sensor, 1.5::DECIMAL(18, 6) AS value, TIMESTAMP '2024-03-02 00:00:00' AS "at", [7]::INTEGER[] AS tags, false AS ok`,
  );
  await until(async () => (await query('/orders', 'id')).length === 3, 30_000, 'the order of the new file');
  await until(async () => (await query('/events', 'seq')).length === 3, 30_000, 'the event of the new file');
  await until(async () => (await query('/readings', 'id')).length === 3, 30_000, 'the new Parquet file');
  expect((await query('/readings', 'id')).find((r) => r.id === '3')).toEqual({
    id: '3',
    sensor: 'b',
    value: '1.500000',
    at: '2024-03-02T00:00:00.000000Z',
    tags: [7],
    ok: false,
  });
  // A decimal keeps the digits the file wrote (the declared scale is not padded).
  expect((await query('/orders', 'id')).find((r) => r.id === '4')).toEqual({
    id: '4',
    customer: 'dee',
    amount: '5.5',
    placed_at: '2024-03-02T00:00:00.000000Z',
    note: 'second file',
  });
  expect(await query('/by-kind', 'kind')).toEqual([
    { kind: 'click', n: '2' },
    { kind: 'view', n: '1' },
  ]);
  // A few more polls: nothing is read twice.
  await new Promise((r) => setTimeout(r, 1000));
  expect(await query('/orders', 'id')).toHaveLength(3);
  expect(await query('/events', 'seq')).toHaveLength(3);
  expect(deadRows()).toHaveLength(1);
});

it('serves the same rows after a restart', async () => {
  const orders = await query('/orders', 'id');
  const events = await query('/events', 'seq');
  const readings = await query('/readings', 'id');
  dozer!.child.kill('SIGINT');
  expect(await dozer!.exited).toBe(0);
  drop('orders/2024-01-03.csv', 'id,customer,amount,placed_at,note\n5,eve,1,2024-03-03T00:00:00Z,\n');
  await start();
  await until(async () => (await query('/orders', 'id')).length === 4, 60_000, 'the orders after restart');
  await until(async () => (await query('/events', 'seq')).length === 3, 60_000, 'the events after restart');
  expect((await query('/orders', 'id')).filter((r) => r.id !== '5')).toEqual(orders);
  expect(await query('/events', 'seq')).toEqual(events);
  await until(
    async () => (await query('/readings', 'id')).length === 3,
    60_000,
    'the readings after restart',
  );
  expect(await query('/readings', 'id')).toEqual(readings);
  // The malformed row is reported again by the fresh ingest: never dropped silently.
  expect(deadRows().length).toBeGreaterThanOrEqual(1);
  expect(deadRows().every((d) => d.line === 3)).toBe(true);
});

it('stops with the fix when the directory does not exist', async () => {
  dozer?.child.kill('SIGINT');
  await dozer?.exited;
  dozer = undefined;
  const bad = path.join(dir, 'bad.yaml');
  const missing = path.join(dir, 'no-such-dir');
  fs.writeFileSync(bad, fs.readFileSync(file, 'utf8').replace(JSON.stringify(data), JSON.stringify(missing)));
  const r = await runDozer(['run', '-c', bad]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`storage.path: ${missing} is not a readable directory`);
  expect(r.stderr).toContain('create it or fix storage.path');
});
