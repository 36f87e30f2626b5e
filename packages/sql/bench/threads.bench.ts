// pnpm bench threads: a join + aggregate pipeline on the single-thread executor (the baseline),
// then on the threaded executor with 1 and 2 worker threads, over the same events, in one run.
// THREADS_EVENTS sets the stream length (default 400,000), THREADS_BATCH the events per batch
// (default 2,000), THREADS_IN_FLIGHT the pushes in flight (default 8), THREADS_CAPACITY the frames
// in flight per channel between threads (default 8), THREADS_ROUNDS the timed rounds (default 5).
// Besides events/s it prints the CPU time of the process's threads (Linux), which a busy machine
// does not distort as it does wall-clock time.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { makeSchema, type OpBatch, type Operation, type Row } from '@dozer/core';
import { compileSql, createThreadedExecutor, type ThreadedSqlExecutor } from '../src/index.js';

const EVENTS = Number(process.env.THREADS_EVENTS ?? 400_000);
const BATCH = Number(process.env.THREADS_BATCH ?? 2_000);
const IN_FLIGHT = Number(process.env.THREADS_IN_FLIGHT ?? 8);
const ROUNDS = Number(process.env.THREADS_ROUNDS ?? 5);
const CAPACITY = Number(process.env.THREADS_CAPACITY ?? 8);

const customers = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'region', type: 'string', nullable: false },
    { name: 'tier', type: 'int', nullable: false },
  ],
  ['id'],
);
const orders = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'customer', type: 'int', nullable: false },
    { name: 'amount', type: 'int', nullable: false },
    { name: 'status', type: 'string', nullable: false },
  ],
  ['id'],
);
const SOURCES = new Map([
  ['customers', customers],
  ['orders', orders],
]);

// Orders ⋈ customers, totals per customer, then the per-region figures over those totals.
const SQL = `
  SELECT c.region, c.id AS customer, SUM(o.amount) AS total, COUNT(*) AS n
  FROM orders o JOIN customers c ON o.customer = c.id
  WHERE o.status <> 'cancelled'
  GROUP BY c.region, c.id
  INTO per_customer;
  SELECT region, COUNT(*) AS customers, AVG(total) AS avg_total, MAX(n) AS most_orders
  FROM per_customer GROUP BY region
  INTO per_region`;

const REGIONS = ['north', 'south', 'east', 'west', 'centre', 'islands', 'abroad', 'online'];
const STATUSES = ['new', 'paid', 'shipped', 'cancelled'];

/**
 * A seeded stream of batches, one table per batch: customers arrive first
 * and then now and then (5%), orders are inserted (80%) and updated or deleted
 * later (15%), so every operator sees retractions.
 */
function generate(events: number, seed: number): OpBatch[] {
  let s = seed >>> 0;
  const rand = (n: number) => {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    return s % n;
  };
  const batches: OpBatch[] = [];
  // One open batch per table, sent when full: the tables interleave batch by batch.
  const open = new Map<string, Operation[]>();
  const emit = (table: string, op: Operation) => {
    let ops = open.get(table);
    if (ops === undefined) {
      ops = [];
      open.set(table, ops);
    }
    ops.push(op);
    if (ops.length >= BATCH) {
      batches.push({ table, ops, position: null });
      open.set(table, []);
    }
  };
  let nCustomers = 0;
  let nextOrder = 0;
  const live: Row[] = [];
  const customer = (): Row => [BigInt(nCustomers++), REGIONS[rand(REGIONS.length)]!, BigInt(rand(4))];
  for (let i = 0; i < 2_000; i++) emit('customers', { kind: 'insert', new: customer() });
  for (let e = 0; e < events; e++) {
    const r = rand(100);
    if (r < 5) {
      emit('customers', { kind: 'insert', new: customer() });
    } else if (r < 85 || live.length === 0) {
      const row: Row = [
        BigInt(nextOrder++),
        BigInt(rand(nCustomers)),
        BigInt(1 + rand(500)),
        STATUSES[rand(STATUSES.length)]!,
      ];
      live.push(row);
      emit('orders', { kind: 'insert', new: row });
    } else {
      const at = rand(live.length);
      const old = live[at]!;
      if (r < 92) {
        const row: Row = [old[0]!, old[1]!, BigInt(1 + rand(500)), STATUSES[rand(STATUSES.length)]!];
        live[at] = row;
        emit('orders', { kind: 'update', old, new: row });
      } else {
        live[at] = live[live.length - 1]!;
        live.pop();
        emit('orders', { kind: 'delete', old });
      }
    }
  }
  for (const [table, ops] of open) if (ops.length > 0) batches.push({ table, ops, position: null });
  return batches;
}

const countEvents = (batches: readonly OpBatch[]) => batches.reduce((n, b) => n + b.ops.length, 0);

const pipeline = compileSql(SQL, SOURCES);
const FRESH = pipeline.createExecutor().snapshot();

function runSingle(batches: readonly OpBatch[]): { ms: number; outputs: number } {
  const executor = pipeline.createExecutor();
  let outputs = 0;
  const start = performance.now();
  for (const b of batches) for (const ops of executor.push(b.table, b.ops).values()) outputs += ops.length;
  return { ms: performance.now() - start, outputs };
}

/** One pass over `batches` from fresh state, pushes pipelined `IN_FLIGHT` deep. */
async function runThreaded(
  executor: ThreadedSqlExecutor,
  batches: readonly OpBatch[],
): Promise<{ ms: number; outputs: number }> {
  await executor.restore(FRESH);
  let outputs = 0;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (const b of batches) {
    pending.push(
      executor.push(b.table, b.ops).then((result) => {
        for (const ops of result.values()) outputs += ops.length;
      }),
    );
    // A few pushes queued beyond those in flight, so that no thread waits for the caller.
    if (pending.length > IN_FLIGHT * 2) await pending.shift();
  }
  await Promise.all(pending);
  return { ms: performance.now() - start, outputs };
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const fmt = (v: number) => Math.round(v).toLocaleString('en-US');

/**
 * CPU time of every thread of this process so far, in ms (Linux: /proc/self/task; elsewhere
 * empty). Worker threads, the main thread and V8's helper threads each count.
 */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync('/proc/self/task')) return out;
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const fields = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(t, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** Adds the CPU each thread used between `before` and now to `into`. */
function addCpu(into: Map<string, number>, before: Map<string, number>): void {
  for (const [t, ms] of threadCpu()) into.set(t, (into.get(t) ?? 0) + ms - (before.get(t) ?? 0));
}

const warmup = generate(50_000, 7);
const stream = generate(EVENTS, 42);
const events = countEvents(stream);
process.stderr.write(`generated ${fmt(events)} events in ${stream.length} batches\n`);

const configs: {
  name: string;
  threads: number | null;
  executor: ThreadedSqlExecutor | null;
  ms: number[];
  /** CPU ms per OS thread over the timed runs. */
  cpu: Map<string, number>;
}[] = [{ name: 'single-thread executor (baseline)', threads: null, executor: null, ms: [], cpu: new Map() }];
for (const threads of [1, 2]) {
  const executor = await createThreadedExecutor(SQL, SOURCES, {
    threads,
    maxInFlight: IN_FLIGHT,
    channelCapacity: CAPACITY,
  });
  configs.push({
    name: `threaded executor, ${threads} worker thread${threads > 1 ? 's' : ''}`,
    threads,
    executor,
    ms: [],
    cpu: new Map(),
  });
}
try {
  // Warm-up (JIT), uncounted; then rounds in which every configuration runs the stream once, in
  // rotating order, so that a change in the machine's load hits them alike.
  let expected = -1;
  for (const c of configs) {
    if (c.executor === null) runSingle(warmup);
    else await runThreaded(c.executor, warmup);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < configs.length; k++) {
      const c = configs[(round + k) % configs.length]!;
      const before = threadCpu();
      const r = c.executor === null ? runSingle(stream) : await runThreaded(c.executor, stream);
      addCpu(c.cpu, before);
      if (expected === -1) expected = r.outputs;
      if (r.outputs !== expected) {
        throw new Error(`${c.name} gave ${r.outputs} output ops where another run gave ${expected}`);
      }
      c.ms.push(r.ms);
      process.stderr.write(`round ${round + 1}: ${c.name}: ${fmt((events * 1000) / r.ms)} events/s\n`);
    }
  }
} finally {
  for (const c of configs) await c.executor?.close();
}

const rate = (ms: number) => (events * 1000) / ms;
const baseline = rate(median(configs[0]!.ms));
console.log(
  `\nJoin + aggregate (orders ⋈ customers, GROUP BY customer, then GROUP BY region): ${fmt(events)} events, batches of ${fmt(BATCH)}, ${IN_FLIGHT} pushes in flight, median of ${ROUNDS} interleaved rounds after a warm-up\n`,
);
// CPU columns (Linux): all threads of the process together, and the busiest one, per run. The
// busiest thread bounds the throughput when every thread has a core of its own.
const header = ['run', 'events/s', 'vs baseline', 'CPU s/run', 'busiest thread', 'micro-nodes@thread'];
const cells = configs.map((c) => {
  const r = rate(median(c.ms));
  const layout =
    c.executor === null
      ? 'everything inline'
      : c.executor.microNodes.map((m) => `${m.id}@${m.thread}`).join(', ');
  const cpu = [...c.cpu.values()];
  const total = cpu.reduce((a, b) => a + b, 0) / ROUNDS / 1000;
  const busiest = Math.max(0, ...cpu) / ROUNDS / 1000;
  return [
    c.name,
    fmt(r),
    `${(r / baseline).toFixed(2)}×`,
    cpu.length === 0 ? '—' : total.toFixed(2),
    cpu.length === 0 ? '—' : `${busiest.toFixed(2)} s`,
    layout,
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
const line = (c: string[]) =>
  c.map((x, i) => (i >= 1 && i <= 4 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ');
console.log(line(header));
for (const c of cells) console.log(line(c));
// Paired per round: the two runs of a round saw about the same machine.
const paired = median(configs[1]!.ms.map((one, i) => one / configs[2]!.ms[i]!));
console.log(
  `\n2 threads vs 1 thread: ${paired.toFixed(2)}× (median of the per-round ratios) ${paired >= 1 ? '— not slower' : '— SLOWER than 1 thread'}`,
);
const busiest = (c: (typeof configs)[number]) => Math.max(0, ...c.cpu.values());
if (busiest(configs[2]!) > 0) {
  console.log(
    `busiest thread, 1 vs 2 worker threads: ${(busiest(configs[1]!) / busiest(configs[2]!)).toFixed(2)}× less CPU on the busiest of 2 (the speed-up with a free core per thread)`,
  );
}
