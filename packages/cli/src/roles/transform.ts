import type { Operation, Schema } from '@dozer/core';
import { createThreadedExecutor, type SqlPipeline } from '@dozer/sql';

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
  /** Ends the worker threads, if any; safe to call after a failure. */
  close(): Promise<void>;
}

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
  options: { threads: number; sqlText: string; sources: ReadonlyMap<string, Schema> },
): Promise<Transform> {
  if (options.threads === 0) {
    const executor = sql.createExecutor();
    return {
      inputs: sql.inputs,
      outputs: sql.outputs,
      where: 'the main thread',
      maxInFlight: 1,
      start: async () => executor.start(),
      push: async (table, ops) => executor.push(table, ops),
      close: async () => {},
    };
  }
  const executor = await createThreadedExecutor(options.sqlText, options.sources, {
    threads: options.threads,
    maxInFlight: THREADED_IN_FLIGHT,
  });
  return {
    inputs: sql.inputs,
    outputs: sql.outputs,
    where: `${plural(executor.threads, 'worker thread')} (${plural(executor.microNodes.length, 'micro-node')})`,
    maxInFlight: THREADED_IN_FLIGHT,
    start: () => executor.start(),
    push: (table, ops) => executor.push(table, ops),
    close: () => executor.close(),
  };
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
