import { DozerError, type DozerErrorOptions, ErrorCode } from '@dozer/core';

/** Where in the SQL text something is: 0-based offset, 1-based line and column. */
export interface SqlPosition {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/**
 * SQL that cannot be compiled: a syntax error, an unknown table, column or
 * function, a type mismatch, or a construct this engine does not support
 * yet. `position` points at the offending fragment when it is known.
 */
export class SqlError extends DozerError {
  override name = 'SqlError';
  readonly position: SqlPosition | null;

  constructor(message: string, position: SqlPosition | null = null, options?: DozerErrorOptions) {
    super(ErrorCode.Sql, message, options);
    this.position = position;
  }
}

/**
 * An expression failed on a particular row: integer overflow, division by
 * zero, a value that does not cast to the target type. Named so as not to
 * shadow the JavaScript global `EvalError`.
 */
export class SqlEvalError extends DozerError {
  override name = 'SqlEvalError';

  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Eval, message, options);
  }
}
