// The micro-node module of the threaded executor: each worker thread imports it and builds its fragments.
import { type MicroNode, type MicroNodeContext, type Operation, type Schema, Timestamp } from '@dozer/core';
import { planSql } from './internal/planner.js';
import { decodeState, encodeState } from './internal/state.js';
import { instantiateFragment, layoutPipeline, type PipelineLayout } from './threaded-plan.js';

/** What the executor passes to each micro-node: the SQL, the source schemas, and which fragment to build. */
export interface FragmentArgs {
  readonly sql: string;
  readonly sources: readonly (readonly [string, Schema])[];
  readonly fragment: number;
  /** NOW() in microseconds since the epoch, as the caller's thread compiled it. */
  readonly now: bigint;
}

// Fragments of one pipeline on one thread share one compilation.
const compiled = new Map<string, PipelineLayout>();

/** Compiles (once per thread and pipeline) and lays out the pipeline, exactly as the caller's thread did. */
export function layoutOf(
  sql: string,
  sources: readonly (readonly [string, Schema])[],
  now: bigint,
): PipelineLayout {
  const key = `${sql}\u0000${JSON.stringify(sources)}\u0000${now}`;
  let layout = compiled.get(key);
  if (layout === undefined) {
    layout = layoutPipeline(planSql(sql, new Map(sources), { now: new Timestamp(now) }).statements);
    compiled.set(key, layout);
  }
  return layout;
}

/**
 * One fragment of a statement. Ports: `t:<table>` (a table it scans: the
 * source's batches, or every batch of the statement writing that table),
 * `f:<n>` (the output of fragment n, one batch per slot, the slot number as
 * the batch's table), `start` (a batch there means: run the starters in
 * this epoch). At each barrier it replays its slots in order and emits one
 * batch per slot that produced ops, on `out`.
 */
export function createMicroNode(args: FragmentArgs, ctx: MicroNodeContext): MicroNode {
  const layout = layoutOf(args.sql, args.sources, args.now);
  const f = layout.fragments[args.fragment];
  if (f === undefined || f.id !== ctx.id) {
    throw new Error(
      `fragment ${args.fragment} of this SQL is not micro-node "${ctx.id}" (${f?.id ?? 'no such fragment'}); the SQL must compile the same way on every thread`,
    );
  }
  let out: Operation[] = [];
  const rt = instantiateFragment(f, (ops) => {
    for (const op of ops) out.push(op);
  });
  let starting = false;
  const tables = new Map<string, (readonly Operation[])[]>();
  const fromChildren = new Map<number, readonly Operation[]>();
  const stateful = [...rt.stateful].sort((a, b) => a[0] - b[0]);

  const tableOps = (table: string): readonly Operation[] => {
    const parts = tables.get(`t:${table}`);
    if (parts === undefined || parts.length === 0) return [];
    if (parts.length === 1) return parts[0]!;
    const all = parts.flat();
    tables.set(`t:${table}`, [all]);
    return all;
  };

  return {
    onBatch(port, batch) {
      if (port === 'start') starting = true;
      else if (port.startsWith('t:')) {
        const list = tables.get(port);
        if (list) list.push(batch.ops);
        else tables.set(port, [batch.ops]);
      } else fromChildren.set(Number(batch.table), batch.ops);
    },
    onBarrier() {
      for (const { slot, entry } of f.slots) {
        if (entry.kind === 'starter') {
          if (!starting) continue;
          rt.starters.get(entry.unit)!();
        } else if (entry.kind === 'leaf') {
          const ops = tableOps((entry.unit.node as { table: string }).table);
          if (ops.length === 0) continue;
          rt.leaves.get(entry.unit)!(ops as Operation[]);
        } else {
          const ops = fromChildren.get(slot);
          if (ops === undefined || ops.length === 0) continue;
          rt.children.get(entry.fragment)!(ops as Operation[]);
        }
        if (out.length > 0) {
          ctx.emit('out', { table: String(slot), ops: out, position: null });
          out = [];
        }
      }
      starting = false;
      tables.clear();
      fromChildren.clear();
    },
    snapshot() {
      return encodeState(stateful.map(([i, op]) => [i, op.snapshot()]));
    },
    restore(bytes) {
      const states = decodeState(bytes) as [number, Uint8Array][];
      for (const [i, state] of states) {
        const op = rt.stateful.get(i);
        if (op === undefined)
          throw new Error(`the state names operator ${i}, which micro-node "${f.id}" does not hold`);
        op.restore(state);
      }
    },
  };
}
