import type { Operation, Row, Value } from '@dozer/core';
import { compileExpr } from './compile-expr.js';
import type { Evaluator, Expr } from './expr.js';
import { rowKey, valueKey } from './keys.js';
import type { JoinType } from './logical-plan.js';
import { decodeState, encodeState, MemoryStateStore, type Snapshottable, type StateStore } from './state.js';

/** A distinct row held by a join side: its copies, and how many rows of the other side each copy matches. */
interface Entry {
  readonly row: Row;
  matches: number;
  n: number;
}

/** A join side's state: join key → the rows with that key, by row text (equal rows share an entry). */
type Side = StateStore<string, Map<string, Entry>>;

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
  private readonly sides: [Side, Side] = [new MemoryStateStore(), new MemoryStateStore()];
  private readonly keyFns: [Evaluator[], Evaluator[]];
  private readonly residual: Evaluator | null;
  private readonly pad: [boolean, boolean];
  private readonly nulls: [Row, Row];

  constructor(
    joinType: JoinType,
    leftKeys: readonly Expr[],
    rightKeys: readonly Expr[],
    residual: Expr | null,
    widths: readonly [number, number],
  ) {
    this.keyFns = [leftKeys.map(compileExpr), rightKeys.map(compileExpr)];
    this.residual = residual === null ? null : compileExpr(residual);
    this.pad = [joinType === 'left' || joinType === 'full', joinType === 'right' || joinType === 'full'];
    this.nulls = [new Array(widths[0]).fill(null), new Array(widths[1]).fill(null)];
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
    return side === 0 ? [...row, ...other] : [...other, ...row];
  }

  private padded(side: 0 | 1, row: Row): Row {
    return side === 0 ? [...row, ...this.nulls[1]] : [...this.nulls[0], ...row];
  }

  private matches(joined: Row): boolean {
    return this.residual === null || this.residual(joined) === true;
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
    let matches = 0;
    if (key !== NO_MATCH) {
      const others = this.sides[o].get(key);
      if (others !== undefined) {
        for (const e of others.values()) {
          const j = this.joined(side, row, e.row);
          if (!this.matches(j)) continue;
          if (e.matches === 0 && this.pad[o]) repeat(out, 'delete', this.padded(o, e.row), e.n);
          e.matches++;
          matches += e.n;
          repeat(out, 'insert', j, e.n);
        }
      }
    }
    if (matches === 0 && this.pad[side]) out.push({ kind: 'insert', new: this.padded(side, row) });
    const rk = rowKey(row);
    let mine = this.sides[side].get(key);
    if (mine === undefined) {
      mine = new Map();
      this.sides[side].put(key, mine);
    }
    const entry = mine.get(rk);
    if (entry === undefined) mine.set(rk, { row, matches, n: 1 });
    else entry.n++;
  }

  private remove(side: 0 | 1, row: Row, out: Operation[]): void {
    const o = (1 - side) as 0 | 1;
    const key = this.key(side, row);
    const mine = this.sides[side].get(key);
    const rk = rowKey(row);
    const entry = mine?.get(rk);
    if (mine === undefined || entry === undefined) return; // Deleting a row never inserted: nothing to retract.
    if (--entry.n === 0) {
      mine.delete(rk);
      if (mine.size === 0) this.sides[side].delete(key);
    }
    if (key !== NO_MATCH) {
      const others = this.sides[o].get(key);
      if (others !== undefined) {
        for (const e of others.values()) {
          const j = this.joined(side, entry.row, e.row);
          if (!this.matches(j)) continue;
          repeat(out, 'delete', j, e.n);
          e.matches--;
          if (e.matches === 0 && this.pad[o]) repeat(out, 'insert', this.padded(o, e.row), e.n);
        }
      }
    }
    if (entry.matches === 0 && this.pad[side])
      out.push({ kind: 'delete', old: this.padded(side, entry.row) });
  }

  snapshot(): Uint8Array {
    return encodeState(
      this.sides.map((s) =>
        [...s.entries()].map(([k, es]) => [k, [...es.values()].map((e) => [e.row, e.matches, e.n])]),
      ),
    );
  }

  restore(bytes: Uint8Array): void {
    const state = decodeState(bytes) as [string, [Row, number, number][]][][];
    state.forEach((entries, i) => {
      const side = this.sides[i]!;
      side.clear();
      for (const [k, es] of entries)
        side.put(k, new Map(es.map(([row, matches, n]) => [rowKey(row), { row, matches, n }])));
    });
  }
}

/** Pushes `n` copies of an insert or delete of `row`. */
function repeat(out: Operation[], kind: 'insert' | 'delete', row: Row, n: number): void {
  for (let i = 0; i < n; i++) out.push(kind === 'insert' ? { kind, new: row } : { kind, old: row });
}
