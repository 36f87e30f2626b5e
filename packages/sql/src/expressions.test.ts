import {
  DateValue,
  Decimal,
  Duration,
  type FieldDefinition,
  type FieldType,
  Json,
  makeSchema,
  Point,
  Timestamp,
  type Value,
  valuesEqual,
} from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { compileSql, SqlEvalError } from './index.js';

const FIELDS: FieldDefinition[] = [
  { name: 'id', type: 'int', nullable: false },
  { name: 'i', type: 'int', nullable: true },
  { name: 'j', type: 'int', nullable: true },
  { name: 'u', type: 'uint', nullable: true },
  { name: 'f', type: 'float', nullable: true },
  { name: 'd', type: 'decimal', nullable: true },
  { name: 'b', type: 'boolean', nullable: true },
  { name: 'c', type: 'boolean', nullable: true },
  { name: 's', type: 'string', nullable: true },
  { name: 'x', type: 'text', nullable: true },
  { name: 'bin', type: 'binary', nullable: true },
  { name: 'ts', type: 'timestamp', nullable: true },
  { name: 'dt', type: 'date', nullable: true },
  { name: 'js', type: 'json', nullable: true },
  { name: 'dur', type: 'duration', nullable: true },
  { name: 'pt', type: 'point', nullable: true },
];
const T = makeSchema(FIELDS, ['id']);
const SOURCES = new Map([['t', T]]);

type RowInit = { [name: string]: Value };

/** Evaluates `expr` over one row of table t (columns default to NULL). */
function evalExpr(expr: string, init: RowInit = {}): Value {
  const p = compileSql(`SELECT ${expr} AS v FROM t INTO o`, SOURCES);
  const row = FIELDS.map((f) => (f.name === 'id' ? 1n : (init[f.name] ?? null)));
  const out = p
    .createExecutor()
    .push('t', [{ kind: 'insert', new: row }])
    .get('o');
  const op = out?.[0];
  if (op?.kind !== 'insert') throw new Error(`no output row for ${expr}`);
  return op.new[0] ?? null;
}

function evalError(expr: string, init: RowInit = {}): SqlEvalError {
  try {
    evalExpr(expr, init);
  } catch (e) {
    expect(e).toBeInstanceOf(SqlEvalError);
    return e as SqlEvalError;
  }
  throw new Error(`expected ${expr} to fail`);
}

const dec = (s: string) => Decimal.parse(s);

describe('three-valued logic', () => {
  const V = [true, false, null] as const;
  const and = (a: boolean | null, b: boolean | null) =>
    a === false || b === false ? false : a === null || b === null ? null : true;
  const or = (a: boolean | null, b: boolean | null) =>
    a === true || b === true ? true : a === null || b === null ? null : false;
  for (const a of V) {
    for (const b of V) {
      it(`${a} AND/OR ${b}`, () => {
        expect(evalExpr('b AND c', { b: a, c: b })).toBe(and(a, b));
        expect(evalExpr('b OR c', { b: a, c: b })).toBe(or(a, b));
      });
    }
    it(`NOT ${a}, ${a} IS [NOT] NULL/TRUE/FALSE`, () => {
      expect(evalExpr('NOT b', { b: a })).toBe(a === null ? null : !a);
      expect(evalExpr('b IS NULL', { b: a })).toBe(a === null);
      expect(evalExpr('b IS NOT NULL', { b: a })).toBe(a !== null);
      expect(evalExpr('b IS TRUE', { b: a })).toBe(a === true);
      expect(evalExpr('b IS NOT FALSE', { b: a })).toBe(a !== false);
    });
  }

  it('comparisons with NULL are NULL, and WHERE drops NULL', () => {
    expect(evalExpr('i = 1', {})).toBe(null);
    expect(evalExpr('i <> 1', {})).toBe(null);
    expect(evalExpr('NULL = NULL')).toBe(null);
    const p = compileSql('SELECT id FROM t WHERE i > 0 INTO o', SOURCES);
    const row = FIELDS.map((f) => (f.name === 'id' ? 1n : null));
    expect(p.createExecutor().push('t', [{ kind: 'insert', new: row }]).size).toBe(0);
  });

  it('IN and NOT IN follow NULL semantics', () => {
    expect(evalExpr('1 IN (1, NULL)')).toBe(true);
    expect(evalExpr('1 IN (2, NULL)')).toBe(null);
    expect(evalExpr('1 NOT IN (2, NULL)')).toBe(null);
    expect(evalExpr('1 NOT IN (2, 3)')).toBe(true);
    expect(evalExpr('i IN (1, 2)')).toBe(null);
    expect(evalExpr('i IN (1, 2)', { i: 2n })).toBe(true);
    expect(evalExpr("s IN ('a', 'b')", { s: 'c' })).toBe(false);
  });

  it('BETWEEN is inclusive and NULL-aware', () => {
    expect(evalExpr('i BETWEEN 1 AND 3', { i: 3n })).toBe(true);
    expect(evalExpr('i NOT BETWEEN 1 AND 3', { i: 4n })).toBe(true);
    expect(evalExpr('i BETWEEN 1 AND j', { i: 0n })).toBe(false);
    expect(evalExpr('i BETWEEN 1 AND j', { i: 2n })).toBe(null);
  });
});

describe('arithmetic', () => {
  it('keeps integers exact and fails on 64-bit overflow instead of wrapping', () => {
    expect(evalExpr('i + 1', { i: 9223372036854775806n })).toBe(9223372036854775807n);
    const e = evalError('i + 1', { i: 9223372036854775807n });
    expect(e.code).toBe('EVAL');
    expect(e.message).toBe('integer out of range: 9223372036854775808 in "i + 1" at line 1, column 8');
    expect(evalError('i * j', { i: 4611686018427387904n, j: 2n }).message).toContain('integer out of range');
    expect(evalError('-i', { i: -9223372036854775808n }).message).toContain('integer out of range');
    expect(evalError('abs(i)', { i: -9223372036854775808n }).message).toContain('integer out of range');
    expect(evalError('u + u', { u: 2n ** 63n }).message).toContain('unsigned integer out of range');
    // uint with int works in int: 0 - 1 is fine, and so is the NULL case.
    expect(evalExpr('u - 1', { u: 0n })).toBe(-1n);
  });

  it('divides integers by truncation, like PostgreSQL', () => {
    expect(evalExpr('7 / 2')).toBe(3n);
    expect(evalExpr('-7 / 2')).toBe(-3n);
    expect(evalExpr('-7 % 2')).toBe(-1n);
    expect(evalExpr('i / j', { i: 9n, j: -4n })).toBe(-2n);
  });

  it('fails on division by zero for every numeric type', () => {
    expect(evalError('i / j', { i: 1n, j: 0n }).message).toBe(
      'division by zero in "i / j" at line 1, column 8',
    );
    expect(evalError('i % 0', { i: 1n }).message).toContain('division by zero');
    expect(evalError('d / 0', { d: dec('1.5') }).message).toContain('division by zero');
    expect(evalError('f / 0', { f: 1.5 }).message).toContain('division by zero');
    expect(evalExpr('i / 0')).toBe(null); // NULL input: nothing to divide
  });

  it('mixes types: int with float is float, int with decimal is exact decimal', () => {
    expect(evalExpr('i + f', { i: 1n, f: 0.5 })).toBe(1.5);
    expect(evalExpr('0.1 + 0.2 = 0.3')).toBe(true);
    const sum = evalExpr('i + 0.1', { i: 1n }) as Decimal;
    expect(sum).toBeInstanceOf(Decimal);
    expect(sum.toString()).toBe('1.1');
    expect((evalExpr('d * 3', { d: dec('1.10') }) as Decimal).toString()).toBe('3.30');
    expect((evalExpr('d % 0.3', { d: dec('1.0') }) as Decimal).toString()).toBe('0.1');
    expect(evalExpr('d + f', { d: dec('1.5'), f: 1 })).toBe(2.5);
    expect(evalExpr('u + u', { u: 18446744073709551614n / 2n })).toBe(18446744073709551614n);
    expect(evalExpr('i + 12345678901234567890', { i: 1n })).toEqual(dec('12345678901234567891'));
  });

  it('NULL propagates through arithmetic', () => {
    expect(evalExpr('i + 1')).toBe(null);
    expect(evalExpr('-d')).toBe(null);
  });

  it('adds intervals to timestamps and dates, clamping to the end of the month', () => {
    const ts = Timestamp.parse('2024-01-31T10:00:00Z');
    expect(evalExpr("ts + INTERVAL '1 month'", { ts })).toEqual(Timestamp.parse('2024-02-29T10:00:00Z'));
    expect(evalExpr("ts - INTERVAL '1 day 2 hours'", { ts })).toEqual(
      Timestamp.parse('2024-01-30T08:00:00Z'),
    );
    expect(evalExpr('dt + 3', { dt: DateValue.parse('2024-02-28') })).toEqual(DateValue.parse('2024-03-02'));
    expect(evalExpr("dt - DATE '2024-01-01'", { dt: DateValue.parse('2024-03-01') })).toBe(60n);
    expect(evalExpr("ts - TIMESTAMP '2024-01-30 09:00:00'", { ts })).toEqual(
      new Duration(0, 1, 3_600_000_000n),
    );
  });
});

describe('comparisons', () => {
  it('compare mixed numeric types exactly', () => {
    expect(evalExpr('i = d', { i: 2n, d: dec('2.00') })).toBe(true);
    expect(evalExpr('i < f', { i: 2n, f: 2.5 })).toBe(true);
    expect(evalExpr('u > i', { u: 18446744073709551615n, i: 9223372036854775807n })).toBe(true);
  });

  it('coerce string literals to the timestamp or date they are compared with', () => {
    const ts = Timestamp.parse('2024-05-01T00:00:00Z');
    expect(evalExpr("ts > '2024-04-30 23:59:59'", { ts })).toBe(true);
    expect(evalExpr("ts = '2024-05-01T00:00:00Z'", { ts })).toBe(true);
    expect(evalExpr("dt BETWEEN '2024-01-01' AND '2024-12-31'", { dt: DateValue.parse('2024-05-01') })).toBe(
      true,
    );
    expect(evalExpr('ts >= dt', { ts, dt: DateValue.parse('2024-05-01') })).toBe(true);
  });

  it('compare strings by code point, not locale', () => {
    expect(evalExpr("s < 'b'", { s: 'B' })).toBe(true);
    expect(evalExpr('s = x', { s: 'a', x: 'a' })).toBe(true);
  });
});

describe('LIKE', () => {
  const like = (s: string, pattern: string, extra = '') => evalExpr(`s LIKE '${pattern}'${extra}`, { s });
  it('matches % and _ and nothing else specially', () => {
    expect(like('hello', 'h%o')).toBe(true);
    expect(like('hello', 'h_llo')).toBe(true);
    expect(like('hello', 'h_lo')).toBe(false);
    expect(like('a.c', 'a.c')).toBe(true);
    expect(like('abc', 'a.c')).toBe(false);
    expect(like('a(b)*', 'a(b)*')).toBe(true);
    expect(like('line1\nline2', 'line1%')).toBe(true);
    expect(like('héllo', 'h_llo')).toBe(true);
    expect(like('😀x', '_x')).toBe(true);
  });

  it('honours the default backslash escape and an ESCAPE clause', () => {
    expect(like('a_b', 'a\\_b')).toBe(true);
    expect(like('axb', 'a\\_b')).toBe(false);
    expect(like('100%', '100!%', " ESCAPE '!'")).toBe(true);
    expect(like('1000', '100!%', " ESCAPE '!'")).toBe(false);
    expect(like('a\\zz', 'a\\%', " ESCAPE ''")).toBe(true);
    expect(like('a%', 'a\\%', " ESCAPE ''")).toBe(false);
  });

  it('ILIKE ignores case; NOT LIKE negates; NULL gives NULL', () => {
    expect(evalExpr("s ILIKE 'HEL%'", { s: 'hello' })).toBe(true);
    expect(evalExpr("s LIKE 'HEL%'", { s: 'hello' })).toBe(false);
    expect(evalExpr("s NOT LIKE 'x%'", { s: 'hello' })).toBe(true);
    expect(evalExpr("s LIKE 'x%'")).toBe(null);
    expect(evalExpr('s LIKE x', { s: 'abc', x: 'a%' })).toBe(true);
    expect(evalExpr('s LIKE x', { s: 'abc', x: 'b%' })).toBe(false);
  });

  it('rejects a pattern ending in the escape character, at compile time or at run time', () => {
    expect(() => evalExpr("s LIKE 'ab!' ESCAPE '!'", { s: 'x' })).toThrow(
      "invalid LIKE pattern 'ab!' at line 1, column 15: SELECT s LIKE 'ab!' ESCAPE '!' AS v FROM t INTO o (LIKE pattern must not end with escape character)",
    );
    expect(evalError('s LIKE x', { s: 'x', x: 'a\\' }).message).toContain(
      'LIKE pattern must not end with escape character',
    );
  });
});

describe('CASE, COALESCE, NULLIF', () => {
  it('searched CASE takes the first true branch; NULL conditions do not match', () => {
    const e = "CASE WHEN i > 10 THEN 'big' WHEN i > 5 THEN 'mid' ELSE 'small' END";
    expect(evalExpr(e, { i: 20n })).toBe('big');
    expect(evalExpr(e, { i: 7n })).toBe('mid');
    expect(evalExpr(e, { i: 1n })).toBe('small');
    expect(evalExpr(e, {})).toBe('small');
    expect(evalExpr("CASE WHEN i > 10 THEN 'big' END", { i: 1n })).toBe(null);
  });

  it('simple CASE compares with =, so a NULL operand matches nothing', () => {
    const e = "CASE i WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'other' END";
    expect(evalExpr(e, { i: 2n })).toBe('two');
    expect(evalExpr(e, {})).toBe('other');
  });

  it('unifies branch types (int and decimal → decimal)', () => {
    expect(evalExpr('CASE WHEN b THEN 1 ELSE 2.5 END', { b: true })).toEqual(dec('1'));
  });

  it('COALESCE takes the first non-NULL; NULLIF turns equal values into NULL', () => {
    expect(evalExpr('COALESCE(i, j, 0)', { j: 5n })).toBe(5n);
    expect(evalExpr('COALESCE(i, j)')).toBe(null);
    expect(evalExpr('NULLIF(i, 3)', { i: 3n })).toBe(null);
    expect(evalExpr('NULLIF(i, 3)', { i: 4n })).toBe(4n);
  });
});

describe('functions', () => {
  it('string functions', () => {
    expect(evalExpr('UPPER(s)', { s: 'abé' })).toBe('ABÉ');
    expect(evalExpr('lower(s)', { s: 'ABC' })).toBe('abc');
    expect(evalExpr('LENGTH(s)', { s: 'a😀b' })).toBe(3n);
    expect(evalExpr('length(bin)', { bin: new Uint8Array([1, 2, 3, 4]) })).toBe(4n);
    expect(evalExpr("CONCAT(s, '-', i, NULL, b)", { s: 'a', i: 5n, b: true })).toBe('a-5true');
    expect(evalExpr("s || '!'", { s: 'hi' })).toBe('hi!');
    expect(evalExpr("s || '!'")).toBe(null);
    expect(evalExpr("'n=' || i", { i: 42n })).toBe('n=42');
    expect(evalExpr('SUBSTRING(s, 2, 3)', { s: 'hello' })).toBe('ell');
    expect(evalExpr('substring(s, 0, 3)', { s: 'hello' })).toBe('he');
    expect(evalExpr('substring(s, 3)', { s: 'hello' })).toBe('llo');
    expect(evalError('substring(s, 1, -1)', { s: 'hello' }).message).toContain('negative substring length');
    expect(evalExpr('TRIM(s)', { s: '  hi  ' })).toBe('hi');
    expect(evalExpr("TRIM(BOTH 'x' FROM s)", { s: 'xxhixx' })).toBe('hi');
    expect(evalExpr("TRIM(LEADING 'x' FROM s)", { s: 'xxhixx' })).toBe('hixx');
    expect(evalExpr('TRIM(TRAILING FROM s)', { s: '  hi  ' })).toBe('  hi');
    expect(evalExpr("REPLACE(s, 'l', 'L')", { s: 'hello' })).toBe('heLLo');
    expect(evalExpr("split_part(s, '/', 2)", { s: 'a/b/c' })).toBe('b');
    expect(evalExpr("split_part(s, '/', -1)", { s: 'a/b/c' })).toBe('c');
    expect(evalExpr("split_part(s, '/', 4)", { s: 'a/b/c' })).toBe('');
    expect(evalExpr("split_part(s, '', 1)", { s: 'abc' })).toBe('abc');
    expect(evalExpr("split_part(s, '/', i)", { s: 'a/b', i: null })).toBe(null);
    expect(evalError("split_part(s, '/', i)", { s: 'a/b', i: 0n }).message).toContain(
      'split_part field position must not be zero',
    );
  });

  it('math functions keep the argument type', () => {
    expect(evalExpr('ABS(i)', { i: -3n })).toBe(3n);
    expect(evalExpr('ABS(d)', { d: dec('-1.50') })).toEqual(dec('1.50'));
    expect(evalExpr('ROUND(d)', { d: dec('2.5') })).toEqual(dec('3'));
    expect(evalExpr('ROUND(d)', { d: dec('-2.5') })).toEqual(dec('-3'));
    expect((evalExpr('ROUND(d, 1)', { d: dec('1.25') }) as Decimal).toString()).toBe('1.3');
    expect((evalExpr('ROUND(d, -2)', { d: dec('1250') }) as Decimal).toString()).toBe('1300');
    expect(evalExpr('ROUND(f)', { f: 2.5 })).toBe(2);
    expect(evalExpr('ROUND(f, 2)', { f: 1.005 })).toBe(1.01);
    expect(evalExpr('FLOOR(d)', { d: dec('-1.5') })).toEqual(dec('-2'));
    expect(evalExpr('CEIL(d)', { d: dec('1.2') })).toEqual(dec('2'));
    expect(evalExpr('CEILING(f)', { f: 1.2 })).toBe(2);
    expect(evalExpr('FLOOR(i)', { i: 7n })).toBe(7n);
  });
});

describe('CAST', () => {
  const samples: { [t in FieldType]?: { col: string; value: Value } } = {
    int: { col: 'i', value: -9223372036854775808n },
    uint: { col: 'u', value: 18446744073709551615n },
    float: { col: 'f', value: 0.1 },
    decimal: { col: 'd', value: dec('-123.4500') },
    boolean: { col: 'b', value: false },
    string: { col: 's', value: "it's" },
    text: { col: 'x', value: 'long\ntext' },
    binary: { col: 'bin', value: new Uint8Array([0, 255, 16]) },
    timestamp: { col: 'ts', value: Timestamp.parse('1969-12-31T23:59:59.000001Z') },
    date: { col: 'dt', value: DateValue.parse('0001-01-01') },
    json: { col: 'js', value: new Json({ a: [1, null, 'x'] }) },
    duration: { col: 'dur', value: new Duration(14, 3, 4_000_005n) },
    point: { col: 'pt', value: new Point(1.5, -2) },
  };
  const SQL_TYPE_NAMES: { [t: string]: string } = {
    duration: 'interval',
    binary: 'bytea',
    uint: 'BIGINT UNSIGNED',
    string: 'varchar',
  };
  for (const [type, { col, value }] of Object.entries(samples)) {
    it(`${type} → text → ${type} gives the value back`, () => {
      const back = evalExpr(`CAST(CAST(${col} AS text) AS ${SQL_TYPE_NAMES[type] ?? type})`, {
        [col]: value,
      });
      expect(valuesEqual(type as FieldType, back, value)).toBe(true);
      if (type === 'decimal') expect((back as Decimal).scale).toBe(4);
    });
  }

  it('casts text to point with CAST and ::, and keeps point as a column alias', () => {
    expect(evalExpr('CAST(s AS POINT)', { s: '(3, 4)' })).toEqual(new Point(3, 4));
    expect(evalExpr('s::point', { s: '(0,-1.5)' })).toEqual(new Point(0, -1.5));
    expect(evalExpr('CAST(pt AS text)', { pt: new Point(3, 4) })).toBe('(3,4)');
    const p = compileSql('SELECT id AS point FROM t INTO o', SOURCES);
    expect(p.outputs.get('o')!.fields[0]!.name).toBe('point');
    expect(() => compileSql('SELECT CAST(i AS point) AS p FROM t INTO o', SOURCES)).toThrow(
      'cannot cast int to point in "CAST(i AS point)"',
    );
  });

  it('casts between numeric types like PostgreSQL', () => {
    expect(evalExpr('CAST(f AS int)', { f: 2.5 })).toBe(2n);
    expect(evalExpr('f::int', { f: 3.5 })).toBe(4n);
    expect(evalExpr('d::int', { d: dec('2.5') })).toBe(3n);
    expect(evalExpr('d::bigint', { d: dec('-2.5') })).toBe(-3n);
    expect(evalExpr('i::float', { i: 3n })).toBe(3);
    expect(evalExpr('f::decimal', { f: 0.1 })).toEqual(dec('0.1'));
    expect((evalExpr('d::decimal(5, 1)', { d: dec('12.34') }) as Decimal).toString()).toBe('12.3');
    expect(evalError('d::decimal(3, 1)', { d: dec('123.4') }).message).toContain('numeric field overflow');
    expect(evalError('CAST(i AS BIGINT UNSIGNED)', { i: -1n }).message).toContain('out of range');
    expect(evalError('f::int', { f: 1e30 }).message).toContain('out of range');
    expect(evalError('f::int', { f: Number.NaN }).message).toContain('cannot convert NaN');
  });

  it('parses text and reports bad input', () => {
    expect(evalExpr("'42'::int")).toBe(42n);
    expect(evalExpr("CAST(' yes ' AS boolean)")).toBe(true);
    expect(evalExpr('CAST(s AS timestamp)', { s: '2024-01-02 03:04:05' })).toEqual(
      Timestamp.parse('2024-01-02T03:04:05Z'),
    );
    expect(evalError('s::int', { s: 'abc' }).message).toBe(
      'invalid input for type int: "abc" in "s::int" at line 1, column 8',
    );
    expect(evalExpr('i::boolean', { i: 2n })).toBe(true);
    expect(evalExpr('ts::date', { ts: Timestamp.parse('1969-12-31T23:00:00Z') })).toEqual(
      DateValue.parse('1969-12-31'),
    );
    expect(evalExpr('dt::timestamp', { dt: DateValue.parse('2024-01-02') })).toEqual(
      Timestamp.parse('2024-01-02T00:00:00Z'),
    );
  });
});

describe('literals', () => {
  it('types literals: integers int, with a point decimal, typed strings parsed', () => {
    expect(evalExpr('1')).toBe(1n);
    expect(evalExpr('1.50')).toEqual(dec('1.50'));
    expect(evalExpr("TIMESTAMP '2024-01-01 12:00:00'")).toEqual(Timestamp.parse('2024-01-01T12:00:00Z'));
    expect(evalExpr("DATE '2024-02-29'")).toEqual(DateValue.parse('2024-02-29'));
    expect(evalExpr("INTERVAL '5 minutes'")).toEqual(Duration.parse('PT5M'));
    expect(evalExpr("'it''s'")).toBe("it's");
    expect(evalExpr('TRUE AND NOT FALSE')).toBe(true);
    expect(evalExpr('NULL')).toBe(null);
  });
});
