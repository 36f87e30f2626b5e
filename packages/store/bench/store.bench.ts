// Key lookups per second: EndpointStore.get against raw lmdb-js `get` of the
// same number of keys, in the same process and run. Prints figures only.
//   node --conditions=@dozer/source --import tsx packages/store/bench/store.bench.ts [rows]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insertOp, makeSchema } from '@dozer/core';
import { open } from 'lmdb';
import { openStore } from '../src/index.js';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = 5;
const dir = mkdtempSync(join(tmpdir(), 'dozer-store-bench-'));

const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: false },
    { name: 'price', type: 'float', nullable: false },
    { name: 'qty', type: 'int', nullable: true },
  ],
  ['id'],
);

const store = openStore({ path: join(dir, 'store') });
const ep = store.openEndpoint({ name: 'items', schema });
const BATCH = 10_000;
const loadStart = process.hrtime.bigint();
for (let i = 0; i < N; i += BATCH) {
  const ops = [];
  for (let j = i; j < Math.min(N, i + BATCH); j++) {
    ops.push(insertOp([BigInt(j), `item ${j}`, j * 0.25, BigInt(j % 100)]));
  }
  await ep.apply(ops);
}
const loadSecs = Number(process.hrtime.bigint() - loadStart) / 1e9;

// The baseline: lmdb-js defaults (msgpack values, ordered-binary number keys), same fields.
const raw = open({ path: join(dir, 'raw') });
await raw.transaction(() => {
  for (let j = 0; j < N; j++) raw.put(j, { id: j, name: `item ${j}`, price: j * 0.25, qty: j % 100 });
});

// Same pseudo-random key order for both.
const order = new Uint32Array(N);
for (let i = 0, x = 12345; i < N; i++) {
  x = (x * 1103515245 + 12345) >>> 0;
  order[i] = x % N;
}
const bigKeys = Array.from(order, (k) => [BigInt(k)] as const);

function measure(fn: () => number): number {
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    const found = fn();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (found !== N) throw new Error(`found ${found} of ${N} keys`);
    best = Math.max(best, N / secs);
  }
  return best;
}

const storeRate = measure(() => {
  let found = 0;
  for (let i = 0; i < N; i++) if (ep.get(bigKeys[i]!) !== undefined) found++;
  return found;
});
const rawRate = measure(() => {
  let found = 0;
  for (let i = 0; i < N; i++) if (raw.get(order[i]!) !== undefined) found++;
  return found;
});

// Filtered queries served from the secondary index on qty, and the same pages walked by cursor.
const Q = 2_000;
const queries = Array.from({ length: Q }, (_, i) =>
  ep.parseQuery({ $filter: { qty: i % 100 }, $order_by: { qty: 'asc' }, $limit: 10 }),
);
let queryRate = 0;
let pageRate = 0;
for (let r = 0; r < ROUNDS; r++) {
  let t0 = process.hrtime.bigint();
  for (const q of queries) if (ep.query(q).length !== 10) throw new Error('short query answer');
  queryRate = Math.max(queryRate, Q / (Number(process.hrtime.bigint() - t0) / 1e9));
  t0 = process.hrtime.bigint();
  let after: string | undefined;
  const base = ep.parseQuery({ $filter: { qty: { $gte: 50 } }, $order_by: { qty: 'desc' }, $limit: 10 });
  for (let i = 0; i < Q; i++) {
    const page = ep.queryPage(after ? { ...base, after } : base);
    after = page.cursor;
  }
  pageRate = Math.max(pageRate, Q / (Number(process.hrtime.bigint() - t0) / 1e9));
}

const fmt = (n: number) => `${Math.round(n).toLocaleString('en-US')} lookups/s`;
console.log(`rows: ${N}, best of ${ROUNDS} rounds of ${N} lookups each`);
console.log(`EndpointStore.get: ${fmt(storeRate)}`);
console.log(`raw lmdb get:      ${fmt(rawRate)}`);
console.log(`ratio:             ${(storeRate / rawRate).toFixed(2)}x raw`);
console.log(
  `query qty = k, limit 10 (index scan):   ${Math.round(queryRate).toLocaleString('en-US')} queries/s`,
);
console.log(
  `cursor pages of 10 (qty >= 50, desc):   ${Math.round(pageRate).toLocaleString('en-US')} pages/s`,
);
console.log(
  `(load: ${Math.round(N / loadSecs).toLocaleString('en-US')} inserts/s through apply, batches of ${BATCH}, 3 secondary indexes)`,
);

await store.close();
await raw.close();
rmSync(dir, { recursive: true, force: true });
