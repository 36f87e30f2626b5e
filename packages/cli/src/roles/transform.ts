import type { Operation, Schema } from '@dozer/core';
import {
  type CheckpointStore,
  createKeyedState,
  type KeyedState,
  type LoadedCheckpoint,
  type StateObjectRef,
} from '@dozer/snapshot';
import {
  createSourceNormalizer,
  createThreadedExecutor,
  type SqlPipeline,
  type StateFactory,
} from '@dozer/sql';

/**
 * What the processor runs its input through: the compiled SQL. Async so an
 * executor that runs operators on worker threads fits behind it. Calls are
 * made in the order the inputs were read, and several `push` calls may be
 * in flight: results come back in call order.
 */
export interface Transform {
  /** Source tables the SQL reads. */
  readonly inputs: readonly string[];
  /** Every INTO table and its schema. */
  readonly outputs: ReadonlyMap<string, Schema>;
  /** Where the operators run, for the log: `the main thread`, `2 worker threads (5 micro-nodes)`. */
  readonly where: string;
  /** How many `push` calls are worth keeping in flight (1 = one at a time). */
  readonly maxInFlight: number;
  /** The rows of statements without FROM (`SELECT 1 AS x INTO one`) and what follows from them. */
  start(): Promise<Map<string, Operation[]>>;
  /** Feeds the ops of one input table; resolves with the ops of each output table that changed. */
  push(table: string, ops: readonly Operation[]): Promise<Map<string, Operation[]>>;
  /**
   * Captures the operators' state after every `push` called so far and
   * before any later one (the capture happens in call order, like a push),
   * and writes it to `store` as the state of `epoch`. Resolves once written,
   * with each operator's state chain for the manifest. On the main thread a
   * checkpoint ships only the keys changed since the previous one.
   */
  checkpoint(epoch: bigint, store: CheckpointStore): Promise<Map<string, readonly StateObjectRef[]>>;
  /** Ends the worker threads, if any; safe to call after a failure. */
  close(): Promise<void>;
}

/** How a transform's state appears in checkpoints: per operator state store, or one blob of the whole executor. */
export type TransformStateForm = 'keyed' | 'blob';

/** The state form of a transform on `threads` worker threads (0: the main thread). */
export function stateFormOf(threads: number): TransformStateForm {
  return threads === 0 ? 'keyed' : 'blob';
}

/** Manifest operator ids: `sql/<state id>` per store on the main thread, `sql` for the threaded executor's blob. */
const SQL_OPERATOR = 'sql';
const keyedOperatorId = (stateId: string) => `${SQL_OPERATOR}/${stateId}`;

/** Pushes kept in flight on worker threads: enough to keep every thread busy with the next batch. */
const THREADED_IN_FLIGHT = 4;

/**
 * The compiled SQL as a {@link Transform}: the single-threaded `SqlExecutor`
 * when `threads` is 0, else the micro-node executor on `threads` worker
 * threads (the same results, in the same order). `sqlText` and `sources` are
 * what `sql` was compiled from: every worker compiles them again.
 */
export async function createSqlTransform(
  sql: SqlPipeline,
  options: {
    threads: number;
    sqlText: string;
    sources: ReadonlyMap<string, Schema>;
    /**
     * A checkpoint to continue from: its state is restored (taken with the
     * same {@link stateFormOf}). `sql` must be compiled with the NOW() the
     * checkpointed pipeline had.
     */
    restore?: LoadedCheckpoint;
    /**
     * Sources whose changes are exact (`TableInfo.exactChanges`): taken as
     * they are. Every other keyed input goes through a source normalizer.
     */
    exactSources?: ReadonlySet<string>;
  },
): Promise<Transform> {
  const { restore } = options;
  // State kept by key, checkpointed as deltas: the SQL operators' on the main thread, and in every
  // case the source normalizers' (the current row of each key of the keyed tables the SQL reads,
  // so that retractions match what was emitted even when a source's old rows do not).
  const states = new Map<string, KeyedState<unknown>>();
  const keyed: StateFactory = {
    create: (id, codec) => {
      const state = createKeyedState({ codec });
      states.set(id, state as KeyedState<unknown>);
      return state;
    },
  };
  const normalizers = new Map(
    sql.inputs.flatMap((table) => {
      if (options.exactSources?.has(table)) return [];
      const n = createSourceNormalizer(table, options.sources.get(table)!, keyed);
      return n ? [[table, n] as const] : [];
    }),
  );
  const normalize = (table: string, ops: readonly Operation[]) =>
    normalizers.get(table)?.normalize(ops) ?? ops;
  /** Encodes every keyed state's snapshot now (the state may change right after); written by `write`. */
  const snapshotKeyed = (epoch: bigint) => {
    const pending = [...states].map(([id, state]) => [keyedOperatorId(id), state.snapshot(epoch)] as const);
    return {
      write: async (store: CheckpointStore) =>
        Promise.all(pending.map(async ([opId, p]) => [opId, await p.write(store, opId)] as const)),
    };
  };
  const restoreKeyed = (checkpoint: LoadedCheckpoint) => {
    for (const [id, state] of states) state.restore(checkpoint.state(keyedOperatorId(id)));
  };

  if (options.threads === 0) {
    const executor = sql.createExecutor({ stateFactory: keyed });
    if (restore) {
      restoreKeyed(restore);
      executor.stateRestored();
    }
    return {
      inputs: sql.inputs,
      outputs: sql.outputs,
      where: 'the main thread',
      maxInFlight: 1,
      start: async () => executor.start(),
      push: async (table, ops) => executor.push(table, normalize(table, ops)),
      checkpoint: async (epoch, store) => new Map(await snapshotKeyed(epoch).write(store)),
      close: async () => {},
    };
  }
  const executor = await createThreadedExecutor(options.sqlText, options.sources, {
    threads: options.threads,
    maxInFlight: THREADED_IN_FLIGHT,
    now: sql.now,
  });
  if (restore) {
    try {
      restoreKeyed(restore);
      await executor.restore(restore.blob(SQL_OPERATOR));
    } catch (e) {
      await executor.close();
      throw e;
    }
  }
  return {
    inputs: sql.inputs,
    outputs: sql.outputs,
    where: `${plural(executor.threads, 'worker thread')} (${plural(executor.microNodes.length, 'micro-node')})`,
    maxInFlight: THREADED_IN_FLIGHT,
    start: () => executor.start(),
    push: (table, ops) => executor.push(table, normalize(table, ops)),
    checkpoint: async (epoch, store) => {
      // Both captured now: the executor orders its snapshot after the pushes called before.
      const normalizersAt = snapshotKeyed(epoch);
      const bytes = executor.snapshot();
      const written = await normalizersAt.write(store);
      return new Map([...written, [SQL_OPERATOR, await store.writeBlob(SQL_OPERATOR, epoch, await bytes)]]);
    },
    close: () => executor.close(),
  };
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
