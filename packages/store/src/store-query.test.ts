import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteOp, insertOp, makeSchema, type Row, type Schema, updateOp, type Value } from '@dozer/core';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidQueryError } from './errors.js';
import { type EndpointDefinition, type EndpointStore, openStore, type Store } from './store.js';

const dirs: string[] = [];
const stores: Store[] = [];
function tempStore(): Store {
  const path = mkdtempSync(join(tmpdir(), 'dozer-query-'));
  dirs.push(path);
  const store = openStore({ path });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const schema: Schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'city', type: 'string', nullable: true },
    { name: 'age', type: 'int', nullable: true },
    { name: 'bio', type: 'text', nullable: true },
  ],
  ['id'],
);
const def: EndpointDefinition = {
  name: 'people',
  schema,
  secondaryIndexes: [
    { kind: 'sorted', fields: ['city', 'age'] },
    ['age'],
    { kind: 'full_text', field: 'bio' },
  ],
};
const p = (id: number, city: string | null, age: number | null, bio: string | null): Value[] => [
  BigInt(id),
  city,
  age === null ? null : BigInt(age),
  bio,
];
const people = [
  p(1, 'Paris', 30, 'Likes the quick brown fox.'),
  p(2, 'Paris', 25, 'Crème brûlée, twice!'),
  p(3, 'Oslo', 30, null),
  p(4, null, 41, 'brown bread and FOXES'),
  p(5, 'Oslo', null, 'A quick-witted fox'),
  p(6, 'Paris', 30, 'foxtrot'),
];
const ids = (rows: readonly Row[]) => rows.map((r) => Number(r[0]));

async function fixture(): Promise<EndpointStore> {
  const ep = tempStore().openEndpoint(def);
  await ep.apply(people.map(insertOp));
  return ep;
}

describe('query language', () => {
  it('answers every operator, $and and $or, from JSON bodies', async () => {
    const ep = await fixture();
    const q = (filter: unknown, extra: object = {}) =>
      ids(ep.query(ep.parseQuery({ $filter: filter, $order_by: { id: 'asc' }, ...extra })));
    expect(q({ age: 30 })).toEqual([1, 3, 6]);
    expect(q({ age: { $eq: 30 } })).toEqual([1, 3, 6]);
    expect(q({ age: { $lt: 30 } })).toEqual([2, 5]); // NULL is smallest
    expect(q({ age: { $lte: 30, $gt: null } })).toEqual([1, 2, 3, 6]);
    expect(q({ age: { $gt: 30 } })).toEqual([4]);
    expect(q({ age: { $gte: 30 } })).toEqual([1, 3, 4, 6]);
    expect(q({ city: null })).toEqual([4]);
    expect(q({ $and: [{ city: 'Paris' }, { age: { $lt: 30 } }] })).toEqual([2]);
    expect(q({ $or: [{ city: 'Oslo' }, { age: { $gt: 40 } }] })).toEqual([3, 4, 5]);
    expect(q({ city: 'Paris', $or: [{ age: 25 }, { bio: { $contains: 'trot' } }] })).toEqual([2, 6]);
    // $contains: a case-sensitive substring; $matches_*: whole words, case and accents as typed folded by NFKC + lowercase.
    expect(q({ bio: { $contains: 'fox' } })).toEqual([1, 5, 6]);
    expect(q({ bio: { $contains: ' brown ' } })).toEqual([1]);
    expect(q({ bio: { $matches_any: 'fox bread' } })).toEqual([1, 4, 5]);
    expect(q({ bio: { $matches_all: 'QUICK fox' } })).toEqual([1, 5]);
    expect(q({ bio: { $matches_all: 'crème BRÛLÉE' } })).toEqual([2]);
    expect(q({ bio: { $matches_any: '' } })).toEqual([]);
    expect(q({ city: { $matches_any: 'oslo' } })).toEqual([3, 5]);
    expect(ep.count(ep.parseQuery({ $filter: { $or: [{ city: 'Oslo' }, { age: 41 }] } }).filter)).toBe(3);
  });

  it('uses composite and full-text indexes and says so', async () => {
    const ep = await fixture();
    const explain = (json: unknown) => ep.explain(ep.parseQuery(json));
    expect(explain({ $filter: { city: 'Paris', age: { $gte: 26 } } })).toMatch(
      /^index on city, age equality scan \(city = "Paris" AND age >= 26\): \$eq on the first field and a range on the next;/,
    );
    expect(ids(ep.query(ep.parseQuery({ $filter: { city: 'Paris', age: { $gte: 26 } } })))).toEqual([1, 6]);
    // The composite index gives the order: no sort in memory, and the scan stops after the limit.
    expect(explain({ $filter: { city: 'Paris' }, $order_by: { age: 'desc' }, $limit: 2 })).toBe(
      'index on city, age equality scan (city = "Paris"): $eq on the first field; order by age desc comes from the scan; skip 0, limit 2',
    );
    expect(
      ids(ep.query(ep.parseQuery({ $filter: { city: 'Paris' }, $order_by: { age: 'desc' }, $limit: 2 }))),
    ).toEqual([1, 6]);
    expect(explain({ $filter: { bio: { $matches_all: 'quick fox' } } })).toMatch(
      /^full-text index on bio word lookup \("quick"\): \$matches_all on a field with a full-text index reads the rows of its longest word; then filter rows on bio has all of words \["quick", "fox"\]/,
    );
    expect(explain({ $filter: { bio: { $contains: 'the quick brown' } } })).toMatch(
      /^full-text index on bio word lookup \("quick"\)/,
    );
    // A substring without a whole word inside cannot use the word index: the rows are scanned.
    expect(explain({ $filter: { bio: { $contains: 'fox' } } })).toMatch(
      /^full scan of the primary index: no equality or range filter on an indexed field; then filter rows on bio contains substring "fox"/,
    );
    expect(explain({ $filter: { $or: [{ age: 1 }, { age: 2 }] } })).toMatch(
      /^full scan of the primary index: .*then filter rows on \(age = 1 OR age = 2\)/,
    );
  });

  it('orders by several fields, NULLs first ascending and last descending, ties by primary key', async () => {
    const ep = await fixture();
    const order = (o: unknown) => ids(ep.query(ep.parseQuery({ $order_by: o })));
    expect(order([{ age: 'desc' }, { city: 'asc' }])).toEqual([4, 3, 1, 6, 2, 5]);
    expect(order([{ city: 'asc' }, { age: 'desc' }])).toEqual([4, 3, 5, 1, 6, 2]);
    expect(order({ age: 'asc' })).toEqual([5, 2, 1, 3, 6, 4]);
    expect(order({ age: 'desc' })).toEqual([4, 1, 3, 6, 2, 5]);
    // Strings by code point: lower case after upper case.
    expect(order([{ bio: 'desc' }, { id: 'desc' }])).toEqual([6, 4, 1, 2, 5, 3]);
    expect(ids(ep.query(ep.parseQuery({ $order_by: { age: 'desc' }, $skip: 1, $limit: 3 })))).toEqual([
      1, 3, 6,
    ]);
  });
});

describe('cursor paging', () => {
  /** Pages through `json` while `between(pageNo)` writes, collecting the ids of every page. */
  async function pageThrough(
    ep: EndpointStore,
    json: Record<string, unknown>,
    between: (page: number) => Promise<void>,
  ): Promise<number[]> {
    const seen: number[] = [];
    let after: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const res = ep.queryPage(ep.parseQuery({ ...json, ...(after ? { $after: after } : {}) }));
      seen.push(...ids(res.rows));
      if (!res.cursor) return seen;
      after = res.cursor;
      await between(page);
    }
    throw new Error('paging did not end');
  }

  const orders: [string, unknown][] = [
    ['primary key', undefined],
    ['an indexed field, descending', { age: 'desc' }],
    ['two fields, one not indexed', [{ city: 'asc' }, { bio: 'desc' }]],
  ];
  for (const [label, orderBy] of orders) {
    it(`returns each row present throughout exactly once while rows change (order: ${label})`, async () => {
      const ep = tempStore().openEndpoint(def);
      const stable = new Set<number>();
      const rows: Value[][] = [];
      for (let i = 0; i < 200; i++) {
        rows.push(p(i, ['Paris', 'Oslo', null][i % 3]!, i % 7 === 0 ? null : i % 13, `row ${i}`));
        // Every third row stays untouched; the others may be deleted or moved.
        if (i % 3 === 0) stable.add(i);
      }
      await ep.apply(rows.map(insertOp));
      let next = 1000;
      const seen = await pageThrough(
        ep,
        { $limit: 7, ...(orderBy ? { $order_by: orderBy } : {}) },
        async (page) => {
          // Between pages: insert rows that sort anywhere, delete and update unstable rows.
          const ops = [
            insertOp(p(next++, 'Oslo', page % 13, 'new')),
            insertOp(p(-next, null, null, null)),
            insertOp(p(next++, 'Paris', 99, 'zzz')),
          ];
          const victim = 1 + 3 * page;
          if (victim < 200) ops.push(deleteOp(rows[victim]!));
          const moved = 2 + 3 * page;
          if (moved < 200) ops.push(updateOp(rows[moved]!, p(moved, 'Bergen', (page * 5) % 13, 'moved')));
          await ep.apply(ops);
        },
      );
      for (const id of stable) expect(seen.filter((x) => x === id)).toHaveLength(1);
      // Only a row that moved (an update changed its sort values) may come again, at its new place.
      const twice = seen.filter((x, i) => seen.indexOf(x) !== i);
      for (const id of twice) expect(id % 3).toBe(2);
    });
  }

  it('pages through copies of a row of an endpoint without primary key', async () => {
    const ep = tempStore().openEndpoint({ name: 'log', schema: makeSchema(schema.fields, []) });
    await ep.apply([
      insertOp(p(1, 'a', 1, null)),
      insertOp(p(1, 'a', 1, null)),
      insertOp(p(1, 'a', 1, null)),
      insertOp(p(2, 'b', 2, null)),
    ]);
    const first = ep.queryPage({ limit: 2 });
    expect(ids(first.rows)).toEqual([1, 1]);
    const second = ep.queryPage({ limit: 2, after: first.cursor! });
    expect(ids(second.rows)).toEqual([1, 2]);
    expect(second.cursor).toBeUndefined();
  });

  it('starts the scan at the cursor, and refuses a cursor of another order or garbage', async () => {
    const ep = await fixture();
    const page = ep.queryPage(ep.parseQuery({ $order_by: { age: 'asc' }, $limit: 2 }));
    expect(ids(page.rows)).toEqual([5, 2]);
    expect(ep.explain(ep.parseQuery({ $order_by: { age: 'asc' }, $limit: 2, $after: page.cursor }))).toMatch(
      /order by age asc comes from the scan; after the cursor: the scan starts at its position; skip 0, limit 2$/,
    );
    const next = ep.queryPage(ep.parseQuery({ $order_by: { age: 'asc' }, $limit: 2, $after: page.cursor }));
    expect(ids(next.rows)).toEqual([1, 3]);
    expect(() => ep.query(ep.parseQuery({ $order_by: { age: 'desc' }, $after: page.cursor }))).toThrow(
      '$after: the cursor belongs to a query with another $order_by; pass the cursor returned by the previous page of the same query (same $order_by)',
    );
    expect(() => ep.query(ep.parseQuery({ $after: 'not a cursor!' }))).toThrow(InvalidQueryError);
    expect(() => ep.query(ep.parseQuery({ $after: 'AAAA' }))).toThrow('$after: not a cursor of this store');
  });
});
