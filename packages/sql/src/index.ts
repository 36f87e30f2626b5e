export { type SqlPosition, SqlError, SqlEvalError } from './errors.js';
export { type SqlExecutor, type SqlPipeline, compileSql } from './pipeline.js';
