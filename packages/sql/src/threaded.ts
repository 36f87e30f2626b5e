import {
  type MicroNodeSpec,
  type MicroRuntime,
  type MicroRuntimeSpec,
  type Operation,
  type Schema,
  startMicroRuntime,
  type Timestamp,
} from '@dozer/core';
import { SqlError } from './errors.js';
import { describeNode } from './internal/logical-plan.js';
import { planSql } from './internal/planner.js';
import { decodeState, encodeState } from './internal/state.js';
import type { CompileOptions } from './pipeline.js';
import type { FragmentArgs } from './threaded-node.js';
import { FRAGMENT_WEIGHT, fragmentSchema, layoutPipeline, type PipelineLayout } from './threaded-plan.js';

/** How a {@link ThreadedSqlExecutor} runs. */
export interface ThreadedExecutorOptions {
  /**
   * Worker threads: 0 runs every micro-node inline on the calling thread
   * (single-thread mode, for tests and debugging); n ≥ 1 spreads them over
   * at most n worker threads (never more than there are micro-nodes).
   */
  readonly threads: number;
  /** Pushes in flight at once (pipelining across threads); default 4. Further pushes wait their turn. */
  readonly maxInFlight?: number;
  /** The value of NOW() (default: the current time); as {@link CompileOptions.now}. */
  readonly now?: Timestamp;
  /** Frames in flight per channel between two threads; default 4. */
  readonly channelCapacity?: number;
  /** A frame between threads is cut once it holds this many bytes; default 1 MiB. */
  readonly frameBytes?: number;
}

/** One micro-node of a threaded executor: a heavy operator with the light ones fused around it. */
export interface MicroNodeInfo {
  /** The id of its main operator in `SqlPipeline.dag()` (errors name it). */
  readonly id: string;
  readonly thread: number;
  /** Dag id and description of each operator it runs. */
  readonly operators: readonly string[];
}

/**
 * Runs a compiled pipeline on worker threads. Every call gives the same
 * results, in the same order, as {@link SqlExecutor}'s, and snapshots are
 * interchangeable with it. Calls are queued in order; up to
 * `maxInFlight` pushes are processed at once, each stage on its thread.
 */
export interface ThreadedSqlExecutor {
  /** Worker threads in use (0 in single-thread mode). */
  readonly threads: number;
  /** Worker threads still running (0 after close or a failure). */
  readonly liveThreads: number;
  readonly microNodes: readonly MicroNodeInfo[];
  /**
   * As {@link SqlExecutor.push}. Rejects with a `MicroNodeError` naming the
   * micro-node (and, in the message, the operator) when an operator fails,
   * for example a cast of a value that does not convert; the executor's
   * threads have ended by then and every later call rejects with that error.
   */
  push(table: string, ops: readonly Operation[]): Promise<Map<string, Operation[]>>;
  /** As {@link SqlExecutor.start}. */
  start(): Promise<Map<string, Operation[]>>;
  /** As {@link SqlExecutor.snapshot}, after every earlier push; the same bytes the single-thread executor writes. */
  snapshot(): Promise<Uint8Array>;
  /** As {@link SqlExecutor.restore}; takes a snapshot of either executor. */
  restore(bytes: Uint8Array): Promise<void>;
  /** Stops the worker threads (after the calls already queued). */
  close(): Promise<void>;
}

const NODE_MODULE = new URL(
  import.meta.url.endsWith('.ts') ? './threaded-node.ts' : './threaded-node.js',
  import.meta.url,
).href;
const START = '$start';
const NO_FIELDS: Schema = { fields: [], primaryKey: [] };

/**
 * Compiles `sql` (as {@link compileSql}) and starts it on worker threads:
 * each heavy operator (join, aggregate, top-N / ROW_NUMBER, window, TTL) is
 * its own micro-node, with the filter/project chains and unions around it;
 * the micro-nodes are spread over the threads along the data flow. Each
 * worker compiles the same SQL and builds only its micro-nodes.
 * @throws SqlError as compileSql; MicroNodeError if a worker cannot start.
 */
export async function createThreadedExecutor(
  sql: string,
  sources: ReadonlyMap<string, Schema>,
  options: ThreadedExecutorOptions,
): Promise<ThreadedSqlExecutor> {
  const planned = planSql(sql, sources, options.now ? { now: options.now } : {});
  const layout = layoutPipeline(planned.statements);
  const sourceList = [...sources].map(([n, s]) => [n, s] as const);
  const producers = new Map(layout.statements.map((s) => [s.into, layout.fragments[s.rootFragment]!.id]));
  const hasStarters = layout.fragments.some((f) => f.hasStarters);
  const nodes: MicroNodeSpec[] = [];
  const edges: MicroRuntimeSpec['edges'][number][] = [];
  for (const f of layout.fragments) {
    const args: FragmentArgs = { sql, sources: sourceList, fragment: f.index, now: planned.now.micros };
    const inputs: string[] = [];
    for (const table of f.tables) {
      inputs.push(`t:${table}`);
      const producer = producers.get(table);
      edges.push({
        from: producer === undefined ? { input: table } : { node: producer, port: 'out' },
        to: { node: f.id, port: `t:${table}` },
      });
    }
    for (const g of f.children) {
      inputs.push(`f:${g}`);
      edges.push({
        from: { node: layout.fragments[g]!.id, port: 'out' },
        to: { node: f.id, port: `f:${g}` },
      });
    }
    if (f.hasStarters) {
      inputs.push('start');
      edges.push({ from: { input: START }, to: { node: f.id, port: 'start' } });
    }
    nodes.push({
      id: f.id,
      module: NODE_MODULE,
      args,
      inputs,
      outputs: [{ name: 'out', schema: fragmentSchema(f) }],
      weight: FRAGMENT_WEIGHT[(f.heavy ?? f.top).kind],
    });
  }
  for (const s of layout.statements)
    edges.push({ from: { node: producers.get(s.into)!, port: 'out' }, to: { output: s.into } });
  const spec: MicroRuntimeSpec = {
    inputs: [
      ...planned.inputs.map((name) => ({ name, schema: sources.get(name)! })),
      ...(hasStarters ? [{ name: START, schema: NO_FIELDS }] : []),
    ],
    outputs: layout.statements.map((s) => s.into),
    nodes,
    edges,
  };
  const collected = new Map<bigint, Map<string, Operation[]>>();
  const runtime = await startMicroRuntime(spec, {
    threads: options.threads,
    ...(options.channelCapacity === undefined ? {} : { channelCapacity: options.channelCapacity }),
    ...(options.frameBytes === undefined ? {} : { frameBytes: options.frameBytes }),
    onOutput: (output, batch, epoch) => {
      let byOutput = collected.get(epoch);
      if (byOutput === undefined) {
        byOutput = new Map();
        collected.set(epoch, byOutput);
      }
      const ops = byOutput.get(output);
      if (ops === undefined) byOutput.set(output, batch.ops.slice());
      else for (const op of batch.ops) ops.push(op);
    },
  });
  return new ThreadedExecutor(
    runtime,
    layout,
    planned.inputs,
    hasStarters,
    collected,
    options.maxInFlight ?? 4,
  );
}

class ThreadedExecutor implements ThreadedSqlExecutor {
  readonly microNodes: readonly MicroNodeInfo[];
  private started = false;
  private admission: Promise<unknown> = Promise.resolve();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly runtime: MicroRuntime,
    private readonly layout: PipelineLayout,
    private readonly inputs: readonly string[],
    private readonly hasStarters: boolean,
    private readonly collected: Map<bigint, Map<string, Operation[]>>,
    private readonly maxInFlight: number,
  ) {
    this.microNodes = layout.fragments.map((f) => ({
      id: f.id,
      thread: runtime.assignment.get(f.id)!,
      operators: f.units.filter((u) => u.kind !== 'scan').map((u) => `${u.dagId}: ${describeNode(u.node)}`),
    }));
  }

  get threads(): number {
    return this.runtime.threads;
  }

  get liveThreads(): number {
    return this.runtime.liveThreads;
  }

  push(table: string, ops: readonly Operation[]): Promise<Map<string, Operation[]>> {
    if (!this.inputs.includes(table)) {
      return Promise.reject(
        new SqlError(
          `push: "${table}" is not an input of this pipeline; its inputs are: ${this.inputs.join(', ') || 'none'}`,
        ),
      );
    }
    return this.enqueue(table, ops);
  }

  start(): Promise<Map<string, Operation[]>> {
    return this.enqueue(null, []);
  }

  snapshot(): Promise<Uint8Array> {
    return this.exclusive(async () => {
      const states = await this.runtime.snapshot();
      const statements = this.layout.statements.map((s) => {
        const ops: Uint8Array[] = new Array(s.statefulCount);
        return [s.into, ops] as [string, Uint8Array[]];
      });
      for (const f of this.layout.fragments) {
        const bytes = states.get(f.id);
        if (bytes === undefined) continue;
        const list = statements[f.statement]![1];
        for (const [i, state] of decodeState(bytes) as [number, Uint8Array][]) list[i] = state;
      }
      return encodeState({ started: this.started, statements });
    });
  }

  restore(bytes: Uint8Array): Promise<void> {
    return this.exclusive(async () => {
      const state = decodeState(bytes) as { started: boolean; statements: [string, Uint8Array[]][] };
      const ours = this.layout.statements;
      const shapeOk =
        state.statements.length === ours.length &&
        state.statements.every(
          ([into, ops], i) => into === ours[i]!.into && ops.length === ours[i]!.statefulCount,
        );
      if (!shapeOk) {
        throw new SqlError(
          'restore: the snapshot was taken from a different SQL pipeline (its statements or operators differ); restore it into an executor of the same SQL',
        );
      }
      const perNode = new Map<string, [number, Uint8Array][]>();
      for (const f of this.layout.fragments) {
        const list: [number, Uint8Array][] = [];
        for (const u of f.units)
          if (u.stateful >= 0) list.push([u.stateful, state.statements[f.statement]![1][u.stateful]!]);
        if (list.length > 0)
          perNode.set(
            f.id,
            list.sort((a, b) => a[0] - b[0]),
          );
      }
      await this.runtime.restore(new Map([...perNode].map(([id, list]) => [id, encodeState(list)])));
      this.started = state.started;
    });
  }

  close(): Promise<void> {
    return this.exclusive(() => this.runtime.close(), true);
  }

  /** Admits calls one at a time, in call order. */
  private admit<T>(step: () => Promise<T>): Promise<T> {
    const run = this.admission.then(step);
    this.admission = run.catch(() => undefined);
    return run;
  }

  /** Runs `step` once every earlier call has finished, before any later one starts. */
  private exclusive<T>(step: () => Promise<T>, evenAfterFailure = false): Promise<T> {
    return this.admit(async () => {
      const earlier = [...this.inFlight];
      if (evenAfterFailure) await Promise.allSettled(earlier);
      else await Promise.all(earlier);
      return step();
    });
  }

  private enqueue(table: string | null, ops: readonly Operation[]): Promise<Map<string, Operation[]>> {
    return this.admit(async () => {
      while (this.inFlight.size >= this.maxInFlight) await Promise.race(this.inFlight).catch(() => undefined);
      const sent: Promise<unknown>[] = [];
      const epochs: Promise<bigint>[] = [];
      if (!this.started && this.hasStarters) {
        sent.push(this.runtime.send(START, { table: START, ops: [], position: null }));
        epochs.push(this.runtime.barrier());
      }
      this.started = true;
      if (table !== null) {
        sent.push(this.runtime.send(table, { table, ops, position: null }));
        epochs.push(this.runtime.barrier());
      }
      const done = Promise.all([Promise.all(epochs), ...sent]).then(([es]) => this.results(es));
      this.inFlight.add(done);
      const forget = () => this.inFlight.delete(done);
      done.then(forget, forget);
      // The next call is admitted once the channels have room again (backpressure).
      await Promise.all(sent).catch(() => undefined);
      return { done };
    }).then((r) => r.done);
  }

  /** The outputs of these epochs, merged per table in statement order, as the single-thread executor merges them. */
  private results(epochs: readonly bigint[]): Map<string, Operation[]> {
    const result = new Map<string, Operation[]>();
    for (const e of epochs) {
      const byOutput = this.collected.get(e);
      this.collected.delete(e);
      if (byOutput === undefined) continue;
      for (const s of this.layout.statements) {
        const ops = byOutput.get(s.into);
        if (ops === undefined || ops.length === 0) continue;
        const acc = result.get(s.into);
        if (acc) for (const op of ops) acc.push(op);
        else result.set(s.into, ops);
      }
    }
    return result;
  }
}
