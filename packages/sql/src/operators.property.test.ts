import { makeSchema, type Operation, type Row, type Value } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSql } from './index.js';
import { rowKey } from './internal/keys.js';

// Small key spaces and frequent NULLs, so that groups, join keys and ties collide.
const t = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'k', type: 'int', nullable: true },
    { name: 'v', type: 'int', nullable: true },
    { name: 's', type: 'string', nullable: true },
  ],
  ['id'],
);
const u = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'k', type: 'int', nullable: true },
    { name: 'w', type: 'int', nullable: true },
  ],
  ['id'],
);
const SOURCES = new Map([
  ['t', t],
  ['u', u],
]);

type T = { id: bigint; k: bigint | null; v: bigint | null; s: string | null };
type U = { id: bigint; k: bigint | null; w: bigint | null };

/** A query and the same query in plain JavaScript over the final input tables. */
interface Case {
  readonly sql: string;
  readonly oracle: (t: readonly T[], u: readonly U[]) => Row[];
}

const cmpNullsLast = (a: bigint | null, b: bigint | null): number =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1;
const sumOf = (xs: (bigint | null)[]): bigint | null => {
  const nn = xs.filter((x): x is bigint => x !== null);
  return nn.length === 0 ? null : nn.reduce((a, b) => a + b, 0n);
};
const minOf = (xs: (bigint | null)[], max: boolean): bigint | null => {
  const nn = xs.filter((x): x is bigint => x !== null);
  if (nn.length === 0) return null;
  return nn.reduce((a, b) => ((max ? b > a : b < a) ? b : a));
};
function groupBy<X>(xs: readonly X[], key: (x: X) => Value[]): Map<string, { key: Value[]; rows: X[] }> {
  const m = new Map<string, { key: Value[]; rows: X[] }>();
  for (const x of xs) {
    const k = key(x);
    const id = rowKey(k);
    const g = m.get(id);
    if (g) g.rows.push(x);
    else m.set(id, { key: k, rows: [x] });
  }
  return m;
}
function joinRows(
  ts: readonly T[],
  us: readonly U[],
  on: (a: T, b: U) => boolean,
  type: 'inner' | 'left' | 'right' | 'full',
  shape: (a: T | null, b: U | null) => Row,
): Row[] {
  const out: Row[] = [];
  const matchedU = new Set<U>();
  for (const a of ts) {
    let any = false;
    for (const b of us) {
      if (on(a, b)) {
        any = true;
        matchedU.add(b);
        out.push(shape(a, b));
      }
    }
    if (!any && (type === 'left' || type === 'full')) out.push(shape(a, null));
  }
  if (type === 'right' || type === 'full') for (const b of us) if (!matchedU.has(b)) out.push(shape(null, b));
  return out;
}
const eqKey = (a: T, b: U) => a.k !== null && b.k !== null && a.k === b.k;

const CASES: { [name: string]: Case } = {
  agg: {
    sql: `SELECT k, COUNT(*) AS c, COUNT(v) AS cv, COUNT(DISTINCT v) AS dv, SUM(v) AS sv, MIN(v) AS mn, MAX(v) AS mx
          FROM t GROUP BY k HAVING COUNT(*) > 1 INTO agg`,
    oracle: (ts) =>
      [...groupBy(ts, (r) => [r.k]).values()]
        .filter((g) => g.rows.length > 1)
        .map((g) => {
          const vs = g.rows.map((r) => r.v);
          const nn = vs.filter((x) => x !== null);
          return [
            g.key[0]!,
            BigInt(g.rows.length),
            BigInt(nn.length),
            BigInt(new Set(nn).size),
            sumOf(vs),
            minOf(vs, false),
            minOf(vs, true),
          ];
        }),
  },
  agg2: {
    sql: 'SELECT k, c FROM agg WHERE c > 2 INTO agg2',
    oracle: (ts) =>
      [...groupBy(ts, (r) => [r.k]).values()]
        .filter((g) => g.rows.length > 2)
        .map((g) => [g.key[0]!, BigInt(g.rows.length)]),
  },
  global: {
    sql: 'SELECT COUNT(*) AS c, SUM(v) AS s, MAX(s) AS ms FROM t INTO totals',
    oracle: (ts) => {
      const ss = ts.map((r) => r.s).filter((x): x is string => x !== null);
      ss.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return [[BigInt(ts.length), sumOf(ts.map((r) => r.v)), ss.length ? ss[ss.length - 1]! : null]];
    },
  },
  distinct: {
    sql: 'SELECT DISTINCT k, s FROM t INTO dist',
    oracle: (ts) => [...groupBy(ts, (r) => [r.k, r.s]).values()].map((g) => g.key),
  },
  inner: {
    sql: 'SELECT t.id AS tid, u.id AS uid, v, w FROM t JOIN u ON t.k = u.k AND (v < w OR w IS NULL) INTO ij',
    oracle: (ts, us) =>
      joinRows(
        ts,
        us,
        (a, b) => eqKey(a, b) && (b.w === null || (a.v !== null && a.v < b.w)),
        'inner',
        (a, b) => [a!.id, b!.id, a!.v, b!.w],
      ),
  },
  left: {
    sql: 'SELECT t.id AS tid, u.id AS uid, w FROM t LEFT JOIN u ON t.k = u.k AND u.w > 0 INTO lj',
    oracle: (ts, us) =>
      joinRows(
        ts,
        us,
        (a, b) => eqKey(a, b) && b.w !== null && b.w > 0n,
        'left',
        (a, b) => [a!.id, b?.id ?? null, b?.w ?? null],
      ),
  },
  right: {
    sql: 'SELECT t.id AS tid, u.id AS uid FROM t RIGHT OUTER JOIN u ON u.k = t.k INTO rj',
    oracle: (ts, us) => joinRows(ts, us, eqKey, 'right', (a, b) => [a?.id ?? null, b!.id]),
  },
  full: {
    sql: 'SELECT t.id AS tid, u.id AS uid FROM t FULL JOIN u ON t.k = u.k AND t.v = u.w INTO fj',
    oracle: (ts, us) =>
      joinRows(
        ts,
        us,
        (a, b) => eqKey(a, b) && a.v !== null && a.v === b.w,
        'full',
        (a, b) => [a?.id ?? null, b?.id ?? null],
      ),
  },
  self: {
    sql: 'SELECT a.id AS a, b.id AS b FROM t a JOIN t AS b ON a.k = b.k AND a.id < b.id INTO sj',
    oracle: (ts) => {
      const out: Row[] = [];
      for (const a of ts)
        for (const b of ts) if (a.k !== null && a.k === b.k && a.id < b.id) out.push([a.id, b.id]);
      return out;
    },
  },
  chain: {
    sql: `SELECT t.id AS tid, u.id AS uid, c.n FROM t JOIN u ON t.k = u.k
          JOIN (SELECT k, COUNT(*) AS n FROM u GROUP BY k) c ON c.k = u.k INTO chain`,
    oracle: (ts, us) => {
      const counts = groupBy(us, (r) => [r.k]);
      const out: Row[] = [];
      for (const a of ts)
        for (const b of us)
          if (eqKey(a, b)) out.push([a.id, b.id, BigInt(counts.get(rowKey([b.k]))!.rows.length)]);
      return out;
    },
  },
  unionAll: {
    sql: 'SELECT k FROM t UNION ALL SELECT k FROM u INTO ua',
    oracle: (ts, us) => [...ts.map((r) => [r.k]), ...us.map((r) => [r.k])],
  },
  union: {
    sql: 'SELECT k, v FROM t UNION SELECT k, w FROM u INTO un',
    oracle: (ts, us) =>
      [...groupBy([...ts.map((r) => [r.k, r.v]), ...us.map((r) => [r.k, r.w])], (r) => r).values()].map(
        (g) => g.key,
      ),
  },
  cte: {
    sql: `WITH big AS (SELECT id, k FROM t WHERE v > 2)
          SELECT k, COUNT(*) AS c FROM (SELECT * FROM big) b GROUP BY k INTO cte`,
    oracle: (ts) =>
      [
        ...groupBy(
          ts.filter((r) => r.v !== null && r.v > 2n),
          (r) => [r.k],
        ).values(),
      ].map((g) => [g.key[0]!, BigInt(g.rows.length)]),
  },
  top: {
    sql: 'SELECT id, v FROM t ORDER BY v DESC, id LIMIT 3 INTO top',
    oracle: (ts) =>
      [...ts]
        // DESC puts NULLs first, as PostgreSQL.
        .sort((a, b) => -cmpNullsLast(a.v, b.v) || cmpNullsLast(a.id, b.id))
        .slice(0, 3)
        .map((r) => [r.id, r.v]),
  },
  rowNumber: {
    sql: `SELECT id, k, rn FROM (SELECT id, k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v, id) AS rn FROM t) x
          WHERE rn <= 2 INTO rnum`,
    oracle: (ts) =>
      [...groupBy(ts, (r) => [r.k]).values()].flatMap((g) =>
        [...g.rows]
          .sort((a, b) => cmpNullsLast(a.v, b.v) || cmpNullsLast(a.id, b.id))
          .slice(0, 2)
          .map((r, i) => [r.id, r.k, BigInt(i + 1)]),
      ),
  },
  rowNumberAll: {
    sql: `SELECT id, rn FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY s DESC, id) AS rn FROM t) x INTO rnall`,
    oracle: (ts) =>
      [...ts]
        .sort((a, b) => {
          // DESC: NULLs first, then strings from the greatest.
          if (a.s !== b.s) {
            if (a.s === null) return -1;
            if (b.s === null) return 1;
            return a.s < b.s ? 1 : -1;
          }
          return cmpNullsLast(a.id, b.id);
        })
        .map((r, i) => [r.id, BigInt(i + 1)]),
  },
};

const small = fc.option(fc.integer({ min: 0, max: 3 }), { nil: null, freq: 4 });
const command = fc.record({
  table: fc.constantFrom('t', 'u'),
  id: fc.integer({ min: 0, max: 5 }),
  remove: fc.boolean(),
  k: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null, freq: 5 }),
  v: small,
  s: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null, freq: 4 }),
});

function applyToBag(bag: Map<string, number>, ops: readonly Operation[], where: string): void {
  const add = (r: Row, n: number) => {
    const k = rowKey(r);
    const c = (bag.get(k) ?? 0) + n;
    if (c < 0) throw new Error(`${where}: deleted a row that is not there: ${k}`);
    if (c === 0) bag.delete(k);
    else bag.set(k, c);
  };
  for (const op of ops) {
    if (op.kind === 'insert') add(op.new, 1);
    else if (op.kind === 'delete') add(op.old, -1);
    else {
      add(op.old, -1);
      add(op.new, 1);
    }
  }
}

function bagOf(rows: readonly Row[]): Map<string, number> {
  const bag = new Map<string, number>();
  applyToBag(
    bag,
    rows.map((r) => ({ kind: 'insert', new: r })),
    'oracle',
  );
  return bag;
}

const sorted = (bag: Map<string, number>) => [...bag.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));

describe('stateful operators against a batch oracle', () => {
  const sql = Object.values(CASES)
    .map((c) => c.sql)
    .join(';\n');
  const pipeline = compileSql(sql, SOURCES);
  const intoOf = (c: Case) => /INTO (\w+)\s*$/.exec(c.sql)![1]!;

  it('maintains every output equal to the query over the final inputs', () => {
    fc.assert(
      fc.property(
        fc.array(command, { maxLength: 50 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1 }),
        (commands, batchSizes) => {
          const ex = pipeline.createExecutor();
          const bags = new Map<string, Map<string, number>>();
          const take = (result: Map<string, Operation[]>) => {
            for (const [name, ops] of result) {
              const bag = bags.get(name) ?? new Map<string, number>();
              bags.set(name, bag);
              applyToBag(bag, ops, name);
            }
          };
          take(ex.start());
          const tables = { t: new Map<bigint, Row>(), u: new Map<bigint, Row>() };
          // Consecutive commands on one table form a batch (of at most the next batch size).
          let pending: { table: 't' | 'u'; ops: Operation[] } | null = null;
          let b = 0;
          const flush = () => {
            if (pending && pending.ops.length > 0) take(ex.push(pending.table, pending.ops));
            pending = null;
          };
          for (const c of commands) {
            const table = tables[c.table];
            const id = BigInt(c.id);
            const old = table.get(id);
            const k = c.k === null ? null : BigInt(c.k);
            const v = c.v === null ? null : BigInt(c.v);
            const next: Row = c.table === 't' ? [id, k, v, c.s] : [id, k, v];
            let op: Operation;
            if (c.remove) {
              if (old === undefined) continue;
              op = { kind: 'delete', old };
              table.delete(id);
            } else {
              op = old === undefined ? { kind: 'insert', new: next } : { kind: 'update', old, new: next };
              table.set(id, next);
            }
            const p = pending as { table: 't' | 'u'; ops: Operation[] } | null;
            if (p === null || p.table !== c.table || p.ops.length >= batchSizes[b % batchSizes.length]!) {
              flush();
              b++;
              pending = { table: c.table, ops: [] };
            }
            (pending as unknown as { ops: Operation[] }).ops.push(op);
          }
          flush();
          const ts = [...tables.t.values()].map(([id, k, v, s]) => ({ id, k, v, s }) as T);
          const us = [...tables.u.values()].map(([id, k, w]) => ({ id, k, w }) as U);
          for (const c of Object.values(CASES)) {
            const name = intoOf(c);
            expect(sorted(bags.get(name) ?? new Map()), name).toEqual(sorted(bagOf(c.oracle(ts, us))));
          }
        },
      ),
      { numRuns: 250 },
    );
  });
});
