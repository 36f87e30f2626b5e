// Postgres CDC through the whole pipeline: a `postgres` source feeding the
// store and REST, in this process (planPipeline/startPipeline), measured
// against `pg_recvlogical` draining the same changes from its own pgoutput
// slot in the same run (the server's own ceiling).
//
//   pnpm bench cdc
//   CDC_ROWS=100000 CDC_LAG_RATE=10000 CDC_LAG_SECONDS=10 pnpm bench cdc
//   CDC_INDEXES=0 pnpm bench cdc   (the endpoint without its default secondary indexes)
//
// 1. Throughput: CDC_ROWS changes (60% inserts, 30% updates, 10% deletes, in
//    transactions of 10,000, then a marker row) are applied by psql while the
//    running pipeline is held (this process waits on psql synchronously), so
//    the changes wait in the slot; end-to-end rows/s is the number of changes
//    over the time from releasing the pipeline to the marker being visible in
//    REST (the store then holds every change before it).
// 2. Baseline: pg_recvlogical drains exactly those changes (up to the LSN
//    after the marker) from a pgoutput slot created before them, to /dev/null.
// 4. The postgres connector alone (no SQL, no store) drains the same changes
//    from a third slot into a sink that only counts: where the time goes;
//    then again with its row cache on disk (row_cache_memory_mb: 0).
// 3. Lag: inserts at a steady CDC_LAG_RATE rows/s (100 transactions/s) for
//    CDC_LAG_SECONDS; per transaction, the time from its COMMIT returning to
//    its last row being visible in REST (polled from a worker thread).
//
// Needs the test Postgres of scripts/services.sh (DOZER_TEST_PG_* to override)
// and psql and /usr/bin/pg_recvlogical (PSQL, PG_RECVLOGICAL to override).
// Figures only; on a shared machine they are noisy.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createConnectorRegistry, silentLogger } from '@dozer/connectors';
import type { OpBatch } from '@dozer/core';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/logger.js';
import { planPipeline, startPipeline } from '../src/pipeline.js';
import type { EncodedIngestSink } from '../src/roles/connector-thread.js';

const PG = {
  host: process.env.DOZER_TEST_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.DOZER_TEST_PG_PORT ?? 5432),
  user: process.env.DOZER_TEST_PG_USER ?? 'dozer',
  password: process.env.DOZER_TEST_PG_PASSWORD ?? 'dozer',
  database: process.env.DOZER_TEST_PG_DATABASE ?? 'dozer',
};
const ROWS = Number(process.env.CDC_ROWS ?? 1_000_000);
const LAG_RATE = Number(process.env.CDC_LAG_RATE ?? 10_000);
const LAG_SECONDS = Number(process.env.CDC_LAG_SECONDS ?? 10);
// The default one index per field, or none (`skip_default` every field): what the indexes cost.
const SKIP_INDEXES = process.env.CDC_INDEXES === '0' ? '[id, v, name, amount, at]' : '[]';
const RECVLOGICAL = process.env.PG_RECVLOGICAL ?? '/usr/bin/pg_recvlogical';
const PSQL = process.env.PSQL ?? 'psql';
const TXN = 10_000;
const TABLE = 'dozer_bench_cdc';
const SLOT = 'dozer_bench_cdc';
const PUBLICATION = 'dozer_bench_cdc_pub';
const RECV_SLOT = 'dozer_bench_cdc_recv';
const CONN_SLOT = 'dozer_bench_cdc_conn';

for (const [name, v, min] of [
  ['CDC_ROWS', ROWS, 100],
  ['CDC_LAG_RATE', LAG_RATE, 100],
  ['CDC_LAG_SECONDS', LAG_SECONDS, 1],
] as const) {
  if (!Number.isInteger(v) || v < min) {
    console.error(`${name} must be an integer of at least ${min}, got ${process.env[name]}`);
    process.exit(2);
  }
}

const db = new pg.Client(PG);
await db.connect();
const sql = (text: string, values?: unknown[]) => db.query(text, values);

async function dropAll(): Promise<void> {
  await sql(
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1) AND NOT active',
    [[SLOT, RECV_SLOT, CONN_SLOT]],
  );
  await sql(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
  await sql(`DROP TABLE IF EXISTS ${TABLE}`);
}

const now = () => performance.now();
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

await dropAll();
await sql(`CREATE TABLE ${TABLE} (
  id bigint PRIMARY KEY,
  v integer NOT NULL,
  name text NOT NULL,
  amount numeric(12, 2) NOT NULL,
  at timestamptz NOT NULL
)`);

const home = mkdtempSync(join(tmpdir(), 'dozer-cdc-bench-'));
const registry = createConnectorRegistry();
const builtins = await Promise.all(registry.kinds().map((k) => registry.resolve(k)));
const config = parseConfig(
  `version: 1
app_name: cdc-bench
home_dir: ${JSON.stringify(home)}
connections:
  - name: pg
    kind: postgres
    config:
      host: ${PG.host}
      port: ${PG.port}
      user: ${PG.user}
      password: ${JSON.stringify(PG.password)}
      database: ${PG.database}
      slot_name: ${SLOT}
      publication_name: ${PUBLICATION}
      tables: [${TABLE}]
sources:
  - name: changes
    connection: pg
    table_name: ${TABLE}
endpoints:
  - name: changes
    path: /changes
    table_name: changes
    index: { secondary: { skip_default: ${SKIP_INDEXES} } }
api:
  rest: { host: 127.0.0.1, port: 0 }
  grpc: { host: 127.0.0.1, port: 0 }
`,
  join(home, 'dozer.yaml'),
  { connectionValidators: new Map(builtins.map((f) => [f.kind, (c: unknown) => f.validateConfig(c)])) },
);
const quiet = createLogger((line) => {
  if (!/ INFO /.test(line)) process.stderr.write(`${line}\n`);
});
// As `dozer run` does: the connector on a thread of its own (CDC_THREADS=0: on this one).
const plan = await planPipeline(config, registry, quiet, {
  connectorThreads: process.env.CDC_THREADS !== '0',
});
// Diagnostics: when each batch leaves the connector (the highest id it inserts), to split the lag.
const arrivals: { id: number; at: number }[] = [];
/** When the pipeline has taken each batch (the store committed it). */
const stored: { id: number; at: number }[] = [];
// Only while the lag is measured: decoding a batch here to find its ids would cost the
// throughput run the decoding that a connector on its own thread spares this thread.
let diagnose = false;
const maxInserted = (batch: OpBatch) => {
  let max = 0;
  for (const op of batch.ops) if (op.kind === 'insert') max = Math.max(max, Number(op.new[0]));
  return max;
};
const source = plan.connectors.get('pg')!;
const startSource = source.start.bind(source);
source.start = (request) => {
  const inner = request.sink as EncodedIngestSink;
  const timed = async (max: number, write: () => Promise<void>) => {
    if (max > 0) arrivals.push({ id: max, at: performance.timeOrigin + now() });
    await write();
    if (max > 0) stored.push({ id: max, at: performance.timeOrigin + now() });
  };
  const sink: EncodedIngestSink = {
    write: (batch) => timed(diagnose ? maxInserted(batch) : 0, () => inner.write(batch)),
    writeEncoded: (batch) =>
      timed(diagnose ? maxInserted(batch.decode()) : 0, () => inner.writeEncoded(batch)),
    snapshotDone: (table, position) => inner.snapshotDone(table, position),
  };
  return startSource({ ...request, sink });
};
const running = await startPipeline(plan, quiet);
const url = running.url;
const visible = async (id: number) => (await fetch(`${url}/changes/${id}`)).status === 200;

try {
  // Wait until the (empty) snapshot is done and the stream is live.
  while (!running.sources[0]!.snapshotDone) await new Promise((r) => setTimeout(r, 20));

  // ---- 1. Throughput --------------------------------------------------------
  const inserts = Math.round(ROWS * 0.6);
  const updates = Math.round(ROWS * 0.3);
  const deletes = ROWS - inserts - updates;
  await sql(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [RECV_SLOT]);
  const { rows: connRows } = await sql(
    `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
    [CONN_SLOT],
  );
  const connStart = connRows[0].lsn as string;
  // The changes are applied by psql in a child process while this process waits for it
  // synchronously, so the pipeline (on this event loop) reads none of them until all are
  // committed: it then drains them from the slot as fast as it can, as pg_recvlogical does below.
  const script: string[] = [];
  for (let a = 1; a <= inserts; a += TXN) {
    script.push(
      `INSERT INTO ${TABLE} SELECT g, g % 1000, 'name ' || g, (g % 100000) / 100.0, '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(${a}, ${Math.min(inserts, a + TXN - 1)}) g;`,
    );
  }
  for (let a = 1; a <= updates; a += TXN) {
    script.push(
      `UPDATE ${TABLE} SET v = v + 1, amount = amount + 0.01 WHERE id BETWEEN ${a} AND ${Math.min(updates, a + TXN - 1)};`,
    );
  }
  for (let a = inserts - deletes + 1; a <= inserts; a += TXN) {
    script.push(`DELETE FROM ${TABLE} WHERE id BETWEEN ${a} AND ${Math.min(inserts, a + TXN - 1)};`);
  }
  const marker = inserts + 1;
  script.push(`INSERT INTO ${TABLE} VALUES (${marker}, 0, 'marker', 0, now());`);
  const a0 = now();
  const psql = spawnSync(
    PSQL,
    ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', PG.database, '-q', '-v', 'ON_ERROR_STOP=1'],
    { input: script.join('\n'), env: { ...process.env, PGPASSWORD: PG.password }, encoding: 'utf8' },
  );
  const applySecs = (now() - a0) / 1000;
  if (psql.status !== 0) throw new Error(`psql failed: ${psql.error?.message ?? psql.stderr}`);
  if (applySecs > 50) {
    console.error(
      `note: applying took ${applySecs.toFixed(0)} s; past wal_sender_timeout (60 s by default) the server drops the idle replication connection and the connector reconnects, which is counted in its time`,
    );
  }
  const { rows: endRows } = await sql('SELECT pg_current_wal_lsn()::text AS lsn');
  const endLsn = endRows[0].lsn as string;
  const batches0 = running.sources[0]!.batches;
  const t0 = now();
  while (!(await visible(marker))) await new Promise((r) => setTimeout(r, 5));
  const t1 = now();
  const drainBatches = running.sources[0]!.batches - batches0;
  const count = running.endpointRows()[0]![1];
  const expected = inserts - deletes + 1;
  if (count !== expected) throw new Error(`the store holds ${count} rows, expected ${expected}`);
  const changes = ROWS + 1;
  const dozerRate = changes / ((t1 - t0) / 1000);
  const applyRate = changes / applySecs;

  // ---- 3. Lag at a steady rate (before the baseline, while the pipeline runs) ----
  diagnose = true;
  const perTxn = Math.max(1, Math.round(LAG_RATE / 100));
  const txns = Math.round((LAG_RATE * LAG_SECONDS) / perTxn);
  const firstId = marker + 1;
  const commits: { lastId: number; at: number }[] = [];
  // Visibility is polled from a worker thread (its own event loop, so the client side of
  // the polling does not queue behind the pipeline on this one): the highest id REST serves,
  // with the absolute time it was seen.
  const poller = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     let stop = false;
     const seen = [];
     const rtts = [];
     parentPort.on('message', () => { stop = true; });
     (async () => {
       let max = workerData.from;
       while (!stop) {
         const sent = performance.now();
         const res = await fetch(workerData.url + '/changes/query', {
           method: 'POST',
           headers: { 'content-type': 'application/json' },
           body: '{"$order_by":{"id":"desc"},"$limit":1}',
         });
         const body = await res.json();
         const at = performance.timeOrigin + performance.now();
         rtts.push(performance.now() - sent);
         const id = Number(body[0] ? body[0].id : 0);
         if (id > max) { max = id; seen.push({ id, at }); }
         await new Promise((r) => setTimeout(r, 1));
       }
       parentPort.postMessage({ seen, rtts });
     })();`,
    { eval: true, workerData: { url, from: marker } },
  );
  const abs = () => performance.timeOrigin + now();
  const lagStart = now();
  for (let i = 0; i < txns; i++) {
    const due = lagStart + i * 10;
    const wait = due - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const a = firstId + i * perTxn;
    const b = a + perTxn - 1;
    await sql(
      `INSERT INTO ${TABLE} SELECT g, 1, 'lag ' || g, 1.5, now() FROM generate_series($1::bigint, $2::bigint) g`,
      [a, b],
    );
    commits.push({ lastId: b, at: abs() });
  }
  const lagElapsed = (now() - lagStart) / 1000;
  const lastId = commits[commits.length - 1]!.lastId;
  const deadline = now() + 60_000;
  while (!(await visible(lastId)) && now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  const polled = new Promise<{ seen: { id: number; at: number }[]; rtts: number[] }>((resolve) =>
    poller.once('message', resolve),
  );
  poller.postMessage('stop');
  const { seen, rtts } = await polled;
  rtts.sort((x, y) => x - y);
  await poller.terminate();
  /** Per transaction: the time from its commit to the first event in `events` that covers its last id. */
  const delays = (events: { id: number; at: number }[]) => {
    const out: number[] = [];
    let j = 0;
    let maxSoFar = 0;
    const covering = events.map((e) => {
      maxSoFar = Math.max(maxSoFar, e.id);
      return { id: maxSoFar, at: e.at };
    });
    for (const c of commits) {
      while (j < covering.length && covering[j]!.id < c.lastId) j++;
      const e = covering[j];
      if (e === undefined) break;
      out.push(Math.max(0, e.at - c.at));
    }
    return out.sort((x, y) => x - y);
  };
  const lags = delays(seen);
  const toConnector = delays(arrivals.filter((a) => a.id >= firstId));
  const toStore = delays(stored.filter((a) => a.id >= firstId));

  await running.stop();

  // ---- 2. Baseline: pg_recvlogical draining the same changes ------------------
  const r0 = now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      RECVLOGICAL,
      [
        '-h',
        PG.host,
        '-p',
        String(PG.port),
        '-U',
        PG.user,
        '-d',
        PG.database,
        '--slot',
        RECV_SLOT,
        '--start',
        '--no-loop',
        '--endpos',
        endLsn,
        '-o',
        'proto_version=1',
        '-o',
        `publication_names=${PUBLICATION}`,
        '-f',
        '/dev/null',
      ],
      { env: { ...process.env, PGPASSWORD: PG.password }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('exit', (c) => {
      if (c !== 0) process.stderr.write(err);
      resolve(c);
    });
  });
  const recvSecs = (now() - r0) / 1000;
  if (code !== 0) throw new Error(`pg_recvlogical exited with ${code}`);
  const recvRate = changes / recvSecs;

  // ---- 4. The postgres connector alone, into a sink that only counts ----------
  // From its own slot, created before the changes, resuming from the slot's start.
  const [hi, lo] = connStart.split('/') as [string, string];
  const resumeFrom = `${((BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)).toString(16).toUpperCase().padStart(16, '0')}/00000000`;
  const factory = await registry.resolve('postgres');
  const markerId = BigInt(marker);
  /** Drains the changes with the connector alone; its rows/s and the changes counted. */
  const connectorAlone = async (extra: Record<string, unknown>) => {
    const connector = factory.create(
      {
        host: PG.host,
        port: PG.port,
        user: PG.user,
        password: PG.password,
        database: PG.database,
        slot_name: CONN_SLOT,
        publication_name: PUBLICATION,
        tables: [TABLE],
        ...extra,
      },
      { name: 'bench', logger: silentLogger },
    );
    let ops = 0;
    let c0 = 0;
    let c1 = 0;
    const ac = new AbortController();
    const connRun = connector.start({
      tables: [{ name: TABLE, resumeFrom }],
      signal: ac.signal,
      sink: {
        async write(batch) {
          if (c0 === 0) c0 = now();
          const at = batch.ops.findIndex((op) => op.kind === 'insert' && op.new[0] === markerId);
          ops += at < 0 ? batch.ops.length : at + 1;
          if (at >= 0) {
            c1 = now();
            ac.abort();
          }
        },
        async snapshotDone() {},
      },
    });
    await connRun;
    await connector.close();
    if (c1 === 0) throw new Error('the connector ended before the marker row');
    return { rate: ops / ((c1 - c0) / 1000), ops };
  };
  // Nothing is acknowledged, so the slot streams the same changes again for the second run:
  // the row cache on disk from the start (row_cache_memory_mb: 0) instead of in memory.
  const { rate: connRate, ops: connOps } = await connectorAlone({});
  const { rate: diskRate } = await connectorAlone({ row_cache_memory_mb: 0 });

  console.log(
    `cdc: ${fmt(changes)} changes (${fmt(inserts)} inserts, ${fmt(updates)} updates, ${fmt(deletes)} deletes, 1 marker) in transactions of ${fmt(TXN)}`,
  );
  console.log(
    `  applied by psql:            ${fmt(applyRate)} rows/s (${applySecs.toFixed(2)} s, the pipeline paused meanwhile)`,
  );
  console.log(
    `  dozer end to end (store):   ${fmt(dozerRate)} rows/s (${((t1 - t0) / 1000).toFixed(2)} s to drain them into the store, the last one visible in REST; ${fmt(drainBatches)} batches, ${fmt(changes / Math.max(1, drainBatches))} changes each${process.env.CDC_INDEXES === '0' ? '; the endpoint has no secondary index' : ''})`,
  );
  console.log(
    `  pg_recvlogical (pgoutput):  ${fmt(recvRate)} rows/s (${recvSecs.toFixed(2)} s to drain the same changes)`,
  );
  console.log(`  ratio:                      ${(dozerRate / recvRate).toFixed(2)}x pg_recvlogical`);
  console.log(
    `  postgres connector alone:   ${fmt(connRate)} rows/s (${fmt(connOps)} changes into a counting sink from its first batch; ${(connRate / recvRate).toFixed(2)}x pg_recvlogical)`,
  );
  console.log(
    `    its row cache on disk:    ${fmt(diskRate)} rows/s (row_cache_memory_mb: 0; ${(diskRate / connRate).toFixed(2)}x the cache in memory)`,
  );
  console.log(
    `lag at ${fmt(LAG_RATE)} rows/s for ${LAG_SECONDS} s (${fmt(txns)} transactions of ${perTxn}, paced in ${lagElapsed.toFixed(2)} s): commit → visible in REST p50 ${pct(lags, 50).toFixed(1)} ms, p99 ${pct(lags, 99).toFixed(1)} ms, max ${(lags[lags.length - 1] ?? Number.NaN).toFixed(1)} ms (${lags.length} transactions measured); commit → out of the connector p50 ${pct(toConnector, 50).toFixed(1)} ms, p99 ${pct(toConnector, 99).toFixed(1)} ms; commit → committed to the store p50 ${pct(toStore, 50).toFixed(1)} ms, p99 ${pct(toStore, 99).toFixed(1)} ms; one REST poll takes p50 ${pct(rtts, 50).toFixed(1)} ms, p99 ${pct(rtts, 99).toFixed(1)} ms`,
  );
  console.log(
    `targets: ≥ 100,000 rows/s (${dozerRate >= 100_000 ? 'met' : 'not met'}), ≥ 0.5x pg_recvlogical (${dozerRate / recvRate >= 0.5 ? 'met' : 'not met'}), lag p99 < 100 ms (${pct(lags, 99) < 100 ? 'met' : 'not met'})`,
  );
} finally {
  await running.stop();
  await dropAll().catch(() => {});
  await db.end();
  rmSync(home, { recursive: true, force: true });
}
