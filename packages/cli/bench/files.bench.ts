// Files into the store: a generated CSV file and the same rows as Parquet,
// each loaded through the `object_store` connector into the store by the
// pipeline (planPipeline/startPipeline, in this process), beside DuckDB
// loading the same file into a table in the same run.
//
//   pnpm bench files
//   FILES_MB=64 pnpm bench files
//
// FILES_MB (default 1024) is the CSV's size; the Parquet file (Snappy) holds
// the same rows. Rows/s are rows over the time from starting the pipeline to
// the source finishing (every row committed to the store); DuckDB's over
// `CREATE TABLE … AS SELECT * FROM read_csv/read_parquet(…)` with its default
// threads. The object_store connector alone (into a sink that only counts)
// is measured too, to show how the time splits, and the pipeline into an
// endpoint without its default secondary indexes (one per field), to show
// what they cost. Figures only; on a shared
// machine they are noisy.
//
// (It lives in @dozer/cli, not @dozer/connectors, because only the CLI may
// import both the connectors and the store.)
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnectorRegistry, silentLogger } from '@dozer/connectors';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/logger.js';
import { planPipeline, startPipeline } from '../src/pipeline.js';

const MB = Number(process.env.FILES_MB ?? 1024);
if (!(Number.isFinite(MB) && MB > 0)) {
  console.error(`FILES_MB must be a positive number of megabytes, got ${process.env.FILES_MB}`);
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'dozer-files-bench-'));
const now = () => performance.now();
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

// ---- The data -----------------------------------------------------------------
mkdirSync(join(dir, 'csv'));
mkdirSync(join(dir, 'parquet'));
const csvPath = join(dir, 'csv', 'part-0001.csv');
const parquetPath = join(dir, 'parquet', 'part-0001.parquet');
const BASE = Date.UTC(2024, 0, 1);
const CITIES = ['Berlin', 'Paris', 'Lisbon', 'Oslo', 'Rome', 'Vienna', 'Prague', 'Dublin'];
let rows = 0;
{
  const g0 = now();
  const fd = openSync(csvPath, 'w');
  const target = MB * 1024 * 1024;
  let size = 0;
  const header = 'id,city,amount,at,paid,score,note\n';
  writeSync(fd, header);
  size += header.length;
  while (size < target) {
    let chunk = '';
    for (let k = 0; k < 10_000; k++) {
      const i = ++rows;
      const cents = (i * 7919) % 1_000_000;
      chunk += `${i},${CITIES[i % CITIES.length]},${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')},${new Date(BASE + i * 1000).toISOString()},${i % 3 === 0},${(i % 1000) / 8},"note ${i % 97}, with a comma"\n`;
    }
    size += Buffer.byteLength(chunk);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  console.log(
    `generated ${fmt(rows)} rows: CSV ${(statSync(csvPath).size / 1048576).toFixed(1)} MB in ${((now() - g0) / 1000).toFixed(1)} s`,
  );
}

const duck = await DuckDBInstance.create(':memory:');
const dc = await duck.connect();
const COLUMNS = `{'id': 'BIGINT', 'city': 'VARCHAR', 'amount': 'DECIMAL(12,2)', 'at': 'TIMESTAMP', 'paid': 'BOOLEAN', 'score': 'DOUBLE', 'note': 'VARCHAR'}`;
const readCsv = `read_csv('${csvPath}', header = true, columns = ${COLUMNS})`;
{
  const p0 = now();
  await dc.run(
    `COPY (SELECT * FROM ${readCsv}) TO '${parquetPath}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 100000)`,
  );
  console.log(
    `wrote the same rows as Parquet (Snappy): ${(statSync(parquetPath).size / 1048576).toFixed(1)} MB in ${((now() - p0) / 1000).toFixed(1)} s (DuckDB)`,
  );
}

async function duckLoad(from: string): Promise<number> {
  await dc.run('DROP TABLE IF EXISTS t');
  const t0 = now();
  await dc.run(`CREATE TABLE t AS SELECT * FROM ${from}`);
  const secs = (now() - t0) / 1000;
  const n = Number((await dc.runAndReadAll('SELECT count(*) FROM t')).getRows()[0]![0]);
  if (n !== rows) throw new Error(`DuckDB loaded ${n} rows, expected ${rows}`);
  await dc.run('DROP TABLE t');
  return rows / secs;
}

// ---- Dozer: the object_store connector into the store ---------------------------
const COLUMN_DEFS = [
  { name: 'id', type: 'int', nullable: false },
  { name: 'city', type: 'string' },
  { name: 'amount', type: 'decimal', precision: 12, scale: 2 },
  { name: 'at', type: 'timestamp' },
  { name: 'paid', type: 'boolean' },
  { name: 'score', type: 'float' },
  { name: 'note', type: 'string' },
];
/** The object_store connector alone, into a sink that only counts: how much of the time is the connector's. */
async function connectorLoad(format: 'csv' | 'parquet'): Promise<number> {
  const registry = createConnectorRegistry();
  const factory = await registry.resolve('object_store');
  const config = {
    storage: { kind: 'local', path: dir },
    tables: [
      {
        name: 'rows',
        prefix: `${format}/`,
        pattern: `*.${format}`,
        format,
        poll_interval_ms: 0,
        batch_size: 5000,
        schema: { columns: COLUMN_DEFS, primary_key: ['id'] },
      },
    ],
  };
  const issues = factory.validateConfig(config);
  if (issues.length > 0) throw new Error(JSON.stringify(issues));
  const connector = factory.create(config, { name: 'bench', logger: silentLogger });
  let n = 0;
  const t0 = now();
  await connector.start({
    tables: [{ name: 'rows', resumeFrom: null }],
    signal: new AbortController().signal,
    sink: {
      async write(batch) {
        n += batch.ops.length;
      },
      async snapshotDone() {},
    },
  });
  const secs = (now() - t0) / 1000;
  await connector.close();
  if (n !== rows) throw new Error(`the connector delivered ${n} rows, expected ${rows}`);
  return rows / secs;
}

/**
 * The whole pipeline into the store; `indexed` false skips the endpoint's
 * default secondary indexes (`index.secondary.skip_default` of every field),
 * to show what they cost.
 */
async function dozerLoad(format: 'csv' | 'parquet', indexed = true): Promise<{ rate: number; secs: number }> {
  const home = join(dir, `home-${format}-${indexed ? 'indexed' : 'bare'}`);
  const skip = indexed ? '[]' : `[${COLUMN_DEFS.map((c) => c.name).join(', ')}]`;
  const registry = createConnectorRegistry();
  const builtins = await Promise.all(registry.kinds().map((k) => registry.resolve(k)));
  const config = parseConfig(
    `version: 1
app_name: files-bench
home_dir: ${JSON.stringify(home)}
connections:
  - name: files
    kind: object_store
    config:
      storage: { kind: local, path: ${JSON.stringify(dir)} }
      tables:
        - name: rows
          prefix: ${format}/
          pattern: "*.${format}"
          format: ${format}
          poll_interval_ms: 0
          batch_size: 5000
          schema:
            columns: ${JSON.stringify(COLUMN_DEFS)}
            primary_key: [id]
sources:
  - { name: rows, connection: files, table_name: rows }
endpoints:
  - name: rows
    path: /rows
    table_name: rows
    index: { secondary: { skip_default: ${skip} } }
api:
  rest: { host: 127.0.0.1, port: 0 }
  grpc: { host: 127.0.0.1, port: 0 }
`,
    join(home, 'dozer.yaml'),
    { connectionValidators: new Map(builtins.map((f) => [f.kind, (c: unknown) => f.validateConfig(c)])) },
  );
  const log = createLogger((line) => {
    if (!/ INFO /.test(line)) process.stderr.write(`${line}\n`);
  });
  const t0 = now();
  // As `dozer run` does: the connector on a thread of its own (FILES_THREADS=0: on this one).
  const plan = await planPipeline(config, registry, log, {
    connectorThreads: process.env.FILES_THREADS !== '0',
  });
  const running = await startPipeline(plan, log);
  try {
    await running.ingestion;
    const secs = (now() - t0) / 1000;
    const held = running.endpointRows()[0]![1];
    if (held !== rows) throw new Error(`the store holds ${held} rows, expected ${rows}`);
    return { rate: rows / secs, secs };
  } finally {
    await running.stop();
  }
}

try {
  const results: string[] = [];
  for (const format of ['csv', 'parquet'] as const) {
    const dozer = await dozerLoad(format);
    const bare = await dozerLoad(format, false);
    const duckRate = await duckLoad(format === 'csv' ? readCsv : `read_parquet('${parquetPath}')`);
    const alone = await connectorLoad(format);
    const ratio = dozer.rate / duckRate;
    results.push(
      `${format.padEnd(8)} dozer → store ${fmt(dozer.rate).padStart(10)} rows/s (${dozer.secs.toFixed(1)} s)   DuckDB ${fmt(duckRate).padStart(11)} rows/s   ratio ${ratio.toFixed(3)}x (target ≥ 0.3x: ${ratio >= 0.3 ? 'met' : 'not met'}); the connector alone ${fmt(alone)} rows/s (${(alone / duckRate).toFixed(3)}x DuckDB); the pipeline with no secondary index ${fmt(bare.rate)} rows/s (${(bare.rate / duckRate).toFixed(3)}x DuckDB)`,
    );
  }
  console.log(`files: ${fmt(rows)} rows, each file loaded once`);
  for (const r of results) console.log(`  ${r}`);
} finally {
  dc.closeSync();
  duck.closeSync();
  rmSync(dir, { recursive: true, force: true });
}
