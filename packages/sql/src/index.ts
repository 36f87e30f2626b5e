/** Errors: {@link SqlError} (code SQL) at compile time, {@link SqlEvalError} (code EVAL) per row; {@link SqlPosition} locates the former. */
export { SqlError, SqlEvalError, type SqlPosition } from './errors.js';
/** What each node of {@link SqlPipeline.dag} carries. */
export type { SqlDagPayload } from './internal/dag.js';
/** {@link compileSql} turns SQL into a {@link SqlPipeline}, whose {@link SqlExecutor}s run it incrementally. */
export { compileSql, type SqlExecutor, type SqlPipeline } from './pipeline.js';
