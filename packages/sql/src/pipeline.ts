import type { Dag, Operation, Schema, Timestamp } from '@dozer/core';
import { SqlError } from './errors.js';
import { planDag, type SqlDagPayload } from './internal/dag.js';
import { formatPlan, formatSchema, type StatementPlan } from './internal/logical-plan.js';
import { planSql } from './internal/planner.js';
import { lowerPlan, type StatementRuntime } from './internal/runtime.js';
import {
  decodeState,
  encodeState,
  jsonValueCodec,
  memoryStateFactory,
  type StateFactory,
  type StateStore,
} from './internal/state.js';

/** A compiled SQL text: its statements planned, ready to run incrementally. */
export interface SqlPipeline {
  /** Source tables the statements read (not counting other statements' outputs), in order of first use. */
  readonly inputs: readonly string[];
  /** Every INTO table and its schema, in the order the statements were written. */
  readonly outputs: ReadonlyMap<string, Schema>;
  /**
   * The value of NOW() in every statement: fixed for the pipeline's life, so
   * a checkpoint records it and a restored pipeline compiles with it
   * ({@link CompileOptions.now}).
   */
  readonly now: Timestamp;
  /** A readable plan: per statement, its output schema and one operator per line. */
  explain(): string;
  /**
   * The plan as a `@dozer/core` DAG: a `source` node per input table, the
   * operators of each statement (filters and projections fused into one
   * `filter-project` node; `aggregate`, `hash-join`, `union`, `top-n`,
   * `row-number`, `window`, `ttl`, `one-row`), and an `output` node per INTO
   * table feeding the statements that read it. `dag().toText()` renders it.
   */
  dag(): Dag<SqlDagPayload>;
  /** An executor with fresh state (in memory, or in the stores of `options.stateFactory`). */
  createExecutor(options?: ExecutorOptions): SqlExecutor;
}

/** How {@link compileSql} compiles. */
export interface CompileOptions {
  /**
   * The value of NOW() (default: the current time). A pipeline restored from
   * a checkpoint must compile with the value the checkpointed one had
   * ({@link SqlPipeline.now}), or retractions would not match what was emitted.
   */
  readonly now?: Timestamp;
}

/** How {@link SqlPipeline.createExecutor} builds an executor. */
export interface ExecutorOptions {
  /**
   * Makes the store of each piece of operator state (default: in memory).
   * Pass one that returns stores with dirty tracking (`@dozer/snapshot`'s
   * `createKeyedState({ codec })` fits `create(id, codec)` as is) and keep
   * them by id: a checkpoint is then a snapshot of each store (only the
   * keys changed since the previous one), and a restart restores each
   * store and calls {@link SqlExecutor.stateRestored}.
   */
  readonly stateFactory?: StateFactory;
}

/** Runs a pipeline incrementally. */
export interface SqlExecutor {
  /**
   * Feeds the ops of one input table; returns the ops for each output table
   * that changed (an output read by another statement propagates within
   * the same call). On the first call it also includes the rows of
   * statements without FROM (see {@link SqlExecutor.start}).
   */
  push(table: string, ops: readonly Operation[]): Map<string, Operation[]>;
  /**
   * Emits the single row of each statement without FROM (`SELECT 1 AS x
   * INTO one`) and what follows from it downstream. Idempotent: only the
   * first call (or first push) emits anything.
   */
  start(): Map<string, Operation[]>;
  /**
   * The state of every stateful operator (group accumulators, join sides,
   * top-N partitions), for a checkpoint. Only valid between calls.
   */
  snapshot(): Uint8Array;
  /**
   * Replaces this executor's state with a {@link SqlExecutor.snapshot} of an
   * executor of the same pipeline; it then continues exactly where that one
   * was. @throws SqlError if the snapshot is of another pipeline.
   */
  restore(bytes: Uint8Array): void;
  /**
   * The ids of the stores this executor's state factory made, in the order
   * it made them: `executor` (whether it started), then per statement and
   * stateful operator `<into>#<k>.<part>` (k from 0 in plan order, as in
   * {@link SqlExecutor.snapshot}; part `groups`, `left`/`right`,
   * `partitions`, `rows`/`watermark`). The same for every compilation of
   * the same SQL.
   */
  readonly stateIds: readonly string[];
  /**
   * Tells the executor that the caller restored its stores (those of the
   * state factory) from a checkpoint: it rebuilds what it derives from them
   * (whether it started, TTL heaps and watermarks) and continues exactly
   * where that checkpoint was taken. Call it between calls, after every
   * store is restored; not after {@link SqlExecutor.restore}.
   */
  stateRestored(): void;
}

/**
 * Compiles SQL statements `SELECT … [FROM t] [WHERE …] INTO out`, separated
 * by `;`, against the schemas of the source tables. Statements may read
 * each other's outputs in any textual order; cycles are errors.
 * @throws SqlError on a syntax error, an unknown name, a type mismatch or an
 *   unsupported construct, with the line and column in `sql`.
 */
export function compileSql(
  sql: string,
  sources: ReadonlyMap<string, Schema>,
  options: CompileOptions = {},
): SqlPipeline {
  const planned = planSql(sql, sources, options);
  const statements = planned.statements;
  return {
    inputs: planned.inputs,
    outputs: planned.outputs,
    now: planned.now,
    explain: () => explainStatements(statements),
    dag: () => planDag(statements, planned.inputs),
    createExecutor: (options = {}) =>
      new Executor(statements, planned.inputs, options.stateFactory ?? memoryStateFactory),
  };
}

function explainStatements(statements: readonly StatementPlan[]): string {
  const ordered = [...statements].sort((a, b) => a.index - b.index);
  return ordered
    .map((s) => [`${s.into} ${formatSchema(s.root.schema)}`, ...formatPlan(s.root, '  ')].join('\n'))
    .join('\n');
}

interface RunningStatement {
  readonly plan: StatementPlan;
  readonly runtime: StatementRuntime;
  /** Output ops of the statement during the current call. */
  out: Operation[];
}

class Executor implements SqlExecutor {
  private readonly statements: RunningStatement[];
  private started = false;
  private readonly startedState: StateStore<string, boolean>;
  private readonly ids: string[] = [];

  constructor(
    statements: readonly StatementPlan[],
    private readonly inputs: readonly string[],
    factory: StateFactory,
  ) {
    const create: StateFactory['create'] = (id, codec) => {
      if (this.ids.includes(id)) {
        throw new SqlError(
          `two pieces of operator state would have the id "${id}"; rename the output tables so that no name contains "#"`,
        );
      }
      this.ids.push(id);
      return factory.create(id, codec);
    };
    this.startedState = create('executor', jsonValueCodec<boolean>());
    // Statements are in dependency order, so one pass propagates everything.
    this.statements = statements.map((plan) => {
      const lowered = lowerPlan(
        plan.root,
        (k) => (part, codec) => create(`${plan.into}#${k}.${part}`, codec),
      );
      const st: RunningStatement = { plan, runtime: lowered.runtime, out: [] };
      lowered.connect((ops) => {
        for (const op of ops) st.out.push(op);
      });
      return st;
    });
  }

  start(): Map<string, Operation[]> {
    const result = new Map<string, Operation[]>();
    if (this.started) return result;
    this.started = true;
    this.startedState.put('started', true);
    this.run(new Map(), result, true);
    return result;
  }

  push(table: string, ops: readonly Operation[]): Map<string, Operation[]> {
    if (!this.inputs.includes(table)) {
      throw new SqlError(
        `push: "${table}" is not an input of this pipeline; its inputs are: ${this.inputs.join(', ') || 'none'}`,
      );
    }
    const result = this.start();
    const pending = new Map<string, Operation[]>([[table, ops as Operation[]]]);
    this.run(pending, result, false);
    return result;
  }

  snapshot(): Uint8Array {
    return encodeState({
      started: this.started,
      statements: this.statements.map((st) => [st.plan.into, st.runtime.stateful.map((op) => op.snapshot())]),
    });
  }

  restore(bytes: Uint8Array): void {
    const state = decodeState(bytes) as { started: boolean; statements: [string, Uint8Array[]][] };
    const shapeOk =
      state.statements.length === this.statements.length &&
      state.statements.every(
        ([into, ops], i) =>
          into === this.statements[i]!.plan.into &&
          ops.length === this.statements[i]!.runtime.stateful.length,
      );
    if (!shapeOk) {
      throw new SqlError(
        'restore: the snapshot was taken from a different SQL pipeline (its statements or operators differ); restore it into an executor of the same SQL',
      );
    }
    this.started = state.started;
    if (state.started) this.startedState.put('started', true);
    else this.startedState.delete('started');
    state.statements.forEach(([, ops], i) => {
      const stateful = this.statements[i]!.runtime.stateful;
      for (let k = 0; k < ops.length; k++) stateful[k]!.restore(ops[k]!);
    });
  }

  get stateIds(): readonly string[] {
    return this.ids;
  }

  stateRestored(): void {
    this.started = this.startedState.get('started') === true;
    for (const st of this.statements) for (const op of st.runtime.stateful) op.reload?.();
  }

  private run(pending: Map<string, Operation[]>, result: Map<string, Operation[]>, starting: boolean): void {
    for (const st of this.statements) {
      st.out = [];
      if (starting) for (const s of st.runtime.starters) s();
      for (const [table, leaves] of st.runtime.leaves) {
        const input = pending.get(table);
        if (input === undefined || input.length === 0) continue;
        for (const leaf of leaves) leaf(input);
      }
      const out = st.out;
      st.out = [];
      if (out.length === 0) continue;
      const into = st.plan.into;
      const prior = pending.get(into);
      if (prior) for (const op of out) prior.push(op);
      else pending.set(into, out);
      const acc = result.get(into);
      if (acc) for (const op of out) acc.push(op);
      else result.set(into, out.slice());
    }
  }
}
