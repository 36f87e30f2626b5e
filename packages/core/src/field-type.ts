/**
 * The closed set of field types. Each type has exactly one in-memory value
 * representation (see `value.ts`), so code that knows a field's type knows
 * the JavaScript shape of its values.
 *
 * | type      | JS value                         |
 * |-----------|----------------------------------|
 * | int       | bigint, -2^63 .. 2^63-1          |
 * | uint      | bigint, 0 .. 2^64-1              |
 * | float     | number (IEEE 754 double)         |
 * | boolean   | boolean                          |
 * | string    | string (short, indexable)        |
 * | text      | string (long, full-text indexed) |
 * | binary    | Uint8Array                       |
 * | decimal   | Decimal                          |
 * | timestamp | Timestamp (UTC, microseconds)    |
 * | date      | DateValue (days since 1970-01-01)|
 * | json      | Json                             |
 * | duration  | Duration (months, days, micros)  |
 * | point     | Point (x, y doubles)             |
 *
 * A `null` value is SQL NULL and is allowed only in nullable fields.
 */
export const FieldType = {
  Int: 'int',
  UInt: 'uint',
  Float: 'float',
  Boolean: 'boolean',
  String: 'string',
  Text: 'text',
  Binary: 'binary',
  Decimal: 'decimal',
  Timestamp: 'timestamp',
  Date: 'date',
  Json: 'json',
  Duration: 'duration',
  Point: 'point',
} as const;

/** One of the values of {@link FieldType}. */
export type FieldType = (typeof FieldType)[keyof typeof FieldType];

/** Every field type, in a stable order (also the codec's type tag order). */
export const ALL_FIELD_TYPES: readonly FieldType[] = Object.values(FieldType);

/** True when `s` names a field type. */
export function isFieldType(s: string): s is FieldType {
  return (ALL_FIELD_TYPES as readonly string[]).includes(s);
}

/** Smallest and largest values of the 64-bit integer types. */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;
