import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createConnectorRegistry } from '@dozer/connectors';
import { Decimal, type JsonValue, type OpBatch, type Row, rowToObject, type Schema } from '@dozer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DozerProcess, freePort, getJson, postJson, runDozer, spawnDozer, until } from './helpers.js';

// The generator is deterministic, so the test can compute what the API must
// serve once the source has stopped: the same connector, run in-process,
// applied to a map by key.
const GENERATOR = {
  seed: 7,
  rate: 2000,
  batch_size: 25,
  tables: [{ name: 'trips', rows: 300, max_ops: 900, update_ratio: 0.4, delete_ratio: 0.3 }],
};
const TOTAL_OPS = 300 + 900;

function configText(restPort: number, grpcPort: number): string {
  return `version: 1
app_name: e2e
home_dir: ./home
connections:
  - name: gen
    kind: generator
    config: ${JSON.stringify(GENERATOR)}
sources:
  - name: trips
    connection: gen
sql: |
  SELECT id, rider, city, fare, passengers, fare * 2 AS double_fare
  FROM trips
  WHERE passengers >= 2
  INTO busy_trips;
endpoints:
  - name: trips
    path: /trips
    table_name: trips
  - name: busy_trips
    path: /busy-trips
    table_name: busy_trips
api:
  rest: { host: 127.0.0.1, port: ${restPort} }
  grpc: { host: 127.0.0.1, port: ${grpcPort} }
`;
}

interface Oracle {
  schema: Schema;
  rows: Map<string, Row>;
  deletedIds: string[];
}

async function computeOracle(): Promise<Oracle> {
  const factory = await createConnectorRegistry().resolve('generator');
  expect(factory.validateConfig(GENERATOR)).toEqual([]);
  const connector = factory.create(GENERATOR, {
    name: 'gen',
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const [table] = await connector.listTables();
  const schema = table!.schema;
  const rows = new Map<string, Row>();
  const deleted = new Set<string>();
  await connector.start({
    tables: [{ name: 'trips', resumeFrom: null }],
    signal: new AbortController().signal,
    sink: {
      async write(batch: OpBatch) {
        for (const op of batch.ops) {
          if (op.kind !== 'insert') rows.delete(String(op.old[0]));
          if (op.kind === 'delete') deleted.add(String(op.old[0]));
          if (op.kind !== 'delete') {
            rows.set(String(op.new[0]), op.new);
            deleted.delete(String(op.new[0]));
          }
        }
      },
      async snapshotDone() {},
    },
  });
  await connector.close();
  return { schema, rows, deletedIds: [...deleted] };
}

type Obj = { [k: string]: JsonValue };
const byId = (a: Obj, b: Obj) => Number(a.id) - Number(b.id);

describe('dozer run (child process, real HTTP)', () => {
  let dir: string;
  let port: number;
  let dozer: DozerProcess;
  let oracle: Oracle;
  let expected: Obj[];
  const url = (p: string) => `http://127.0.0.1:${port}${p}`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-e2e-'));
    port = await freePort();
    fs.writeFileSync(path.join(dir, 'dozer.yaml'), configText(port, await freePort()));
    oracle = await computeOracle();
    expected = [...oracle.rows.values()].map((r) => rowToObject(oracle.schema, r)).sort(byId);
    dozer = spawnDozer(['run', '-c', path.join(dir, 'dozer.yaml')]);
    await dozer.waitFor('Serving 2 endpoint(s)');
  });

  afterAll(async () => {
    dozer?.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves rows within 10 s of starting and reports health', async () => {
    await until(
      async () => ((await getJson(url('/trips'))).body as unknown[]).length > 0,
      10_000,
      'first rows',
    );
    const health = await getJson(url('/health'));
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'SERVING' });
    // Ready (for a readiness probe) once the snapshot went through the SQL into the store.
    await until(async () => (await getJson(url('/ready'))).status === 200, 10_000, 'GET /ready 200');
    expect((await getJson(url('/ready'))).body).toEqual({ ready: true });
    // The connector's lag, sampled every second, as changes it has not delivered yet.
    type Lag = { ops: number | null; ms: number | null };
    const lagOf = async () =>
      ((await getJson(url('/health'))).body as { sources: { trips: { lag?: Lag } } }).sources.trips.lag;
    await until(async () => (await lagOf()) !== undefined, 10_000, 'the source lag in /health');
    const lag = (await lagOf())!;
    expect(typeof lag.ops).toBe('number');
    expect(lag.ops).toBeGreaterThanOrEqual(0);
    // The same figures, the store's and the API's for a Prometheus scrape.
    const metrics = await (await fetch(url('/metrics'))).text();
    const value = (sample: string) =>
      Number(/ (\S+)$/.exec(metrics.split('\n').find((l) => l.startsWith(`${sample} `)) ?? '')?.[1]);
    expect(value('dozer_source_ops_total{source="trips"}')).toBeGreaterThan(0);
    expect(value('dozer_source_live{source="trips"}')).toBe(1);
    expect(value('dozer_source_behind_ops{source="trips"}')).toBeGreaterThanOrEqual(0);
    expect(value('dozer_endpoint_rows{endpoint="trips"}')).toBeGreaterThan(0);
    expect(value('dozer_http_requests_total{endpoint="trips",status="200"}')).toBeGreaterThan(0);
    expect(metrics).toContain('# TYPE dozer_checkpoints_complete_total counter');
    // Tables this small answer every read at once: no read thread was needed.
    expect(value('dozer_store_read_thread_reads_total')).toBe(0);
  });

  it('converges to exactly the source table after inserts, updates and deletes', async () => {
    await until(
      async () =>
        ((await getJson(url('/health'))).body as { sources: { trips: { ops: number } } }).sources.trips
          .ops === TOTAL_OPS,
      60_000,
      'all generator ops ingested',
    );
    await until(
      async () =>
        ((await postJson(url('/trips/count'), {})).body as { count: number }).count === expected.length,
      10_000,
      'store caught up',
    );
    const all = (await getJson(url('/trips?limit=5000'))).body as Obj[];
    expect(all.sort(byId)).toEqual(expected);
    // The generator really updated and deleted: the final table differs from a pure insert stream.
    expect(oracle.deletedIds.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(300 + 900 * 0.3);
  });

  it('looks records up by key, and a deleted record is a 404', async () => {
    const some = expected[Math.floor(expected.length / 2)]!;
    expect(await getJson(url(`/trips/${some.id}`))).toEqual({ status: 200, body: some });
    const gone = oracle.deletedIds[0]!;
    const res = await getJson(url(`/trips/${gone}`));
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ code: 'NOT_FOUND', message: `no record with key ${gone} in /trips` });
  });

  it('applies the SQL: the output is the filtered projection of the source', async () => {
    const want = expected
      .filter((r) => Number(r.passengers) >= 2)
      .map((r) => ({
        id: r.id,
        rider: r.rider,
        city: r.city,
        fare: r.fare,
        passengers: r.passengers,
        double_fare: Decimal.parse(r.fare as string)
          .mul(new Decimal(2n, 0))
          .toString(),
      }));
    const got = ((await getJson(url('/busy-trips?limit=5000'))).body as Obj[]).sort(byId);
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual(want);
  });

  it('filters with $eq, $lt, $lte, $gt, $gte and $and, orders, skips and limits', async () => {
    const city = expected[0]!.city as string;
    const fare = (r: Obj) => Decimal.parse(r.fare as string);
    const mid = fare(expected[Math.floor(expected.length / 3)]!);
    const cases: Array<[unknown, (r: Obj) => boolean]> = [
      [{ city }, (r) => r.city === city],
      [{ city: { $eq: city } }, (r) => r.city === city],
      [{ passengers: { $lt: 3 } }, (r) => Number(r.passengers) < 3],
      [{ passengers: { $lte: 3 } }, (r) => Number(r.passengers) <= 3],
      [{ fare: { $gt: mid.toString() } }, (r) => fare(r).compare(mid) > 0],
      [{ fare: { $gte: mid.toString() } }, (r) => fare(r).compare(mid) >= 0],
      [
        { $and: [{ passengers: { $gte: 2 } }, { fare: { $lt: mid.toString() } }, { city }] },
        (r) => Number(r.passengers) >= 2 && fare(r).compare(mid) < 0 && r.city === city,
      ],
    ];
    for (const [filter, pred] of cases) {
      const want = expected.filter(pred);
      const got = (await postJson(url('/trips/query'), { $filter: filter, $limit: 5000 })).body as Obj[];
      expect(got.sort(byId), JSON.stringify(filter)).toEqual(want);
      expect((await postJson(url('/trips/count'), { $filter: filter })).body).toEqual({ count: want.length });
    }
    // Ordered by fare descending (ties by key), then a page of it.
    const ordered = [...expected].sort((a, b) => fare(b).compare(fare(a)) || byId(a, b));
    const page = (await postJson(url('/trips/query'), { $order_by: { fare: 'desc' }, $skip: 5, $limit: 10 }))
      .body;
    expect(page).toEqual(ordered.slice(5, 15));
    const firstPage = (await getJson(url('/trips?limit=7&skip=2'))).body as Obj[];
    expect(firstPage).toHaveLength(7);
  });

  it('answers bad requests with 400 and a message, and keeps serving', async () => {
    const bad = await postJson(url('/trips/query'), { $filter: { pasengers: 1 } });
    expect(bad.status).toBe(400);
    expect((bad.body as { message: string }).message).toContain('unknown field "pasengers"');
    const notJson = await getJson(url('/trips/query'), { method: 'POST', body: '{nope' });
    expect(notJson.status).toBe(400);
    expect((notJson.body as { code: string }).code).toBe('INVALID_QUERY');
    expect((await getJson(url('/nope'))).status).toBe(404);
    expect((await getJson(url('/health'))).status).toBe(200);
  });

  it('refuses a second run and a clean of its home while it runs, and keeps serving', async () => {
    const file = path.join(dir, 'dozer.yaml');
    const second = await runDozer(['run', '-c', file]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      new RegExp(`the store at .*home/store is being written by process ${dozer.child.pid} `),
    );
    // Refused before touching the store (no rollback to a checkpoint under the running process).
    expect(second.stderr).not.toMatch(/resuming from checkpoint/);
    const clean = await runDozer(['clean', '-c', file]);
    expect(clean.code).toBe(1);
    expect(clean.stderr).toContain(
      `home is in use: process ${dozer.child.pid} is writing its store; stop it before cleaning`,
    );
    expect(fs.existsSync(path.join(dir, 'home', 'store'))).toBe(true);
    const count = ((await postJson(url('/trips/count'), {})).body as { count: number }).count;
    expect(count).toBe(expected.length);
    expect((await getJson(url('/health'))).status).toBe(200);
  });

  it('stops cleanly on Ctrl-C with a final checkpoint; a second run resumes from it and serves the same rows, reading nothing again', async () => {
    dozer.child.kill('SIGINT');
    expect(await dozer.exited).toBe(0);
    expect(dozer.stderr()).toContain('stopped cleanly');
    const finalCheckpoint = /final checkpoint (\d+) complete|checkpoint (\d+) complete/.exec(dozer.stderr());
    expect(finalCheckpoint, dozer.stderr()).not.toBeNull();

    dozer = spawnDozer(['run', '-c', path.join(dir, 'dozer.yaml')]);
    await dozer.waitFor('Serving 2 endpoint(s)');
    expect(dozer.stderr()).toMatch(/resuming from checkpoint \d+/);
    // Everything was covered by the final checkpoint: the generator continues after its last op.
    expect(
      ((await getJson(url('/health'))).body as { sources: { trips: { ops: number } } }).sources.trips.ops,
    ).toBe(0);
    await until(
      async () =>
        ((await postJson(url('/trips/count'), {})).body as { count: number }).count === expected.length,
      10_000,
      'store caught up',
    );
    const all = ((await getJson(url('/trips?limit=5000'))).body as Obj[]).sort(byId);
    expect(all).toEqual(expected);
    dozer.child.kill('SIGINT');
    expect(await dozer.exited).toBe(0);
  });
});

describe('dozer run with DOZER_LOG_FORMAT=json', () => {
  it('writes every log and progress line as a JSON object, and its failures too', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-e2e-json-'));
    try {
      const file = path.join(dir, 'dozer.yaml');
      fs.writeFileSync(file, configText(await freePort(), await freePort()));
      const env = { DOZER_LOG_FORMAT: 'json' };
      const dozer = spawnDozer(['run', '-c', file], { env });
      await dozer.waitFor('Serving 2 endpoint(s)');
      // Off a terminal a progress line comes every 5 s.
      await dozer.waitFor('"level":"progress"', 15_000);
      dozer.child.kill('SIGINT');
      expect(await dozer.exited).toBe(0);
      const lines = dozer.stderr().trim().split('\n');
      const parsed = lines.map((l) => JSON.parse(l) as { time: string; level: string; message: string });
      for (const p of parsed) {
        expect(Object.keys(p)).toEqual(['time', 'level', 'message']);
        expect(Number.isNaN(Date.parse(p.time))).toBe(false);
      }
      expect(parsed.some((p) => p.level === 'info' && p.message.includes('stopped cleanly'))).toBe(true);
      expect(parsed.some((p) => p.level === 'progress' && p.message.startsWith('trips: '))).toBe(true);

      fs.writeFileSync(file, 'version: 1\napp_name: bad\nsources: 3\n');
      const bad = await runDozer(['run', '-c', file], { env });
      expect(bad.code).toBe(2);
      const failure = JSON.parse(bad.stderr.trim().split('\n').at(-1)!) as { level: string; message: string };
      expect(failure.level).toBe('error');
      expect(failure.message).toMatch(/^dozer: .*dozer\.yaml:3/);
      const unknown = await runDozer(['run', '-c', file], { env: { DOZER_LOG_FORMAT: 'yaml' } });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toBe('dozer: DOZER_LOG_FORMAT must be "text" or "json", got "yaml"\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('dozer run with a bad config', () => {
  it('exits 2 and names the file, line and key', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-e2e-bad-'));
    const file = path.join(dir, 'dozer.yaml');
    fs.writeFileSync(
      file,
      `version: 1
app_name: bad
connections:
  - name: gen
    kind: generator
    config: { tables: [{ name: trips }] }
sources:
  - name: trips
    connection: gne
endpoints: []
`,
    );
    const res = await runDozer(['run', '-c', file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      `dozer.yaml:9:17: sources[0].connection: unknown connection "gne"; did you mean "gen"?`,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
