import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALL_FIELD_TYPES,
  type FieldType,
  insertOp,
  makeSchema,
  type Row,
  rowToObject,
  type Schema,
  Timestamp,
} from '@dozer/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../store.js';
import { RowDecoder, RowEncoder } from './row-codec.js';
import { RowJsonWriter } from './row-json.js';
import { nullableValueArb } from './test-arbitraries.js';

const expected = (schema: Schema, row: Row) => JSON.stringify(rowToObject(schema, row));

function schemaOf(types: readonly FieldType[], names = types.map((t) => `f_${t}`)): Schema {
  return makeSchema(types.map((type, i) => ({ name: names[i]!, type, nullable: true })));
}

/** Every row of `schema` written from its stored bytes equals JSON.stringify(rowToObject(row)). */
function agrees(schema: Schema, runs: number): void {
  const enc = new RowEncoder(schema);
  const writer = new RowJsonWriter(schema, new RowDecoder(schema));
  fc.assert(
    fc.property(fc.tuple(...schema.fields.map((f) => nullableValueArb(f.type))), fc.nat(8), (row, prefix) => {
      expect(writer.write(enc.encode(row, prefix), prefix)).toBe(expected(schema, row));
    }),
    { numRuns: runs },
  );
}

describe('rows as JSON from their stored bytes', () => {
  it('write what JSON.stringify(rowToObject(row)) writes, for every type and NULLs', () => {
    // Written directly: every type but duration and point.
    agrees(schemaOf(ALL_FIELD_TYPES.filter((t) => t !== 'duration' && t !== 'point')), 500);
    // With a duration or point field the row is decoded first.
    agrees(schemaOf(ALL_FIELD_TYPES), 200);
    // A property test: CPU-bound, slow on a busy machine.
  }, 60_000);

  it('write int64 and timestamps exactly around 2^53, where numbers stop being exact', () => {
    const schema = schemaOf(['int', 'uint', 'timestamp']);
    const enc = new RowEncoder(schema);
    const writer = new RowJsonWriter(schema, new RowDecoder(schema));
    const edge = 2n ** 53n;
    for (const v of [
      edge - 1n,
      edge,
      edge + 1n,
      -edge + 1n,
      -edge,
      -edge - 1n,
      2n ** 63n - 1n,
      -(2n ** 63n),
    ]) {
      const row: Row = [v, v < 0n ? -v : v, new Timestamp(v)];
      expect(writer.write(enc.encode(row), 0)).toBe(expected(schema, row));
    }
    // One microsecond before midnight, the first one of a day, before and after 1970.
    for (const v of [-1n, 0n, 86_399_999_999n, 86_400_000_000n, -86_400_000_001n]) {
      const row: Row = [0n, 0n, new Timestamp(v)];
      expect(writer.write(enc.encode(row), 0)).toBe(expected(schema, row));
    }
  });

  it('keep the order and names of an object for field names it would reorder or merge', () => {
    const schema = schemaOf(['string', 'int', 'boolean'], ['b', '1', '__proto__']);
    const enc = new RowEncoder(schema);
    const row: Row = ['x', 7n, true];
    expect(new RowJsonWriter(schema, new RowDecoder(schema)).write(enc.encode(row), 0)).toBe(
      expected(schema, row),
    );
  });
});

describe('getJson and queryPageJson', () => {
  const dirs: string[] = [];
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {});
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('answer the JSON of get and queryPage: same rows, same cursor, with and without a primary key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dozer-row-json-'));
    dirs.push(dir);
    const store = openStore({ path: dir });
    stores.push(store);
    const fields = [
      { name: 'id', type: 'int', nullable: false },
      { name: 'city', type: 'string', nullable: true },
      { name: 'at', type: 'timestamp', nullable: true },
    ] as const;
    for (const pk of [['id'], []]) {
      const schema = makeSchema(fields, pk);
      const ep = store.openEndpoint({ name: `trips_${pk.length}`, schema });
      const ops = [];
      for (let i = 0; i < 40; i++) {
        ops.push(
          insertOp([BigInt(i), i % 3 === 0 ? null : `c${i % 4}`, new Timestamp(BigInt(i) * 3_600_000_001n)]),
        );
      }
      // Without a primary key a row can be held twice.
      ops.push(insertOp([5n, 'c1', new Timestamp(5n * 3_600_000_001n)]));
      await ep.apply(ops);
      const queries = [
        { $filter: { city: 'c1' }, $limit: 3 },
        { $filter: { city: { $gte: 'c1' } }, $order_by: { at: 'desc' }, $limit: 4, $skip: 2 },
        { $filter: { id: { $lt: 9 } }, $order_by: { city: 'asc' }, $limit: 5 },
        { $limit: 50 },
      ];
      for (const json of queries) {
        let q = ep.parseQuery(json);
        for (let pages = 0; pages < 20; pages++) {
          const page = ep.queryPage(q);
          const text = ep.queryPageJson(q);
          expect(text.json).toBe(JSON.stringify(page.rows.map((r) => rowToObject(schema, r))));
          expect(text.rows).toBe(page.rows.length);
          expect(text.cursor).toBe(page.cursor);
          if (page.cursor === undefined) break;
          q = ep.parseQuery({ ...json, $after: page.cursor });
        }
      }
      const key = pk.length > 0 ? [5n] : [5n, 'c1', new Timestamp(5n * 3_600_000_001n)];
      expect(ep.getJson(key)).toBe(JSON.stringify(rowToObject(schema, ep.get(key)!)));
      expect(ep.getJson(pk.length > 0 ? [999n] : [999n, null, null])).toBeUndefined();
    }
  });
});
