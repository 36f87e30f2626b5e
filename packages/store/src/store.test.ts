import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decimal, deleteOp, insertOp, makeSchema, type Schema, updateOp, type Value } from '@dozer/core';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidQueryError, StoreError } from './errors.js';
import { type EndpointDefinition, openStore, type Store } from './store.js';

const dirs: string[] = [];
const stores: Store[] = [];
function tempStore(opts: { mapSize?: number; defaultLimit?: number; maxLimit?: number } = {}): {
  store: Store;
  path: string;
} {
  const path = mkdtempSync(join(tmpdir(), 'dozer-store-'));
  dirs.push(path);
  const store = openStore({ path, ...opts });
  stores.push(store);
  return { store, path };
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const products: Schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: true },
    { name: 'price', type: 'decimal', nullable: true },
  ],
  ['id'],
);
const def: EndpointDefinition = { name: 'products', schema: products };
const row = (id: number, name: string | null, price: string | null): Value[] => [
  BigInt(id),
  name,
  price === null ? null : Decimal.parse(price),
];

describe('EndpointStore writes', () => {
  it('keeps binary values read earlier intact when later reads reuse lmdb buffers', async () => {
    const { store } = tempStore();
    const ep = store.openEndpoint({
      name: 'blobs',
      schema: makeSchema(
        [
          { name: 'id', type: 'int', nullable: false },
          { name: 'k', type: 'int', nullable: false },
          { name: 'b', type: 'binary', nullable: false },
        ],
        ['id'],
      ),
    });
    await ep.apply([
      insertOp([1n, 7n, new Uint8Array([1, 2, 3])]),
      insertOp([2n, 7n, new Uint8Array([9, 9, 9])]),
    ]);
    const first = ep.get([1n])!;
    ep.get([2n]);
    expect([...(first[2] as Uint8Array)]).toEqual([1, 2, 3]);
    const rows = ep.query({ filter: { kind: 'compare', field: 'k', op: '$eq', value: 7n } });
    expect(rows.map((r) => [...(r[2] as Uint8Array)])).toEqual([
      [1, 2, 3],
      [9, 9, 9],
    ]);
  });

  it('inserts, upserts, updates and deletes by primary key', async () => {
    const { store } = tempStore();
    const ep = store.openEndpoint(def);
    await ep.apply([insertOp(row(1, 'apple', '1.50')), insertOp(row(2, 'pear', '2'))]);
    expect(ep.get([1n])).toEqual(row(1, 'apple', '1.50'));
    expect((ep.get([1n])![2] as Decimal).toString()).toBe('1.50');
    await ep.apply([insertOp(row(1, 'green apple', '1.75'))]);
    expect(ep.get([1n])![1]).toBe('green apple');
    expect(ep.count()).toBe(2);
    await ep.apply([updateOp(row(2, 'pear', '2'), row(3, 'pear', '2.5')), deleteOp(row(99, null, null))]);
    expect(ep.get([2n])).toBeUndefined();
    expect(ep.get([3n])![1]).toBe('pear');
    // The secondary index on name follows the update and the upsert.
    expect(ep.query({ filter: { kind: 'compare', field: 'name', op: '$eq', value: 'apple' } })).toEqual([]);
    expect(ep.query({ filter: { kind: 'compare', field: 'name', op: '$eq', value: 'pear' } })).toEqual([
      row(3, 'pear', '2.5'),
    ]);
    await ep.apply([deleteOp(row(1, null, null))]);
    expect(ep.count()).toBe(1);
    expect(ep.count({ kind: 'compare', field: 'name', op: '$eq', value: 'green apple' })).toBe(0);
  });

  it('rejects a bad row without writing any operation of the batch', async () => {
    const { store } = tempStore();
    const ep = store.openEndpoint(def);
    const bad = [insertOp(row(1, 'a', '1')), insertOp([2, 'b', null])];
    await expect(ep.apply(bad)).rejects.toThrow(
      /operation 1 \(insert\): field "id" \(int\) expects a bigint, got number 2; nothing was written/,
    );
    expect(ep.count()).toBe(0);
  });

  it('keeps duplicate rows of an endpoint without primary key and deletes one copy at a time', async () => {
    const { store } = tempStore();
    const schema = makeSchema([
      { name: 'k', type: 'string', nullable: false },
      { name: 'v', type: 'int', nullable: true },
    ]);
    const ep = store.openEndpoint({ name: 'events', schema });
    await ep.apply([insertOp(['a', 1n]), insertOp(['a', 1n]), insertOp(['b', null])]);
    expect(ep.count()).toBe(3);
    expect(ep.query({ filter: { kind: 'compare', field: 'v', op: '$eq', value: 1n } })).toEqual([
      ['a', 1n],
      ['a', 1n],
    ]);
    await ep.apply([deleteOp(['a', 1n])]);
    expect(ep.count({ kind: 'compare', field: 'k', op: '$eq', value: 'a' })).toBe(1);
    await ep.apply([deleteOp(['a', 1n]), deleteOp(['a', 1n])]);
    expect(ep.query({})).toEqual([['b', null]]);
    expect(ep.get(['b', null])).toEqual(['b', null]);
  });

  it('keys long rows of an endpoint without primary key by prefix and hash', async () => {
    const { store } = tempStore();
    const schema = makeSchema([
      { name: 'body', type: 'text', nullable: false },
      { name: 'n', type: 'int', nullable: false },
    ]);
    const ep = store.openEndpoint({ name: 'docs', schema });
    const long = 'y'.repeat(3000);
    await ep.apply([insertOp([long, 1n]), insertOp([long, 2n]), insertOp([long, 1n])]);
    expect(ep.count()).toBe(3);
    expect(ep.query({ orderBy: [{ field: 'n', direction: 'desc' }] }).map((r) => r[1])).toEqual([2n, 1n, 1n]);
    await ep.apply([deleteOp([long, 1n])]);
    expect(ep.count({ kind: 'compare', field: 'n', op: '$eq', value: 1n })).toBe(1);
    expect(ep.get([long, 2n])).toEqual([long, 2n]);
  });

  it('refuses a value too long for a sorted index, naming the field', async () => {
    const { store } = tempStore();
    const ep = store.openEndpoint(def);
    await expect(ep.apply([insertOp(row(1, 'n'.repeat(5000), '1'))])).rejects.toThrow(
      /operation 0 \(insert\): the value of name is too long for a sorted index .*leave name out of the endpoint's secondary indexes/,
    );
    const unindexed = store.openEndpoint({ ...def, secondaryIndexes: [['price']] });
    await unindexed.apply([insertOp(row(1, 'n'.repeat(5000), '1'))]);
    expect(unindexed.get([1n])![1]).toHaveLength(5000);
  });

  it('grows the map past its initial size', async () => {
    const { store } = tempStore({ mapSize: 1 << 20 });
    const ep = store.openEndpoint({
      name: 'blobs',
      schema: makeSchema(
        [
          { name: 'id', type: 'int', nullable: false },
          { name: 'body', type: 'text', nullable: false },
        ],
        ['id'],
      ),
    });
    // 40 MB of rows (and as much again in the change feed) through a 1 MiB initial map.
    const body = 'x'.repeat(10_000);
    for (let batch = 0; batch < 20; batch++) {
      await ep.apply(Array.from({ length: 200 }, (_, i) => insertOp([BigInt(batch * 200 + i), body])));
    }
    // One transaction alone far larger than the initial map.
    await ep.apply(Array.from({ length: 1000 }, (_, i) => insertOp([BigInt(10_000 + i), body])));
    expect(ep.count()).toBe(5000);
    expect(ep.get([3999n])![1]).toBe(body);
    expect(ep.get([10_999n])![1]).toBe(body);
    expect(ep.version()).toBe(5000n);
  });
});

describe('EndpointStore queries', () => {
  async function fixture() {
    const { store } = tempStore();
    const ep = store.openEndpoint(def);
    await ep.apply([
      insertOp(row(1, 'b', '3')),
      insertOp(row(2, 'a', '10')),
      insertOp(row(3, null, '2.5')),
      insertOp(row(4, 'b', null)),
      insertOp(row(5, 'c', '10.0')),
    ]);
    return ep;
  }

  it('filters, orders with NULLs first and ties by primary key, skips and limits', async () => {
    const ep = await fixture();
    const q = ep.parseQuery({ $filter: { price: { $gte: 3 } }, $order_by: { price: 'desc' } });
    expect(ep.query(q).map((r) => r[0])).toEqual([2n, 5n, 1n]);
    expect(ep.query(ep.parseQuery({ $order_by: { name: 'asc' } })).map((r) => r[0])).toEqual([
      3n,
      2n,
      1n,
      4n,
      5n,
    ]);
    expect(ep.query(ep.parseQuery({ $order_by: { name: 'desc' } })).map((r) => r[0])).toEqual([
      5n,
      1n,
      4n,
      2n,
      3n,
    ]);
    expect(
      ep.query(ep.parseQuery({ $order_by: { name: 'asc' }, $skip: 1, $limit: 2 })).map((r) => r[0]),
    ).toEqual([2n, 1n]);
    expect(ep.query(ep.parseQuery({ $filter: { name: 'b', id: { $gt: '1' } } })).map((r) => r[0])).toEqual([
      4n,
    ]);
    expect(
      ep
        .query(ep.parseQuery({ $filter: { $and: [{ price: { $lt: 10 } }, { price: { $gt: 2.5 } }] } }))
        .map((r) => r[0]),
    ).toEqual([1n]);
    expect(ep.count(ep.parseQuery({ $filter: { name: null } }).filter)).toBe(1);
  });

  it('explains which index answers a query', async () => {
    const ep = await fixture();
    expect(ep.explain(ep.parseQuery({ $filter: { id: 3 } }))).toMatch(/^primary key lookup on \(id\)/);
    expect(ep.explain(ep.parseQuery({ $filter: { name: 'b', price: { $gt: 1 } } }))).toMatch(
      /^index on name equality scan \(name = "b"\).*then filter rows on price > 1/,
    );
    expect(
      ep.explain(ep.parseQuery({ $filter: { price: { $gt: 1 } }, $order_by: { price: 'asc' } })),
    ).toMatch(/^index on price range scan.*order by price asc comes from the scan; skip 0, limit 50$/);
    expect(ep.explain(ep.parseQuery({ $filter: { price: { $gt: 1 } }, $order_by: { name: 'asc' } }))).toMatch(
      /sort in memory by name asc, then primary key \(id\)/,
    );
    expect(ep.explain(ep.parseQuery({ $order_by: { name: 'desc' }, $limit: 1 }))).toMatch(
      /^full scan of index on name/,
    );
    expect(ep.explain(ep.parseQuery({ $filter: { price: { $gt: 5, $lt: 1 } } }))).toMatch(
      /^no rows can match/,
    );
  });

  it('checks limits against the store configuration', async () => {
    const ep = await fixture();
    expect(() => ep.parseQuery({ $limit: 9000 })).toThrow(
      '$limit must be an integer between 0 and 5000, got 9000',
    );
    expect(() => ep.query({ limit: 5001 })).toThrow(InvalidQueryError);
    expect(ep.query({ limit: 2 })).toHaveLength(2);
    const { store: small } = tempStore({ defaultLimit: 2, maxLimit: 3 });
    const ep2 = small.openEndpoint(def);
    await ep2.apply([1, 2, 3, 4].map((i) => insertOp(row(i, 'x', '1'))));
    expect(ep2.query({})).toHaveLength(2);
    expect(() => ep2.parseQuery({ $limit: 4 })).toThrow('$limit must be an integer between 0 and 3, got 4');
  });
});

describe('Store', () => {
  it('refuses a second Store on a directory this process has open, and opens it again after close', async () => {
    const { store, path } = tempStore();
    expect(() => openStore({ path })).toThrow(
      new StoreError(
        `the store at ${path} is already open in this process; use that Store (a directory has one writer: ` +
          "a second Store would compute its writes without knowing of the first one's)",
      ),
    );
    await store.close();
    const again = openStore({ path });
    stores.push(again);
    expect(again.endpoints()).toEqual([]);
  });

  it('reopens stored data, refuses a changed schema until reset, rebuilds changed indexes', async () => {
    const { store, path } = tempStore();
    await store.openEndpoint(def).apply([insertOp(row(1, 'a', '1')), insertOp(row(2, 'b', '2'))]);
    await expect(store.flushed()).resolves.toBeUndefined();
    await store.close();
    stores.pop();
    const again = openStore({ path });
    stores.push(again);
    const ep = again.openEndpoint({ ...def, secondaryIndexes: [['price']] });
    expect(ep.get([2n])![1]).toBe('b');
    expect(
      ep.query({ filter: { kind: 'compare', field: 'price', op: '$eq', value: Decimal.parse('2.0') } }),
    ).toHaveLength(1);
    expect(ep.explain({ filter: { kind: 'compare', field: 'name', op: '$eq', value: 'b' } })).toMatch(
      /^full scan/,
    );
    // A full-text index added later is built from the stored rows.
    const words = again.openEndpoint({ ...def, secondaryIndexes: [{ kind: 'full_text', field: 'name' }] });
    const search = { filter: { kind: 'text', field: 'name', op: '$matches_any', value: 'B c' } } as const;
    expect(words.explain(search)).toMatch(/^full-text index on name word lookup \("b" OR "c"\)/);
    expect(words.query(search)).toEqual([row(2, 'b', '2')]);
    const changed = makeSchema([...products.fields, { name: 'qty', type: 'int', nullable: true }], ['id']);
    expect(() => again.openEndpoint({ name: 'products', schema: changed })).toThrow(StoreError);
    expect(() => again.openEndpoint({ name: 'products', schema: changed })).toThrow(/dozer clean/);
    expect(() => again.openEndpoint({ ...def, primaryKey: ['name'] })).toThrow(
      /stored primary key: \(id\); new primary key: \(name\)/,
    );
    const reset = again.openEndpoint({ name: 'products', schema: changed }, { reset: true });
    expect(reset.count()).toBe(0);
    expect(again.endpoint('products')).toBe(reset);
    expect(again.endpoints().map((e) => e.name)).toEqual(['products']);
  });

  it('names the bad field of an endpoint definition', () => {
    const { store } = tempStore();
    expect(() => store.openEndpoint({ ...def, primaryKey: ['sku'] })).toThrow(
      /the primary key of endpoint "products" names "sku", which is not a field \(fields: id, name, price\)/,
    );
    expect(() => store.openEndpoint({ ...def, secondaryIndexes: [['nme']] })).toThrow(
      /secondary index 0 of endpoint "products" names "nme"/,
    );
    expect(() =>
      store.openEndpoint({ ...def, secondaryIndexes: [{ kind: 'full_text', field: 'price' }] }),
    ).toThrow(
      'secondary index 0 of endpoint "products" is a full-text index on "price", which is decimal; full-text indexes need a string or text field',
    );
    expect(() =>
      store.openEndpoint({ ...def, secondaryIndexes: [['name'], { kind: 'hash', fields: ['id'] } as never] }),
    ).toThrow(
      `secondary index 1 of endpoint "products" must be a list of fields, { kind: 'sorted', fields } or { kind: 'full_text', field }, got {"kind":"hash","fields":["id"]}`,
    );
  });
});
