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
} from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { rowProblems, valueProblem } from './value-check.js';

const field = (type: FieldType, extra: Partial<FieldDefinition> = {}): FieldDefinition => ({
  name: 'f',
  type,
  nullable: false,
  ...extra,
});

describe('valueProblem', () => {
  it('accepts the one representation of every type', () => {
    const good: [FieldType, Value][] = [
      ['int', -(2n ** 63n)],
      ['uint', 2n ** 64n - 1n],
      ['float', Number.NaN],
      ['boolean', false],
      ['string', ''],
      ['text', 'long'],
      ['binary', Buffer.from('ab')],
      ['decimal', Decimal.parse('12.5')],
      ['timestamp', new Timestamp(0n)],
      ['date', new DateValue(-1)],
      ['json', new Json({ a: [1, null, 'x'] })],
      ['duration', new Duration(1, 2, 3n)],
      ['point', new Point(1, 2)],
    ];
    for (const [type, v] of good) expect(valueProblem(field(type), v), type).toBeNull();
  });

  it('says what a value is and what its type needs', () => {
    expect(valueProblem(field('int'), 7)).toBe('is the number 7, expected a bigint');
    expect(valueProblem(field('int'), 2n ** 63n)).toBe(
      '9223372036854775808 is outside the signed 64-bit range',
    );
    expect(valueProblem(field('uint'), -1n)).toBe('-1 is outside the unsigned 64-bit range');
    expect(valueProblem(field('decimal'), '1.5')).toBe('is the string "1.5", expected a Decimal');
    expect(valueProblem(field('timestamp'), new Date(0) as never)).toBe('is a Date, expected a Timestamp');
    expect(valueProblem(field('json'), { a: 1 } as never)).toBe('is a plain object, expected a Json');
    expect(valueProblem(field('json'), new Json({ a: [Number.POSITIVE_INFINITY] }))).toBe(
      'is a Json holding Infinity at .a[0], which JSON cannot carry',
    );
    expect(valueProblem(field('string'), null)).toBe('is NULL but the field is not nullable');
    expect(valueProblem(field('string', { nullable: true }), null)).toBeNull();
  });

  it('holds decimals to the declared precision and scale', () => {
    const money = field('decimal', { precision: 5, scale: 2 });
    expect(valueProblem(money, Decimal.parse('999.99'))).toBeNull();
    expect(valueProblem(money, Decimal.parse('-1.5'))).toBeNull();
    expect(valueProblem(money, Decimal.parse('1.005'))).toBe(
      "1.005 has 3 digits after the point but the field's scale is 2",
    );
    expect(valueProblem(money, Decimal.parse('1000.00'))).toBe(
      '1000.00 has 4 digits before the point but decimal(5, 2) allows 3',
    );
  });

  it('names a class of the same name from another copy of @dozer/core', () => {
    class Decimal {}
    expect(valueProblem(field('decimal'), new Decimal() as never)).toBe(
      'is a Decimal from another copy of @dozer/core (the plugin and the engine must share one @dozer/core; dedupe your dependencies), expected a Decimal',
    );
  });
});

describe('rowProblems', () => {
  const schema = makeSchema(
    [field('int', { name: 'id' }), field('string', { name: 'name', nullable: true })],
    ['id'],
  );

  it('lists every field that does not fit, and a wrong length', () => {
    expect(rowProblems(schema, [1n, 'a'])).toEqual([]);
    expect(rowProblems(schema, [1, 2])).toEqual([
      'field "id" (int) is the number 1, expected a bigint',
      'field "name" (string, nullable) is the number 2, expected a string',
    ]);
    expect(rowProblems(schema, [1n])).toEqual([
      'has 1 values but the schema has 2 fields',
      'field "name" (string, nullable) is missing (the row is shorter than the schema)',
    ]);
  });
});
