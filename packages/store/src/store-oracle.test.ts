// Property test: after random operation sequences, every query answered through
// the indexes equals the same query evaluated over an in-memory oracle.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compareRows,
  compareValues,
  Decimal,
  deleteOp,
  insertOp,
  makeSchema,
  type Operation,
  type Row,
  rowsEqual,
  type Schema,
  updateOp,
  type Value,
} from '@dozer/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComparisonOp, Filter, OrderBy, Query, TextOp } from './query.js';
import { type EndpointDefinition, openStore, type Store } from './store.js';

const fieldDefs = [
  { name: 'id', type: 'int', nullable: false },
  { name: 'a', type: 'int', nullable: true },
  { name: 's', type: 'string', nullable: true },
  { name: 'f', type: 'float', nullable: false },
  { name: 'd', type: 'decimal', nullable: true },
] as const;
const withPk = makeSchema(fieldDefs, ['id']);
const noPk = makeSchema(fieldDefs);

const valueArbs: fc.Arbitrary<Value>[] = [
  fc.bigInt(0n, 12n),
  fc.option(fc.bigInt(-4n, 4n), { nil: null }),
  fc.option(fc.constantFrom('', 'a', 'ab', 'b', '\0', 'é', 'Z', 'a b', 'x a b', 'B,a!', 'ab  A É'), {
    nil: null,
  }),
  fc.constantFrom(0, -0, 1.5, -2, Number.NaN, Number.POSITIVE_INFINITY, 1e-300),
  fc.option(
    fc.constantFrom('1', '1.0', '2.50', '-3', '0', '10').map((s) => Decimal.parse(s)),
    { nil: null },
  ),
];
const rowArb: fc.Arbitrary<Row> = fc.tuple(...valueArbs);

const opArb: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 5, arbitrary: rowArb.map(insertOp) },
  { weight: 2, arbitrary: rowArb.map(deleteOp) },
  { weight: 2, arbitrary: fc.tuple(rowArb, rowArb).map(([o, n]) => updateOp(o, n)) },
);

const condArb: fc.Arbitrary<Filter> = fc.integer({ min: 0, max: 4 }).chain((pos) =>
  fc.record({
    kind: fc.constant('compare' as const),
    field: fc.constant(fieldDefs[pos]!.name),
    op: fc.constantFrom<ComparisonOp>('$eq', '$lt', '$lte', '$gt', '$gte'),
    value: pos === 3 ? (valueArbs[3] as fc.Arbitrary<Value>) : fc.option(valueArbs[pos]!, { nil: null }),
  }),
);
const textArb: fc.Arbitrary<Filter> = fc.record({
  kind: fc.constant('text' as const),
  field: fc.constant('s'),
  op: fc.constantFrom<TextOp>('$contains', '$matches_any', '$matches_all'),
  value: fc.constantFrom('a', 'b', 'ab', ' a ', 'x a b', 'a b', 'A', 'é', '', ' b, ', 'zz'),
});
const leafArb: fc.Arbitrary<Filter> = fc.oneof(
  { weight: 4, arbitrary: condArb },
  { weight: 2, arbitrary: textArb },
);
const filterArb: fc.Arbitrary<Filter> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.array(leafArb, { maxLength: 3 }).map((fs): Filter => ({ kind: 'and', filters: fs })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.array(leafArb, { minLength: 1, maxLength: 2 }),
        fc.array(leafArb, { minLength: 1, maxLength: 2 }),
        leafArb,
      )
      .map(
        ([a, b, c]): Filter => ({
          kind: 'and',
          filters: [
            {
              kind: 'or',
              filters: [
                { kind: 'and', filters: a },
                { kind: 'and', filters: b },
              ],
            },
            c,
          ],
        }),
      ),
  },
);
const queryArb: fc.Arbitrary<Query> = fc.record({
  filter: filterArb,
  orderBy: fc
    .uniqueArray(fc.integer({ min: 0, max: 4 }), { maxLength: 2 })
    .chain((ps) =>
      fc.tuple(
        ...ps.map((p) =>
          fc.constantFrom('asc', 'desc').map((d): OrderBy => ({ field: fieldDefs[p]!.name, direction: d })),
        ),
      ),
    ),
  skip: fc.integer({ min: 0, max: 4 }),
  limit: fc.integer({ min: 0, max: 12 }),
});

/** The oracle: a multiset of rows (PK endpoints keep one row per key). */
function applyOracle(rows: Row[], schema: Schema, ops: readonly Operation[]): void {
  const pk = schema.primaryKey;
  const sameKey = (a: Row, b: Row) =>
    pk.length > 0 ? compareRows(schema, a, b, pk) === 0 : rowsEqual(schema, a, b);
  const remove = (r: Row) => {
    const i = rows.findIndex((x) => sameKey(x, r));
    if (i >= 0) rows.splice(i, 1);
  };
  for (const op of ops) {
    if (op.kind !== 'insert') remove(op.old);
    if (op.kind !== 'delete') {
      if (pk.length > 0) remove(op.new);
      rows.push(op.new);
    }
  }
}

/** Words as the README defines them: NFKC, lowercased runs of letters, marks and digits. */
const words = (s: string) =>
  s
    .normalize('NFKC')
    .toLowerCase()
    .split(/[^\p{L}\p{M}\p{N}]+/u)
    .filter((w) => w !== '');

function oracleMatch(schema: Schema, f: Filter, r: Row): boolean {
  const pos = (name: string) => schema.fields.findIndex((d) => d.name === name);
  switch (f.kind) {
    case 'and':
      return f.filters.every((g) => oracleMatch(schema, g, r));
    case 'or':
      return f.filters.some((g) => oracleMatch(schema, g, r));
    case 'compare': {
      const p = pos(f.field);
      const x = compareValues(schema.fields[p]!.type, r[p] ?? null, f.value);
      return { $eq: x === 0, $lt: x < 0, $lte: x <= 0, $gt: x > 0, $gte: x >= 0 }[f.op];
    }
    case 'text': {
      const v = r[pos(f.field)];
      if (typeof v !== 'string') return false;
      if (f.op === '$contains') return v.includes(f.value);
      const have = new Set(words(v));
      const want = words(f.value);
      return f.op === '$matches_all' ? want.every((w) => have.has(w)) : want.some((w) => have.has(w));
    }
  }
}

function oracleQuery(rows: readonly Row[], schema: Schema, q: Query): Row[] {
  const pos = (name: string) => schema.fields.findIndex((f) => f.name === name);
  const ok = (r: Row) => q.filter === undefined || oracleMatch(schema, q.filter, r);
  const keyPos = schema.primaryKey.length > 0 ? schema.primaryKey : schema.fields.map((_, i) => i);
  const sorted = rows.filter(ok).sort((a, b) => {
    for (const o of q.orderBy ?? []) {
      const p = pos(o.field);
      const c = compareValues(schema.fields[p]!.type, a[p] ?? null, b[p] ?? null);
      if (c !== 0) return o.direction === 'asc' ? c : -c;
    }
    return compareRows(schema, a, b, keyPos);
  });
  const skip = q.skip ?? 0;
  return sorted.slice(skip, skip + (q.limit ?? 50));
}

function expectSameRows(
  schema: Schema,
  actual: readonly Row[],
  expected: readonly Row[],
  context: string,
): void {
  const same =
    actual.length === expected.length && actual.every((r, i) => rowsEqual(schema, r, expected[i]!));
  if (!same) {
    const show = (rs: readonly Row[]) =>
      rs.map((r) => r.map((v) => (v === null ? 'NULL' : String(v))).join('|')).join('; ');
    throw new Error(`${context}\n  store:  ${show(actual)}\n  oracle: ${show(expected)}`);
  }
}

let dir: string;
let store: Store;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dozer-store-oracle-'));
  // Every read that may scan also goes through a read thread (answerPage…), whatever the size.
  store = openStore({ path: dir, readThreads: 1, readThreadMinRows: 0 });
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const variants: [string, Schema, NonNullable<EndpointDefinition['secondaryIndexes']>][] = [
  ['with a primary key and all indexes', withPk, 'all'],
  ['with a primary key and no secondary index', withPk, []],
  [
    'with composite and full-text indexes',
    withPk,
    [['s', 'a'], { kind: 'sorted', fields: ['a', 'f', 'd'] }, { kind: 'full_text', field: 's' }],
  ],
  ['without primary key (duplicates allowed)', noPk, 'all'],
  [
    'without primary key, composite and full-text indexes',
    noPk,
    [
      { kind: 'sorted', fields: ['d', 'a'] },
      { kind: 'full_text', field: 's' },
    ],
  ],
];

describe('queries agree with an in-memory oracle after random operations', () => {
  for (const [label, schema, secondaryIndexes] of variants) {
    it(label, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(opArb, { maxLength: 12 }), { minLength: 1, maxLength: 5 }),
          fc.array(queryArb, { minLength: 1, maxLength: 8 }),
          fc.boolean(),
          async (batches, queries, together) => {
            const ep = store.openEndpoint({ name: 't', schema, secondaryIndexes }, { reset: true });
            const since = ep.version();
            const oracle: Row[] = [];
            // One at a time, or all in flight at once (each computed on top of those not yet committed).
            if (together) await Promise.all(batches.map((ops) => ep.apply(ops)));
            for (const ops of batches) {
              if (!together) await ep.apply(ops);
              applyOracle(oracle, schema, ops);
            }
            expect(ep.count()).toBe(oracle.length);
            // Replaying the change feed, change by change, rebuilds exactly the stored rows.
            const replayed: Row[] = [];
            for (const { op } of ep.changesSince(since)) {
              if (op.kind !== 'insert') {
                const i = replayed.findIndex((r) => rowsEqual(schema, r, op.old));
                expect(i).toBeGreaterThanOrEqual(0);
                replayed.splice(i, 1);
              }
              if (op.kind !== 'delete') replayed.push(op.new);
            }
            const everything = { limit: 5000 };
            expectSameRows(
              schema,
              oracleQuery(replayed, schema, everything),
              ep.query(everything),
              'replayed change feed',
            );
            for (const q of queries) {
              const context = `query ${JSON.stringify(q, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}\n  plan: ${ep.explain(q)}`;
              expectSameRows(schema, ep.query(q), oracleQuery(oracle, schema, q), context);
              const all = oracleQuery(oracle, schema, { ...q, skip: 0, limit: 1e9 });
              expect(ep.count(q.filter)).toBe(all.length);
              // A read thread answers the same page, cursor and count.
              const page = ep.queryPage(q);
              const answered = await ep.answerPage(q);
              expectSameRows(schema, answered.rows, page.rows, `${context}\n  on a read thread`);
              expect(answered.cursor).toBe(page.cursor);
              expect((await ep.answerPageJson(q)).json).toBe(ep.queryPageJson(q).json);
              expect(await ep.answerCount(q.filter)).toBe(all.length);
              // Paging by cursor walks through the same rows, page by page.
              const pageSize = 2 + ((q.limit ?? 0) % 5);
              const paged: Row[] = [];
              let after: string | undefined;
              for (let n = 0; n <= all.length; n++) {
                const page = ep.queryPage({ ...q, skip: 0, limit: pageSize, ...(after ? { after } : {}) });
                paged.push(...page.rows);
                after = page.cursor;
                if (!after) break;
                expect(page.rows).toHaveLength(pageSize);
              }
              expectSameRows(schema, paged, all, `${context}\n  paged by ${pageSize}`);
            }
          },
        ),
        { numRuns: 100 },
      );
    }, 120_000);
  }

  it('sent the reads that may scan to the read thread', () => {
    expect(store.readThreadReads()).toBeGreaterThan(100);
  });
});
