import type { FieldType } from '@dozer/core';
import type { ArithOp, SqlType } from './expr.js';

const NUMERIC_RANK: { readonly [t: string]: number } = { int: 1, uint: 1, decimal: 2, float: 3 };

export function isNumeric(t: SqlType): boolean {
  return t in NUMERIC_RANK;
}

export function isInteger(t: SqlType): t is 'int' | 'uint' {
  return t === 'int' || t === 'uint';
}

export function isText(t: SqlType): t is 'string' | 'text' {
  return t === 'string' || t === 'text';
}

/**
 * The type two values meet in when compared or when they are alternatives
 * (CASE branches, COALESCE arguments), or null when they do not mix:
 * int and uint meet as int (both are bigints, compared exactly); an integer
 * and a decimal meet as decimal (exact); anything numeric and a float meet
 * as float; string and text as text; date and timestamp as timestamp.
 */
export function commonType(a: SqlType, b: SqlType): SqlType | null {
  if (a === b) return a;
  if (a === 'null') return b;
  if (b === 'null') return a;
  if (isNumeric(a) && isNumeric(b)) {
    if (isInteger(a) && isInteger(b)) return 'int';
    return NUMERIC_RANK[a]! > NUMERIC_RANK[b]! ? a : b;
  }
  if (isText(a) && isText(b)) return 'text';
  if ((a === 'date' && b === 'timestamp') || (a === 'timestamp' && b === 'date')) return 'timestamp';
  return null;
}

/** Whether a value of `from` may be converted to `to` without an explicit CAST. */
export function implicitlyConvertible(from: SqlType, to: FieldType): boolean {
  return from === to || from === 'null' || commonType(from, to) === to;
}

/** Whether `CAST(x AS to)` is allowed for an `x` of type `from`. */
export function castAllowed(from: SqlType, to: FieldType): boolean {
  if (from === to || from === 'null' || isText(from) || isText(to)) return true;
  if (isNumeric(from) && isNumeric(to)) return true;
  if ((isInteger(from) && to === 'boolean') || (from === 'boolean' && isInteger(to))) return true;
  if ((from === 'date' && to === 'timestamp') || (from === 'timestamp' && to === 'date')) return true;
  return false;
}

/**
 * The result of `a op b` and the types the operands are brought to first,
 * or null when the operator does not apply. Integers stay exact; an integer
 * with a decimal is decimal; anything numeric with a float is float.
 */
export function arithmeticTypes(
  op: ArithOp,
  a: SqlType,
  b: SqlType,
): { result: FieldType; left: FieldType; right: FieldType } | null {
  if (a === 'null' && b === 'null') return null;
  const l = a === 'null' ? b : a;
  const r = b === 'null' ? a : b;
  if (l === 'null' || r === 'null') return null;
  if (isNumeric(l) && isNumeric(r)) {
    if (isInteger(l) && isInteger(r)) {
      const t = l === 'uint' && r === 'uint' ? 'uint' : 'int';
      return { result: t, left: l, right: r };
    }
    const t = commonType(l, r) as FieldType;
    return { result: t, left: t, right: t };
  }
  const temporal = TEMPORAL_ARITH[`${l} ${op} ${r}`];
  return temporal === undefined ? null : { result: temporal, left: l, right: r };
}

const TEMPORAL_ARITH: { readonly [k: string]: FieldType } = {
  'timestamp + duration': 'timestamp',
  'duration + timestamp': 'timestamp',
  'timestamp - duration': 'timestamp',
  'timestamp - timestamp': 'duration',
  'date + duration': 'timestamp',
  'duration + date': 'timestamp',
  'date - duration': 'timestamp',
  'date + int': 'date',
  'int + date': 'date',
  'date - int': 'date',
  'date - date': 'int',
  'duration + duration': 'duration',
  'duration - duration': 'duration',
};

/** Field types of CAST targets, by SQL type name (upper case). */
export const TYPE_NAMES: { readonly [name: string]: FieldType } = {
  INT: 'int',
  INTEGER: 'int',
  INT2: 'int',
  INT4: 'int',
  INT8: 'int',
  SMALLINT: 'int',
  BIGINT: 'int',
  UINT: 'uint',
  UNSIGNED: 'uint',
  FLOAT: 'float',
  FLOAT4: 'float',
  FLOAT8: 'float',
  REAL: 'float',
  DOUBLE: 'float',
  'DOUBLE PRECISION': 'float',
  DECIMAL: 'decimal',
  NUMERIC: 'decimal',
  BOOL: 'boolean',
  BOOLEAN: 'boolean',
  VARCHAR: 'string',
  CHAR: 'string',
  CHARACTER: 'string',
  'CHARACTER VARYING': 'string',
  STRING: 'string',
  TEXT: 'text',
  BYTEA: 'binary',
  BINARY: 'binary',
  VARBINARY: 'binary',
  BLOB: 'binary',
  TIMESTAMP: 'timestamp',
  TIMESTAMPTZ: 'timestamp',
  DATETIME: 'timestamp',
  DATE: 'date',
  JSON: 'json',
  JSONB: 'json',
  INTERVAL: 'duration',
  POINT: 'point',
};
