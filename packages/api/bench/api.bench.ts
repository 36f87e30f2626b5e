// The API under load over loopback, in one run:
//   (a) a bare Hono route returning the same JSON bytes as (b): the ceiling;
//   (b) REST lookup by key;
//   (c) REST filtered query served from a secondary index;
//   (d) the gRPC query of (c) on the endpoint's typed service;
//   (e) a gRPC call that does no work (getEndpoints): grpc-js's own ceiling.
// HTTP load comes from autocannon in a worker thread, gRPC load from a
// grpc-js client in a worker thread, so neither shares the server's event
// loop. The four run in turn, ROUNDS times, and each figure is the median
// over the rounds, so that a burst of load from elsewhere on the machine
// skews one round, not one target. Prints req/s, p50 and p99 and each
// ratio to (a); never fails on a figure.
//   pnpm bench api [seconds per round] [rows] [rounds]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Decimal, insertOp, makeSchema, rowToObject, Timestamp } from '@dozer/core';
import { openStore } from '@dozer/store';
import autocannon from 'autocannon';
import { Hono } from 'hono';
import { createRestApp, startGrpcServer, startHttpServer, writeProtoFiles } from '../src/index.js';

const SECONDS = Number(process.argv[2] ?? 3);
const ROWS = Number(process.argv[3] ?? 50_000);
const ROUNDS = Number(process.argv[4] ?? 3);
const CONNECTIONS = 32;
const WARMUP = 1;
const CITIES = 500;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-api-bench-'));
const store = openStore({ path: path.join(dir, 'store') });
const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'city', type: 'string', nullable: false },
    { name: 'fare', type: 'decimal', nullable: false },
    { name: 'pickup', type: 'timestamp', nullable: false },
    { name: 'passengers', type: 'int', nullable: true },
  ],
  ['id'],
);
const trips = store.openEndpoint({ name: 'trips', schema });
const base = Timestamp.parse('2024-01-01T00:00:00Z').micros;
for (let i = 0; i < ROWS; i += 10_000) {
  const ops = [];
  for (let j = i; j < Math.min(ROWS, i + 10_000); j++) {
    ops.push(
      insertOp([
        BigInt(j),
        `city-${j % CITIES}`,
        new Decimal(BigInt(500 + ((j * 7919) % 10_000)), 2),
        new Timestamp(base + BigInt(j) * 1_000_123n),
        BigInt(1 + (j % 4)),
      ]),
    );
  }
  await trips.apply(ops);
}

const KEY = 4242n;
const record = trips.get([KEY])!;
const recordJson = JSON.stringify(rowToObject(schema, record));
// One city has ROWS / CITIES rows; the index on `city` finds them, `$limit` keeps the answer small.
const query = { $filter: { city: `city-${Number(KEY) % CITIES}` }, $limit: 5 };
const queryBody = JSON.stringify(query);

const bare = new Hono();
bare.get('/trips/:key', (c) => {
  c.header('content-type', 'application/json; charset=UTF-8');
  return c.body(recordJson, 200);
});
const bareServer = await startHttpServer(bare, { host: '127.0.0.1', port: 0 });
const rest = await startHttpServer(
  createRestApp({ endpoints: [{ name: 'trips', path: '/trips', store: trips }] }),
  {
    host: '127.0.0.1',
    port: 0,
  },
);
const grpcServer = await startGrpcServer({
  endpoints: [{ name: 'trips', store: trips }],
  host: '127.0.0.1',
  port: 0,
});
const protoDir = path.join(dir, 'protos');
writeProtoFiles(protoDir, [{ name: 'trips', schema }]);

// Check each target answers what it should before loading it.
const check = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res.text();
};
const restKey = await check(`${rest.url}/trips/${KEY}`);
if (restKey !== recordJson) throw new Error('REST key lookup and the bare route answer different bytes');
await check(`${bareServer.url}/trips/${KEY}`);
const queryAnswer = await check(`${rest.url}/trips/query`, {
  method: 'POST',
  body: queryBody,
  headers: { 'content-type': 'application/json' },
});
const queryRows = (JSON.parse(queryAnswer) as unknown[]).length;

interface Figures {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

async function http(
  url: string,
  init: { method?: 'GET' | 'POST'; body?: string },
  warmup: boolean,
): Promise<Figures> {
  const opts = {
    url,
    connections: CONNECTIONS,
    workers: 1,
    ...(init.method ? { method: init.method } : {}),
    ...(init.body ? { body: init.body, headers: { 'content-type': 'application/json' } } : {}),
  };
  if (warmup) await autocannon({ ...opts, duration: WARMUP });
  const r = await autocannon({ ...opts, duration: SECONDS });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
  };
}

function grpcLoad(
  warmup: boolean,
  call: { file: string; service: string; method: string; request: object } = {
    file: 'trips.proto',
    service: 'dozer.generated.trips.Trips',
    method: 'query',
    request: { query: queryBody },
  },
): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(new URL('./grpc-load.worker.mjs', import.meta.url)), {
      workerData: {
        address: grpcServer.address,
        includeDirs: [protoDir],
        ...call,
        inflight: CONNECTIONS,
        seconds: SECONDS,
        warmupSeconds: warmup ? WARMUP : 0,
      },
    });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

console.log(
  `api bench: ${ROWS} rows, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS}s per target (medians); ` +
    `key answer ${recordJson.length} B; query ${queryBody} → ${queryRows} rows, ${queryAnswer.length} B`,
);
const targets: [string, (warmup: boolean) => Promise<Figures>][] = [
  ['(a) bare Hono, same bytes as (b)', (w) => http(`${bareServer.url}/trips/${KEY}`, {}, w)],
  ['(b) REST key lookup', (w) => http(`${rest.url}/trips/${KEY}`, {}, w)],
  [
    '(c) REST query, secondary index',
    (w) => http(`${rest.url}/trips/query`, { method: 'POST', body: queryBody }, w),
  ],
  ['(d) gRPC typed query, as (c)', (w) => grpcLoad(w)],
  // The ceiling of grpc-js itself: a call that does no work.
  [
    '(e) gRPC getEndpoints (no work)',
    (w) =>
      grpcLoad(w, {
        file: 'dozer/common.proto',
        service: 'dozer.common.CommonGrpcService',
        method: 'getEndpoints',
        request: {},
      }),
  ],
];
const runs: Figures[][] = targets.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [, run]] of targets.entries()) runs[i]!.push(await run(round === 0));
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const results = targets.map(([name], i): [string, Figures] => {
  const r = runs[i]!;
  return [
    name,
    {
      rps: median(r.map((f) => f.rps)),
      p50: median(r.map((f) => f.p50)),
      p99: median(r.map((f) => f.p99)),
      errors: r.reduce((n, f) => n + f.errors, 0),
    },
  ];
});
const ceiling = results[0]![1].rps;
const goals: { [k: string]: number } = { '(b)': 0.7, '(c)': 0.5 };
for (const [name, f] of results) {
  const ratio = f.rps / ceiling;
  const goal = goals[name.slice(0, 3)];
  console.log(
    `${name.padEnd(36)} ${f.rps.toFixed(0).padStart(8)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99
      .toFixed(2)
      .padStart(
        6,
      )} ms  ${ratio.toFixed(2)}× (a)${goal ? ` (target ≥ ${goal}×: ${ratio >= goal ? 'met' : 'NOT met'})` : ''}${
      f.errors ? `  ${f.errors} errors` : ''
    }`,
  );
}
const best = runs.map((r) => Math.max(...r.map((f) => f.rps)));
console.log(
  `best rounds: ${targets
    .slice(1)
    .map(([n], i) => `${n.slice(0, 3)} ${(best[i + 1]! / best[0]!).toFixed(2)}× (a)`)
    .join(', ')} (the least disturbed round of each; load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${os.cpus().length} CPUs)`,
);
console.log(
  `rounds (req/s): ${targets.map(([n], i) => `${n.slice(0, 3)} ${runs[i]!.map((f) => f.rps.toFixed(0)).join('/')}`).join('; ')}`,
);

await grpcServer.close();
await rest.close();
await bareServer.close();
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
