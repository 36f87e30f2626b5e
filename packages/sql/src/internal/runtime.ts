import { type DateValue, type Operation, type Row, Timestamp } from '@dozer/core';
import { AggregateOperator } from './aggregate.js';
import { compileExpr } from './compile-expr.js';
import { HashJoinOperator } from './join.js';
import type { PlanNode } from './logical-plan.js';
import { buildStatelessChain, isStateless } from './operators.js';
import { memoryStates, type OperatorStates, type Snapshottable } from './state.js';
import { TopNOperator } from './top-n.js';
import { TtlOperator, timeMicros } from './ttl.js';

/** Where an operator sends its output ops. */
export type Sink = (ops: Operation[]) => void;

/** A statement's plan turned into connected operators. */
export interface StatementRuntime {
  /** Per input table, the entry points of the scans of it (a self join has two). */
  readonly leaves: Map<string, Sink[]>;
  /** Run once at start: rows of FROM-less queries, the row of a whole-input aggregate. */
  readonly starters: (() => void)[];
  /** The stateful operators, in plan order, for snapshots. */
  readonly stateful: Snapshottable[];
}

/** Where the stateful operator at position `index` (in plan order) keeps its state. */
export type StatesOf = (index: number) => OperatorStates;

/**
 * Connects the operators of `root`, sending its output to `sink`; the
 * stateful operators keep their state in the stores `statesOf` gives them
 * (in memory by default).
 */
export function lowerPlan(
  root: PlanNode,
  statesOf: StatesOf = () => memoryStates,
): { runtime: StatementRuntime; connect(sink: Sink): void } {
  const runtime: StatementRuntime = { leaves: new Map(), starters: [], stateful: [] };
  return {
    runtime,
    connect: (sink) => lower(root, sink, runtime, statesOf),
  };
}

function emitTo(sink: Sink, ops: Operation[]): void {
  if (ops.length > 0) sink(ops);
}

function lower(node: PlanNode, sink: Sink, rt: StatementRuntime, statesOf: StatesOf): void {
  if (isStateless(node)) {
    let base: PlanNode = node;
    while (isStateless(base)) base = base.input;
    const chain = buildStatelessChain(node);
    lower(base, (ops) => emitTo(sink, chain.apply(ops)), rt, statesOf);
    return;
  }
  switch (node.kind) {
    case 'scan': {
      const list = rt.leaves.get(node.table);
      if (list) list.push(sink);
      else rt.leaves.set(node.table, [sink]);
      return;
    }
    case 'one-row':
      rt.starters.push(() => sink([{ kind: 'insert', new: [] }]));
      return;
    case 'aggregate': {
      const op = new AggregateOperator(
        node.keys,
        node.aggs,
        node.global,
        node.schema,
        statesOf(rt.stateful.length),
      );
      rt.stateful.push(op);
      // Before the input's starters, so the initial row precedes any change to it.
      if (node.global) rt.starters.push(() => emitTo(sink, op.start()));
      lower(node.input, (ops) => emitTo(sink, op.apply(ops)), rt, statesOf);
      return;
    }
    case 'join': {
      const op = new HashJoinOperator(
        node.joinType,
        node.leftKeys,
        node.rightKeys,
        node.residual,
        [node.left.schema.fields.length, node.right.schema.fields.length],
        [node.left.schema.primaryKey, node.right.schema.primaryKey],
        statesOf(rt.stateful.length),
      );
      rt.stateful.push(op);
      lower(node.left, (ops) => emitTo(sink, op.apply(0, ops)), rt, statesOf);
      lower(node.right, (ops) => emitTo(sink, op.apply(1, ops)), rt, statesOf);
      return;
    }
    case 'union':
      for (const input of node.inputs) lower(input, sink, rt, statesOf);
      return;
    case 'top-n': {
      const op = new TopNOperator(
        node.partition,
        node.order,
        node.limit,
        node.rowNumber,
        statesOf(rt.stateful.length),
      );
      rt.stateful.push(op);
      lower(node.input, (ops) => emitTo(sink, op.apply(ops)), rt, statesOf);
      return;
    }
    case 'ttl': {
      const op = new TtlOperator(node.time, node.ttl, statesOf(rt.stateful.length));
      rt.stateful.push(op);
      lower(node.input, (ops) => emitTo(sink, op.apply(ops)), rt, statesOf);
      return;
    }
    case 'window': {
      const stage = windowStage(node);
      lower(node.input, (ops) => emitTo(sink, stage(ops)), rt, statesOf);
      return;
    }
  }
}

/** Floor division for bigints (toward minus infinity). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/**
 * TUMBLE / HOP: stateless, each row to the windows its time falls in
 * (one for TUMBLE; size / hop for HOP). Rows with a NULL time are in no
 * window. An update becomes updates for the windows both versions share
 * position in, inserts and deletes for the rest.
 */
export function windowStage(
  node: Extract<PlanNode, { kind: 'window' }>,
): (ops: readonly Operation[]) => Operation[] {
  const time = compileExpr(node.time);
  const { hop, size } = node;
  const startAt = node.input.schema.fields.length;
  const expand = (row: Row): Row[] => {
    const v = time(row);
    if (v === null) return [];
    const t = timeMicros(v as Timestamp | DateValue);
    const out: Row[] = [];
    // Windows [s, s + size) with s a multiple of hop and s <= t < s + size.
    const first = floorDiv(t - size, hop) + 1n;
    const last = floorDiv(t, hop);
    for (let k = first; k <= last; k++) {
      const s = k * hop;
      out.push([...row, new Timestamp(s), new Timestamp(s + size)]);
    }
    return out;
  };
  return (ops) => {
    const out: Operation[] = [];
    for (const op of ops) {
      if (op.kind === 'insert') for (const r of expand(op.new)) out.push({ kind: 'insert', new: r });
      else if (op.kind === 'delete') for (const r of expand(op.old)) out.push({ kind: 'delete', old: r });
      else {
        // Pair the versions by window so that keys with window_start stay put.
        const olds = new Map<bigint, Row>();
        for (const r of expand(op.old)) olds.set((r[startAt] as Timestamp).micros, r);
        const news = expand(op.new);
        for (const [s, r] of olds) {
          if (!news.some((w) => (w[startAt] as Timestamp).micros === s)) out.push({ kind: 'delete', old: r });
        }
        for (const r of news) {
          const o = olds.get((r[startAt] as Timestamp).micros);
          out.push(o === undefined ? { kind: 'insert', new: r } : { kind: 'update', old: o, new: r });
        }
      }
    }
    return out;
  };
}
