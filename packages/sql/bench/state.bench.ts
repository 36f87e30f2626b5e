// pnpm bench state: a GROUP BY over STATE_GROUPS groups (default 1,000,000) checkpointed two ways in one
// run: the executor's full snapshot() (the baseline: every group, every time) and an incremental
// checkpoint through ExecutorOptions.stateFactory (only the groups changed since the last one), after
// STATE_CHANGED (default 1%) of the groups changed. Then the restore of each.
//
// @dozer/sql may not import @dozer/snapshot, so the dirty-tracking store here is a small one with
// KeyedState's contract (put / delete / touch mark a key; a checkpoint encodes the marked keys with
// the operators' codecs) writing KeyedState's record layout (u8 op, u32 key length, key, u32 value
// length, value); a KeyedState object adds a 32-byte header and a 32-byte SHA-256 to that.
import { makeSchema, type Operation, type Row } from '@dozer/core';
import { compileSql } from '../src/index.js';
import { DirtyTrackingStore, trackingStateFactory } from '../test/support/tracking-store.js';

const GROUPS = Number(process.env.STATE_GROUPS ?? 1_000_000);
const CHANGED = Number(process.env.STATE_CHANGED ?? 0.01);
const ROUNDS = Number(process.env.STATE_ROUNDS ?? 3);
const BATCH = 10_000;

const t = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'g', type: 'int', nullable: false },
    { name: 'v', type: 'int', nullable: false },
  ],
  ['id'],
);
const SQL = 'SELECT g, COUNT(*) AS n, SUM(v) AS total, AVG(v) AS average FROM t GROUP BY g INTO per_group';
const pipeline = compileSql(SQL, new Map([['t', t]]));

/** Growable byte buffer for records. */
class Writer {
  buf = new Uint8Array(1 << 20);
  len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  record(key: string, value: Uint8Array | null): void {
    const k = Buffer.from(key, 'utf8');
    this.ensure(9 + k.length + (value?.length ?? 0));
    const view = new DataView(this.buf.buffer);
    this.buf[this.len] = value === null ? 2 : 1;
    view.setUint32(this.len + 1, k.length, true);
    this.buf.set(k, this.len + 5);
    this.len += 5 + k.length;
    if (value !== null) {
      view.setUint32(this.len, value.length, true);
      this.buf.set(value, this.len + 4);
      this.len += 4 + value.length;
    }
  }
}

/** Dirty-key tracking with checkpoints in KeyedState's record layout. */
class TrackingStore<V> extends DirtyTrackingStore<V> {
  /** Encodes every key (base) or the changed ones (delta); returns the records and their count. */
  checkpoint(base: boolean): { bytes: Uint8Array; records: number } {
    const w = new Writer();
    let n = 0;
    this.takeChanges(base, (k, bytes) => {
      w.record(k, bytes);
      n++;
    });
    return { bytes: w.buf.subarray(0, w.len), records: n };
  }
  /** Applies records written by checkpoint(). */
  apply(bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at < bytes.length) {
      const op = bytes[at]!;
      const kl = view.getUint32(at + 1, true);
      const key = Buffer.from(bytes.buffer, bytes.byteOffset + at + 5, kl).toString('utf8');
      at += 5 + kl;
      if (op === 2) this.map.delete(key);
      else {
        const vl = view.getUint32(at, true);
        this.map.set(key, this.codec.decode(bytes.subarray(at + 4, at + 4 + vl)));
        at += 4 + vl;
      }
    }
  }
}

function trackedExecutor() {
  const { stateFactory, stores } = trackingStateFactory(TrackingStore);
  return { ex: pipeline.createExecutor({ stateFactory }), stores };
}

let seed = 42;
const rand = (n: number) => {
  seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
  return (seed >>> 8) % n;
};

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const fmtMs = (x: number) => `${x.toLocaleString('en-US', { maximumFractionDigits: 0 })} ms`.padStart(10);
const fmtMiB = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MiB`.padStart(11);
const fmtN = (n: number) => n.toLocaleString('en-US').padStart(10);

console.log(`pnpm bench state: ${SQL}`);
console.log(
  `${GROUPS.toLocaleString('en-US')} groups, ${(CHANGED * 100).toFixed(1)}% changed between checkpoints`,
);

const { ex, stores } = trackedExecutor();
const plain = pipeline.createExecutor();
const rows: Row[] = [];
let t0 = process.hrtime.bigint();
for (let start = 0; start < GROUPS; start += BATCH) {
  const ops: Operation[] = [];
  for (let g = start; g < Math.min(GROUPS, start + BATCH); g++) {
    const row: Row = [BigInt(g), BigInt(g), BigInt(rand(1000))];
    rows.push(row);
    ops.push({ kind: 'insert', new: row });
  }
  ex.push('t', ops);
  plain.push('t', ops);
}
console.log(`loaded in ${fmtMs(ms(t0))} (both executors)`);

const groups = stores.get('per_group#0.groups')!;
const all = () => [...stores.values()];

// The first checkpoint of a store is a base: every key.
t0 = process.hrtime.bigint();
const base = all().map((s) => s.checkpoint(true));
const baseMs = ms(t0);
const baseBytes = base.reduce((n, b) => n + b.bytes.length, 0);

/** Updates CHANGED of the groups (distinct ones), on both executors. */
function change(): void {
  const n = Math.round(GROUPS * CHANGED);
  const picked = new Set<number>();
  while (picked.size < n) picked.add(rand(GROUPS));
  const ops: Operation[] = [];
  for (const i of picked) {
    const old = rows[i]!;
    const row: Row = [old[0]!, old[1]!, BigInt(rand(1000))];
    rows[i] = row;
    ops.push({ kind: 'update', old, new: row });
    if (ops.length === BATCH) {
      ex.push('t', ops);
      plain.push('t', ops.splice(0));
    }
  }
  if (ops.length > 0) {
    ex.push('t', ops);
    plain.push('t', ops);
  }
}

let fullBest = Number.POSITIVE_INFINITY;
let fullBytes = 0;
let incBest = Number.POSITIVE_INFINITY;
let incBytes = 0;
let incRecords = 0;
const deltas: Uint8Array[][] = [];
let full: Uint8Array = new Uint8Array();
for (let r = 0; r < ROUNDS; r++) {
  change();
  // Interleaved: each round measures both on the same state.
  t0 = process.hrtime.bigint();
  const delta = all().map((s) => s.checkpoint(false));
  const incMs = ms(t0);
  deltas.push(delta.map((d) => d.bytes));
  incBest = Math.min(incBest, incMs);
  incBytes = delta.reduce((n, d) => n + d.bytes.length, 0);
  incRecords = delta.reduce((n, d) => n + d.records, 0);
  t0 = process.hrtime.bigint();
  full = plain.snapshot();
  fullBest = Math.min(fullBest, ms(t0));
  fullBytes = full.length;
}

console.log('');
console.log(
  `full snapshot() (baseline, best of ${ROUNDS})   ${fmtMs(fullBest)} ${fmtMiB(fullBytes)} ${fmtN(groups.size)} groups`,
);
console.log(
  `incremental, ${(CHANGED * 100).toFixed(1)}% changed (best of ${ROUNDS}) ${fmtMs(incBest)} ${fmtMiB(incBytes)} ${fmtN(incRecords)} records`,
);
console.log(
  `first checkpoint (a base of every key)    ${fmtMs(baseMs)} ${fmtMiB(baseBytes)} ${fmtN(base.reduce((n, b) => n + b.records, 0))} records`,
);
console.log(
  `incremental / full: ${(incBest / fullBest).toFixed(3)}× time, ${(incBytes / fullBytes).toFixed(3)}× bytes`,
);

// Restore: restore(bytes) of the full snapshot vs the stores from base + deltas.
const ids = [...stores.keys()];
t0 = process.hrtime.bigint();
const fromFull = pipeline.createExecutor();
fromFull.restore(full);
const restoreFullMs = ms(t0);
t0 = process.hrtime.bigint();
const fromChain = trackedExecutor();
for (const [i, id] of ids.entries()) {
  const s = fromChain.stores.get(id)!;
  s.apply(base[i]!.bytes);
  for (const d of deltas) s.apply(d[i]!);
}
fromChain.ex.stateRestored();
const restoreChainMs = ms(t0);
console.log(
  `restore: restore(full snapshot) ${fmtMs(restoreFullMs)}; stores from base + ${deltas.length} deltas ${fmtMs(restoreChainMs)}`,
);

// Both restored executors continue like the original: one more change, the same ops.
const probe: Operation[] = [{ kind: 'update', old: rows[0]!, new: [0n, 0n, 5n] }];
const want = JSON.stringify(plain.push('t', probe), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
for (const [name, e] of [
  ['restore(bytes)', fromFull],
  ['base + deltas', fromChain.ex],
] as const) {
  const got = JSON.stringify(e.push('t', probe), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  if (got !== want) throw new Error(`the executor restored from ${name} diverged: ${got} vs ${want}`);
}
