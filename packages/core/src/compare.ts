import type { FieldType } from './field-type.js';
import type { Row } from './operation.js';
import type { Schema } from './schema.js';
import type { DateValue, Decimal, Duration, Json, Point, Timestamp, Value } from './value.js';

/**
 * A total order over the values of one field type, the order that indexes,
 * `ORDER BY` and range filters use:
 * - NULL sorts before every other value;
 * - floats: -Infinity < … < -0 = 0 < … < Infinity < NaN (NaN equals NaN, as in PostgreSQL);
 * - strings and text: by Unicode code point (the same as UTF-8 byte order);
 * - binary: bytewise; decimals, timestamps, dates, durations: numerically;
 * - json: by canonical text (keys sorted); points: by x, then y.
 */
export function compareValues(type: FieldType, a: Value, b: Value): number {
  if (a === null || b === null) return a === null ? (b === null ? 0 : -1) : 1;
  switch (type) {
    case 'int':
    case 'uint':
      return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case 'float':
      return compareFloats(a as number, b as number);
    case 'boolean':
      return a === b ? 0 : a ? 1 : -1;
    case 'string':
    case 'text':
      return compareStrings(a as string, b as string);
    case 'binary':
      return compareBytes(a as Uint8Array, b as Uint8Array);
    case 'decimal':
      return (a as Decimal).compare(b as Decimal);
    case 'timestamp':
      return (a as Timestamp).compare(b as Timestamp);
    case 'date':
      return (a as DateValue).compare(b as DateValue);
    case 'json':
      return (a as Json).compare(b as Json);
    case 'duration':
      return (a as Duration).compare(b as Duration);
    case 'point':
      return (a as Point).compare(b as Point);
  }
}

/**
 * Equality of two values of one type, consistent with {@link compareValues}
 * except for durations, where `1 month` ≠ `30 days` (they add differently).
 */
export function valuesEqual(type: FieldType, a: Value, b: Value): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  if (type === 'duration') return (a as Duration).equals(b as Duration);
  return compareValues(type, a, b) === 0;
}

/** Field-by-field equality of two rows of `schema`. */
export function rowsEqual(schema: Schema, a: Row, b: Row): boolean {
  const fields = schema.fields;
  for (let i = 0; i < fields.length; i++) {
    if (!valuesEqual(fields[i]!.type, a[i] ?? null, b[i] ?? null)) return false;
  }
  return true;
}

/** Lexicographic comparison of two rows by the given field positions (all fields by default). */
export function compareRows(schema: Schema, a: Row, b: Row, positions?: readonly number[]): number {
  const n = positions ? positions.length : schema.fields.length;
  for (let k = 0; k < n; k++) {
    const i = positions ? positions[k]! : k;
    const c = compareValues(schema.fields[i]!.type, a[i] ?? null, b[i] ?? null);
    if (c !== 0) return c;
  }
  return 0;
}

function compareFloats(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0; // also -0 vs 0
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  return an === bn ? 0 : an ? 1 : -1;
}

/** Code point order: UTF-16 code unit order, except that surrogates sort after U+E000..U+FFFF. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** Bytewise lexicographic order. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}
