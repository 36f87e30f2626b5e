// Read threads: queries that may scan many rows are answered off the calling
// thread, which keeps running meanwhile; they read what is committed. The
// answers themselves are compared with the calling thread's in the oracle test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteOp, insertOp, makeSchema } from '@dozer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidQueryError, StoreError } from './errors.js';
import { type EndpointStore, openStore, type Store } from './store.js';

const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: false },
    { name: 'city', type: 'string', nullable: false },
  ],
  ['id'],
);
const ROWS = 60_000;

describe('read threads', () => {
  let dir: string;
  let store: Store;
  let people: EndpointStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dozer-store-read-threads-'));
    store = openStore({ path: dir, readThreads: 2, readThreadMinRows: 1000 });
    // `name` has no index: a filter on it is checked row by row over the whole table.
    people = store.openEndpoint({ name: 'people', schema, secondaryIndexes: [['city']] });
    for (let b = 0; b < ROWS; b += 10_000) {
      await people.apply(
        Array.from({ length: 10_000 }, (_, i) =>
          insertOp([BigInt(b + i), `person ${b + i}`, `city ${(b + i) % 50}`]),
        ),
      );
    }
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a scan on another thread while this one keeps running, with the same rows', async () => {
    const q = people.parseQuery({ $filter: { name: { $contains: '5999' } }, $order_by: { name: 'desc' } });
    const before = store.readThreadReads();
    let turns = 0;
    let answered = false;
    // A timer of this thread runs while the scan is elsewhere (a scan on this thread would hold it).
    const tick = () => {
      turns++;
      if (!answered) setImmediate(tick);
    };
    setImmediate(tick);
    const answer = people.answerPageJson(q);
    expect(answer).toBeInstanceOf(Promise);
    const page = await answer;
    answered = true;
    expect(turns).toBeGreaterThan(0);
    expect(page).toEqual(people.queryPageJson(q));
    const expected = Array.from({ length: ROWS }, (_, i) => `person ${i}`)
      .filter((n) => n.includes('5999'))
      .sort()
      .reverse();
    expect(expected.length).toBeGreaterThan(10);
    expect(JSON.parse(page.json).map((r: { name: string }) => r.name)).toEqual(expected);
    expect(store.readThreadReads()).toBe(before + 1);
  });

  it('answers cheap reads at once: key lookups, ordered index scans, small endpoints', () => {
    expect(people.answerPage(people.parseQuery({ $filter: { id: 7 } }))).toEqual({
      rows: [[7n, 'person 7', 'city 7']],
    });
    const byCity = people.answerPage(people.parseQuery({ $filter: { city: 'city 3' }, $limit: 2 }));
    expect(byCity).not.toBeInstanceOf(Promise);
    expect(people.answerCount(people.parseQuery({ $filter: { id: 7 } }).filter)).toBe(1);
    expect(people.answerCount()).toBe(ROWS);
    const small = store.openEndpoint({ name: 'small', schema });
    expect(small.answerPage(small.parseQuery({ $filter: { name: 'x' } }))).toEqual({ rows: [] });
  });

  it('counts, pages by cursor and skips far on the threads', async () => {
    const filter = people.parseQuery({ $filter: { name: { $gte: 'person 5' } } }).filter;
    const counted = people.answerCount(filter);
    expect(counted).toBeInstanceOf(Promise);
    expect(await counted).toBe(people.count(filter));
    const far = await people.answerPage(people.parseQuery({ $skip: 50_000, $limit: 2 }));
    expect(far.rows).toEqual([
      [50_000n, 'person 50000', 'city 0'],
      [50_001n, 'person 50001', 'city 1'],
    ]);
    // Pages of an unindexed order, by cursor, on the threads: every row once.
    const seen = new Set<string>();
    let after: string | undefined;
    const body = { $filter: { name: { $contains: '777' } }, $order_by: { name: 'asc' }, $limit: 40 };
    for (;;) {
      const page = await people.answerPage(people.parseQuery(after ? { ...body, $after: after } : body));
      for (const r of page.rows) seen.add(String(r[0]));
      after = page.cursor;
      if (!after) break;
    }
    expect(seen.size).toBe(people.count(people.parseQuery(body).filter));
  });

  it('reads what is committed: a write is seen once its apply resolved', async () => {
    const q = people.parseQuery({ $filter: { name: 'someone new' } });
    expect((await people.answerPage(q)).rows).toEqual([]);
    await people.apply([insertOp([BigInt(ROWS) + 1n, 'someone new', 'city 1'])]);
    expect((await people.answerPage(q)).rows).toEqual([[BigInt(ROWS) + 1n, 'someone new', 'city 1']]);
    await people.apply([deleteOp([BigInt(ROWS) + 1n, 'someone new', 'city 1'])]);
    expect((await people.answerPage(q)).rows).toEqual([]);
  });

  it('throws a bad query or cursor at once, on the calling thread', () => {
    expect(() =>
      people.answerPage({ filter: { kind: 'compare', field: 'nope', op: '$eq', value: 1n } }),
    ).toThrow(InvalidQueryError);
    expect(() => people.answerPage(people.parseQuery({ $filter: { name: 'x' }, $after: 'garbage' }))).toThrow(
      InvalidQueryError,
    );
  });

  it('fails the reads still waiting when the store closes', async () => {
    const other = mkdtempSync(join(tmpdir(), 'dozer-store-read-threads-close-'));
    const s = openStore({ path: other, readThreads: 1, readThreadMinRows: 0 });
    try {
      const ep = s.openEndpoint({ name: 'people', schema, secondaryIndexes: [] });
      await ep.apply([insertOp([1n, 'a', 'b'])]);
      const pending = ep.answerPage(ep.parseQuery({ $filter: { name: 'a' } }));
      const closing = s.close();
      await expect(pending).rejects.toThrow(StoreError);
      await closing;
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
