import type { Operation, Schema } from '@dozer/core';
import { AggregateOperator } from './internal/aggregate.js';
import { HashJoinOperator } from './internal/join.js';
import type { PlanNode, StatementPlan } from './internal/logical-plan.js';
import { describeNode } from './internal/logical-plan.js';
import { buildStatelessChain, isStateless } from './internal/operators.js';
import { windowStage } from './internal/runtime.js';
import type { Snapshottable } from './internal/state.js';
import { TopNOperator } from './internal/top-n.js';
import { TtlOperator } from './internal/ttl.js';

/*
 * How a compiled pipeline is cut into micro-nodes, computed the same way
 * on the caller's thread and in every worker (compilation is
 * deterministic), so that each side agrees on ids, ports and slots.
 *
 * A statement's operators form a tree, lowered exactly as the
 * single-thread executor lowers it (internal/runtime.ts). A call of that
 * executor runs, per statement, a fixed sequence of "slots": first its
 * starters (FROM-less rows, whole-input aggregates; only in the start
 * call), then each scan of each input table that changed (tables in order
 * of first scan). Each slot sends one batch up the path from its origin to
 * the statement's root, each operator on the path being called at most
 * once. A micro-node holds a connected part of the tree (a fragment) and,
 * at each epoch's barrier, replays its slots in that order, taking each
 * slot's batch from the port it enters by; so every operator sees exactly
 * the calls it would see in the single-thread executor.
 */

/** Kinds as in `SqlPipeline.dag()`, plus `scan`. */
export type UnitKind =
  | 'scan'
  | 'one-row'
  | 'filter-project'
  | 'aggregate'
  | 'hash-join'
  | 'union'
  | 'top-n'
  | 'row-number'
  | 'window'
  | 'ttl';

/** One operator of a statement (a fused filter/project chain counts as one). */
export interface Unit {
  readonly kind: UnitKind;
  /** The plan node (for a chain, its top). */
  readonly node: PlanNode;
  readonly inputs: Unit[];
  parent: Unit | null;
  /** The node id in `SqlPipeline.dag()` (`into/n:kind`); '' for scans. */
  dagId: string;
  /** Position among the statement's stateful operators (snapshot order), or -1. */
  readonly stateful: number;
  /** Position among the statement's starters, or -1. */
  readonly starter: number;
  /** The fragment holding it. */
  fragment: number;
}

/** Where a slot enters a fragment. */
export type SlotEntry =
  | { readonly kind: 'starter'; readonly unit: Unit }
  | { readonly kind: 'leaf'; readonly unit: Unit }
  | { readonly kind: 'child'; readonly fragment: number };

export interface Fragment {
  readonly index: number;
  /** Index of its statement in dependency order. */
  readonly statement: number;
  /** Micro-node id: the dag id of its heavy operator (or of its top). */
  id: string;
  top: Unit;
  readonly units: Unit[];
  readonly heavy: Unit | null;
  /** Tables scanned inside it, in first-scan order (ports `t:<table>`). */
  readonly tables: string[];
  /** Fragments feeding it (ports `f:<index>`). */
  readonly children: number[];
  readonly hasStarters: boolean;
  /** The statement's slots that pass through it, in order, and where each enters. */
  readonly slots: { readonly slot: number; readonly entry: SlotEntry }[];
}

export interface StatementLayout {
  readonly into: string;
  readonly root: Unit;
  readonly statefulCount: number;
  /** The fragment whose output is the statement's output. */
  rootFragment: number;
}

export interface PipelineLayout {
  readonly statements: readonly StatementLayout[];
  readonly fragments: readonly Fragment[];
}

/** Relative cost of a micro-node, for spreading them over threads. */
export const FRAGMENT_WEIGHT: { readonly [k in UnitKind]: number } = {
  scan: 0,
  'one-row': 0.1,
  'filter-project': 0.5,
  union: 0.2,
  window: 1,
  ttl: 1,
  aggregate: 2,
  'top-n': 2,
  'row-number': 2,
  'hash-join': 3,
};

const HEAVY = new Set<UnitKind>(['aggregate', 'hash-join', 'top-n', 'row-number', 'window', 'ttl']);

export function layoutPipeline(statements: readonly StatementPlan[]): PipelineLayout {
  const fragments: Fragment[] = [];
  const layouts = statements.map((plan, si) => {
    const counters = { stateful: 0, starter: 0 };
    const root = buildUnit(plan.root, counters);
    numberUnits(root, plan.into);
    const layout: StatementLayout = {
      into: plan.into,
      root,
      statefulCount: counters.stateful,
      rootFragment: -1,
    };
    cutFragments(layout, si, fragments);
    return layout;
  });
  return { statements: layouts, fragments };
}

/** The operator tree of a statement, built in the order `lowerPlan` lowers it. */
function buildUnit(node: PlanNode, c: { stateful: number; starter: number }): Unit {
  const unit = (kind: UnitKind, n: PlanNode, stateful = -1, starter = -1): Unit => ({
    kind,
    node: n,
    inputs: [],
    parent: null,
    dagId: '',
    stateful,
    starter,
    fragment: -1,
  });
  const link = (u: Unit, inputs: PlanNode[]): Unit => {
    for (const i of inputs) {
      const child = buildUnit(i, c);
      child.parent = u;
      u.inputs.push(child);
    }
    return u;
  };
  if (isStateless(node)) {
    let base: PlanNode = node;
    while (isStateless(base)) base = base.input;
    return link(unit('filter-project', node), [base]);
  }
  switch (node.kind) {
    case 'scan':
      return unit('scan', node);
    case 'one-row':
      return unit('one-row', node, -1, c.starter++);
    case 'aggregate': {
      const stateful = c.stateful++;
      const starter = node.global ? c.starter++ : -1;
      return link(unit('aggregate', node, stateful, starter), [node.input]);
    }
    case 'join':
      return link(unit('hash-join', node, c.stateful++), [node.left, node.right]);
    case 'union':
      return link(unit('union', node), [...node.inputs]);
    case 'top-n':
      return link(unit(node.rowNumber ? 'row-number' : 'top-n', node, c.stateful++), [node.input]);
    case 'ttl':
      return link(unit('ttl', node, c.stateful++), [node.input]);
    case 'window':
      return link(unit('window', node), [node.input]);
  }
}

/** Dag ids as `planDag` numbers them: post-order, scans not counted. */
function numberUnits(root: Unit, into: string): void {
  let n = 0;
  const visit = (u: Unit): void => {
    for (const i of u.inputs) visit(i);
    if (u.kind !== 'scan') u.dagId = `${into}/${++n}:${u.kind}`;
  };
  visit(root);
}

function preOrder(u: Unit, f: (u: Unit) => void): void {
  f(u);
  for (const i of u.inputs) preOrder(i, f);
}

/**
 * Each heavy operator starts a fragment; a light operator over exactly one
 * fragment joins it (so a HAVING/projection runs beside its aggregate); the
 * light operators below a fragment, down to the scans, join it; what is left
 * at the top of a statement forms one light fragment.
 */
function cutFragments(st: StatementLayout, statement: number, fragments: Fragment[]): void {
  const make = (top: Unit, heavy: Unit | null): Fragment => {
    const f: Fragment = {
      index: fragments.length,
      statement,
      id: (heavy ?? top).dagId,
      top,
      units: [],
      heavy,
      tables: [],
      children: [],
      hasStarters: false,
      slots: [],
    };
    fragments.push(f);
    return f;
  };
  const adopt = (u: Unit, f: Fragment): void => {
    preOrder(u, (x) => {
      if (x.fragment === -1) {
        x.fragment = f.index;
        f.units.push(x);
      }
    });
  };
  const join = (u: Unit, f: Fragment): Fragment => {
    u.fragment = f.index;
    f.units.push(u);
    f.top = u;
    return f;
  };
  // The fragment producing u's output, or null when u and everything below it is light.
  const visit = (u: Unit): Fragment | null => {
    if (HEAVY.has(u.kind)) {
      const f = make(u, u);
      u.fragment = f.index;
      f.units.push(u);
      for (const i of u.inputs) if (visit(i) === null) adopt(i, f);
      return f;
    }
    const below = u.inputs.map(visit);
    const frags = below.filter((f): f is Fragment => f !== null);
    if (frags.length === 0) return null;
    if (frags.length === 1) {
      const f = join(u, frags[0]!);
      u.inputs.forEach((i, k) => {
        if (below[k] === null) adopt(i, f);
      });
      return f;
    }
    const f = make(u, null);
    join(u, f);
    u.inputs.forEach((i, k) => {
      if (below[k] === null) adopt(i, f);
    });
    return f;
  };
  let top = visit(st.root);
  if (top === null) {
    top = make(st.root, null);
    adopt(st.root, top);
  }
  st.rootFragment = top.index;
  // A light fragment is named after its top, once known.
  for (const f of fragments) if (f.statement === statement && f.heavy === null) f.id = f.top.dagId;

  // Slots of the statement, in the single-thread executor's order.
  const starters: Unit[] = [];
  const scans = new Map<string, Unit[]>();
  preOrder(st.root, (u) => {
    if (u.starter >= 0) starters[u.starter] = u;
    if (u.kind === 'scan') {
      const table = (u.node as Extract<PlanNode, { kind: 'scan' }>).table;
      const list = scans.get(table);
      if (list) list.push(u);
      else scans.set(table, [u]);
    }
  });
  const origins = [...starters, ...[...scans.values()].flat()];
  origins.forEach((origin, slot) => {
    let prev: Unit | null = null;
    for (let u: Unit | null = origin; u !== null; prev = u, u = u.parent) {
      if (prev !== null && prev.fragment === u.fragment) continue;
      const f = fragments[u.fragment]!;
      const entry: SlotEntry =
        prev !== null
          ? { kind: 'child', fragment: prev.fragment }
          : origin.kind === 'scan'
            ? { kind: 'leaf', unit: origin }
            : { kind: 'starter', unit: origin };
      f.slots.push({ slot, entry });
    }
  });
  for (const f of fragments) {
    if (f.statement !== statement) continue;
    for (const u of f.units) {
      if (u.kind === 'scan') {
        const table = (u.node as Extract<PlanNode, { kind: 'scan' }>).table;
        if (!f.tables.includes(table)) f.tables.push(table);
      }
      if (u.starter >= 0) (f as { hasStarters: boolean }).hasStarters = true;
      for (const i of u.inputs) {
        if (i.fragment !== f.index && !f.children.includes(i.fragment)) f.children.push(i.fragment);
      }
    }
  }
}

/** What a fragment's operators need to run: its entry points and its stateful operators. */
export interface FragmentRuntime {
  /** Per scan unit inside the fragment, where its table's ops go. */
  readonly leaves: Map<Unit, (ops: Operation[]) => void>;
  /** Per child fragment, where its output ops go. */
  readonly children: Map<number, (ops: Operation[]) => void>;
  /** Per starter unit inside the fragment. */
  readonly starters: Map<Unit, () => void>;
  /** Stateful operators by their position in the statement. */
  readonly stateful: Map<number, Snapshottable>;
}

/**
 * Connects the operators of a fragment as `lowerPlan` would (same
 * operators, same calls), sending the fragment's output to `sink`. An
 * error thrown by an operator gets the operator's dag id in its message.
 */
export function instantiateFragment(f: Fragment, sink: (ops: Operation[]) => void): FragmentRuntime {
  const rt: FragmentRuntime = {
    leaves: new Map(),
    children: new Map(),
    starters: new Map(),
    stateful: new Map(),
  };
  const emitTo = (s: (ops: Operation[]) => void, ops: Operation[]) => {
    if (ops.length > 0) s(ops);
  };
  const named = <A extends unknown[]>(u: Unit, fn: (...a: A) => Operation[]) => {
    return (...a: A): Operation[] => {
      try {
        return fn(...a);
      } catch (e) {
        if (e instanceof Error && u.dagId !== f.id && !e.message.startsWith(u.dagId)) {
          e.message = `${u.dagId} (${describeNode(u.node)}): ${e.message}`;
        }
        throw e;
      }
    };
  };
  const wire = (u: Unit, s: (ops: Operation[]) => void): void => {
    if (u.fragment !== f.index) {
      rt.children.set(u.fragment, s);
      return;
    }
    const node = u.node;
    switch (u.kind) {
      case 'scan':
        rt.leaves.set(u, s);
        return;
      case 'one-row':
        rt.starters.set(u, () => s([{ kind: 'insert', new: [] }]));
        return;
      case 'filter-project': {
        const chain = buildStatelessChain(node);
        const apply = named(u, (ops: readonly Operation[]) => chain.apply(ops));
        wire(u.inputs[0]!, (ops) => emitTo(s, apply(ops)));
        return;
      }
      case 'aggregate': {
        const n = node as Extract<PlanNode, { kind: 'aggregate' }>;
        const op = new AggregateOperator(n.keys, n.aggs, n.global, n.schema);
        rt.stateful.set(u.stateful, op);
        if (n.global) rt.starters.set(u, () => emitTo(s, op.start()));
        const apply = named(u, (ops: readonly Operation[]) => op.apply(ops));
        wire(u.inputs[0]!, (ops) => emitTo(s, apply(ops)));
        return;
      }
      case 'hash-join': {
        const n = node as Extract<PlanNode, { kind: 'join' }>;
        const op = new HashJoinOperator(
          n.joinType,
          n.leftKeys,
          n.rightKeys,
          n.residual,
          [n.left.schema.fields.length, n.right.schema.fields.length],
          [n.left.schema.primaryKey, n.right.schema.primaryKey],
        );
        rt.stateful.set(u.stateful, op);
        const apply = named(u, (side: 0 | 1, ops: readonly Operation[]) => op.apply(side, ops));
        wire(u.inputs[0]!, (ops) => emitTo(s, apply(0, ops)));
        wire(u.inputs[1]!, (ops) => emitTo(s, apply(1, ops)));
        return;
      }
      case 'union':
        for (const i of u.inputs) wire(i, s);
        return;
      case 'top-n':
      case 'row-number': {
        const n = node as Extract<PlanNode, { kind: 'top-n' }>;
        const op = new TopNOperator(n.partition, n.order, n.limit, n.rowNumber);
        rt.stateful.set(u.stateful, op);
        const apply = named(u, (ops: readonly Operation[]) => op.apply(ops));
        wire(u.inputs[0]!, (ops) => emitTo(s, apply(ops)));
        return;
      }
      case 'ttl': {
        const n = node as Extract<PlanNode, { kind: 'ttl' }>;
        const op = new TtlOperator(n.time, n.ttl);
        rt.stateful.set(u.stateful, op);
        const apply = named(u, (ops: readonly Operation[]) => op.apply(ops));
        wire(u.inputs[0]!, (ops) => emitTo(s, apply(ops)));
        return;
      }
      case 'window': {
        const stage = windowStage(node as Extract<PlanNode, { kind: 'window' }>);
        const apply = named(u, (ops: readonly Operation[]) => stage(ops));
        wire(u.inputs[0]!, (ops) => emitTo(s, apply(ops)));
        return;
      }
    }
  };
  wire(f.top, sink);
  return rt;
}

/** The schema a fragment emits. */
export function fragmentSchema(f: Fragment): Schema {
  return f.top.node.schema;
}
