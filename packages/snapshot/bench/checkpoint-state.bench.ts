// pnpm bench checkpoint-state (also run at the end of `pnpm bench checkpoint`)
// In one run, for each state size (DOZER_BENCH_CHECKPOINT_KEYS, default
// "1000000,10000000"): checkpoint duration and bytes written when 1% of the
// keys changed, beside a full snapshot of the same state (the baseline);
// then recovery: loading the latest checkpoint (read + verify every object)
// and restoring the keyed state from it; then a background compaction of the
// restored chain (its duration and the longest event-loop stall it caused).
// Prints figures only.
//
// State: string keys ("acc-0000123"), float64 values (a group accumulator),
// in a KeyedState over a local-directory object store (fsync'ed writes).
// Throughput with checkpoints every second vs off, and recovery of a killed
// `dozer run`, are measured by the cli package's `pnpm bench checkpoint`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { createLocalObjectStore } from '@dozer/core';
import { createCheckpointStore, createKeyedState, type KeyedState, type StateCodec } from '../src/index.js';

const sizes = (process.env.DOZER_BENCH_CHECKPOINT_KEYS ?? '1000000,10000000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isSafeInteger(n) && n > 0);
const ROUNDS = 3;
const CHANGED = 0.01;

// 10M keys need more than Node's default heap: run again with a larger one.
const HEAP_MB = 16_384;
if (Math.max(...sizes) > 2_000_000 && getHeapStatistics().heap_size_limit < (HEAP_MB / 2) * 2 ** 20) {
  const r = spawnSync(
    process.execPath,
    [`--max-old-space-size=${HEAP_MB}`, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(r.status ?? 1);
}

const float64: StateCodec<number> = {
  encode(v) {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(v, 0);
    return b;
  },
  decode: (b) => Buffer.from(b.buffer, b.byteOffset, 8).readDoubleLE(0),
};

const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const MiB = 2 ** 20;
const key = (i: number) => `acc-${String(i).padStart(8, '0')}`;

console.log(
  `@dozer/snapshot checkpoint benchmark: ${sizes.map((n) => fmt(n)).join(' and ')} keys, ${CHANGED * 100}% changed per checkpoint`,
);
console.log(
  `${cpus().length} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, heap limit ${fmt(getHeapStatistics().heap_size_limit / MiB)} MiB\n`,
);

const dir = mkdtempSync(join(tmpdir(), 'dozer-snapshot-bench-'));
try {
  for (const n of sizes) {
    const cs = createCheckpointStore({ store: createLocalObjectStore(join(dir, String(n))), prefix: 'ck' });
    let state: KeyedState<number> | undefined = createKeyedState({ codec: float64 });
    for (let i = 0; i < n; i++) state.put(key(i), i);
    let epoch = 0n;

    /** Snapshot (encode at the barrier) + write (checksum, put) + manifest. */
    const checkpoint = async (s: KeyedState<number>, base: boolean) => {
      epoch++;
      const t0 = process.hrtime.bigint();
      const snap = s.snapshot(epoch, { base });
      const encodeS = secs(t0);
      const chain = await snap.write(cs, 'acc');
      await cs.commit({
        epoch,
        createdAt: new Date(),
        storeEpoch: epoch,
        sources: new Map([['gen', String(epoch)]]),
        operators: new Map([['acc', chain]]),
      });
      return { kind: snap.kind, bytes: snap.bytes, records: snap.records, encodeS, totalS: secs(t0) };
    };
    const changeSome = (s: KeyedState<number>, round: number) => {
      const count = Math.round(n * CHANGED);
      // Spread over the key space: a stride coprime with n.
      for (let j = 0; j < count; j++) s.put(key((j * 7_919 + round * 104_729) % n), round + j);
    };

    console.log(`${fmt(n)} keys:`);
    const first = await checkpoint(state, true);
    const fulls: Awaited<ReturnType<typeof checkpoint>>[] = [first];
    const incs: Awaited<ReturnType<typeof checkpoint>>[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      changeSome(state, r);
      // Same state, same run: an incremental checkpoint, then a full one as the baseline,
      // alternating which goes first.
      if (r % 2 === 1) {
        incs.push(await checkpoint(state, false));
        fulls.push(await checkpoint(state, true));
      } else {
        fulls.push(await checkpoint(state, true));
        changeSome(state, r + 100);
        incs.push(await checkpoint(state, false));
      }
    }
    const best = <T extends { totalS: number }>(xs: T[]): T =>
      xs.reduce((a, b) => (b.totalS < a.totalS ? b : a));
    const full = best(fulls);
    const inc = best(incs);
    if (incs.some((x) => x.kind !== 'delta'))
      throw new Error(`expected deltas, got ${incs.map((x) => x.kind)}`);
    const row = (what: string, x: typeof full) =>
      console.log(
        `  ${what.padEnd(34)} ${fmt(x.totalS * 1000).padStart(7)} ms (encode ${fmt(x.encodeS * 1000).padStart(6)} ms) ${fmt(x.bytes / MiB, 2).padStart(9)} MiB  ${fmt(x.records).padStart(11)} records`,
      );
    row('full snapshot (baseline, best of 4)', full);
    row(`incremental, ${CHANGED * 100}% changed (best of ${ROUNDS})`, inc);
    console.log(
      `  incremental / full: ${(inc.totalS / full.totalS).toFixed(3)}× time, ${(inc.bytes / full.bytes).toFixed(3)}× bytes`,
    );

    // Recovery from a chain of a base and deltas, as between compactions.
    for (let r = 0; r < 3; r++) {
      changeSome(state, 200 + r);
      await checkpoint(state, false);
    }
    // Drop the live state first, so that memory holds one copy.
    state = undefined;
    const t0 = process.hrtime.bigint();
    const loaded = (await cs.loadLatest())!;
    const loadS = secs(t0);
    const restored = createKeyedState({ codec: float64 });
    const t1 = process.hrtime.bigint();
    restored.restore(loaded.state('acc'));
    const restoreS = secs(t1);
    const chain = loaded.state('acc').refs;
    if (restored.size !== n) throw new Error(`restored ${restored.size} keys, expected ${n}`);
    console.log(
      `  recovery: load + verify ${fmt(loadS * 1000)} ms, restore ${fmt(restoreS * 1000)} ms, total ${fmt((loadS + restoreS) * 1000)} ms ` +
        `(chain of ${chain.length} objects, ${fmt(chain.reduce((a, r) => a + r.bytes, 0) / MiB, 1)} MiB)` +
        (n === 1_000_000 ? `; target < 5000 ms: ${loadS + restoreS < 5 ? 'met' : 'NOT met'}` : ''),
    );
    // Background compaction of that chain (compaction: 'background'): read back, merged from the
    // stored bytes while the event loop keeps turning; the next checkpoint writes the new base.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const t2 = process.hrtime.bigint();
    await restored.compact(cs, 'acc');
    const compactS = secs(t2);
    loop.disable();
    epoch++;
    const t3 = process.hrtime.bigint();
    const next = restored.snapshot(epoch);
    const nextChain = await next.write(cs, 'acc');
    const nextS = secs(t3);
    console.log(
      `  background compaction of that chain: ${fmt(compactS * 1000)} ms, longest event-loop stall ${fmt(loop.max / 1e6)} ms; ` +
        `next checkpoint writes base + delta in ${fmt(nextS * 1000)} ms (chain of ${nextChain.length})`,
    );
    console.log('');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
