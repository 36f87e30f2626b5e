import {
  compareValues,
  type FieldType,
  type Operation,
  type Row,
  type Timestamp,
  type Value,
} from '@dozer/core';
import { compileExpr } from './compile-expr.js';
import type { Evaluator, Expr } from './expr.js';
import { keyOfValues, rowKey, sameRow, valueKey } from './keys.js';
import type { SortKey } from './logical-plan.js';
import {
  decodeState,
  decodeStateValue,
  encodeState,
  encodeStateValue,
  memoryStates,
  type OperatorStates,
  type Snapshottable,
  type StateStore,
} from './state.js';

/**
 * A partition's rows: the first `limit` in order, sorted, and the rest
 * unsorted (by row text, with multiplicity). Every row of `top` sorts
 * before every row of `rest`, and `top` is full whenever `rest` is not
 * empty, so an insert costs a comparison with the last top row (plus a
 * short splice), and only deleting a top row scans `rest` for its
 * successor.
 */
interface Partition {
  readonly top: Item[];
  /** By the text of the sort values (short, unlike the row's): the rows with those values. */
  /** Created when first needed: most partitions never outgrow their top. */
  rest: Map<string, Item[]> | null;
}

class Item {
  private key: string | undefined;
  constructor(
    readonly row: Row,
    readonly sort: Value[],
  ) {}
  /**
   * The row's canonical text, the tie breaker: equal sort keys order by
   * it, so the order is deterministic. Computed only for rows that tie.
   */
  get rk(): string {
    if (this.key === undefined) this.key = rowKey(this.row);
    return this.key;
  }
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
  private readonly cmps: ((a: Value, b: Value) => number)[];
  private readonly desc: boolean[];
  private readonly nullsFirst: boolean[];
  /** Partition key → partition; each encoded as its rows (the top in order, then the rest). */
  private readonly parts: StateStore<string, Partition>;

  constructor(
    partition: readonly Expr[],
    order: readonly SortKey[],
    private readonly limit: number,
    private readonly rowNumber: boolean,
    states: OperatorStates = memoryStates,
  ) {
    this.parts = states<Partition>('partitions', {
      encode: (p) => encodeStateValue(partitionRows(p)),
      decode: (bytes) => {
        // Inserting the rows again rebuilds the split between top and rest.
        const part: Partition = { top: [], rest: null };
        for (const row of decodeStateValue(bytes) as Row[]) this.insert(part, this.item(row));
        return part;
      },
    });
    this.partFns = partition.map(compileExpr);
    this.sortFns = order.map((k) => compileExpr(k.expr));
    this.types = order.map((k) => (k.expr.type === 'null' ? 'string' : k.expr.type));
    this.cmps = this.types.map(comparator);
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
      const c = this.cmps[i]!(x, y);
      if (c !== 0) return this.desc[i] ? -c : c;
    }
    return a.rk < b.rk ? -1 : a.rk > b.rk ? 1 : 0;
  }

  private item(row: Row): Item {
    const fns = this.sortFns;
    const sort: Value[] = new Array(fns.length);
    for (let i = 0; i < fns.length; i++) sort[i] = fns[i]!(row);
    return new Item(row, sort);
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
    const fns = this.partFns;
    const one = fns.length === 1;
    let pk = '';
    const touch = (row: Row): Partition => {
      pk = '';
      for (const f of fns) pk += one ? valueKey(f(row)) : `${valueKey(f(row))}\u0001`;
      let part = this.parts.get(pk);
      if (part === undefined) {
        part = { top: [], rest: null };
        this.parts.put(pk, part);
      }
      if (!before.has(pk)) before.set(pk, this.visible(part.top));
      return part;
    };
    for (const op of ops) {
      if (op.kind === 'insert') this.insert(touch(op.new), this.item(op.new));
      else if (op.kind === 'delete') {
        const part = touch(op.old); // sets pk
        this.remove(pk, part, this.item(op.old));
      } else {
        const part = touch(op.old); // sets pk
        this.remove(pk, part, this.item(op.old));
        this.insert(touch(op.new), this.item(op.new));
      }
    }
    const out: Operation[] = [];
    for (const [pk, old] of before) {
      const part = this.parts.get(pk);
      // Every partition the batch visited and kept changed in place.
      if (part !== undefined) this.parts.touch(pk);
      const now = this.visible(part?.top ?? []);
      if (this.rowNumber) this.diffPositional(old, now, out);
      else this.diffSet(old, now, out);
    }
    return out;
  }

  private insert(part: Partition, it: Item): void {
    const top = part.top;
    if (top.length < this.limit) {
      top.splice(this.lowerBound(top, it), 0, it);
      return;
    }
    const last = top[top.length - 1];
    if (last !== undefined && this.compare(it, last) < 0) {
      top.splice(this.lowerBound(top, it), 0, it);
      this.addRest(part, top.pop()!);
    } else this.addRest(part, it);
  }

  private addRest(part: Partition, it: Item): void {
    const k = keyOfValues(it.sort);
    if (part.rest === null) part.rest = new Map();
    const list = part.rest.get(k);
    if (list) list.push(it);
    else part.rest.set(k, [it]);
  }

  private remove(pk: string, part: Partition, it: Item): void {
    const k = keyOfValues(it.sort);
    const rest = part.rest;
    const list = rest?.get(k);
    const at = list === undefined ? -1 : list.findIndex((x) => sameRow(x.row, it.row));
    if (list !== undefined && at >= 0) {
      list.splice(at, 1);
      if (list.length === 0) rest!.delete(k);
    } else {
      const top = part.top;
      const i = this.lowerBound(top, it);
      if (i >= top.length || this.compare(top[i]!, it) !== 0) return; // Not there: nothing to retract.
      top.splice(i, 1);
      // Promote the best of the rest.
      let best: Item | undefined;
      for (const l of rest?.values() ?? [])
        for (const x of l) if (best === undefined || this.compare(x, best) < 0) best = x;
      if (best !== undefined) {
        top.push(best);
        const bk = keyOfValues(best.sort);
        const bl = rest!.get(bk)!;
        bl.splice(bl.indexOf(best), 1);
        if (bl.length === 0) rest!.delete(bk);
      }
    }
    if (part.top.length === 0 && (rest?.size ?? 0) === 0) this.parts.delete(pk);
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
        if (sameRow(a, b)) continue;
        out.push({ kind: 'update', old: withNumber(a, rn), new: withNumber(b, rn) });
      } else if (b !== undefined) out.push({ kind: 'insert', new: withNumber(b, rn) });
      else if (a !== undefined) out.push({ kind: 'delete', old: withNumber(a, rn) });
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
    return encodeState([...this.parts.entries()].map(([, p]) => partitionRows(p)));
  }

  restore(bytes: Uint8Array): void {
    this.parts.clear();
    // Replaying the rows rebuilds each partition's split between top and rest.
    for (const rows of decodeState(bytes) as Row[][])
      this.apply(rows.map((r) => ({ kind: 'insert', new: r })));
  }
}

/** A partition's rows: its top in order, then the rest. */
function partitionRows(p: Partition): Row[] {
  const rows = p.top.map((i) => i.row);
  if (p.rest !== null) for (const l of p.rest.values()) for (const i of l) rows.push(i.row);
  return rows;
}

/** The order of two non-NULL values of a type: bigints and timestamps directly, the rest by `compareValues`. */
function comparator(type: FieldType): (a: Value, b: Value) => number {
  if (type === 'int' || type === 'uint') return (a, b) => (a! < b! ? -1 : a! > b! ? 1 : 0);
  if (type === 'timestamp') {
    return (a, b) => {
      const x = (a as Timestamp).micros;
      const y = (b as Timestamp).micros;
      return x < y ? -1 : x > y ? 1 : 0;
    };
  }
  return (a, b) => compareValues(type, a, b);
}

/** `row` with its row number appended. */
function withNumber(row: Row, rn: bigint): Row {
  const n = row.length;
  const out: Value[] = new Array(n + 1);
  for (let i = 0; i < n; i++) out[i] = row[i]!;
  out[n] = rn;
  return out;
}
