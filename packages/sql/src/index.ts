export { SqlError, SqlEvalError, type SqlPosition } from './errors.js';
export { compileSql, type SqlExecutor, type SqlPipeline } from './pipeline.js';
