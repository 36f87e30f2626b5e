// pnpm bench queue [batches]
// In one run: in-memory append and read throughput; offload throughput to
// s3rver beside a raw PutObject loop of the same segment bytes; reading
// offloaded segments from a local directory. Prints figures only.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as S3 from '@aws-sdk/client-s3';
import { createLocalObjectStore, encodeStreamMessage, insertOp, makeSchema, type OpBatch } from '@dozer/core';
import { connectLogClient, openLogQueue, S3ObjectStore, serveLogs } from '../src/index.js';

const require = createRequire(import.meta.url);
const N = Number(process.argv[2] ?? 20_000);
const ROWS = 100;
const MiB = 1024 * 1024;

const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'customer', type: 'string', nullable: false },
    { name: 'amount', type: 'float', nullable: true },
    { name: 'qty', type: 'int', nullable: true },
  ],
  ['id'],
);

const batches: OpBatch[] = [];
for (let b = 0; b < 64; b++) {
  const ops = [];
  for (let r = 0; r < ROWS; r++) {
    const id = b * ROWS + r;
    ops.push(insertOp([BigInt(id), `customer-${id % 997}`, id * 0.5, r % 7 === 0 ? null : BigInt(r)]));
  }
  batches.push({ table: 'orders', ops, position: `p${b}` });
}
const encodedSize =
  batches.reduce((n, b) => n + encodeStreamMessage(schema, { kind: 'batch', batch: b }).length, 0) / 64;

const dir = mkdtempSync(join(tmpdir(), 'dozer-queue-bench-'));
const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const line = (what: string, count: number, bytes: number, s: number) =>
  console.log(
    `  ${what.padEnd(44)} ${fmt(count / s).padStart(10)} batches/s ${fmt(bytes / MiB / s, 1).padStart(8)} MB/s`,
  );

console.log(`@dozer/queue benchmark: ${N} batches of ${ROWS} rows (${fmt(encodedSize)} bytes each encoded)`);
// CPU-bound work (hashing, encoding) stretches with the machine's load; print it beside the figures.
console.log(
  `${cpus().length} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}\n`,
);

// --- in memory -------------------------------------------------------------
{
  console.log('in memory (no offload):');
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < N; i++)
    bytes += encodeStreamMessage(schema, { kind: 'batch', batch: batches[i % 64]! }).length;
  const encodeSecs = secs(t0);
  line('baseline: encodeStreamMessage only', N, bytes, encodeSecs);

  const queue = openLogQueue({
    store: createLocalObjectStore(join(dir, 'mem')),
    memoryLimitBytes: 4 * 1024 * MiB,
  });
  const log = await queue.openLog('orders', schema);
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await log.append(batches[i % 64]!);
  const appendSecs = secs(t1);
  line('Log.append', N, bytes, appendSecs);
  console.log(`  append / encode-only ratio: ${(encodeSecs / appendSecs).toFixed(2)}×`);

  const t2 = process.hrtime.bigint();
  let n = 0;
  let readBytes = 0;
  for await (const e of log.read({ from: 0n })) {
    readBytes += e.bytes.length;
    if (++n === N) break;
  }
  line('Log.read (in process, entries not decoded)', N, readBytes, secs(t2));

  const t3 = process.hrtime.bigint();
  n = 0;
  for await (const e of log.read({ from: 0n })) {
    if (e.message.kind !== 'batch') throw new Error('expected batches');
    if (++n === N) break;
  }
  line('Log.read + decode', N, readBytes, secs(t3));

  const server = await serveLogs(queue);
  const client = connectLogClient({
    address: server.address,
    store: createLocalObjectStore(join(dir, 'mem')),
  });
  const t4 = process.hrtime.bigint();
  n = 0;
  for await (const _ of client.read('orders', { from: 0n })) if (++n === N) break;
  line('gRPC Read over loopback (not decoded)', N, readBytes, secs(t4));
  client.close();
  await server.close();
  await queue.close({ flush: false });
}

// --- offload to s3rver --------------------------------------------------------
{
  console.log('\noffload to s3rver (S3 wire protocol on loopback, in another process):');
  const sdk = require('@aws-sdk/client-s3') as typeof S3;
  // s3rver runs in its own process, as S3 would be remote: its work does not
  // share this process's thread.
  const s3dir = join(dir, 's3rver');
  const s3 = spawn(
    process.execPath,
    [
      '-e',
      `const S3rver = require('s3rver');
       new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[1] })
         .run().then(({ port }) => console.log(port));`,
      s3dir,
    ],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    s3.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    s3.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const store = new S3ObjectStore({ bucket: 'bench', endpoint, forcePathStyle: true, credentials });
  await store.client.send(new sdk.CreateBucketCommand({ Bucket: 'bench' }));

  // Rounds alternate which goes first, the log or the baseline; the best of each counts.
  const ROUNDS = 4;
  let offloadSecs = Number.POSITIVE_INFINITY;
  let rawSecs = Number.POSITIVE_INFINITY;
  let segBytes = 0;
  let segments = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const q = openLogQueue({ store, prefix: `round-${round}`, memoryLimitBytes: 4 * 1024 * MiB });
    const l = await q.openLog('orders', schema);
    for (let i = 0; i < N; i++) await l.append(batches[i % 64]!);
    const flush = async () => {
      const t0 = process.hrtime.bigint();
      await l.flush(); // every segment and the index stored
      offloadSecs = Math.min(offloadSecs, secs(t0));
      await q.close();
    };
    // Baseline: segment bytes of this run, one PutObject after another.
    const raw = async (files: Uint8Array[]) => {
      const t1 = process.hrtime.bigint();
      for (const [i, file] of files.entries()) {
        await store.client.send(
          new sdk.PutObjectCommand({
            Bucket: 'bench',
            Key: `raw-${round}/${i}`,
            Body: file,
            ContentLength: file.length,
          }),
        );
      }
      rawSecs = Math.min(rawSecs, secs(t1));
    };
    // Odd rounds put the previous round's segments first, then flush.
    if (round % 2 === 0) await flush();
    const keys = await store.list(`round-${round % 2 === 0 ? round : round - 1}/orders/segments/`);
    const files = await Promise.all(keys.map((k) => store.get(k)));
    await raw(files);
    if (round % 2 === 1) await flush();
    segBytes = files.reduce((n, f) => n + f.length, 0);
    segments = files.length;
  }
  console.log(
    `  ${segments} segments of ~${fmt(segBytes / segments / MiB, 1)} MiB (default segment size), best of ${ROUNDS}`,
  );
  line('Log.flush (segments, then the index)', N, segBytes, offloadSecs);
  line('baseline: raw PutObject loop, same bytes', N, segBytes, rawSecs);
  console.log(`  offload / raw PutObject ratio: ${(rawSecs / offloadSecs).toFixed(2)}× (target ≥ 0.80×)`);

  // Reading the offloaded segments back from S3 through the log.
  const queue = openLogQueue({ store, prefix: 'round-0', memoryLimitBytes: 64 * MiB });
  const log = await queue.openLog('orders', schema);
  const t2 = process.hrtime.bigint();
  let n = 0;
  for await (const _ of log.read({ from: 0n })) if (++n === N) break;
  line('reading the segments back from s3rver', N, segBytes, secs(t2));
  await queue.close({ flush: false });
  store.close();
  s3.kill();
}

// --- reading offloaded segments from a local directory ---------------------------
{
  console.log('\nreading offloaded segments from a local directory:');
  const objects = join(dir, 'local');
  let queue = openLogQueue({
    store: createLocalObjectStore(objects),
    memoryLimitBytes: 4 * 1024 * MiB,
    segmentTargetBytes: 8 * MiB,
  });
  await (async () => {
    const log = await queue.openLog('orders', schema);
    for (let i = 0; i < N; i++) await log.append(batches[i % 64]!);
    await queue.close(); // flushes everything to segments
  })();
  queue = openLogQueue({ store: createLocalObjectStore(objects) });
  const log = await queue.openLog('orders', schema);
  const segBytes = (
    await Promise.all(
      (
        await createLocalObjectStore(objects).list('queue/orders/segments/')
      ).map(async (k) => (await createLocalObjectStore(objects).get(k)).length),
    )
  ).reduce((a, b) => a + b, 0);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    let n = 0;
    for await (const _ of log.read({ from: 0n })) if (++n === N) break;
    best = Math.min(best, secs(t0));
  }
  line('Log.read of segments (verified, not decoded)', N, segBytes, best);
  console.log(`  target ≥ 200 MB/s: ${segBytes / MiB / best >= 200 ? 'met' : 'NOT met'}`);

  const server = await serveLogs(queue);
  const client = connectLogClient({ address: server.address, store: createLocalObjectStore(objects) });
  const t1 = process.hrtime.bigint();
  let n = 0;
  for await (const _ of client.read('orders', { from: 0n })) if (++n === N) break;
  line('gRPC client: locations, then segments from the dir', N, segBytes, secs(t1));
  client.close();
  await server.close();
  await queue.close({ flush: false });
}

rmSync(dir, { recursive: true, force: true });
