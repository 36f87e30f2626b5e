// Test-only generators of values for every field type (used by the codec and store property tests).
import {
  DateValue,
  Decimal,
  Duration,
  type FieldType,
  INT64_MAX,
  INT64_MIN,
  Json,
  Point,
  Timestamp,
  UINT64_MAX,
  type Value,
} from '@dozer/core';
import fc from 'fast-check';

/** Non-null values of `type`, biased towards edge cases (extremes, zero, embedded NUL bytes). */
export function valueArb(type: FieldType): fc.Arbitrary<Value> {
  switch (type) {
    case 'int':
      return fc.oneof(fc.constantFrom(INT64_MIN, INT64_MAX, 0n, -1n, 1n), fc.bigInt(INT64_MIN, INT64_MAX));
    case 'uint':
      return fc.oneof(fc.constantFrom(0n, UINT64_MAX, 2n ** 63n), fc.bigInt(0n, UINT64_MAX));
    case 'float':
      return fc.oneof(
        fc.constantFrom(-0, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        fc.double(),
      );
    case 'boolean':
      return fc.boolean();
    case 'string':
    case 'text':
      return fc.oneof(
        fc.string({ unit: 'binary', maxLength: 12 }),
        fc.constantFrom('', '\0', 'a\0', 'a', 'é', '\u{1F600}', '\uffff'),
      );
    case 'binary':
      return fc.uint8Array({ maxLength: 8 }).map((b) => new Uint8Array(b));
    case 'decimal':
      return fc
        .record({ u: fc.bigInt(-(10n ** 30n), 10n ** 30n), s: fc.integer({ min: 0, max: 20 }) })
        .map(({ u, s }) => new Decimal(u, s));
    case 'timestamp':
      return fc.bigInt(INT64_MIN, INT64_MAX).map((m) => new Timestamp(m));
    case 'date':
      return fc.integer({ min: -100_000_000, max: 100_000_000 }).map((d) => new DateValue(d));
    case 'json':
      return fc.jsonValue({ maxDepth: 2 }).map((j) => new Json(j as never));
    case 'duration':
      return fc
        .record({
          months: fc.integer({ min: -10_000, max: 10_000 }),
          days: fc.integer({ min: -100_000, max: 100_000 }),
          micros: fc.bigInt(-(10n ** 15n), 10n ** 15n),
        })
        .map(({ months, days, micros }) => new Duration(months, days, micros));
    case 'point':
      return fc
        .record({ x: fc.double({ noNaN: true }), y: fc.double({ noNaN: true }) })
        .map(({ x, y }) => new Point(x, y));
  }
}

/** Values of `type` or NULL. */
export function nullableValueArb(type: FieldType): fc.Arbitrary<Value> {
  return fc.option(valueArb(type), { nil: null, freq: 6 });
}
