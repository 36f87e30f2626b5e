import {
  canonicalJson,
  DateValue,
  Decimal,
  Duration,
  Json,
  Point,
  type Row,
  Timestamp,
  type Value,
} from '@dozer/core';

/**
 * The canonical text of a value for use in a Map key: equal SQL values
 * (decimals of different scales, -0 and 0) give equal text, and the type
 * tag keeps values of different kinds apart. NULL has its own tag, so NULLs
 * group together (GROUP BY, DISTINCT) — joins skip NULL keys themselves.
 */
export function valueKey(v: Value): string {
  if (v === null) return '\u0000';
  switch (typeof v) {
    case 'bigint':
      return `i${v}`;
    case 'string':
      // Length first, so that no text inside the string can fake a separator of a composite key.
      return `s${v.length}:${v}`;
    case 'number':
      return Number.isNaN(v) ? 'fNaN' : `f${v === 0 ? 0 : v}`;
    case 'boolean':
      return v ? 'T' : 'F';
  }
  if (v instanceof Decimal) return `d${normalizeDecimal(v)}`;
  if (v instanceof Timestamp) return `t${v.micros}`;
  if (v instanceof DateValue) return `D${v.days}`;
  if (v instanceof Duration) return `u${v.months},${v.days},${v.micros}`;
  if (v instanceof Json) return `j${canonicalJson(v.value)}`;
  if (v instanceof Point) return `p${v.x},${v.y}`;
  if (v instanceof Uint8Array) return `b${Buffer.from(v).toString('hex')}`;
  return `?${String(v)}`;
}

function normalizeDecimal(d: Decimal): string {
  let u = d.unscaled;
  let s = d.scale;
  while (s > 0 && u % 10n === 0n) {
    u /= 10n;
    s--;
  }
  return `${u}e${s}`;
}

/** The key of the values at `positions` of `row`. */
export function keyOf(row: Row, positions: readonly number[]): string {
  if (positions.length === 1) return valueKey(row[positions[0]!] ?? null);
  let k = '';
  for (const p of positions) k += `${valueKey(row[p] ?? null)}\u0001`;
  return k;
}

/** The key of a list of values. */
export function keyOfValues(values: readonly Value[]): string {
  if (values.length === 1) return valueKey(values[0]!);
  let k = '';
  for (const v of values) k += `${valueKey(v)}\u0001`;
  return k;
}

/** The key of a whole row (for multisets of rows). */
export function rowKey(row: Row): string {
  let k = '';
  for (const v of row) k += `${valueKey(v)}\u0001`;
  return k;
}

/** Whether two rows hold the same values (as {@link valueKey} sees them), without building keys when they are identical. */
export function sameRow(a: Row, b: Row): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && !sameValue(x, y)) return false;
  }
  return true;
}

/** Equality as {@link valueKey} sees it; primitives other than floats are equal only when `===`. */
export function sameValue(x: Value, y: Value): boolean {
  if (x === y) return true;
  if (x === null || y === null) return false;
  const tx = typeof x;
  if (tx !== 'object' && tx !== 'number') return false;
  return valueKey(x) === valueKey(y);
}
