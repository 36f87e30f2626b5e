import { ALL_FIELD_TYPES, compareValues, Decimal, Duration, valuesEqual } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../errors.js';
import { compareKeys, encodeKey, prefixSuccessor, tupleWriter } from './key-codec.js';
import { nullableValueArb } from './test-arbitraries.js';

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

describe('order-preserving key encoding', () => {
  for (const type of ALL_FIELD_TYPES) {
    it(`byte order of ${type} keys is compareValues order`, () => {
      fc.assert(
        fc.property(nullableValueArb(type), nullableValueArb(type), (a, b) => {
          const c = sign(compareValues(type, a, b));
          expect(sign(compareKeys(encodeKey(type, a), encodeKey(type, b)))).toBe(c);
          // Exact keys (primary keys) order the same way and separate values that are not equal.
          const ex = sign(compareKeys(encodeKey(type, a, true), encodeKey(type, b, true)));
          if (c !== 0) expect(ex).toBe(c);
          else expect(ex === 0).toBe(valuesEqual(type, a, b));
        }),
        { numRuns: 300 },
      );
      // Property tests: CPU-bound, slow on a busy machine.
    }, 60_000);
  }

  it('tuples order lexicographically, field by field', () => {
    const types = ['string', 'int', 'binary'] as const;
    const w = tupleWriter(types, true);
    const enc = (row: readonly (string | bigint | Uint8Array | null)[]) => {
      const buf = new Uint8Array(256);
      return buf.slice(0, w(row, buf, 0));
    };
    const rowArb = fc.tuple(nullableValueArb('string'), nullableValueArb('int'), nullableValueArb('binary'));
    fc.assert(
      fc.property(rowArb, rowArb, (a, b) => {
        let c = 0;
        for (let i = 0; i < 3 && c === 0; i++) c = compareValues(types[i]!, a[i]!, b[i]!);
        expect(sign(compareKeys(enc(a as never), enc(b as never)))).toBe(sign(c));
      }),
    );
  });

  it('treats numerically equal decimals as one key, whatever their scale', () => {
    expect(encodeKey('decimal', new Decimal(150n, 2))).toEqual(encodeKey('decimal', new Decimal(15n, 1)));
    expect(
      compareKeys(
        encodeKey('decimal', Decimal.parse('-0.12')),
        encodeKey('decimal', Decimal.parse('-0.123')),
      ),
    ).toBe(1);
  });

  it('keeps 1 month and 30 days apart in exact keys but together in index keys', () => {
    const m = new Duration(1, 0, 0n);
    const d = new Duration(0, 30, 0n);
    expect(encodeKey('duration', m)).toEqual(encodeKey('duration', d));
    expect(encodeKey('duration', m, true)).not.toEqual(encodeKey('duration', d, true));
  });

  it('rejects values of the wrong type with a StoreError', () => {
    expect(() => encodeKey('int', 5)).toThrow(StoreError);
    expect(() => encodeKey('int', 2n ** 63n)).toThrow(/cannot encode bigint 9223372036854775808n as a int/);
  });

  it('prefixSuccessor bounds every key with the prefix', () => {
    expect(prefixSuccessor(new Uint8Array([1, 2, 0xff]))).toEqual(new Uint8Array([1, 3]));
    expect(prefixSuccessor(new Uint8Array([0xff, 0xff]))).toBeUndefined();
  });
});
