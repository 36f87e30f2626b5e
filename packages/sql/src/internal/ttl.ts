import { DateValue, type Operation, type Row, type Timestamp } from '@dozer/core';
import { compileExpr } from './compile-expr.js';
import type { Evaluator, Expr } from './expr.js';
import { rowKey } from './keys.js';
import {
  decodeState,
  decodeStateValue,
  encodeState,
  encodeStateValue,
  jsonValueCodec,
  memoryStates,
  type OperatorStates,
  type Snapshottable,
  type StateStore,
} from './state.js';

/** A timestamp or date as micros since the epoch. */
export function timeMicros(v: Timestamp | DateValue): bigint {
  return v instanceof DateValue ? BigInt(v.days) * 86_400_000_000n : v.micros;
}

interface Held {
  readonly row: Row;
  readonly time: bigint;
  n: number;
}

/**
 * TTL: the watermark is the newest time seen; rows older than the
 * watermark minus the TTL are retracted downstream, and rows that arrive
 * already that old are dropped. Downstream operators (window aggregates,
 * joins) therefore hold only the recent rows. Rows with a NULL time never
 * expire and pass straight through.
 */
export class TtlOperator implements Snapshottable {
  private readonly time: Evaluator;
  /** Row text → the row and its multiplicity, each encoded as `[row, n]`. */
  private readonly rows: StateStore<string, Held>;
  /** The watermark, under the key `watermark` (kept in a store so that checkpoints carry it). */
  private readonly meta: StateStore<string, bigint | null>;
  /**
   * Min-heap of [time, row key], ordered by time then key, so rows expire
   * in the same order whatever the heap's history; entries of rows gone
   * since are skipped when popped.
   */
  private heap: [bigint, string][] = [];
  private watermark: bigint | null = null;

  constructor(
    time: Expr,
    private readonly ttl: bigint,
    states: OperatorStates = memoryStates,
  ) {
    this.time = compileExpr(time);
    this.rows = states<Held>('rows', {
      encode: (h) => encodeStateValue([h.row, h.n]),
      decode: (bytes) => {
        const [row, n] = decodeStateValue(bytes) as [Row, number];
        return { row, time: this.timeOf(row)!, n };
      },
    });
    this.meta = states('watermark', jsonValueCodec<bigint | null>());
  }

  private advance(t: bigint): void {
    if (this.watermark === null || t > this.watermark) {
      this.watermark = t;
      this.meta.put('watermark', t);
    }
  }

  private timeOf(row: Row): bigint | null {
    const v = this.time(row);
    return v === null ? null : timeMicros(v as Timestamp | DateValue);
  }

  private expired(t: bigint): boolean {
    return this.watermark !== null && t < this.watermark - this.ttl;
  }

  apply(ops: readonly Operation[]): Operation[] {
    const out: Operation[] = [];
    for (const op of ops) {
      if (op.kind === 'insert') this.insert(op.new, out);
      else if (op.kind === 'delete') this.remove(op.old, out);
      else {
        const t0 = this.timeOf(op.old);
        const t1 = this.timeOf(op.new);
        const keepOld = t0 === null || this.rows.get(rowKey(op.old)) !== undefined;
        const keepNew = t1 === null || !this.expired(t1);
        if (keepOld && keepNew) {
          this.remove(op.old, []);
          this.insert(op.new, []);
          out.push(op);
        } else {
          this.remove(op.old, out);
          this.insert(op.new, out);
        }
      }
    }
    this.expire(out);
    return out;
  }

  private insert(row: Row, out: Operation[]): void {
    const t = this.timeOf(row);
    if (t === null) {
      out.push({ kind: 'insert', new: row });
      return;
    }
    if (this.expired(t)) return;
    const k = rowKey(row);
    const held = this.rows.get(k);
    if (held) {
      held.n++;
      this.rows.touch(k);
    } else {
      this.rows.put(k, { row, time: t, n: 1 });
      this.push([t, k]);
    }
    this.advance(t);
    out.push({ kind: 'insert', new: row });
  }

  private remove(row: Row, out: Operation[]): void {
    if (this.timeOf(row) === null) {
      out.push({ kind: 'delete', old: row });
      return;
    }
    const k = rowKey(row);
    const held = this.rows.get(k);
    if (held === undefined) return; // Expired or dropped as late: already retracted.
    if (--held.n === 0) this.rows.delete(k);
    else this.rows.touch(k);
    out.push({ kind: 'delete', old: held.row });
  }

  private expire(out: Operation[]): void {
    while (this.heap.length > 0 && this.expired(this.heap[0]![0])) {
      const [t, k] = this.pop();
      const held = this.rows.get(k);
      if (held === undefined || held.time !== t) continue;
      this.rows.delete(k);
      for (let i = 0; i < held.n; i++) out.push({ kind: 'delete', old: held.row });
    }
  }

  private push(e: [bigint, string]): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): [bigint, string] {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }

  snapshot(): Uint8Array {
    return encodeState({
      watermark: this.watermark,
      rows: [...this.rows.entries()].map(([, h]) => [h.row, h.n]),
    });
  }

  restore(bytes: Uint8Array): void {
    const s = decodeState(bytes) as { watermark: bigint | null; rows: [Row, number][] };
    this.rows.clear();
    this.meta.clear();
    if (s.watermark !== null) this.meta.put('watermark', s.watermark);
    for (const [row, n] of s.rows) this.rows.put(rowKey(row), { row, time: this.timeOf(row)!, n });
    this.reload();
  }

  reload(): void {
    this.watermark = this.meta.get('watermark') ?? null;
    this.heap = [];
    for (const [k, held] of this.rows.entries()) this.push([held.time, k]);
  }
}

/** Heap order: by time, then by row key. */
function before(a: [bigint, string], b: [bigint, string]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}
