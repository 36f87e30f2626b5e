import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changeCommand, T_SCHEMA, toBatches, uSchema } from '../test/support/change-stream.js';
import { compileSql } from './index.js';

// Every kind of stateful operator, so that each one's state goes through snapshot / restore:
// grouped and whole-input aggregates (COUNT DISTINCT, MIN/MAX with retractions, AVG), DISTINCT,
// outer and self joins with residual conditions, UNION (distinct), ORDER BY … LIMIT, ROW_NUMBER,
// HOP windows, TTL, IN (SELECT …) and a scalar subquery.
const SOURCES = new Map([
  ['t', T_SCHEMA],
  ['u', uSchema()],
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

const command = changeCommand();

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
