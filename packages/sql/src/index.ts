/** Errors: {@link SqlError} (code SQL) at compile time, {@link SqlEvalError} (code EVAL) per row; {@link SqlPosition} locates the former. */
export { SqlError, SqlEvalError, type SqlPosition } from './errors.js';
/** What each node of {@link SqlPipeline.dag} carries. */
export type { SqlDagPayload } from './internal/dag.js';
/**
 * Operator state: the {@link StateStore} each piece of it lives in, made by a {@link StateFactory}
 * (`ExecutorOptions.stateFactory`) with a {@link StateValueCodec} for its values
 * (format {@link STATE_VALUE_FORMAT_VERSION}); {@link memoryStateFactory} is the default.
 */
export {
  MemoryStateStore,
  memoryStateFactory,
  STATE_VALUE_FORMAT_VERSION,
  type StateFactory,
  type StateStore,
  type StateValueCodec,
} from './internal/state.js';
/** {@link createSourceNormalizer}: a keyed source's changes rewritten against the rows the pipeline has seen (exact retractions). */
export { createSourceNormalizer, type SourceNormalizer } from './normalize.js';
/** {@link compileSql} turns SQL into a {@link SqlPipeline}, whose {@link SqlExecutor}s run it incrementally. */
export {
  type CompileOptions,
  compileSql,
  type ExecutorOptions,
  type SqlExecutor,
  type SqlPipeline,
} from './pipeline.js';
/**
 * {@link splitSqlStatements} lists the statements of an SQL text with their INTO table and the tables
 * they read, without compiling; {@link keepSqlStatements} blanks out the others so a subset compiles alone.
 */
export { keepSqlStatements, type SqlStatement, splitSqlStatements } from './statements.js';
/**
 * {@link createThreadedExecutor} runs a pipeline on worker threads (micro-nodes over `@dozer/core`'s runtime),
 * with the single-thread executor's results and snapshots.
 */
export {
  createThreadedExecutor,
  type MicroNodeInfo,
  type ThreadedExecutorOptions,
  type ThreadedSqlExecutor,
} from './threaded.js';
