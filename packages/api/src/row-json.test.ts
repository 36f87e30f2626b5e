import {
  DateValue,
  Decimal,
  Duration,
  type FieldType,
  Json,
  makeSchema,
  Point,
  type Row,
  rowToObject,
  type Schema,
  Timestamp,
} from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { rowJsonWriter } from './row-json.js';

const types: FieldType[] = [
  'int',
  'uint',
  'float',
  'boolean',
  'string',
  'text',
  'binary',
  'decimal',
  'timestamp',
  'date',
  'json',
  'duration',
  'point',
];

const samples: Record<FieldType, Row> = {
  int: [0n, -9223372036854775808n, 9007199254740993n],
  uint: [0n, 18446744073709551615n],
  float: [0, -0, 1.5, -2e-300, 1e21, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
  boolean: [true, false],
  string: ['', 'plain', 'quote " backslash \\ newline \n tab \t', 'crème brûlée ✓ 𝄞', '\u0000\u001f\u2028'],
  text: ['long text with "quotes"'],
  binary: [new Uint8Array([]), new Uint8Array([0, 255, 1])],
  decimal: [
    Decimal.parse('0'),
    Decimal.parse('-12.50'),
    Decimal.parse('0.001'),
    Decimal.parse('123456789012345678901234567890.5'),
  ],
  timestamp: [
    Timestamp.parse('2024-05-01T10:00:00.123456Z'),
    Timestamp.parse('1900-01-01T00:00:00Z'),
    new Timestamp(-1n),
  ],
  date: [DateValue.parse('2024-02-29'), DateValue.parse('0001-01-01')],
  json: [new Json({ b: 1, a: [true, null, 'x'] }), new Json(null), new Json('s')],
  duration: [Duration.parse('P1M2DT3H4M5.000006S'), Duration.parse('PT0S')],
  point: [new Point(1.5, -2), new Point(Number.NaN, 0)],
};

function rowsOf(schema: Schema): Row[] {
  const n = Math.max(...schema.fields.map((f) => samples[f.type].length));
  const rows: Row[] = [];
  for (let k = 0; k < n; k++) {
    rows.push(schema.fields.map((f) => samples[f.type][k % samples[f.type].length]!));
  }
  rows.push(schema.fields.map(() => null));
  return rows;
}

describe('rowJsonWriter', () => {
  it('writes exactly the text of JSON.stringify(rowToObject(...)) for every field type and NULL', () => {
    const schema = makeSchema(
      types.map((type, i) => ({ name: `f_${type}_${i}`, type, nullable: true })),
      [],
    );
    const write = rowJsonWriter(schema);
    for (const row of rowsOf(schema)) expect(write(row)).toBe(JSON.stringify(rowToObject(schema, row)));
  });

  it('keeps the text of an object for field names an object reorders or needs escaping for', () => {
    for (const names of [
      ['b', '1', 'a'],
      ['x', '__proto__'],
      ['with "quote"', 'ünïcode', ''],
    ]) {
      const schema = makeSchema(
        names.map((name) => ({ name, type: 'int' as const, nullable: true })),
        [],
      );
      const write = rowJsonWriter(schema);
      for (const row of [names.map((_, i) => BigInt(i)), names.map(() => null)]) {
        expect(write(row)).toBe(JSON.stringify(rowToObject(schema, row)));
      }
    }
  });
});
