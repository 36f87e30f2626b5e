import { DateValue, type FieldType } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob } from './glob.js';
import { TypeInference, textConverter } from './values.js';

const conv = (type: FieldType, nullable = false) => textConverter({ name: 'c', type, nullable });

describe('CSV text conversion', () => {
  it('reads integers exactly up to the 64-bit limits and rejects anything else', () => {
    const int = conv('int');
    expect(int('0')).toBe(0n);
    expect(int('-42')).toBe(-42n);
    expect(int('+7')).toBe(7n);
    expect(int('007')).toBe(7n);
    expect(int('9223372036854775807')).toBe(2n ** 63n - 1n);
    expect(int('-9223372036854775808')).toBe(-(2n ** 63n));
    for (const bad of ['9223372036854775808', '1.0', '1e3', '0x10', ' 1', '-', '1_000']) {
      expect(() => int(bad), bad).toThrow(/column "c" \(int\): expected an integer/);
    }
    expect(conv('uint')('18446744073709551615')).toBe(2n ** 64n - 1n);
    expect(() => conv('uint')('-1')).toThrow(
      'column "c" (uint): expected an integer in 0..18446744073709551615, got "-1"',
    );
  });

  it('reads every valid date like the core parser does, and rejects invalid ones', () => {
    const date = conv('date');
    fc.assert(
      fc.property(fc.integer({ min: -719162, max: 2932896 }), (days) => {
        const text = new DateValue(days).toString();
        expect((date(text) as DateValue).days).toBe(days);
      }),
    );
    expect(() => date('2023-02-29')).toThrow(
      'column "c" (date): expected a YYYY-MM-DD date, got "2023-02-29"',
    );
    expect(() => date('2024-13-01')).toThrow(/expected a YYYY-MM-DD date/);
  });

  it('reads booleans, floats and empty fields', () => {
    expect(['true', 'FALSE', 't', 'no', '1'].map(conv('boolean'))).toEqual([true, false, true, false, true]);
    expect(['1.5', '-2e-3', '.5', 'NaN', '-inf'].map(conv('float'))).toEqual([
      1.5,
      -0.002,
      0.5,
      Number.NaN,
      -Infinity,
    ]);
    expect(() => conv('float')('1,5')).toThrow('column "c" (float): expected a number, got "1,5"');
    expect(conv('int', true)(null)).toBe(null);
    expect(conv('string')(null)).toBe('');
    expect(() => conv('int')(null)).toThrow('column "c" (int) is not nullable but the field is empty');
  });
});

describe('type inference', () => {
  it('keeps the narrowest type every value fits', () => {
    const inf = new TypeInference('string');
    const rows = [
      ['1', '1', '2024-01-01', 'true', 'x', null],
      ['2', '2.5', '2024-01-01T10:00:00Z', 'false', '3', null],
      ['3', null, '2024-01-02', 'true', 'y', null],
    ];
    for (const r of rows) {
      r.forEach((v, i) => {
        inf.addText(`c${i}`, v);
      });
    }
    expect(inf.fields().map((f) => [f.type, f.nullable])).toEqual([
      ['int', false],
      ['float', true],
      ['timestamp', false],
      ['boolean', false],
      ['string', false],
      ['string', true],
    ]);
  });
});

describe('file patterns', () => {
  it('match keys relative to the prefix', () => {
    const m = (p: string, k: string) => compileGlob(p)(k);
    expect(m('*.csv', 'a.csv')).toBe(true);
    expect(m('*.csv', 'dir/a.csv')).toBe(false);
    expect(m('**/*.csv', 'a.csv')).toBe(true);
    expect(m('**/*.csv', 'x/y/a.csv')).toBe(true);
    expect(m('part-?.parquet', 'part-1.parquet')).toBe(true);
    expect(m('part-?.parquet', 'part-10.parquet')).toBe(false);
    expect(m('*.{csv,tsv}', 'a.tsv')).toBe(true);
    expect(m('[0-9]*.csv', '2024.csv')).toBe(true);
    expect(m('[!0-9]*.csv', '2024.csv')).toBe(false);
    expect(m('a+b(1).csv', 'a+b(1).csv')).toBe(true);
    expect(() => compileGlob('*.{csv')).toThrow('unclosed "{" in pattern "*.{csv"');
  });
});
