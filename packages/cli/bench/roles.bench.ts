// pnpm bench roles [rows] [changes]
// The same generator input (a snapshot of `rows` trips, then `changes`
// inserts, updates and deletes, as fast as the sink takes them) through
// three wirings, in one run, with fresh state each time:
//   direct  — connector → SqlExecutor → store in one loop (the pre-roles `dozer run`; the baseline)
//   run     — `startPipeline`: the three roles in one process through in-memory logs
//   split   — the three roles over the gRPC log protocol on loopback, with a small memory bound so logs offload
// Each time is from the connector's start until the store holds everything.
// Prints figures and ratios only; the figures move with the machine's load.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnectorRegistry } from '@dozer/connectors';
import { type LogQueue, serveLogs } from '@dozer/queue';
import { openStore } from '@dozer/store';
import { type DozerConfig, parseConfig } from '../src/config/index.js';
import type { Logger } from '../src/logger.js';
import { planPipeline, secondaryIndexesOf, startPipeline } from '../src/pipeline.js';
import { AckPolicy, startIngestor } from '../src/roles/ingest.js';
import { openFreshQueue, openObjectStore, QUEUE_PREFIX } from '../src/roles/object-store.js';
import { startProcessor } from '../src/roles/process.js';
import { startServer } from '../src/roles/serve.js';
import { createSqlTransform } from '../src/roles/transform.js';
import { connectUpstream } from '../src/roles/upstream.js';

const ROWS = Number(process.argv[2] ?? 20_000);
const CHANGES = Number(process.argv[3] ?? 20_000);
const quiet: Logger = { info() {}, warn() {}, error() {} };
const registry = createConnectorRegistry();

function configFor(home: string, splitQueue: boolean): DozerConfig {
  const ports = 0;
  return parseConfig(
    `version: 1
app_name: bench
home_dir: ${JSON.stringify(home)}
connections:
  - name: gen
    kind: generator
    config: { seed: 11, rate: 0, batch_size: 200, tables: [{ name: trips, rows: ${ROWS}, max_ops: ${CHANGES}, update_ratio: 0.4, delete_ratio: 0.2 }] }
sources:
  - name: trips
    connection: gen
sql: |
  SELECT city, COUNT(*) AS n, SUM(fare) AS total FROM trips GROUP BY city INTO by_city;
  SELECT id, city, fare, passengers FROM trips WHERE passengers >= 2 INTO busy;
endpoints:
  - { name: trips, path: /trips, table_name: trips }
  - { name: by_city, path: /by-city, table_name: by_city, index: { primary_key: [city] } }
  - { name: busy, path: /busy, table_name: busy, index: { primary_key: [id] } }
api:
  rest: { port: ${ports} }
  grpc: { port: ${ports} }
nodes:
  ingestor: { port: 1 }
  processor: { port: 2 }
${splitQueue ? '  queue: { memory_limit_bytes: 1048576 }\n' : ''}`,
    join(home, 'dozer.yaml'),
    { env: {} },
  );
}

/** The pre-roles `dozer run`: every batch through the executor and into the store, in one loop. */
async function direct(home: string): Promise<number> {
  const config = configFor(home, false);
  const plan = await planPipeline(config, registry, quiet);
  const store = openStore({ path: join(home, 'store') });
  const byTable = new Map<string, ReturnType<typeof store.openEndpoint>[]>();
  for (const ep of config.endpoints) {
    const schema = plan.endpointSchemas.get(ep.name)!;
    const es = store.openEndpoint(
      {
        name: ep.name,
        schema,
        ...(ep.index.primary_key ? { primaryKey: ep.index.primary_key } : {}),
        secondaryIndexes: secondaryIndexesOf(ep, schema),
      },
      { reset: true },
    );
    byTable.set(ep.table_name, [...(byTable.get(ep.table_name) ?? []), es]);
  }
  const executor = plan.sql!.createExecutor();
  const t0 = performance.now();
  let chain = Promise.resolve();
  const [connector] = plan.connectors.values();
  await connector!.start({
    tables: [{ name: 'trips', resumeFrom: null }],
    signal: new AbortController().signal,
    sink: {
      write: (batch) => {
        chain = chain.then(async () => {
          const writes: Promise<void>[] = [];
          for (const es of byTable.get('trips') ?? []) writes.push(es.apply(batch.ops));
          for (const [t, ops] of executor.push('trips', batch.ops)) {
            for (const es of byTable.get(t) ?? []) writes.push(es.apply(ops));
          }
          await Promise.all(writes);
        });
        return chain;
      },
      snapshotDone: async () => {},
    },
  });
  await chain;
  const ms = performance.now() - t0;
  await connector!.close();
  await store.close();
  return ms;
}

async function run(home: string): Promise<number> {
  const plan = await planPipeline(configFor(home, false), registry, quiet, { connectorThreads: true });
  const t0 = performance.now();
  const pipeline = await startPipeline(plan, quiet);
  await pipeline.ingestion;
  const ms = performance.now() - t0;
  await pipeline.stop();
  return ms;
}

async function split(home: string): Promise<number> {
  const config = configFor(home, true);
  const plan = await planPipeline(config, registry, quiet, { connectorThreads: true });
  const objects = openObjectStore(config.nodes.object_store);
  const queues: LogQueue[] = [];
  const t0 = performance.now();
  const ingestQueue = await openFreshQueue(objects, QUEUE_PREFIX.ingest, config.nodes, () => {});
  queues.push(ingestQueue);
  const ingestor = await startIngestor({
    config,
    connectors: plan.connectors,
    sourceSchemas: plan.sourceSchemas,
    queue: ingestQueue,
    log: quiet,
    ack: AckPolicy.offloaded,
  });
  const ingestServer = await serveLogs(ingestQueue, { port: 0 });
  const abort = new AbortController();
  const up1 = await connectUpstream(
    'ingestor',
    ingestServer.address,
    objects.store,
    objects.label,
    quiet,
    abort.signal,
  );
  const processQueue = await openFreshQueue(objects, QUEUE_PREFIX.process, config.nodes, () => {});
  queues.push(processQueue);
  const processor = await startProcessor({
    config,
    sourceSchemas: plan.sourceSchemas,
    transform: await createSqlTransform(plan.sql!, {
      threads: config.threads,
      sqlText: config.sql!,
      sources: plan.sourceSchemas,
    }),
    upstream: up1!.upstream,
    queue: processQueue,
    log: quiet,
  });
  const processServer = await serveLogs(processQueue, { port: 0 });
  const up2 = await connectUpstream(
    'processor',
    processServer.address,
    objects.store,
    objects.label,
    quiet,
    abort.signal,
  );
  const api = await startServer({
    config,
    endpointSchemas: plan.endpointSchemas,
    upstream: up2!.upstream,
    log: quiet,
  });
  await ingestor.finished;
  await Promise.all([...ingestor.logs].map(([name, l]) => processor.watermarks.reach(name, l.next)));
  await Promise.all([...processor.outputs].map(([name, l]) => api.watermarks.reach(name, l.next)));
  const ms = performance.now() - t0;
  const segments = (await objects.store.list('')).filter((k) => k.endsWith('.seg')).length;
  await api.stop();
  up2!.upstream.close();
  await processServer.close();
  await processor.stop();
  up1!.upstream.close();
  await ingestServer.close();
  await ingestor.stop();
  await Promise.all(queues.map((q) => q.close({ flush: false })));
  objects.close();
  lastSegments = segments;
  return ms;
}
let lastSegments = 0;

const ops = ROWS + CHANGES;
const best = new Map<string, number>();
const wirings: Array<[string, (home: string) => Promise<number>]> = [
  ['direct', direct],
  ['run', run],
  ['split', split],
];
console.log(
  `roles bench: ${ROWS.toLocaleString('en-US')} rows + ${CHANGES.toLocaleString('en-US')} changes; ` +
    `${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}`,
);
for (let round = 0; round < 2; round++) {
  const order = round % 2 === 0 ? wirings : [...wirings].reverse();
  for (const [name, fn] of order) {
    const home = mkdtempSync(join(tmpdir(), `dozer-bench-${name}-`));
    try {
      const ms = await fn(home);
      best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, ms));
      console.log(`  round ${round + 1} ${name.padEnd(6)} ${ms.toFixed(0).padStart(7)} ms`);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}
const base = best.get('direct')!;
for (const [name] of wirings) {
  const ms = best.get(name)!;
  console.log(
    `${name.padEnd(6)} ${Math.round((ops * 1000) / ms)
      .toLocaleString('en-US')
      .padStart(9)} ops/s  ` +
      `${(base / ms).toFixed(2)}× direct${name === 'split' ? `  (${lastSegments} segment files offloaded)` : ''}`,
  );
}
