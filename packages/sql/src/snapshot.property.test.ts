import { makeSchema, type Operation, type Row, Timestamp } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSql } from './index.js';

// Every kind of stateful operator, so that each one's state goes through snapshot / restore:
// grouped and whole-input aggregates (COUNT DISTINCT, MIN/MAX with retractions, AVG), DISTINCT,
// outer and self joins with residual conditions, UNION (distinct), ORDER BY … LIMIT, ROW_NUMBER,
// HOP windows, TTL, IN (SELECT …) and a scalar subquery.
const t = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'k', type: 'int', nullable: true },
    { name: 'v', type: 'int', nullable: true },
    { name: 's', type: 'string', nullable: true },
    { name: 'ts', type: 'timestamp', nullable: true },
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

const SQL = `
  SELECT k, COUNT(*) AS n, COUNT(DISTINCT s) AS ds, MIN(v) AS lo, MAX(v) AS hi, AVG(v) AS av FROM t GROUP BY k INTO agg;
  SELECT COUNT(*) AS n, MAX(s) AS ms FROM t INTO whole;
  SELECT DISTINCT k, s FROM t INTO dist;
  SELECT t.id, u.id AS uid, u.w FROM t FULL JOIN u ON t.k = u.k AND u.w > t.v INTO fj;
  SELECT a.id, b.id AS bid FROM t a LEFT JOIN t b ON a.k = b.v INTO self;
  SELECT k FROM t UNION SELECT k FROM u INTO un;
  SELECT id, v FROM t WHERE v IS NOT NULL ORDER BY v DESC, id LIMIT 3 INTO top;
  SELECT id, k, rn FROM (SELECT id, k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v, id) AS rn FROM t) r WHERE rn <= 2 INTO rn;
  SELECT window_start, COUNT(*) AS n, MAX(v) AS hi FROM HOP(t, ts, '1 MINUTE', '3 MINUTES') GROUP BY window_start INTO hop;
  SELECT k, COUNT(*) AS n FROM TTL(t, ts, '2 MINUTES') GROUP BY k INTO recent;
  SELECT id FROM t WHERE k IN (SELECT k FROM u WHERE w > 0) AND v >= (SELECT MIN(w) FROM u) INTO sub;
  SELECT lo, COUNT(*) AS groups FROM agg GROUP BY lo INTO chained`;

const BASE = Timestamp.parse('2024-01-01T00:00:00Z').micros;
const small = (max: number) => fc.option(fc.integer({ min: 0, max }).map(BigInt), { nil: null, freq: 4 });
const time = fc.option(
  fc.integer({ min: 0, max: 20 }).map((i) => new Timestamp(BASE + BigInt(i) * 30_000_000n)),
  { nil: null, freq: 5 },
);
const command = fc.oneof(
  fc.record({
    table: fc.constant('t' as const),
    key: fc.integer({ min: 0, max: 5 }),
    remove: fc.boolean(),
    values: fc.tuple(small(3), small(4), fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null }), time),
  }),
  fc.record({
    table: fc.constant('u' as const),
    key: fc.integer({ min: 0, max: 5 }),
    remove: fc.boolean(),
    values: fc.tuple(small(3), small(4)),
  }),
);

/** Valid batches (insert new keys, update or delete existing ones), one table per batch. */
interface Command {
  readonly table: 't' | 'u';
  readonly key: number;
  readonly remove: boolean;
  readonly values: Row;
}

function toBatches(commands: readonly Command[]): [string, Operation[]][] {
  const tables = new Map<string, Map<number, Row>>([
    ['t', new Map()],
    ['u', new Map()],
  ]);
  const batches: [string, Operation[]][] = [];
  for (const c of commands) {
    const rows = tables.get(c.table)!;
    const old = rows.get(c.key);
    let op: Operation | null = null;
    if (c.remove) {
      if (old !== undefined) op = { kind: 'delete', old };
      rows.delete(c.key);
    } else {
      const row: Row = [BigInt(c.key), ...c.values];
      op = old === undefined ? { kind: 'insert', new: row } : { kind: 'update', old, new: row };
      rows.set(c.key, row);
    }
    if (op === null) continue;
    const last = batches[batches.length - 1];
    if (last !== undefined && last[0] === c.table && last[1].length < 3) last[1].push(op);
    else batches.push([c.table, [op]]);
  }
  return batches;
}

const FIRST = compileSql(SQL, SOURCES);
const RECOMPILED = compileSql(SQL, SOURCES);

describe('snapshot and restore', () => {
  it('an executor restored mid-stream, even into a recompiled pipeline, continues exactly like the original', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 60 }), fc.nat(), (commands, cut) => {
        const batches = toBatches(commands);
        const at = batches.length === 0 ? 0 : cut % (batches.length + 1);
        const original = FIRST.createExecutor();
        original.start();
        for (const [table, ops] of batches.slice(0, at)) original.push(table, ops);
        const bytes = original.snapshot();
        // A restart: the same SQL compiled again, a fresh executor, the saved bytes.
        const restored = RECOMPILED.createExecutor();
        restored.restore(bytes);
        expect(restored.start().size).toBe(0);
        for (const [table, ops] of batches.slice(at)) {
          expect(restored.push(table, ops)).toEqual(original.push(table, ops));
        }
        // And the state it ends with is the state the original ends with.
        expect(new TextDecoder().decode(restored.snapshot())).toBe(
          new TextDecoder().decode(original.snapshot()),
        );
      }),
      { numRuns: 100 },
    );
  }, 60_000);
});
