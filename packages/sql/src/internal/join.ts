import type { Operation, Row, Value } from '@dozer/core';
import { compileExpr } from './compile-expr.js';
import type { Evaluator, Expr } from './expr.js';
import { keyOf, sameValue, valueKey } from './keys.js';
import type { JoinType } from './logical-plan.js';
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

/** One row held by a join side, with how many rows of the other side it currently matches. */
interface Entry {
  readonly row: Row;
  matches: number;
}

/**
 * The rows of one join key on one side (a bag: equal rows are separate
 * entries), in arrival order; when the side's input has a primary key,
 * also indexed by it, so that retracting a row does not scan the bucket.
 */
type Bucket =
  | { readonly entries: Entry[]; readonly byPk: null }
  | { readonly entries: Set<Entry>; readonly byPk: Map<string, Entry[]> };

function newBucket(indexed: boolean): Bucket {
  return indexed ? { entries: new Set(), byPk: new Map() } : { entries: [], byPk: null };
}

function bucketSize(b: Bucket): number {
  return b.byPk === null ? b.entries.length : b.entries.size;
}

/** A join side's state: join key → its bucket. */
type Side = StateStore<string, Bucket>;

/** Key of the NULL join key: such rows never match, but outer joins still pad them. */
const NO_MATCH = '\u0002';

/**
 * Hash join of two inputs on equality keys, with a residual condition
 * over the joined row. Each side keeps its rows by join key and, per row,
 * the number of matches on the other side, so an outer join knows when a
 * row's NULL-padded result must appear (no match left) or be retracted
 * (its first match arrived).
 */
export class HashJoinOperator implements Snapshottable {
  /** Per side, join key → bucket; each bucket encoded as its `[row, matches]` entries in order. */
  private readonly sides: [Side, Side];
  private readonly keyFns: [Evaluator[], Evaluator[]];
  private readonly residual: Evaluator | null;
  private readonly pad: [boolean, boolean];
  private readonly nulls: [Row, Row];
  private readonly scratch: Value[];

  constructor(
    joinType: JoinType,
    leftKeys: readonly Expr[],
    rightKeys: readonly Expr[],
    residual: Expr | null,
    widths: readonly [number, number],
    /** Primary key positions of each input, [] when it has none. */
    private readonly pks: readonly [readonly number[], readonly number[]] = [[], []],
    states: OperatorStates = memoryStates,
  ) {
    const side = (i: 0 | 1, part: string): Side =>
      states<Bucket>(part, {
        encode: (b) => encodeStateValue(bucketEntries(b)),
        decode: (bytes) => this.loadBucket(i, decodeStateValue(bytes) as [Row, number][]),
      });
    this.sides = [side(0, 'left'), side(1, 'right')];
    this.keyFns = [leftKeys.map(compileExpr), rightKeys.map(compileExpr)];
    this.residual = residual === null ? null : compileExpr(residual);
    this.pad = [joinType === 'left' || joinType === 'full', joinType === 'right' || joinType === 'full'];
    this.nulls = [new Array(widths[0]).fill(null), new Array(widths[1]).fill(null)];
    this.scratch = new Array(widths[0] + widths[1]).fill(null);
  }

  private loadBucket(side: 0 | 1, entries: readonly [Row, number][]): Bucket {
    const bucket = newBucket(this.pks[side].length > 0);
    for (const [row, matches] of entries) this.addEntry(side, bucket, { row, matches });
    return bucket;
  }

  private key(side: 0 | 1, row: Row): string {
    const fns = this.keyFns[side];
    if (fns.length === 1) {
      const v = fns[0]!(row);
      return v === null ? NO_MATCH : valueKey(v);
    }
    let k = '';
    for (const f of fns) {
      const v: Value = f(row);
      if (v === null) return NO_MATCH;
      k += `${valueKey(v)}\u0001`;
    }
    return k;
  }

  private joined(side: 0 | 1, row: Row, other: Row): Row {
    const [l, r] = side === 0 ? [row, other] : [other, row];
    const nl = l.length;
    const out: Value[] = new Array(nl + r.length);
    for (let i = 0; i < nl; i++) out[i] = l[i]!;
    for (let i = 0; i < r.length; i++) out[nl + i] = r[i]!;
    return out;
  }

  private padded(side: 0 | 1, row: Row): Row {
    return side === 0 ? [...row, ...this.nulls[1]] : [...this.nulls[0], ...row];
  }

  /**
   * Whether `row` (of `side`) and `other` satisfy the residual condition,
   * checked on a reused scratch row so that pairs that fail allocate nothing.
   */
  private pairMatches(side: 0 | 1, row: Row, other: Row): boolean {
    const residual = this.residual;
    if (residual === null) return true;
    const [l, r] = side === 0 ? [row, other] : [other, row];
    const scratch = this.scratch;
    const nl = l.length;
    for (let i = 0; i < nl; i++) scratch[i] = l[i]!;
    for (let i = 0; i < r.length; i++) scratch[nl + i] = r[i]!;
    return residual(scratch) === true;
  }

  /** Applies the ops of input `side` (0 = left, 1 = right); returns the join's output ops. */
  apply(side: 0 | 1, ops: readonly Operation[]): Operation[] {
    const out: Operation[] = [];
    for (const op of ops) {
      if (op.kind === 'insert') this.insert(side, op.new, out);
      else if (op.kind === 'delete') this.remove(side, op.old, out);
      else {
        this.remove(side, op.old, out);
        this.insert(side, op.new, out);
      }
    }
    return out;
  }

  private insert(side: 0 | 1, row: Row, out: Operation[]): void {
    const o = (1 - side) as 0 | 1;
    const key = this.key(side, row);
    const entry: Entry = { row, matches: 0 };
    if (key !== NO_MATCH) {
      const others = this.sides[o].get(key);
      if (others !== undefined) {
        for (const e of others.entries) {
          if (!this.pairMatches(side, row, e.row)) continue;
          const j = this.joined(side, row, e.row);
          if (e.matches === 0 && this.pad[o]) out.push({ kind: 'delete', old: this.padded(o, e.row) });
          e.matches++;
          entry.matches++;
          out.push({ kind: 'insert', new: j });
        }
        // Their match counts changed in place.
        if (entry.matches > 0) this.sides[o].touch(key);
      }
    }
    if (entry.matches === 0 && this.pad[side]) out.push({ kind: 'insert', new: this.padded(side, row) });
    const mine = this.sides[side].get(key);
    if (mine === undefined) {
      const bucket = newBucket(this.pks[side].length > 0);
      this.addEntry(side, bucket, entry);
      this.sides[side].put(key, bucket);
    } else {
      this.addEntry(side, mine, entry);
      this.sides[side].touch(key);
    }
  }

  private addEntry(side: 0 | 1, bucket: Bucket, entry: Entry): void {
    if (bucket.byPk === null) bucket.entries.push(entry);
    else {
      bucket.entries.add(entry);
      const pk = keyOf(entry.row, this.pks[side]);
      const list = bucket.byPk.get(pk);
      if (list === undefined) bucket.byPk.set(pk, [entry]);
      else list.push(entry);
    }
  }

  /** Takes one entry equal to `row` out of the bucket; undefined when there is none. */
  private takeEntry(side: 0 | 1, bucket: Bucket, row: Row): Entry | undefined {
    if (bucket.byPk === null) {
      const at = bucket.entries.findIndex((e) => rowsSame(e.row, row));
      return at < 0 ? undefined : bucket.entries.splice(at, 1)[0];
    }
    const pk = keyOf(row, this.pks[side]);
    const list = bucket.byPk.get(pk);
    const at = list === undefined ? -1 : list.findIndex((e) => rowsSame(e.row, row));
    if (list === undefined || at < 0) return undefined;
    const e = list[at]!;
    list.splice(at, 1);
    if (list.length === 0) bucket.byPk.delete(pk);
    bucket.entries.delete(e);
    return e;
  }

  private remove(side: 0 | 1, row: Row, out: Operation[]): void {
    const o = (1 - side) as 0 | 1;
    const key = this.key(side, row);
    const mine = this.sides[side].get(key);
    const entry = mine === undefined ? undefined : this.takeEntry(side, mine, row);
    if (mine === undefined || entry === undefined) return; // Deleting a row never inserted: nothing to retract.
    if (bucketSize(mine) === 0) this.sides[side].delete(key);
    else this.sides[side].touch(key);
    if (key !== NO_MATCH) {
      const others = this.sides[o].get(key);
      if (others !== undefined) {
        let changed = false;
        for (const e of others.entries) {
          if (!this.pairMatches(side, entry.row, e.row)) continue;
          const j = this.joined(side, entry.row, e.row);
          out.push({ kind: 'delete', old: j });
          e.matches--;
          changed = true;
          if (e.matches === 0 && this.pad[o]) out.push({ kind: 'insert', new: this.padded(o, e.row) });
        }
        if (changed) this.sides[o].touch(key);
      }
    }
    if (entry.matches === 0 && this.pad[side])
      out.push({ kind: 'delete', old: this.padded(side, entry.row) });
  }

  snapshot(): Uint8Array {
    return encodeState(this.sides.map((s) => [...s.entries()].map(([k, b]) => [k, bucketEntries(b)])));
  }

  restore(bytes: Uint8Array): void {
    const state = decodeState(bytes) as [string, [Row, number][]][][];
    state.forEach((entries, i) => {
      const side = this.sides[i]!;
      side.clear();
      for (const [k, es] of entries) side.put(k, this.loadBucket(i as 0 | 1, es));
    });
  }
}

/** A bucket's rows and match counts, in arrival order (what snapshots hold). */
function bucketEntries(b: Bucket): [Row, number][] {
  const out: [Row, number][] = [];
  for (const e of b.entries) out.push([e.row, e.matches]);
  return out;
}

/** Equality of two rows as stored (same canonical values). */
function rowsSame(a: Row, b: Row): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && !sameValue(x, y)) return false;
  }
  return true;
}
