import { type Operation, type Row, rowsEqual, type Schema } from '@dozer/core';
import { compileExpr } from './compile-expr.js';
import type { PlanNode } from './logical-plan.js';

/**
 * An incremental operator: given the ops that changed its input, returns the
 * ops that change its output. Stateless operators keep nothing between
 * calls; stateful ones (later: aggregate, join) keep what they need.
 */
export interface IncrementalOperator {
  apply(ops: readonly Operation[]): Operation[];
}

/** One row in, one row or nothing out. */
type RowStage = (row: Row) => Row | undefined;

/**
 * A fused chain of stateless row stages (filters and projections), the
 * micro-node the architecture describes: one pass per op, no intermediate
 * batches. An update whose old and new rows fall on different sides of a
 * filter becomes a delete or an insert; one whose rows end up equal after
 * projection is dropped.
 */
export class StatelessChain implements IncrementalOperator {
  constructor(
    private readonly stage: RowStage,
    private readonly output: Schema,
  ) {}

  apply(ops: readonly Operation[]): Operation[] {
    const out: Operation[] = [];
    const stage = this.stage;
    for (const op of ops) {
      if (op.kind === 'insert') {
        const n = stage(op.new);
        if (n !== undefined) out.push({ kind: 'insert', new: n });
      } else if (op.kind === 'delete') {
        const o = stage(op.old);
        if (o !== undefined) out.push({ kind: 'delete', old: o });
      } else {
        const o = stage(op.old);
        const n = stage(op.new);
        if (o !== undefined && n !== undefined) {
          if (!rowsEqual(this.output, o, n)) out.push({ kind: 'update', old: o, new: n });
        } else if (n !== undefined) out.push({ kind: 'insert', new: n });
        else if (o !== undefined) out.push({ kind: 'delete', old: o });
      }
    }
    return out;
  }

  /** The chain applied to one row (for constant statements and batch evaluation). */
  map(row: Row): Row | undefined {
    return this.stage(row);
  }
}

/**
 * Lowers the filter/project nodes at the top of `root` into one fused
 * stateless chain; the first other node below them is the chain's input.
 */
export function buildStatelessChain(root: PlanNode): StatelessChain {
  return new StatelessChain(buildStage(root), root.schema);
}

function buildStage(node: PlanNode): RowStage {
  switch (node.kind) {
    case 'filter': {
      const inner = buildStage(node.input);
      const pred = compileExpr(node.predicate);
      if (!isStateless(node.input)) return (row) => (pred(row) === true ? row : undefined);
      return (row) => {
        const r = inner(row);
        return r !== undefined && pred(r) === true ? r : undefined;
      };
    }
    case 'project': {
      const inner = buildStage(node.input);
      const fns = node.exprs.map(compileExpr);
      const n = fns.length;
      return (row) => {
        const r = inner(row);
        if (r === undefined) return undefined;
        const out = new Array(n);
        for (let i = 0; i < n; i++) out[i] = fns[i]!(r);
        return out;
      };
    }
    default:
      return (row) => row;
  }
}

/** Whether a node is a filter or projection (fused into a chain). */
export function isStateless(node: PlanNode): node is Extract<PlanNode, { kind: 'filter' | 'project' }> {
  return node.kind === 'filter' || node.kind === 'project';
}
