import { compareValues, type FieldType, type Operation, type Row, type Value } from '@dozer/core';
import { compileExpr } from './compile-expr.js';
import type { Evaluator, Expr } from './expr.js';
import { keyOfValues, rowKey } from './keys.js';
import type { SortKey } from './logical-plan.js';
import { decodeState, encodeState, MemoryStateStore, type Snapshottable, type StateStore } from './state.js';

interface Item {
  readonly row: Row;
  readonly sort: Value[];
  /** Tie breaker: equal sort keys order by the row's canonical text, so the order is deterministic. */
  readonly rk: string;
}

/**
 * Top-N per partition (`ORDER BY … LIMIT n`, and `ROW_NUMBER() OVER
 * (PARTITION BY … ORDER BY …)`): each partition keeps all its rows sorted,
 * and after a batch the visible prefix of every touched partition is
 * compared with what was visible before. With row numbers the output is
 * positional (row k's number is k), so a row entering the top shifts the
 * ones below it: those become updates.
 */
export class TopNOperator implements Snapshottable {
  private readonly partFns: Evaluator[];
  private readonly sortFns: Evaluator[];
  private readonly types: FieldType[];
  private readonly desc: boolean[];
  private readonly nullsFirst: boolean[];
  private readonly parts: StateStore<string, Item[]> = new MemoryStateStore();

  constructor(
    partition: readonly Expr[],
    order: readonly SortKey[],
    private readonly limit: number,
    private readonly rowNumber: boolean,
  ) {
    this.partFns = partition.map(compileExpr);
    this.sortFns = order.map((k) => compileExpr(k.expr));
    this.types = order.map((k) => (k.expr.type === 'null' ? 'string' : k.expr.type));
    this.desc = order.map((k) => k.desc);
    this.nullsFirst = order.map((k) => k.nullsFirst);
  }

  private compare(a: Item, b: Item): number {
    for (let i = 0; i < this.types.length; i++) {
      const x = a.sort[i]!;
      const y = b.sort[i]!;
      if (x === null || y === null) {
        if (x === y) continue;
        return (x === null) === this.nullsFirst[i] ? -1 : 1;
      }
      const c = compareValues(this.types[i]!, x, y);
      if (c !== 0) return this.desc[i] ? -c : c;
    }
    return a.rk < b.rk ? -1 : a.rk > b.rk ? 1 : 0;
  }

  private item(row: Row): Item {
    return { row, sort: this.sortFns.map((f) => f(row)), rk: rowKey(row) };
  }

  /** Index of the first item not less than `it`. */
  private lowerBound(items: readonly Item[], it: Item): number {
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.compare(items[mid]!, it) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  apply(ops: readonly Operation[]): Operation[] {
    const before = new Map<string, Row[]>();
    const touch = (row: Row): [string, Item[]] => {
      const pk = keyOfValues(this.partFns.map((f) => f(row)));
      let items = this.parts.get(pk);
      if (items === undefined) {
        items = [];
        this.parts.put(pk, items);
      }
      if (!before.has(pk)) before.set(pk, this.visible(items));
      return [pk, items];
    };
    const insert = (row: Row): void => {
      const [, items] = touch(row);
      const it = this.item(row);
      items.splice(this.lowerBound(items, it), 0, it);
    };
    const remove = (row: Row): void => {
      const [pk, items] = touch(row);
      const it = this.item(row);
      const at = this.lowerBound(items, it);
      if (at < items.length && this.compare(items[at]!, it) === 0) items.splice(at, 1);
      if (items.length === 0) this.parts.delete(pk);
    };
    for (const op of ops) {
      if (op.kind === 'insert') insert(op.new);
      else if (op.kind === 'delete') remove(op.old);
      else {
        remove(op.old);
        insert(op.new);
      }
    }
    const out: Operation[] = [];
    for (const [pk, old] of before) {
      const now = this.visible(this.parts.get(pk) ?? []);
      if (this.rowNumber) this.diffPositional(old, now, out);
      else this.diffSet(old, now, out);
    }
    return out;
  }

  private visible(items: readonly Item[]): Row[] {
    const n = Math.min(items.length, this.limit);
    const rows: Row[] = new Array(n);
    for (let i = 0; i < n; i++) rows[i] = items[i]!.row;
    return rows;
  }

  private diffPositional(old: readonly Row[], now: readonly Row[], out: Operation[]): void {
    const n = Math.max(old.length, now.length);
    for (let i = 0; i < n; i++) {
      const a = old[i];
      const b = now[i];
      const rn = BigInt(i + 1);
      if (a !== undefined && b !== undefined) {
        if (a === b || rowKey(a) === rowKey(b)) continue;
        out.push({ kind: 'update', old: [...a, rn], new: [...b, rn] });
      } else if (b !== undefined) out.push({ kind: 'insert', new: [...b, rn] });
      else if (a !== undefined) out.push({ kind: 'delete', old: [...a, rn] });
    }
  }

  private diffSet(old: readonly Row[], now: readonly Row[], out: Operation[]): void {
    const counts = new Map<string, [Row, number]>();
    for (const r of old) {
      const k = rowKey(r);
      const e = counts.get(k);
      if (e) e[1]--;
      else counts.set(k, [r, -1]);
    }
    for (const r of now) {
      const k = rowKey(r);
      const e = counts.get(k);
      if (e) e[1]++;
      else counts.set(k, [r, 1]);
    }
    for (const [r, n] of counts.values()) {
      for (let i = 0; i < -n; i++) out.push({ kind: 'delete', old: r });
      for (let i = 0; i < n; i++) out.push({ kind: 'insert', new: r });
    }
  }

  snapshot(): Uint8Array {
    return encodeState([...this.parts.entries()].map(([k, items]) => [k, items.map((i) => i.row)]));
  }

  restore(bytes: Uint8Array): void {
    this.parts.clear();
    for (const [k, rows] of decodeState(bytes) as [string, Row[]][])
      this.parts.put(
        k,
        rows.map((r) => this.item(r)),
      );
  }
}
