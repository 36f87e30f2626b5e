import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareStrings, compareValues } from './compare.js';
import { ALL_FIELD_TYPES, INT64_MAX, INT64_MIN, UINT64_MAX } from './field-type.js';
import type { FieldDefinition } from './schema.js';
import { DateValue, Decimal, Duration, formatTimestamp, Json, Point, Timestamp } from './value.js';
import { valueFromJson, valueToJson } from './value-json.js';

describe('Decimal', () => {
  it('parses and prints exactly, keeping the scale', () => {
    for (const s of ['0', '-0.001', '123456789012345678901234567890.123456789', '1.50', '-7']) {
      expect(Decimal.parse(s).toString()).toBe(s);
    }
    expect(Decimal.parse('.5').toString()).toBe('0.5');
    expect(Decimal.parse('1e3').toString()).toBe('1000');
    expect(Decimal.parse('1.5e-3').toString()).toBe('0.0015');
    expect(() => Decimal.parse('1.2.3')).toThrow('not a decimal number: "1.2.3"');
  });
  it('reads short and long decimals alike (the short ones take a fast path)', () => {
    const digits = (min: number, max: number) =>
      fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(''));
    fc.assert(
      fc.property(
        fc.constantFrom('', '-', '+'),
        digits(1, 12),
        fc.option(digits(1, 10)),
        (sign, int, frac) => {
          const text = `${sign}${int}${frac === null ? '' : `.${frac}`}`;
          const d = Decimal.parse(text);
          // Surrounding blanks send the same text down the general parser.
          const general = Decimal.parse(` ${text} `);
          expect([d.unscaled, d.scale]).toEqual([general.unscaled, general.scale]);
          expect(d.scale).toBe(frac?.length ?? 0);
          expect(d.unscaled).toBe(BigInt(`${sign === '-' ? '-' : ''}${int}${frac ?? ''}`));
        },
      ),
    );
  });
  it('does exact arithmetic and numeric comparison', () => {
    expect(Decimal.parse('0.1').add(Decimal.parse('0.2')).toString()).toBe('0.3');
    expect(Decimal.parse('1.10').equals(Decimal.parse('1.1'))).toBe(true);
    expect(Decimal.parse('-2').compare(Decimal.parse('1.5'))).toBe(-1);
    expect(Decimal.parse('10').div(Decimal.parse('3'), 4).toString()).toBe('3.3333');
    expect(Decimal.parse('-2.5').rescale(0).toString()).toBe('-3');
    expect(Decimal.parse('1.23').mul(Decimal.parse('-2')).toString()).toBe('-2.46');
    expect(() => Decimal.parse('1').div(Decimal.parse('0'))).toThrow('division by zero');
  });
});

describe('Timestamp', () => {
  it('keeps microseconds and normalises offsets to UTC', () => {
    expect(Timestamp.parse('2024-02-29T23:59:59.123456Z').toISOString()).toBe('2024-02-29T23:59:59.123456Z');
    expect(Timestamp.parse('2024-01-01 02:00:00+02:00').toISOString()).toBe('2024-01-01T00:00:00.000000Z');
    expect(Timestamp.parse('1969-12-31T23:59:59.999999Z').micros).toBe(-1n);
    expect(Timestamp.parse('2024-01-01').toISOString()).toBe('2024-01-01T00:00:00.000000Z');
    expect(() => Timestamp.parse('2023-02-29T00:00:00Z')).toThrow('not a valid timestamp');
  });
  it('reads every spelling of a timestamp the same way (separator, fraction digits, offsets)', () => {
    fc.assert(
      fc.property(
        fc.record({
          y: fc.integer({ min: 1000, max: 9999 }),
          mo: fc.integer({ min: 1, max: 12 }),
          d: fc.integer({ min: 1, max: 28 }),
          h: fc.integer({ min: 0, max: 23 }),
          mi: fc.integer({ min: 0, max: 59 }),
          s: fc.integer({ min: 0, max: 59 }),
          frac: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 9 }).map((x) => x.join('')),
          sep: fc.constantFrom('T', ' '),
          zone: fc.constantFrom('', 'Z', 'z', '+02:00', '-0530', '+11', '-00:45'),
        }),
        (t) => {
          const p2 = (n: number) => String(n).padStart(2, '0');
          const text = `${t.y}-${p2(t.mo)}-${p2(t.d)}${t.sep}${p2(t.h)}:${p2(t.mi)}:${p2(t.s)}${t.frac ? `.${t.frac}` : ''}${t.zone}`;
          const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(t.zone);
          const offset = z ? (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 3600 + Number(z[3] ?? 0) * 60) : 0;
          const utc = new Date(0);
          utc.setUTCFullYear(t.y, t.mo - 1, t.d);
          utc.setUTCHours(t.h, t.mi, t.s, 0);
          const expected =
            (BigInt(utc.getTime()) / 1000n - BigInt(offset)) * 1_000_000n +
            BigInt(t.frac.slice(0, 6).padEnd(6, '0'));
          expect(Timestamp.parse(text).micros).toBe(expected);
          // Surrounding blanks send the same text down the general parser.
          expect(Timestamp.parse(` ${text} `).micros).toBe(expected);
        },
      ),
    );
    expect(() => Timestamp.parse('2023-02-29 00:00:00')).toThrow('not a valid timestamp');
    expect(() => Timestamp.parse('2024-01-01T24:00:00Z')).toThrow('not a valid timestamp');
    expect(() => Timestamp.parse('2024-01-01T10:00:00+5')).toThrow('not a timestamp');
  });
  it('writes what Date writes for whole milliseconds, from a bigint or a safe number alike', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -62135596800000, max: 253402300799999 }),
        fc.integer({ min: 0, max: 999 }),
        (ms, us) => {
          const micros = BigInt(ms) * 1000n + BigInt(us);
          const text = new Date(ms).toISOString().replace('Z', `${String(us).padStart(3, '0')}Z`);
          expect(new Timestamp(micros).toISOString()).toBe(text);
          if (Number.isSafeInteger(Number(micros))) expect(formatTimestamp(Number(micros))).toBe(text);
        },
      ),
    );
    // Past 2^53 microseconds (year 2255) the text comes from bigint arithmetic.
    expect(formatTimestamp(2n ** 53n)).toBe('2255-06-05T23:47:34.740992Z');
    expect(formatTimestamp(-(2n ** 63n))).toBe('-290308-12-21T19:59:05.224192Z');
  });
  it('round-trips any microsecond in years 0001..9999', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -62135596800000000n, max: 253402300799999999n }), (us) => {
        expect(Timestamp.parse(new Timestamp(us).toISOString()).micros).toBe(us);
      }),
    );
  });
});

describe('DateValue, Duration, Point', () => {
  it('parses dates', () => {
    expect(DateValue.parse('1970-01-02').days).toBe(1);
    expect(DateValue.parse('1900-03-01').toString()).toBe('1900-03-01');
    expect(() => DateValue.parse('2021-13-01')).toThrow('not a valid date');
  });
  it('parses SQL and ISO intervals', () => {
    expect(Duration.parse('5 MINUTES').micros).toBe(300_000_000n);
    expect(Duration.parse('1 hour 30 minutes').toString()).toBe('PT1H30M');
    expect(Duration.parse('P1Y2M3DT4H5M6.000007S')).toEqual(new Duration(14, 3, 14_706_000_007n));
    expect(Duration.parse('-PT1S').toString()).toBe('-PT1S');
    expect(() => Duration.parse('5 fortnights')).toThrow('unknown interval unit "fortnights"');
  });
  it('round-trips duration text', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1000, max: 1000 }),
        fc.integer({ min: -1000, max: 1000 }),
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
        (mo, d, us) => {
          const v = new Duration(mo, d, us);
          // Mixed signs do not survive ISO text in general; same-sign spans must.
          fc.pre((mo >= 0 && d >= 0 && us >= 0n) || (mo <= 0 && d <= 0 && us <= 0n));
          expect(Duration.parse(v.toString()).equals(v)).toBe(true);
        },
      ),
    );
  });
  it('parses points', () => {
    expect(Point.parse('(1.5, -2)').equals(new Point(1.5, -2))).toBe(true);
  });
});

describe('compareStrings', () => {
  it('orders by code point, like UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const bytes = Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
        expect(Math.sign(compareStrings(a, b))).toBe(bytes);
      }),
    );
    expect(compareStrings('\uffff', '😀')).toBe(-1);
  });
});

describe('valueToJson / valueFromJson', () => {
  const arb: Record<string, fc.Arbitrary<unknown>> = {
    int: fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
    uint: fc.bigInt({ min: 0n, max: UINT64_MAX }),
    float: fc.double(),
    boolean: fc.boolean(),
    string: fc.string(),
    text: fc.string({ unit: 'grapheme' }),
    binary: fc.uint8Array(),
    decimal: fc
      .tuple(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), fc.integer({ min: 0, max: 20 }))
      .map(([u, s]) => new Decimal(u, s)),
    timestamp: fc.bigInt({ min: -62135596800000000n, max: 253402300799999999n }).map((u) => new Timestamp(u)),
    date: fc.integer({ min: -719162, max: 2932896 }).map((d) => new DateValue(d)),
    // A JSON document that is just `null` reads back as SQL NULL in a nullable field (documented).
    json: fc
      .jsonValue()
      .filter((v) => v !== null)
      .map((v) => new Json(JSON.parse(JSON.stringify(v)))),
    duration: fc
      .tuple(fc.nat(5000), fc.nat(5000), fc.bigInt({ min: 0n, max: 10n ** 14n }))
      .map(([m, d, u]) => new Duration(m, d, u)),
    point: fc.tuple(fc.double({ noNaN: true }), fc.double({ noNaN: true })).map(([x, y]) => new Point(x, y)),
  };
  it('round-trips every type exactly through JSON text', () => {
    for (const type of ALL_FIELD_TYPES) {
      const field: FieldDefinition = { name: 'f', type, nullable: true };
      fc.assert(
        fc.property(fc.option(arb[type]!, { nil: null }), (v) => {
          const text = JSON.stringify(valueToJson(field, v as never));
          const back = valueFromJson(field, JSON.parse(text), '$.f');
          expect(compareValues(type, back, v as never)).toBe(0);
          if (type === 'decimal' && v) expect(String(back)).toBe(String(v));
        }),
        { numRuns: 200 },
      );
    }
  });
  it('writes 64-bit integers as exact strings', () => {
    const f: FieldDefinition = { name: 'id', type: 'int', nullable: false };
    expect(valueToJson(f, 9007199254740993n)).toBe('9007199254740993');
    expect(valueFromJson(f, '9007199254740993', 'x')).toBe(9007199254740993n);
    expect(valueFromJson(f, 42, 'x')).toBe(42n);
  });
  it('names the path and field in errors', () => {
    const f: FieldDefinition = { name: 'price', type: 'decimal', nullable: false };
    expect(() => valueFromJson(f, true, '$filter.price.$gt')).toThrow(
      '$filter.price.$gt: expected a number or a numeric string for decimal field "price", got boolean true',
    );
    expect(() => valueFromJson(f, null, 'body.price')).toThrow(
      'body.price: expected a value (the field is not nullable) for decimal field "price", got null',
    );
    const i: FieldDefinition = { name: 'n', type: 'int', nullable: false };
    expect(() => valueFromJson(i, '99999999999999999999', 'q')).toThrow('expected an integer in');
    expect(() => valueFromJson(i, 1.5, 'q')).toThrow(
      'q: expected an integer or a string of digits for int field "n", got number 1.5',
    );
  });
});
