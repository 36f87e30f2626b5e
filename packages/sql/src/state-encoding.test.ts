import { DateValue, Decimal, Duration, Json, Point, Timestamp } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeState,
  decodeStateValue,
  encodeState,
  encodeStateValue,
  stringifyTagged,
  tagValues,
} from './internal/state.js';

// Operator state values (group accumulators, join rows, bags as Maps) of every SQL value type,
// nested in arrays, objects and Maps. JSON has no negative zero: state keeps 0 for -0, as
// JSON.stringify does, and no SQL operator tells them apart (valueKey gives both the same key).
const double = (o: fc.DoubleConstraints = {}) => fc.double(o).map((d) => (Object.is(d, -0) ? 0 : d));
const sqlValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string(),
  double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc
    .tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.integer({ min: 0, max: 12 }))
    .map(([u, s]) => new Decimal(u, s)),
  fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }).map((m) => new Timestamp(m)),
  fc.integer({ min: -100_000, max: 100_000 }).map((d) => new DateValue(d)),
  fc
    .tuple(
      fc.integer({ min: -50, max: 50 }),
      fc.integer({ min: -50, max: 50 }),
      fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
    )
    .map(([m, d, us]) => new Duration(m, d, us)),
  // Inside JSON values too (fc.jsonValue makes -0; JSON text round trips it to 0).
  fc.jsonValue().map((v) => new Json(JSON.parse(JSON.stringify(v)))),
  fc.tuple(double({ noNaN: true }), double({ noNaN: true })).map(([x, y]) => new Point(x, y)),
  fc.uint8Array({ maxLength: 8 }),
);
const stateValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    sqlValue,
    fc.array(tie('value'), { maxLength: 4 }),
    // Keys that look like the format's tags (`$`, `$$x`) and `__proto__` are data like any other.
    fc.dictionary(
      fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('$', '$$', '$d', '__proto__')),
      tie('value'),
      {
        maxKeys: 4,
      },
    ),
    fc.array(fc.tuple(fc.string({ maxLength: 6 }), tie('value')), { maxLength: 3 }).map((e) => new Map(e)),
  ),
})).value;

describe('state value encoding', () => {
  it('writes exactly the text of JSON.stringify with the tagging replacer, and decodes back to equal values', () => {
    fc.assert(
      fc.property(stateValue, (v) => {
        expect(stringifyTagged(v)).toBe(JSON.stringify(v, tagValues));
        expect(decodeStateValue(encodeStateValue(v))).toEqual(v);
        expect(decodeState(encodeState(v))).toEqual(v);
      }),
      { numRuns: 500 },
    );
    expect(stringifyTagged({ a: undefined, b: () => 1, c: [undefined] })).toBe(
      JSON.stringify({ a: undefined, b: () => 1, c: [undefined] }, tagValues),
    );
  });

  // Found by the property above: an object keyed by "$" decoded as a tag (here a decimal
  // without digits, which threw), and so did a JSON value shaped like a tag.
  it('keeps objects and JSON values whose keys look like tags', () => {
    const values: unknown[] = [
      [{ '': [{ '': { '': { $: 'd' } } }] }],
      { $: 'i', v: '12' },
      { $$: 1, $x: [{ $: 'M', v: [] }] },
      new Json({ $: 'i', v: '12' }),
      new Json([{ $: 'd', u: '1', s: 0 }, { $$: null }]),
      JSON.parse('{"__proto__":{"$":"t","v":"1"}}'),
    ];
    for (const v of values) {
      expect(decodeStateValue(encodeStateValue(v))).toEqual(v);
      expect(decodeState(encodeState(v))).toEqual(v);
    }
    expect(Object.keys(decodeStateValue(encodeStateValue(values[5])) as object)).toEqual(['__proto__']);
  });

  it('still reads version 1, which a checkpoint taken before the escape holds', () => {
    const v1 = (text: string) => new Uint8Array([1, ...new TextEncoder().encode(text)]);
    expect(decodeStateValue(v1('[{"$":"d","u":"1234","s":2},{"$":"j","v":{"a":[1]}},{"$x":1}]'))).toEqual([
      new Decimal(1234n, 2),
      new Json({ a: [1] }),
      { $x: 1 },
    ]);
    const state = decodeState(new TextEncoder().encode('{"version":1,"state":[{"$":"i","v":"7"},{"$$":2}]}'));
    expect(state).toEqual([7n, { $$: 2 }]);
    expect(() => decodeStateValue(new Uint8Array([3, 0x6e]))).toThrow(
      /format version 3; this build reads 1 and 2/,
    );
  });
});
