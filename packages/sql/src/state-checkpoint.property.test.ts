import { Decimal, type Operation, type Row, Timestamp } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changeCommand, T_SCHEMA, TIME_BASE, toBatches, uSchema } from '../test/support/change-stream.js';
import { DirtyTrackingStore, trackingStateFactory } from '../test/support/tracking-store.js';
import { compileSql, type SqlExecutor } from './index.js';

// Incremental checkpoints of operator state: the executor keeps its state in stores that track the
// keys changed since the last checkpoint (as @dozer/snapshot's KeyedState does; that one cannot be
// imported here, see packages/cli/test/sql-keyed-state.e2e.test.ts for the real thing). A checkpoint
// ships a base (every key) the first time, then deltas (the changed keys, encoded with the
// operators' codecs). Restoring "base + deltas" into a fresh executor at any checkpoint and
// continuing must give exactly what the executor that never stopped gave. If an operator changed a
// value in place without marking its key, the restored state is stale and the outputs differ: the
// stream ends by deleting every row, which retracts everything each operator holds.

/** One record of a checkpoint object: a key and its encoded value, or null for a delete. */
type StateRecord = readonly [string, Uint8Array | null];
interface StateObject {
  readonly kind: 'base' | 'delta';
  readonly records: readonly StateRecord[];
}

/** Dirty-key tracking with checkpoints as record lists, and restore from a chain of them. */
class TrackingStore<V> extends DirtyTrackingStore<V> {
  private needsBase = true;
  override clear(): void {
    super.clear();
    this.needsBase = true;
  }
  /** Every key and its value as encoded now (base64), to compare states whatever their order. */
  contents(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of this.map) out.set(k, Buffer.from(this.codec.encode(v)).toString('base64'));
    return out;
  }
  /** Encodes the changes since the last checkpoint (values as they are now), or everything. */
  checkpoint(forceBase: boolean): StateObject {
    const base = forceBase || this.needsBase;
    const records: StateRecord[] = [];
    this.takeChanges(base, (k, bytes) => records.push([k, bytes]));
    this.needsBase = false;
    return { kind: base ? 'base' : 'delta', records };
  }
  /** Replaces the contents with a chain: its last base, then the deltas after it, decoded. */
  restore(chain: readonly StateObject[]): void {
    this.map.clear();
    const from = chain.findLastIndex((o) => o.kind === 'base');
    expect(from).toBeGreaterThanOrEqual(0);
    for (const o of chain.slice(from)) {
      for (const [k, bytes] of o.records) {
        if (bytes === null) this.map.delete(k);
        // A copy inside a larger buffer, as a store reading objects back would hand it over.
        else this.map.set(k, this.codec.decode(embedded(bytes)));
      }
    }
    this.dirty = new Set();
    this.needsBase = false;
  }
}

function embedded(bytes: Uint8Array): Uint8Array {
  const buf = new Uint8Array(bytes.length + 8).fill(0xee);
  buf.set(bytes, 4);
  return buf.subarray(4, 4 + bytes.length);
}

function trackingExecutor(): { ex: SqlExecutor; stores: Map<string, TrackingStore<unknown>> } {
  const { stateFactory, stores } = trackingStateFactory(TrackingStore);
  return { ex: PIPELINE.createExecutor({ stateFactory }), stores };
}

const SOURCES = new Map([
  ['t', T_SCHEMA],
  ['u', uSchema([{ name: 'p', type: 'decimal', nullable: true }])],
]);

// Joins (inner, left, full with a residual, self), GROUP BY with SUM / COUNT / MIN / MAX / AVG and
// COUNT DISTINCT, whole-input aggregates, DISTINCT, top-N and ROW_NUMBER, TUMBLE / HOP / TTL windows,
// IN and scalar subqueries, a statement over another's output, and a FROM-less statement.
const SQL = `
  SELECT k, COUNT(*) AS n, SUM(v) AS sv, COUNT(DISTINCT s) AS ds, MIN(v) AS lo, MAX(s) AS hi, AVG(v) AS av FROM t GROUP BY k INTO agg;
  SELECT k, SUM(p) AS sp, AVG(p) AS ap, MIN(p) AS lp, COUNT(w) AS nw FROM u GROUP BY k INTO dec;
  SELECT COUNT(*) AS n, SUM(v) AS sv, MAX(ts) AS latest FROM t INTO whole;
  SELECT DISTINCT k, s FROM t INTO dist;
  SELECT t.id, u.id AS uid, u.p FROM t JOIN u ON t.k = u.k INTO ij;
  SELECT t.id, u.id AS uid FROM t LEFT JOIN u ON t.v = u.w INTO lj;
  SELECT t.id, u.id AS uid, u.w FROM t FULL JOIN u ON t.k = u.k AND u.w > t.v INTO fj;
  SELECT a.id, b.id AS bid FROM t a LEFT JOIN t b ON a.k = b.v INTO self;
  SELECT id, v FROM t WHERE v IS NOT NULL ORDER BY v DESC, id LIMIT 3 INTO top;
  SELECT id, k, rn FROM (SELECT id, k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v, id) AS rn FROM t) r WHERE rn <= 2 INTO rn;
  SELECT window_start, k, COUNT(*) AS n, SUM(v) AS sv FROM TUMBLE(t, ts, '2 MINUTES') GROUP BY window_start, k INTO tumble;
  SELECT window_start, COUNT(*) AS n, MAX(v) AS hi FROM HOP(t, ts, '1 MINUTE', '3 MINUTES') GROUP BY window_start INTO hop;
  SELECT k, COUNT(*) AS n, MIN(ts) AS first FROM TTL(t, ts, '2 MINUTES') GROUP BY k INTO recent;
  SELECT id FROM t WHERE k IN (SELECT k FROM u WHERE w > 0) AND v >= (SELECT MIN(w) FROM u) INTO sub;
  SELECT lo, COUNT(*) AS groups, SUM(n) AS rows FROM agg GROUP BY lo INTO chained;
  SELECT k, v, ts FROM t INTO kv;
  SELECT a.k, a.v, u.id FROM kv a JOIN u ON a.k = u.k INTO bag_join;
  SELECT k, COUNT(*) AS n, MAX(v) AS hi FROM TTL(kv, ts, '2 MINUTES') GROUP BY k INTO bag_recent;
  SELECT k, date_trunc('minute', ts) AS minute FROM t INTO km;
  SELECT k, COUNT(*) AS n FROM TTL(km, minute, '3 MINUTES') GROUP BY k INTO minute_recent;
  SELECT 1 AS one INTO constant`;

const PIPELINE = compileSql(SQL, SOURCES);

const decimal = fc.option(
  fc.integer({ min: -20, max: 20 }).map((i) => new Decimal(BigInt(i), 1)),
  { nil: null, freq: 5 },
);
const command = changeCommand({ maxKey: 6, uExtra: [decimal] });

/**
 * Runs `batches` on an executor with tracking stores, taking a checkpoint before batch i for each i
 * of `at` (true: a new base); then, for every checkpoint, restores a fresh executor from the
 * chains and checks its state and every later output against the executor that never stopped.
 */
function checkStream(batches: readonly [string, Operation[]][], at: ReadonlyMap<number, boolean>): void {
  const plain = PIPELINE.createExecutor();
  const { ex: tracked, stores } = trackingExecutor();
  const outputs: Map<string, Operation[]>[] = [];
  const chains = new Map<string, StateObject[]>();
  /** Per checkpoint: where it was taken, how long each store's chain was, and each store's contents. */
  const checkpoints: {
    at: number;
    lengths: Map<string, number>;
    contents: Map<string, Map<string, string>>;
  }[] = [];
  const checkpoint = (i: number) => {
    const lengths = new Map<string, number>();
    const contents = new Map<string, Map<string, string>>();
    for (const [id, store] of stores) {
      const chain = chains.get(id) ?? [];
      chain.push(store.checkpoint(at.get(i) === true));
      chains.set(id, chain);
      lengths.set(id, chain.length);
      contents.set(id, store.contents());
    }
    checkpoints.push({ at: i, lengths, contents });
  };
  batches.forEach(([table, ops], i) => {
    if (at.has(i)) checkpoint(i);
    const out = tracked.push(table, ops);
    // Keeping state in other stores changes nothing of what the executor emits.
    expect(out).toEqual(plain.push(table, ops));
    outputs.push(out);
  });
  if (at.has(batches.length)) checkpoint(batches.length);

  for (const cp of checkpoints) {
    // A restart: a fresh executor, each store restored from its chain, then the rest of the stream.
    const { ex: restored, stores: fresh } = trackingExecutor();
    expect([...fresh.keys()]).toEqual([...stores.keys()]);
    for (const [id, store] of fresh) {
      store.restore(chains.get(id)!.slice(0, cp.lengths.get(id)));
      // Base + deltas hold every key and value the store had at the checkpoint.
      expect(store.contents(), id).toEqual(cp.contents.get(id));
    }
    restored.stateRestored();
    for (let i = cp.at; i < batches.length; i++) {
      const [table, ops] = batches[i]!;
      expect(restored.push(table, ops)).toEqual(outputs[i]);
    }
  }
}

describe('incremental checkpoints of operator state', () => {
  it('restoring base + deltas at any checkpoint and continuing gives exactly the outputs of an executor that never stopped', () => {
    fc.assert(
      fc.property(
        fc.array(command, { maxLength: 80, size: 'max' }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { minLength: 1, maxLength: 8, size: 'max' }),
        (commands, cuts) => {
          const batches = toBatches(commands, { deleteAll: true });
          // Checkpoints before batch i (0 … batches.length), a few forcing a new base (compaction).
          const at = new Map<number, boolean>();
          for (const [c, base] of cuts) at.set(c % (batches.length + 1), base);
          checkStream(batches, at);
        },
      ),
      { numRuns: Number(process.env.CHECKPOINT_RUNS ?? 150) },
    );
  }, 120_000);

  it('ships values changed in place between checkpoints: duplicate rows, match counts, accumulators', () => {
    const at = (minute: number) => new Timestamp(TIME_BASE + BigInt(minute) * 60_000_000n);
    const row = (id: number, k: number, v: number, minute: number): Row => [
      BigInt(id),
      BigInt(k),
      BigInt(v),
      'a',
      at(minute),
    ];
    const ins = (r: Row): Operation => ({ kind: 'insert', new: r });
    const del = (r: Row): Operation => ({ kind: 'delete', old: r });
    // The same (k, minute) twice for TTL(km …), the same k on both join sides, groups revisited, then expiry.
    const batches: [string, Operation[]][] = [
      ['t', [ins(row(1, 1, 1, 0))]],
      ['u', [ins([1n, 1n, 5n, null])]],
      ['t', [ins(row(2, 1, 2, 0))]],
      ['t', [ins(row(3, 1, 3, 1)), del(row(1, 1, 1, 0))]],
      ['u', [ins([2n, 1n, 0n, null])]],
      ['t', [ins(row(4, 2, 1, 9))]],
      ['t', [del(row(2, 1, 2, 0)), del(row(3, 1, 3, 1)), del(row(4, 2, 1, 9))]],
      ['u', [del([1n, 1n, 5n, null]), del([2n, 1n, 0n, null])]],
    ];
    for (let i = 0; i < batches.length; i++) {
      // A checkpoint before every batch, and before every other batch.
      checkStream(batches, new Map(batches.map((_, j) => [j, false])));
      checkStream(batches, new Map([[i, false]]));
      checkStream(
        batches,
        new Map([
          [0, false],
          [i, false],
        ]),
      );
    }
  });

  it('names each piece of state by statement, operator and part, the same for every compilation', () => {
    const ids = trackingExecutor().ex.stateIds;
    expect(ids).toEqual(compileSql(SQL, SOURCES).createExecutor().stateIds);
    expect(ids[0]).toBe('executor');
    expect(ids).toContain('agg#0.groups');
    expect(ids).toContain('ij#0.left');
    expect(ids).toContain('ij#0.right');
    expect(ids).toContain('top#0.partitions');
    expect(ids).toContain('recent#1.rows');
    expect(ids).toContain('recent#1.watermark');
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a checkpoint after a batch that changed one group ships that group alone', () => {
    const { ex, stores } = trackingExecutor();
    const rows = Array.from({ length: 100 }, (_, i): Row => [BigInt(i), BigInt(i), 1n, 'a', null]);
    ex.push(
      't',
      rows.map((r) => ({ kind: 'insert', new: r })),
    );
    const groups = stores.get('agg#0.groups')!;
    expect(groups.checkpoint(false).records).toHaveLength(100);
    ex.push('t', [{ kind: 'update', old: rows[7]!, new: [7n, 7n, 2n, 'a', null] }]);
    const delta = groups.checkpoint(false);
    expect(delta.kind).toBe('delta');
    expect(delta.records.map(([k]) => k)).toEqual(['i7']);
  });
});
