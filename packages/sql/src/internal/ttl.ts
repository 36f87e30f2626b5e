import { DateValue, type Operation, type Row, type Timestamp } from '@dozer/core';
import { compileExpr } from './compile-expr.js';
import type { Evaluator, Expr } from './expr.js';
import { rowKey } from './keys.js';
import { decodeState, encodeState, MemoryStateStore, type Snapshottable, type StateStore } from './state.js';

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
  private readonly rows: StateStore<string, Held> = new MemoryStateStore();
  /** Min-heap of [time, row key]; entries of rows gone since are skipped when popped. */
  private heap: [bigint, string][] = [];
  private watermark: bigint | null = null;

  constructor(
    time: Expr,
    private readonly ttl: bigint,
  ) {
    this.time = compileExpr(time);
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
    if (held) held.n++;
    else {
      this.rows.put(k, { row, time: t, n: 1 });
      this.push([t, k]);
    }
    if (this.watermark === null || t > this.watermark) this.watermark = t;
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
      if (h[p]![0] <= h[i]![0]) break;
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
        if (l < h.length && h[l]![0] < h[m]![0]) m = l;
        if (r < h.length && h[r]![0] < h[m]![0]) m = r;
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
    this.heap = [];
    this.watermark = s.watermark;
    for (const [row, n] of s.rows) {
      const t = this.timeOf(row)!;
      const k = rowKey(row);
      this.rows.put(k, { row, time: t, n });
      this.push([t, k]);
    }
  }
}
