import { ALL_FIELD_TYPES, Decimal, Json, makeSchema, type Value } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../errors.js';
import { RowDecoder, RowEncoder } from './row-codec.js';
import { nullableValueArb } from './test-arbitraries.js';

const schema = makeSchema(ALL_FIELD_TYPES.map((type) => ({ name: `f_${type}`, type, nullable: true })));

function same(a: Value, b: Value): boolean {
  if (a instanceof Json && b instanceof Json) return JSON.stringify(a.value) === JSON.stringify(b.value);
  if (a instanceof Decimal && b instanceof Decimal) return a.unscaled === b.unscaled && a.scale === b.scale;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  if (typeof a === 'object' && a !== null && b !== null && typeof b === 'object') {
    return (
      a.constructor === b.constructor &&
      JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? `${v}n` : Object.is(v, -0) ? '-0' : v)) ===
        JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? `${v}n` : Object.is(v, -0) ? '-0' : v))
    );
  }
  return Object.is(a, b);
}

describe('row encoding', () => {
  it('round-trips every type exactly (classes, decimal scale, -0, NaN, json key order)', () => {
    const enc = new RowEncoder(schema);
    const dec = new RowDecoder(schema);
    fc.assert(
      fc.property(fc.tuple(...ALL_FIELD_TYPES.map(nullableValueArb)), fc.nat(8), (row, prefix) => {
        const back = dec.decode(enc.encode(row, prefix), prefix);
        expect(back.length).toBe(row.length);
        for (let i = 0; i < row.length; i++) {
          if (!same(row[i]!, back[i]!))
            throw new Error(`field ${i}: ${String(row[i])} came back as ${String(back[i])}`);
        }
      }),
      { numRuns: 500 },
    );
    // A property test: CPU-bound, slow on a busy machine.
  }, 60_000);

  it('keeps a decimal scale and json key order', () => {
    const s = makeSchema([
      { name: 'd', type: 'decimal', nullable: false },
      { name: 'j', type: 'json', nullable: false },
    ]);
    const [d, j] = new RowDecoder(s).decode(
      new RowEncoder(s).encode([new Decimal(150n, 2), new Json({ b: 1, a: null })]),
    );
    expect((d as Decimal).toString()).toBe('1.50');
    expect(JSON.stringify((j as Json).value)).toBe('{"b":1,"a":null}');
  });

  it('rejects rows that do not fit the schema, naming the field', () => {
    const s = makeSchema([
      { name: 'id', type: 'int', nullable: false },
      { name: 'name', type: 'string', nullable: true },
    ]);
    const enc = new RowEncoder(s);
    expect(() => enc.encode([1, 'a'])).toThrow(/field "id" \(int\) expects a bigint, got number 1/);
    expect(() => enc.encode([null, 'a'])).toThrow(/field "id" is not nullable/);
    expect(() => enc.encode([1n])).toThrow(StoreError);
    expect(() => enc.encode([2n ** 64n, null])).toThrow(/signed 64-bit range/);
  });
});
