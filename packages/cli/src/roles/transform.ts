import type { Operation, Schema } from '@dozer/core';
import type { SqlPipeline } from '@dozer/sql';

/**
 * What the processor runs its input through: the compiled SQL. Async so an
 * executor that runs operators on worker threads fits behind it; calls are
 * made one at a time, in the order the inputs were read.
 */
export interface Transform {
  /** Source tables the SQL reads. */
  readonly inputs: readonly string[];
  /** Every INTO table and its schema. */
  readonly outputs: ReadonlyMap<string, Schema>;
  /** The rows of statements without FROM (`SELECT 1 AS x INTO one`) and what follows from them. */
  start(): Promise<Map<string, Operation[]>>;
  /** Feeds the ops of one input table; resolves with the ops of each output table that changed. */
  push(table: string, ops: readonly Operation[]): Promise<Map<string, Operation[]>>;
  close(): Promise<void>;
}

/** The single-threaded `SqlExecutor` of `@dozer/sql` as a {@link Transform}. */
export function createSqlTransform(sql: SqlPipeline): Transform {
  const executor = sql.createExecutor();
  return {
    inputs: sql.inputs,
    outputs: sql.outputs,
    start: async () => executor.start(),
    push: async (table, ops) => executor.push(table, ops),
    close: async () => {},
  };
}
