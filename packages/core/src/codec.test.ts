import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CODEC_FORMAT_VERSION,
  decodeBatch,
  decodeRow,
  decodeSchema,
  decodeStreamMessage,
  encodeBatch,
  encodeRow,
  encodeSchema,
  encodeStreamMessage,
} from './codec.js';
import { CodecError, TypeMismatchError } from './errors.js';
import { ALL_FIELD_TYPES, type FieldType, INT64_MAX, INT64_MIN, UINT64_MAX } from './field-type.js';
import type { OpBatch, Operation, Row, StreamMessage } from './operation.js';
import { type FieldDefinition, makeSchema, type Schema } from './schema.js';
import {
  canonicalJson,
  DateValue,
  Decimal,
  Duration,
  Json,
  type JsonValue,
  Point,
  Timestamp,
  type Value,
} from './value.js';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

// ---------------------------------------------------------------------------
// Exact equality: stricter than valuesEqual (decimal scale, -0 and NaN bits matter).

function sameValue(type: FieldType, a: Value, b: Value): boolean {
  if (a === null || b === null) return a === b;
  switch (type) {
    case 'float':
      return Object.is(a, b);
    case 'binary': {
      const x = a as Uint8Array;
      const y = b as Uint8Array;
      return x.length === y.length && x.every((v, i) => v === y[i]);
    }
    case 'decimal':
      return (
        (a as Decimal).unscaled === (b as Decimal).unscaled && (a as Decimal).scale === (b as Decimal).scale
      );
    case 'timestamp':
      return (a as Timestamp).micros === (b as Timestamp).micros;
    case 'date':
      return (a as DateValue).days === (b as DateValue).days;
    case 'json':
      return canonicalJson((a as Json).value) === canonicalJson((b as Json).value);
    case 'duration':
      return (a as Duration).equals(b as Duration);
    case 'point':
      return Object.is((a as Point).x, (b as Point).x) && Object.is((a as Point).y, (b as Point).y);
    default:
      return a === b;
  }
}

function sameRow(schema: Schema, a: Row, b: Row): boolean {
  return a.length === b.length && schema.fields.every((f, i) => sameValue(f.type, a[i]!, b[i]!));
}

function sameOp(schema: Schema, a: Operation, b: Operation): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'insert') return sameRow(schema, a.new, (b as typeof a).new);
  if (a.kind === 'delete') return sameRow(schema, a.old, (b as typeof a).old);
  const u = b as typeof a;
  return sameRow(schema, a.old, u.old) && sameRow(schema, a.new, u.new);
}

function expectSameBatch(schema: Schema, actual: OpBatch, expected: OpBatch): void {
  expect(actual.table).toBe(expected.table);
  expect(actual.position).toBe(expected.position);
  expect(actual.ops.length).toBe(expected.ops.length);
  expected.ops.forEach((op, k) => {
    if (!sameOp(schema, actual.ops[k]!, op)) {
      expect.fail(`op #${k} differs: ${show(actual.ops[k])} vs ${show(op)}`);
    }
  });
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : Object.is(x, -0) ? '-0' : x));
}

// ---------------------------------------------------------------------------
// Arbitraries

const text = fc.string({ unit: 'binary', maxLength: 300 });
const extremeBigInts = (min: bigint, max: bigint) =>
  fc.oneof(fc.constantFrom(min, max, 0n, -1n < min ? 0n : -1n, 1n), fc.bigInt(min, max));

const valueArb: { readonly [T in FieldType]: fc.Arbitrary<Value> } = {
  int: extremeBigInts(INT64_MIN, INT64_MAX),
  uint: extremeBigInts(0n, UINT64_MAX),
  float: fc.oneof(
    fc.constantFrom(Number.NaN, -0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE),
    fc.double(),
  ),
  boolean: fc.boolean(),
  string: fc.oneof(fc.constantFrom('', '😀', 'a\u0000b', 'é'.repeat(50)), text),
  text: fc.oneof(fc.constant(''), text, fc.string({ unit: 'binary', minLength: 100, maxLength: 2000 })),
  binary: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 300 })),
  decimal: fc
    .tuple(
      fc.oneof(
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
        fc.bigInt({ min: -(10n ** 120n), max: 10n ** 120n }),
        fc.constantFrom(INT64_MIN, INT64_MAX, 2n ** 49n - 1n, 2n ** 49n, -(2n ** 48n), -(2n ** 48n) - 1n),
      ),
      fc.integer({ min: 0, max: 76 }),
    )
    .map(([u, s]) => new Decimal(u, s)),
  timestamp: extremeBigInts(INT64_MIN, INT64_MAX).map((m) => new Timestamp(m as bigint)),
  date: fc.integer({ min: INT32_MIN, max: INT32_MAX }).map((d) => new DateValue(d)),
  json: fc.jsonValue().map((v) => new Json(v as JsonValue)),
  duration: fc
    .tuple(
      fc.integer({ min: INT32_MIN, max: INT32_MAX }),
      fc.integer({ min: INT32_MIN, max: INT32_MAX }),
      extremeBigInts(INT64_MIN, INT64_MAX),
    )
    .map(([m, d, us]) => new Duration(m, d, us as bigint)),
  point: fc.tuple(fc.double(), fc.double()).map(([x, y]) => new Point(x, y)),
};

const fieldArb: fc.Arbitrary<Omit<FieldDefinition, 'name'>> = fc.record({
  type: fc.constantFrom(...ALL_FIELD_TYPES),
  nullable: fc.boolean(),
});

const schemaArb: fc.Arbitrary<Schema> = fc
  .array(fieldArb, { minLength: 1, maxLength: 20 })
  .map((fs) => makeSchema(fs.map((f, i) => ({ name: `f${i}`, ...f }))));

function rowArb(schema: Schema): fc.Arbitrary<Row> {
  return fc.tuple(
    ...schema.fields.map((f) =>
      f.nullable ? fc.option(valueArb[f.type], { nil: null, freq: 3 }) : valueArb[f.type],
    ),
  );
}

function batchArb(schema: Schema): fc.Arbitrary<OpBatch> {
  const row = rowArb(schema);
  const op: fc.Arbitrary<Operation> = fc.oneof(
    row.map((r) => ({ kind: 'insert' as const, new: r })),
    row.map((r) => ({ kind: 'delete' as const, old: r })),
    fc.tuple(row, row).map(([o, n]) => ({ kind: 'update' as const, old: o, new: n })),
  );
  return fc.record({
    table: fc.string({ unit: 'binary', maxLength: 30 }),
    ops: fc.array(op, { maxLength: 12 }),
    position: fc.option(fc.string({ unit: 'binary', maxLength: 60 }), { nil: null }),
  });
}

const schemaAndBatch = schemaArb.chain((schema) => batchArb(schema).map((batch) => ({ schema, batch })));

// ---------------------------------------------------------------------------

const people = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: true },
    { name: 'active', type: 'boolean', nullable: false },
  ],
  ['id'],
);

function peopleBatch(): OpBatch {
  return {
    table: 'people',
    position: 'lsn:0/16B3748',
    ops: [
      { kind: 'insert', new: [1n, 'Ada', true] },
      { kind: 'update', old: [1n, 'Ada', true], new: [1n, null, false] },
      { kind: 'delete', old: [1n, null, false] },
    ],
  };
}

function expectCodecError(fn: () => unknown, ...fragments: (string | RegExp)[]): CodecError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CodecError);
  const err = caught as CodecError;
  expect(err.code).toBe('CODEC');
  for (const f of fragments) expect(err.message).toMatch(f);
  return err;
}

describe('batch round trip', () => {
  it('decodes every type exactly, including nulls, extremes and all op kinds', () => {
    fc.assert(
      fc.property(schemaAndBatch, ({ schema, batch }) => {
        const bytes = encodeBatch(schema, batch);
        expectSameBatch(schema, decodeBatch(schema, bytes), batch);
        const msg = decodeStreamMessage(schema, bytes);
        expect(msg.kind).toBe('batch');
        if (msg.kind === 'batch') expectSameBatch(schema, msg.batch, batch);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes single rows the same way (encodeRow / decodeRow), and rejects extra bytes', () => {
    const schemaAndRow = schemaArb.chain((schema) => rowArb(schema).map((row) => ({ schema, row })));
    fc.assert(
      fc.property(schemaAndRow, ({ schema, row }) => {
        const bytes = encodeRow(schema, row);
        const back = decodeRow(schema, bytes);
        expect(sameOp(schema, { kind: 'insert', new: back }, { kind: 'insert', new: row }), show(back)).toBe(
          true,
        );
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        expect(() => decodeRow(schema, longer)).toThrow(CodecError);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the values every type is most likely to lose', () => {
    const fields: FieldDefinition[] = ALL_FIELD_TYPES.map((type) => ({ name: type, type, nullable: true }));
    const schema = makeSchema(fields);
    const edge: Row = [
      INT64_MIN,
      UINT64_MAX,
      -0,
      false,
      '𝄞 non-BMP and \u{10FFFF}',
      '',
      new Uint8Array(0),
      new Decimal(-(10n ** 70n) - 7n, 76),
      new Timestamp(INT64_MAX),
      new DateValue(INT32_MIN),
      new Json(null),
      new Duration(INT32_MIN, INT32_MAX, INT64_MIN),
      new Point(Number.NaN, Number.NEGATIVE_INFINITY),
    ];
    const nulls: Row = fields.map(() => null);
    const batch: OpBatch = { table: '', ops: [{ kind: 'update', old: edge, new: nulls }], position: '' };
    const out = decodeBatch(schema, encodeBatch(schema, batch));
    expectSameBatch(schema, out, batch);
    const op = out.ops[0]!;
    // JSON null inside a json field stays distinct from SQL NULL.
    expect(op.kind === 'update' && op.old[10]).toBeInstanceOf(Json);
    expect(op.kind === 'update' && op.new[10]).toBe(null);
  });

  it('returns a buffer of exactly the message, and binary values that do not alias it', () => {
    const schema = makeSchema([{ name: 'b', type: 'binary', nullable: false }]);
    const bytes = encodeBatch(schema, {
      table: 't',
      ops: [{ kind: 'insert', new: [new Uint8Array([1, 2, 3])] }],
      position: null,
    });
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(bytes.length);
    const decoded = decodeBatch(schema, bytes);
    const op = decoded.ops[0]!;
    const value = op.kind === 'insert' ? (op.new[0] as Uint8Array) : undefined;
    bytes.fill(0);
    expect(Array.from(value!)).toEqual([1, 2, 3]);
  });

  it('decodes from a view into a larger buffer', () => {
    const inner = encodeBatch(people, peopleBatch());
    const outer = new Uint8Array(inner.length + 10);
    outer.set(inner, 7);
    expectSameBatch(people, decodeBatch(people, outer.subarray(7, 7 + inner.length)), peopleBatch());
  });

  it('is compact: no per-value type tags, one bitmap byte for up to 8 nullable fields', () => {
    const schema = makeSchema([
      { name: 'a', type: 'int', nullable: false },
      { name: 'b', type: 'boolean', nullable: true },
    ]);
    const one = encodeBatch(schema, {
      table: 't',
      ops: [{ kind: 'insert', new: [1n, true] }],
      position: null,
    });
    const two = encodeBatch(schema, {
      table: 't',
      ops: [
        { kind: 'insert', new: [1n, true] },
        { kind: 'insert', new: [2n, null] },
      ],
      position: null,
    });
    // op tag + bitmap + int64 + boolean = 11 bytes; a NULL boolean takes no value bytes.
    expect(two.length - one.length).toBe(1 + 1 + 8);
    // header 4 + fingerprint 4 + table 2 + position 1 + count 1 + op 11
    expect(one.length).toBe(23);
  });

  it('encodes 100K rows of a 6-column schema quickly and exactly', () => {
    const schema = makeSchema([
      { name: 'id', type: 'int', nullable: false },
      { name: 'name', type: 'string', nullable: false },
      { name: 'price', type: 'decimal', nullable: true },
      { name: 'score', type: 'float', nullable: false },
      { name: 'at', type: 'timestamp', nullable: false },
      { name: 'ok', type: 'boolean', nullable: true },
    ]);
    const ops: Operation[] = [];
    for (let i = 0; i < 100_000; i++) {
      ops.push({
        kind: 'insert',
        new: [
          BigInt(i),
          `customer-${i}`,
          i % 10 === 0 ? null : new Decimal(BigInt(i * 37), 2),
          i / 7,
          new Timestamp(1_700_000_000_000_000n + BigInt(i)),
          i % 3 === 0 ? null : i % 2 === 0,
        ],
      });
    }
    const batch: OpBatch = { table: 'orders', ops, position: null };
    // Speed is measured by the benchmarks, never asserted in tests.
    const back = decodeBatch(schema, encodeBatch(schema, batch));
    expectSameBatch(schema, back, batch);
  });
});

describe('stream messages', () => {
  it('round-trips barriers with any 64-bit epoch', () => {
    fc.assert(
      fc.property(extremeBigInts(0n, UINT64_MAX), (epoch) => {
        const msg: StreamMessage = { kind: 'barrier', epoch: epoch as bigint };
        expect(decodeStreamMessage(people, encodeStreamMessage(people, msg))).toEqual(msg);
      }),
    );
  });

  it('encodes a batch message exactly as encodeBatch does', () => {
    const batch = peopleBatch();
    expect(encodeStreamMessage(people, { kind: 'batch', batch })).toEqual(encodeBatch(people, batch));
  });

  it('rejects a barrier with a negative epoch', () => {
    expect(() => encodeStreamMessage(people, { kind: 'barrier', epoch: -1n })).toThrow(TypeMismatchError);
  });
});

describe('schema round trip', () => {
  it('keeps names, types, nullability, precision, scale and primary key', () => {
    const arb = fc
      .uniqueArray(
        fc.record(
          {
            name: fc.string({ unit: 'binary', maxLength: 20 }),
            type: fc.constantFrom(...ALL_FIELD_TYPES),
            nullable: fc.boolean(),
            precision: fc.integer({ min: 1, max: 1000 }),
            scale: fc.integer({ min: 0, max: 76 }),
          },
          { requiredKeys: ['name', 'type', 'nullable'] },
        ),
        { selector: (f) => f.name, maxLength: 12 },
      )
      .chain((fields) =>
        fc
          .shuffledSubarray(
            fields.map((f) => f.name),
            { maxLength: Math.min(3, fields.length) },
          )
          .map((pk) => makeSchema(fields as FieldDefinition[], pk)),
      );
    fc.assert(
      fc.property(arb, (schema) => {
        expect(decodeSchema(encodeSchema(schema))).toEqual(schema);
      }),
    );
  });

  it('rejects a bad type tag and a primary key outside the fields', () => {
    const bytes = encodeSchema(people);
    // header 4 + count 1 + name "id" 3 → type tag at offset 8
    const badTag = bytes.slice();
    badTag[8] = 99;
    expectCodecError(() => decodeSchema(badTag), 'bad type tag 99', 'at offset 8', 'type of field "id"');
    const badPk = bytes.slice();
    badPk[badPk.length - 1] = 7;
    expectCodecError(() => decodeSchema(badPk), 'primary key position 7 is not a field position (0..2)');
  });
});

describe('decode errors', () => {
  const good = encodeBatch(people, peopleBatch());

  it('names the magic bytes when the input is not a Dozer message', () => {
    const bytes = good.slice();
    bytes[0] = 0x7b;
    expectCodecError(() => decodeBatch(people, bytes), 'not a Dozer binary message', '0x7b 0x5a', 'offset 0');
  });

  it('names both versions when the format version is not supported', () => {
    const bytes = good.slice();
    bytes[2] = CODEC_FORMAT_VERSION + 1;
    expectCodecError(
      () => decodeBatch(people, bytes),
      'unsupported format version 2',
      'reads version 1',
      'offset 2',
    );
  });

  it('says what kind it expected when given a barrier or schema instead of a batch', () => {
    const barrier = encodeStreamMessage(people, { kind: 'barrier', epoch: 5n });
    expectCodecError(() => decodeBatch(people, barrier), 'expected 2 (batch), got a barrier', 'offset 3');
    expectCodecError(() => decodeStreamMessage(people, encodeSchema(people)), 'got a schema');
    const unknown = good.slice();
    unknown[3] = 42;
    expectCodecError(() => decodeStreamMessage(people, unknown), 'bad message kind 42', 'an unknown kind');
  });

  it('throws a CodecError for every truncation of a valid message', () => {
    fc.assert(
      fc.property(
        schemaAndBatch.chain(({ schema, batch }) => {
          const bytes = encodeBatch(schema, batch);
          return fc.integer({ min: 0, max: bytes.length - 1 }).map((cut) => ({ schema, bytes, cut }));
        }),
        ({ schema, bytes, cut }) => {
          expectCodecError(
            () => decodeBatch(schema, bytes.subarray(0, cut)),
            /truncated input/,
            /at offset \d+/,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports the field and op of a truncated value', () => {
    // The last op is a delete of [1n, null, false]: its boolean is the final byte.
    expectCodecError(
      () => decodeBatch(people, good.subarray(0, good.length - 1)),
      `expected 1 bytes (u8) but only 0 remain at offset ${good.length - 1}`,
      'field "active" (boolean not null) of op #2',
    );
  });

  it('never throws anything but a CodecError on corrupted input', () => {
    fc.assert(
      fc.property(
        schemaAndBatch.chain(({ schema, batch }) => {
          const bytes = encodeBatch(schema, batch);
          return fc
            .array(
              fc.tuple(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })),
              {
                minLength: 1,
                maxLength: 4,
              },
            )
            .map((edits) => ({ schema, bytes, edits }));
        }),
        ({ schema, bytes, edits }) => {
          const corrupt = bytes.slice();
          for (const [at, b] of edits) corrupt[at] = b;
          try {
            decodeBatch(schema, corrupt);
          } catch (e) {
            expect(e).toBeInstanceOf(CodecError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rejects a bad op tag, boolean byte and position tag with their offsets', () => {
    // header 4 + fingerprint 4 + "people" 7 → position tag at 15; "lsn:0/16B3748" 14 → count at 30, op tag at 31
    const badPosition = good.slice();
    badPosition[15] = 9;
    expectCodecError(() => decodeBatch(people, badPosition), 'bad position tag 9', 'offset 15');
    const badOp = good.slice();
    badOp[31] = 4;
    expectCodecError(() => decodeBatch(people, badOp), 'bad op tag 4', 'offset 31', 'op #0');
    // op #0: tag 31, bitmap 32, id 33..40, "Ada" 41..44, active 45
    const badBool = good.slice();
    badBool[45] = 2;
    expectCodecError(() => decodeBatch(people, badBool), 'bad boolean byte 2', 'offset 45', 'field "active"');
  });

  it('rejects invalid UTF-8 and invalid JSON', () => {
    const schema = makeSchema([{ name: 'doc', type: 'json', nullable: false }]);
    const bytes = encodeBatch(schema, {
      table: 't',
      ops: [{ kind: 'insert', new: [new Json({ a: 1 })] }],
      position: null,
    });
    // the JSON text {"a":1} is the last 7 bytes
    const badJson = bytes.slice();
    badJson[bytes.length - 1] = 0x2c; // ','
    expectCodecError(() => decodeBatch(schema, badJson), 'invalid JSON text', 'field "doc"');
    const badUtf8 = bytes.slice();
    badUtf8[bytes.length - 3] = 0xff;
    expectCodecError(() => decodeBatch(schema, badUtf8), 'invalid UTF-8');
  });

  it('rejects trailing bytes', () => {
    const longer = new Uint8Array(good.length + 2);
    longer.set(good);
    expectCodecError(
      () => decodeBatch(people, longer),
      '2 unexpected trailing bytes',
      `offset ${good.length}`,
    );
  });

  it('detects a batch decoded with a different schema', () => {
    const other = makeSchema([
      { name: 'id', type: 'int', nullable: false },
      { name: 'name', type: 'string', nullable: false },
      { name: 'active', type: 'boolean', nullable: false },
    ]);
    expectCodecError(() => decodeBatch(other, good), 'schema mismatch', 'name string,', 'offset 4');
  });
});

describe('encode errors', () => {
  const batchOf = (row: Row): OpBatch => ({
    table: 'people',
    ops: [{ kind: 'insert', new: row }],
    position: null,
  });

  it('rejects an int outside 64 bits, naming the field and op', () => {
    expect(() => encodeBatch(people, batchOf([INT64_MAX + 1n, 'x', true]))).toThrowError(
      new TypeMismatchError(
        'cannot encode op #0 (insert, new row) of table "people": field "id" (int not null) expects a bigint in ' +
          '-2^63..2^63-1, got the bigint 9223372036854775808',
      ),
    );
    const uint = makeSchema([{ name: 'n', type: 'uint', nullable: false }]);
    expect(() =>
      encodeBatch(uint, { table: 't', ops: [{ kind: 'insert', new: [-1n] }], position: null }),
    ).toThrow(/field "n" \(uint not null\) expects a bigint in 0\.\.2\^64-1, got the bigint -1/);
  });

  it('rejects NULL in a non-nullable field and values of the wrong JS type', () => {
    expect(() => encodeBatch(people, batchOf([null, 'x', true]))).toThrow(
      /field "id" \(int not null\) is not nullable/,
    );
    expect(() => encodeBatch(people, batchOf([1, 'x', true]))).toThrow(
      /expects a bigint .* got the number 1/,
    );
    expect(() => encodeBatch(people, batchOf([1n, 'x', 'yes']))).toThrow(
      /field "active".*got a string \("yes"\)/,
    );
  });

  it('rejects a json document that is not JSON', () => {
    const schema = makeSchema([{ name: 'doc', type: 'json', nullable: false }]);
    const cyclic: { [k: string]: unknown } = {};
    cyclic.self = cyclic;
    for (const doc of [{ n: 1n }, cyclic, undefined]) {
      const json = new Json(doc as unknown as JsonValue);
      expect(() =>
        encodeBatch(schema, { table: 't', ops: [{ kind: 'insert', new: [json] }], position: null }),
      ).toThrow(/field "doc" \(json not null\) expects a Json holding a JSON value, got a Json/);
    }
  });

  it('rejects rows of the wrong length', () => {
    expect(() => encodeBatch(people, batchOf([1n, 'x']))).toThrow(
      /the row has 2 values but the schema has 3 fields/,
    );
  });

  it('leaves the next encode unaffected after a failed one', () => {
    expect(() => encodeBatch(people, batchOf([1n, 'x', 3]))).toThrow(TypeMismatchError);
    expectSameBatch(people, decodeBatch(people, encodeBatch(people, peopleBatch())), peopleBatch());
  });
});
