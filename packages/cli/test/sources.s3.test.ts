import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type S3TestServer, startS3Server } from '../../../test/support/s3.js';
import { type DozerProcess, freePort, postJson, runDozer, spawnDozer, until } from './helpers.js';

// CSV and JSON lines objects in a bucket of a real S3 wire-protocol server
// (s3rver on loopback) behind `dozer run`: the objects present at start, an
// object uploaded while running, a malformed row in the dead-letter file, a
// restart, and a missing bucket reported with its fix.

const BUCKET = 'dozer-cli-e2e';
let s3: S3TestServer | undefined;
let endpoint: string;
let dir: string;
let deadLetter: string;
let base: string;
let dozer: DozerProcess | undefined;

const put = (key: string, body: string) => s3!.put(BUCKET, key, body);
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

/** A dozer.yaml reading `bucket` of the s3rver. */
async function writeConfig(bucket: string, name: string): Promise<string> {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `version: 1
app_name: s3-e2e
home_dir: ./home-${name}
connections:
  - name: lake
    kind: object_store
    config:
      storage:
        kind: s3
        bucket: ${bucket}
        region: us-east-1
        endpoint: ${endpoint}
        force_path_style: true
        access_key_id: \${S3_KEY}
        secret_access_key: \${S3_SECRET}
      tables:
        - name: trips
          prefix: trips/
          pattern: "**/*.csv"
          format: csv
          csv: { delimiter: ";" }
          schema:
            columns:
              - { name: id, type: int }
              - { name: city, type: string, nullable: false }
              - { name: fare, type: decimal, precision: 10, scale: 2 }
              - { name: started_at, type: timestamp }
            primary_key: [id]
          on_error: dead_letter
          dead_letter_path: ${JSON.stringify(deadLetter)}
          poll_interval_ms: 200
        - name: pings
          prefix: pings/
          pattern: "*.jsonl"
          format: jsonl
          schema:
            columns:
              - { name: device, type: string, nullable: false }
              - { name: n, type: int, nullable: false }
              - { name: reading, type: float }
            primary_key: [device, n]
          poll_interval_ms: 200
sources:
  - { name: trips, connection: lake, table_name: trips }
  - { name: pings, connection: lake, table_name: pings }
sql: |
  SELECT city, COUNT(*) AS trips, SUM(fare) AS fares FROM trips GROUP BY city INTO by_city;
endpoints:
  - { name: trips, path: /trips, table_name: trips }
  - { name: pings, path: /pings, table_name: pings }
  - name: by_city
    path: /by-city
    table_name: by_city
    index:
      primary_key: [city]
api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
  );
  return file;
}
const env = { S3_KEY: 'S3RVER', S3_SECRET: 'S3RVER' };

beforeAll(async () => {
  s3 = await startS3Server();
  endpoint = s3.endpoint;
  await s3.createBucket(BUCKET);
  await put(
    'trips/2024/01/part-0001.csv',
    'id;city;fare;started_at\n1;Berlin;12.50;2024-01-01T08:00:00Z\n2;"Paris; Rive Gauche";7.25;2024-01-01T09:30:00.25Z\n',
  );
  await put('trips/2024/01/part-0002.csv', 'id;city;fare;started_at\n3;Berlin;abc;2024-01-02T10:00:00Z\n');
  await put(
    'pings/0001.jsonl',
    '{"device": "a", "n": 1, "reading": 0.5}\n{"device": "a", "n": 2, "reading": null}\n{"device": "b", "n": 1}\n',
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-s3-e2e-'));
  deadLetter = path.join(dir, 'dead', 'trips.jsonl');
}, 60_000);

afterAll(async () => {
  dozer?.child.kill('SIGKILL');
  await dozer?.exited;
  await s3?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

let file: string;
const start = async () => {
  dozer = spawnDozer(['run', '-c', file], { env });
  await dozer.waitFor('Serving 3 endpoint(s)', 90_000);
};

it('loads the objects present at start, with the malformed row in the dead-letter file', async () => {
  file = await writeConfig(BUCKET, 'dozer.yaml');
  await start();
  await until(async () => (await query('/trips', 'id')).length === 2, 60_000, 'the 2 good trips');
  await until(async () => (await query('/pings', 'device')).length === 3, 60_000, 'the 3 pings');
  expect(await query('/trips', 'id')).toEqual([
    { id: '1', city: 'Berlin', fare: '12.50', started_at: '2024-01-01T08:00:00.000000Z' },
    { id: '2', city: 'Paris; Rive Gauche', fare: '7.25', started_at: '2024-01-01T09:30:00.250000Z' },
  ]);
  expect(
    (await postJson(`${base}/pings/query`, { $order_by: [{ device: 'asc' }, { n: 'asc' }] })).body,
  ).toEqual([
    { device: 'a', n: '1', reading: 0.5 },
    { device: 'a', n: '2', reading: null },
    { device: 'b', n: '1', reading: null },
  ]);
  await until(async () => deadRows().length === 1, 10_000, 'the dead-letter row');
  expect(deadRows()[0]).toMatchObject({ table: 'trips', line: 2 });
  expect(String(deadRows()[0]!.file)).toContain('trips/2024/01/part-0002.csv');
  expect(String(deadRows()[0]!.error)).toContain('fare');
});

it('ingests an object uploaded while running, once', async () => {
  await put(
    'trips/2024/02/part-0001.csv',
    'id;city;fare;started_at\n4;Paris; Rive Gauche;1;2024-02-01T00:00:00Z\n',
  );
  await put('trips/2024/02/part-0002.csv', 'id;city;fare;started_at\n5;Berlin;0.05;2024-02-02T00:00:00Z\n');
  await put('pings/0002.jsonl', '{"device": "b", "n": 2, "reading": -1e-3}\n');
  await until(async () => (await query('/trips', 'id')).length === 3, 30_000, 'the trip of the new object');
  await until(async () => (await query('/pings', 'device')).length === 4, 30_000, 'the new ping');
  expect(await query('/by-city', 'city')).toEqual([
    { city: 'Berlin', trips: '2', fares: '12.55' },
    { city: 'Paris; Rive Gauche', trips: '1', fares: '7.25' },
  ]);
  // The first new object's row has one field too many for the header: malformed, dead-lettered.
  await until(async () => deadRows().length === 2, 10_000, 'the second dead-letter row');
  expect(deadRows()[1]).toMatchObject({ table: 'trips', line: 2 });
  expect(String(deadRows()[1]!.file)).toContain('trips/2024/02/part-0001.csv');
  await new Promise((r) => setTimeout(r, 1000));
  expect(await query('/trips', 'id')).toHaveLength(3);
  expect(await query('/pings', 'device')).toHaveLength(4);
});

it('serves the same rows after a restart', async () => {
  const trips = await query('/trips', 'id');
  const pings = (await postJson(`${base}/pings/query`, { $order_by: [{ device: 'asc' }, { n: 'asc' }] }))
    .body;
  dozer!.child.kill('SIGINT');
  expect(await dozer!.exited).toBe(0);
  await start();
  await until(async () => (await query('/trips', 'id')).length === 3, 60_000, 'the trips after restart');
  await until(async () => (await query('/pings', 'device')).length === 4, 60_000, 'the pings after restart');
  expect(await query('/trips', 'id')).toEqual(trips);
  expect(
    (await postJson(`${base}/pings/query`, { $order_by: [{ device: 'asc' }, { n: 'asc' }] })).body,
  ).toEqual(pings);
  dozer!.child.kill('SIGINT');
  expect(await dozer!.exited).toBe(0);
  dozer = undefined;
});

it('stops with the fix when the bucket does not exist', async () => {
  const bad = await writeConfig('no-such-bucket', 'missing.yaml');
  const r = await runDozer(['run', '-c', bad], { env });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/bucket "no-such-bucket" does not exist/);
  expect(r.stderr).toMatch(/storage\.bucket/);
});
