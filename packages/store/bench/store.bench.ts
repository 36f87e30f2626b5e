// Writes: EndpointStore.apply of batches of 100, 1000 and 5000 operations (inserts, then a mix of
// updates and deletes) into an endpoint of 8 fields with the default indexes, against raw lmdb-js
// writing the same number of puts (one per row, one per index entry) in one transactionSync per
// batch (and, for batches of 5000, the same inserts into an endpoint without secondary indexes).
// Reads: EndpointStore.get against raw lmdb-js `get` of the same keys, index queries against the
// same reads done by hand on raw lmdb-js, cursor pages. All in the same process and run; prints
// figures only.
//   pnpm bench store [rows]     (rows of the read benchmark; the write one uses 50,000)
//   pnpm bench store writes     (the write benchmark only)
//   pnpm bench store epochs     (epoch marks and rollback only)
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteOp, insertOp, makeSchema, type Operation, type Row, updateOp } from '@dozer/core';
import { open } from 'lmdb';
import { defaultSecondaryIndexes, openStore } from '../src/index.js';

const WRITES_ONLY = process.argv[2] === 'writes';
const EPOCHS_ONLY = process.argv[2] === 'epochs';
const N = WRITES_ONLY || EPOCHS_ONLY ? 0 : Number(process.argv[2] ?? 100_000);
const ROUNDS = 5;
const dir = mkdtempSync(join(tmpdir(), 'dozer-store-bench-'));

// ---- writes ----
const WRITE_ROWS = 50_000;
const wideSchema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: false },
    { name: 'city', type: 'string', nullable: false },
    { name: 'price', type: 'float', nullable: false },
    { name: 'qty', type: 'int', nullable: true },
    { name: 'active', type: 'boolean', nullable: false },
    { name: 'score', type: 'float', nullable: true },
    { name: 'code', type: 'string', nullable: false },
  ],
  ['id'],
);
const indexCount = defaultSecondaryIndexes(wideSchema).length;
const CITIES = ['Paris', 'Berlin', 'Lisbon', 'Oslo', 'Rome', 'Vienna', 'Prague', 'Dublin'];
const wideRow = (i: number, v: number): Row => [
  BigInt(i),
  `customer ${i}`,
  CITIES[i % 8]!,
  (i % 1000) * 0.25 + v,
  BigInt((i + v) % 500),
  (i + v) % 2 === 0,
  v === 0 ? null : i * 0.5,
  `C-${(i * 7919) % 100_000}`,
];

/** Insert batches, then batches of updates (2 of 3 ops: price and qty change) and deletes. */
function writeWorkload(batch: number): { inserts: Operation[][]; mix: Operation[][] } {
  const inserts: Operation[][] = [];
  for (let i = 0; i < WRITE_ROWS; i += batch) {
    const ops: Operation[] = [];
    for (let j = i; j < i + batch; j++) ops.push(insertOp(wideRow(j, 0)));
    inserts.push(ops);
  }
  const mix: Operation[][] = [];
  for (let i = 0; i < WRITE_ROWS; i += batch) {
    const ops: Operation[] = [];
    for (let j = i; j < i + batch; j++) {
      ops.push(j % 3 === 2 ? deleteOp(wideRow(j, 0)) : updateOp(wideRow(j, 0), wideRow(j, 1)));
    }
    mix.push(ops);
  }
  return { inserts, mix };
}

const secsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

async function storeWrites(
  batches: Operation[][][],
  concurrent: boolean,
  unindexed = false,
): Promise<number[]> {
  const path = mkdtempSync(join(dir, 'w-'));
  const store = openStore({ path });
  const ep = store.openEndpoint({
    name: 'customers',
    schema: wideSchema,
    ...(unindexed ? { secondaryIndexes: [] } : {}),
  });
  const out: number[] = [];
  for (const phase of batches) {
    const t0 = process.hrtime.bigint();
    if (concurrent) {
      // Up to 8 applies in flight, as a pipeline with several sources would issue them.
      const inFlight: Promise<void>[] = [];
      for (const ops of phase) {
        inFlight.push(ep.apply(ops));
        if (inFlight.length >= 8) await inFlight.shift();
      }
      await Promise.all(inFlight);
    } else {
      for (const ops of phase) await ep.apply(ops);
    }
    out.push(phase.reduce((n, b) => n + b.length, 0) / secsSince(t0));
  }
  await store.close();
  return out;
}

/** Raw lmdb-js: per operation one put of the row (msgpack) and one per index entry, one transactionSync per batch. */
function rawWrites(batches: Operation[][][]): number[] {
  const path = mkdtempSync(join(dir, 'r-'));
  const env = open({ path, maxDbs: 4 });
  const rows = env.openDB({ name: 'rows' });
  const index = env.openDB({ name: 'index', encoding: 'binary' });
  const entry = Buffer.from([0, 0]);
  const out: number[] = [];
  for (const phase of batches) {
    const t0 = process.hrtime.bigint();
    for (const ops of phase) {
      env.transactionSync(() => {
        for (const op of ops) {
          const r = (op.kind === 'delete' ? op.old : op.new) as Row;
          const id = Number(r[0]);
          rows.put(id, {
            name: r[1],
            city: r[2],
            price: r[3],
            qty: r[4] === null ? null : Number(r[4]),
            active: r[5],
            score: r[6],
            code: r[7],
          });
          for (let f = 1; f <= indexCount; f++) {
            const v = r[f] as string | number | boolean | bigint | null;
            index.put([f, typeof v === 'bigint' ? Number(v) : v === null ? false : v, id], entry);
          }
        }
      });
    }
    out.push(phase.reduce((n, b) => n + b.length, 0) / secsSince(t0));
  }
  void env.close();
  return out;
}

const fmtOps = (n: number) => `${Math.round(n).toLocaleString('en-US')} ops/s`.padStart(15);
if (!EPOCHS_ONLY)
  console.log(
    `writes: ${WRITE_ROWS.toLocaleString('en-US')} inserts, then ${WRITE_ROWS.toLocaleString('en-US')} ops ` +
      `(2/3 updates of price and qty, 1/3 deletes); 8 fields, ${indexCount} secondary indexes, change feed on; ` +
      `load average ${loadavg()[0]!.toFixed(1)}`,
  );
for (const batch of EPOCHS_ONLY ? [] : [100, 1000, 5000]) {
  const { inserts, mix } = writeWorkload(batch);
  const [rawIns, rawMix] = rawWrites([inserts, mix]);
  const [seqIns, seqMix] = await storeWrites([inserts, mix], false);
  const [conIns, conMix] = await storeWrites([inserts, mix], true);
  const line = (what: string, store: number, raw: number) =>
    console.log(
      `  ${what}: apply ${fmtOps(store)}   raw lmdb ${fmtOps(raw)}   ratio ${(store / raw).toFixed(2)}x raw`,
    );
  console.log(`batches of ${batch}:`);
  line('inserts, one apply at a time ', seqIns!, rawIns!);
  line('inserts, 8 applies in flight  ', conIns!, rawIns!);
  line('updates/deletes, one at a time', seqMix!, rawMix!);
  line('updates/deletes, 8 in flight  ', conMix!, rawMix!);
  if (batch === 5000) {
    // What the default indexes cost: the same inserts into the endpoint without secondary indexes.
    const [bare] = await storeWrites([inserts], true, true);
    console.log(
      `  inserts, 8 in flight, no secondary index: ${fmtOps(bare!)} (${(bare! / conIns!).toFixed(1)}x the rate with ${indexCount})`,
    );
  }
}
if (!EPOCHS_ONLY) console.log();

// ---- epochs ----

/**
 * markEpoch: its latency (a commit of its own, then a flush) against an apply of one insert
 * followed by `flushed()` (the same durable commit without a mark); and the write rate with 8
 * applies of 100 in flight and a mark every 10 applies (not awaited) against none.
 * rollbackTo: undoing 10,000 changes (the update/delete mix plus inserts) against applying them.
 */
async function epochBench(): Promise<void> {
  const { inserts, mix } = writeWorkload(100);
  let marked!: Awaited<ReturnType<typeof run>>;
  const run = async (marks: boolean) => {
    const store = openStore({ path: mkdtempSync(join(dir, 'e-')) });
    const ep = store.openEndpoint({ name: 'customers', schema: wideSchema });
    const t0 = process.hrtime.bigint();
    const inFlight: Promise<void>[] = [];
    // Marks are awaited apart from the applies' window (a mark waits for a flush).
    const markPromises: Promise<void>[] = [];
    let epoch = 0n;
    let n = 0;
    for (const ops of [...inserts, ...mix]) {
      inFlight.push(ep.apply(ops));
      n += ops.length;
      if (marks && ++epoch % 10n === 0n) markPromises.push(store.markEpoch(epoch));
      if (inFlight.length >= 8) await inFlight.shift();
    }
    await Promise.all([...inFlight, ...markPromises]);
    const rate = n / secsSince(t0);
    return { store, ep, rate };
  };
  // Alternated twice, best of each: the first run also warms up the JIT.
  let plainRate = 0;
  let markedRate = 0;
  for (let round = 0; round < 2; round++) {
    const plain = await run(false);
    await plain.store.close();
    plainRate = Math.max(plainRate, plain.rate);
    const m = await run(true);
    markedRate = Math.max(markedRate, m.rate);
    if (round === 0) await m.store.close();
    else marked = m;
  }
  // Latency of one mark against one durable apply, alternated, median of 50 each.
  const markTimes: number[] = [];
  const applyTimes: number[] = [];
  let epoch = 1_000_000n;
  for (let i = 0; i < 50; i++) {
    let t0 = process.hrtime.bigint();
    await marked.store.markEpoch(epoch++);
    markTimes.push(secsSince(t0) * 1e3);
    t0 = process.hrtime.bigint();
    await marked.ep.apply([insertOp(wideRow(10_000_000 + i, 0))]);
    await marked.store.flushed();
    applyTimes.push(secsSince(t0) * 1e3);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  console.log(
    `epochs (8 fields, ${indexCount} secondary indexes; load average ${loadavg()[0]!.toFixed(1)}):`,
  );
  console.log(
    `  markEpoch, awaited (commit + flush):   ${median(markTimes).toFixed(2)} ms median; apply of 1 insert + flushed(): ${median(applyTimes).toFixed(2)} ms (ratio ${(median(markTimes) / median(applyTimes)).toFixed(2)}x)`,
  );
  console.log(
    `  writes, batches of 100, 8 in flight:   mark every 10 applies ${fmtOps(markedRate)}   no marks ${fmtOps(plainRate)}   ratio ${(markedRate / plainRate).toFixed(2)}x`,
  );
  // 10,000 changes after a mark: 5,000 inserts of new keys, 2,500 updates and 2,500 deletes of them.
  await marked.store.markEpoch(epoch++);
  const key = (k: number) => 20_000_000 + k;
  const later: Operation[][] = [];
  for (let b = 0; b < 100; b++) {
    later.push(
      Array.from({ length: 100 }, (_, j) => {
        const k = (b % 50) * 100 + j;
        if (b < 50) return insertOp(wideRow(key(k), 0));
        return b < 75 ? updateOp(wideRow(key(k), 0), wideRow(key(k), 1)) : deleteOp(wideRow(key(k), 0));
      }),
    );
  }
  let t0 = process.hrtime.bigint();
  for (const ops of later) await marked.ep.apply(ops);
  const applySecs = secsSince(t0);
  const v0 = marked.ep.version();
  t0 = process.hrtime.bigint();
  await marked.store.rollbackTo(epoch - 1n);
  const rollbackSecs = secsSince(t0);
  const undone = marked.ep.version() - v0;
  console.log(
    `  rollbackTo, ${undone.toLocaleString('en-US')} changes undone:   ${(rollbackSecs * 1e3).toFixed(0)} ms (${fmtOps(Number(undone) / rollbackSecs).trim()}); applying them, one apply of 100 at a time: ${(applySecs * 1e3).toFixed(0)} ms (ratio ${(rollbackSecs / applySecs).toFixed(2)}x the time)`,
  );
  await marked.store.close();
}
if (!WRITES_ONLY) await epochBench();
if (WRITES_ONLY || EPOCHS_ONLY) {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
console.log();

// ---- reads ----

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
const raw = open({ path: join(dir, 'raw'), maxDbs: 4 });
// And an index on qty as a plain lmdb-js user would keep one: key [qty, id], empty value.
const rawQty = raw.openDB({ name: 'qty', encoding: 'binary' });
const noValue = Buffer.alloc(0);
await raw.transaction(() => {
  for (let j = 0; j < N; j++) {
    raw.put(j, { id: j, name: `item ${j}`, price: j * 0.25, qty: j % 100 });
    rawQty.put([j % 100, j], noValue);
  }
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
let rawQueryRate = 0;
let pageRate = 0;
/** The query of `queries[i]` by hand on raw lmdb-js: the first 10 index keys of qty = k, then each row. */
function rawQuery(k: number): unknown[] {
  const out: unknown[] = [];
  for (const key of rawQty.getKeys({ start: [k], end: [k + 1], limit: 10 }))
    out.push(raw.get((key as number[])[1]!));
  return out;
}
for (let r = 0; r < ROUNDS; r++) {
  let t0 = process.hrtime.bigint();
  for (const q of queries) if (ep.query(q).length !== 10) throw new Error('short query answer');
  queryRate = Math.max(queryRate, Q / (Number(process.hrtime.bigint() - t0) / 1e9));
  t0 = process.hrtime.bigint();
  for (let i = 0; i < Q; i++) if (rawQuery(i % 100).length !== 10) throw new Error('short raw answer');
  rawQueryRate = Math.max(rawQueryRate, Q / (Number(process.hrtime.bigint() - t0) / 1e9));
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
  `query qty = k, limit 10 (index scan):   ${Math.round(queryRate).toLocaleString('en-US')} queries/s; ` +
    `raw lmdb-js (getKeys of [qty, id] + get of each row, msgpack): ${Math.round(rawQueryRate).toLocaleString('en-US')}/s; ` +
    `ratio ${(queryRate / rawQueryRate).toFixed(2)}x raw`,
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
