import {
  compareValues,
  Decimal,
  type FieldType,
  type Operation,
  type Row,
  rowsEqual,
  type Schema,
  type Value,
} from '@dozer/core';
import { checkRange } from './cast.js';
import { compileExpr } from './compile-expr.js';
import type { Evaluator } from './expr.js';
import { valueKey } from './keys.js';
import type { AggregateCall } from './logical-plan.js';
import type { IncrementalOperator } from './operators.js';
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

/** An aggregate's running state for one group; `add` with sign -1 retracts a value. */
interface Accumulator {
  add(v: Value, sign: number): void;
  result(): Value;
  save(): unknown;
  load(s: unknown): void;
}

class CountAcc implements Accumulator {
  n = 0;
  constructor(private readonly star: boolean) {}
  add(v: Value, sign: number): void {
    if (this.star || v !== null) this.n += sign;
  }
  result(): Value {
    return BigInt(this.n);
  }
  save(): unknown {
    return this.n;
  }
  load(s: unknown): void {
    this.n = s as number;
  }
}

/** A multiset of values: value key → [value, multiplicity]. */
type Bag = Map<string, [Value, number]>;

function bagAdd(bag: Bag, v: Value, sign: number): boolean {
  const k = valueKey(v);
  const e = bag.get(k);
  if (e === undefined) {
    bag.set(k, [v, sign]);
    return true;
  }
  e[1] += sign;
  if (e[1] === 0) {
    bag.delete(k);
    return true;
  }
  return false;
}

class CountDistinctAcc implements Accumulator {
  bag: Bag = new Map();
  add(v: Value, sign: number): void {
    if (v !== null) bagAdd(this.bag, v, sign);
  }
  result(): Value {
    return BigInt(this.bag.size);
  }
  save(): unknown {
    return [...this.bag.values()];
  }
  load(s: unknown): void {
    this.bag = new Map((s as [Value, number][]).map((e) => [valueKey(e[0]), e]));
  }
}

/** SUM and AVG: a running exact sum (bigint, Decimal) or a float sum, and how many non-NULL values. */
class SumAcc implements Accumulator {
  n = 0;
  sum: bigint | Decimal | number;
  constructor(
    private readonly input: FieldType,
    private readonly output: FieldType,
    private readonly avg: boolean,
    private readonly where: string,
  ) {
    this.sum = input === 'float' ? 0 : input === 'decimal' ? new Decimal(0n, 0) : 0n;
  }
  add(v: Value, sign: number): void {
    if (v === null) return;
    this.n += sign;
    if (typeof this.sum === 'bigint') this.sum += sign > 0 ? (v as bigint) : -(v as bigint);
    else if (typeof this.sum === 'number') this.sum += sign > 0 ? (v as number) : -(v as number);
    else this.sum = sign > 0 ? this.sum.add(v as Decimal) : this.sum.sub(v as Decimal);
  }
  result(): Value {
    if (this.n === 0) {
      // Float sums drift under retraction; start over exactly when the group is empty.
      if (typeof this.sum === 'number') this.sum = 0;
      return null;
    }
    const s = this.sum;
    if (!this.avg) {
      if (typeof s === 'bigint') return checkRange(s, this.output as 'int' | 'uint', this.where);
      return s;
    }
    if (typeof s === 'number') return s / this.n;
    const d = typeof s === 'bigint' ? Decimal.fromBigInt(s) : s;
    return d.div(Decimal.fromBigInt(BigInt(this.n)), Math.max(6, d.scale));
  }
  save(): unknown {
    return [this.n, this.sum];
  }
  load(s: unknown): void {
    [this.n, this.sum] = s as [number, bigint | Decimal | number];
  }
  get inputType(): FieldType {
    return this.input;
  }
}

/**
 * MIN / MAX under retraction: a multiset of the group's values and the
 * current extreme. Deleting the extreme's last copy marks it stale; the
 * next result scans the multiset once.
 */
class ExtremeAcc implements Accumulator {
  bag: Bag = new Map();
  cur: Value = null;
  stale = false;
  constructor(
    private readonly type: FieldType,
    private readonly max: boolean,
  ) {}
  private better(a: Value, b: Value): boolean {
    const c = compareValues(this.type, a, b);
    return this.max ? c > 0 : c < 0;
  }
  add(v: Value, sign: number): void {
    if (v === null) return;
    const changed = bagAdd(this.bag, v, sign);
    if (sign > 0) {
      if (!this.stale && (this.cur === null || this.better(v, this.cur))) this.cur = v;
    } else if (changed && this.cur !== null && compareValues(this.type, v, this.cur) === 0) {
      this.stale = true;
    }
  }
  result(): Value {
    if (this.stale) {
      let best: Value = null;
      for (const [v] of this.bag.values()) if (best === null || this.better(v, best)) best = v;
      this.cur = best;
      this.stale = false;
    }
    return this.cur;
  }
  save(): unknown {
    return [...this.bag.values()];
  }
  load(s: unknown): void {
    this.bag = new Map((s as [Value, number][]).map((e) => [valueKey(e[0]), e]));
    this.stale = true;
  }
}

interface Group {
  readonly keyValues: Value[];
  /** Input rows in the group. */
  count: number;
  readonly accs: Accumulator[];
  /** The output row last emitted for the group, or null. */
  out: Row | null;
}

/**
 * GROUP BY (and DISTINCT): per group, the row count and one accumulator per
 * aggregate. Changes are applied to every touched group first; then each
 * touched group's output row is compared with the one last emitted, so a
 * batch emits at most one op per group.
 */
export class AggregateOperator implements IncrementalOperator, Snapshottable {
  private readonly keyFns: Evaluator[];
  private readonly argFns: (Evaluator | null)[];
  /** Group key → group; each value encoded as `[keyValues, count, out, accumulator states]`. */
  private readonly groups: StateStore<string, Group>;
  private readonly nKeys: number;

  constructor(
    keys: readonly import('./expr.js').Expr[],
    private readonly aggs: readonly AggregateCall[],
    private readonly global: boolean,
    private readonly schema: Schema,
    states: OperatorStates = memoryStates,
  ) {
    this.keyFns = keys.map(compileExpr);
    this.argFns = aggs.map((a) => (a.arg === null ? null : compileExpr(a.arg)));
    this.nKeys = keys.length;
    this.groups = states<Group>('groups', {
      encode: (g) => encodeStateValue([g.keyValues, g.count, g.out, g.accs.map((a) => a.save())]),
      decode: (bytes) => {
        const [keyValues, count, out, accs] = decodeStateValue(bytes) as [
          Value[],
          number,
          Row | null,
          unknown[],
        ];
        return this.loadGroup(keyValues, count, out, accs);
      },
    });
  }

  private loadGroup(keyValues: Value[], count: number, out: Row | null, accs: readonly unknown[]): Group {
    const g = this.newGroup(keyValues);
    g.count = count;
    g.out = out;
    for (let i = 0; i < g.accs.length; i++) g.accs[i]!.load(accs[i]);
    return g;
  }

  private newGroup(keyValues: Value[]): Group {
    const accs = this.aggs.map((a, i): Accumulator => {
      const t = this.schema.fields[this.nKeys + i]!.type;
      if (a.fn === 'count' || a.fn === 'count-star') return new CountAcc(a.fn === 'count-star');
      if (a.fn === 'count-distinct') return new CountDistinctAcc();
      if (a.fn === 'sum' || a.fn === 'avg')
        return new SumAcc(a.arg!.type as FieldType, t, a.fn === 'avg', `in ${a.text}`);
      return new ExtremeAcc(t, a.fn === 'max');
    });
    return { keyValues, count: 0, accs, out: null };
  }

  /** The whole-input aggregate's row over no input (COUNT 0, NULL sums). */
  start(): Operation[] {
    if (!this.global) return [];
    const g = this.group('', []);
    const row = this.outputRow(g);
    g.out = row;
    this.groups.touch('');
    return [{ kind: 'insert', new: row }];
  }

  private group(key: string, keyValues: Value[]): Group {
    let g = this.groups.get(key);
    if (g === undefined) {
      g = this.newGroup(keyValues);
      this.groups.put(key, g);
    }
    return g;
  }

  private outputRow(g: Group): Row {
    const row: Value[] = g.keyValues.slice();
    for (const a of g.accs) row.push(a.result());
    return row;
  }

  apply(ops: readonly Operation[]): Operation[] {
    const touched = new Map<string, Group>();
    const nk = this.nKeys;
    const keyFns = this.keyFns;
    const add = (row: Row, sign: number): void => {
      let key = '';
      const keyValues: Value[] = new Array(nk);
      for (let i = 0; i < nk; i++) {
        const v = keyFns[i]!(row);
        keyValues[i] = v;
        key += nk === 1 ? valueKey(v) : `${valueKey(v)}\u0001`;
      }
      let g = touched.get(key);
      if (g === undefined) {
        g = this.group(key, keyValues);
        touched.set(key, g);
      }
      g.count += sign;
      const accs = g.accs;
      for (let i = 0; i < accs.length; i++) {
        const f = this.argFns[i];
        accs[i]!.add(f ? f(row) : null, sign);
      }
    };
    for (const op of ops) {
      if (op.kind === 'insert') add(op.new, 1);
      else if (op.kind === 'delete') add(op.old, -1);
      else {
        add(op.old, -1);
        add(op.new, 1);
      }
    }
    const out: Operation[] = [];
    for (const [key, g] of touched) {
      const alive = g.count > 0 || this.global;
      const row = alive ? this.outputRow(g) : null;
      const old = g.out;
      if (old === null && row !== null) out.push({ kind: 'insert', new: row });
      else if (old !== null && row === null) out.push({ kind: 'delete', old });
      else if (old !== null && row !== null && !rowsEqual(this.schema, old, row))
        out.push({ kind: 'update', old, new: row });
      g.out = row;
      // Every group the batch visited changed in place (count, accumulators, last row).
      if (alive) this.groups.touch(key);
      else this.groups.delete(key);
    }
    return out;
  }

  snapshot(): Uint8Array {
    return encodeState(
      [...this.groups.entries()].map(([k, g]) => [
        k,
        g.keyValues,
        g.count,
        g.out,
        g.accs.map((a) => a.save()),
      ]),
    );
  }

  restore(bytes: Uint8Array): void {
    this.groups.clear();
    for (const [k, keyValues, count, out, accs] of decodeState(bytes) as [
      string,
      Value[],
      number,
      Row | null,
      unknown[],
    ][]) {
      this.groups.put(k, this.loadGroup(keyValues, count, out, accs));
    }
  }
}
