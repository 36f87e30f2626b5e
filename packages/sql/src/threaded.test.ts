import { MicroNodeError, type Operation } from '@dozer/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { changeCommand, T_SCHEMA, toBatches, uSchema } from '../test/support/change-stream.js';
import { compileSql, createThreadedExecutor, type ThreadedSqlExecutor } from './index.js';

// Worker threads compile the TypeScript sources they load, which takes a while on a busy machine.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

// Joins (inner, outer, self), aggregates (grouped, whole-input, DISTINCT), unions, top-N,
// ROW_NUMBER, HOP and TUMBLE windows, TTL, subqueries and a statement reading another's output.
const SOURCES = new Map([
  ['t', T_SCHEMA],
  ['u', uSchema()],
]);
const SQL = `
  SELECT k, COUNT(*) AS n, COUNT(DISTINCT s) AS ds, MIN(v) AS lo, MAX(v) AS hi, AVG(v) AS av FROM t GROUP BY k INTO agg;
  SELECT COUNT(*) AS n, MAX(s) AS ms FROM t INTO whole;
  SELECT 1 AS one INTO constant;
  SELECT t.id, u.id AS uid, u.w FROM t FULL JOIN u ON t.k = u.k AND u.w > t.v INTO fj;
  SELECT a.id, b.id AS bid FROM t a LEFT JOIN t b ON a.k = b.v INTO self;
  SELECT u.k, SUM(t.v) AS total, COUNT(*) AS n FROM t JOIN u ON t.k = u.k GROUP BY u.k INTO joined_agg;
  SELECT k FROM t UNION SELECT k FROM u INTO un;
  SELECT k, v AS x FROM t WHERE v > 1 UNION ALL SELECT k, w AS x FROM u WHERE w < 3 INTO un_all;
  SELECT id, v FROM t WHERE v IS NOT NULL ORDER BY v DESC, id LIMIT 3 INTO top;
  SELECT id, k, rn FROM (SELECT id, k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v, id) AS rn FROM t) r WHERE rn <= 2 INTO rn;
  SELECT window_start, COUNT(*) AS n, MAX(v) AS hi FROM HOP(t, ts, '1 MINUTE', '3 MINUTES') GROUP BY window_start INTO hop;
  SELECT window_start, k, SUM(v) AS sv FROM TUMBLE(t, ts, '2 MINUTES') GROUP BY window_start, k INTO tumble;
  SELECT k, COUNT(*) AS n FROM TTL(t, ts, '2 MINUTES') GROUP BY k INTO recent;
  SELECT id FROM t WHERE k IN (SELECT k FROM u WHERE w > 0) AND v >= (SELECT MIN(w) FROM u) INTO sub;
  SELECT lo, COUNT(*) AS groups FROM agg GROUP BY lo INTO chained;
  SELECT j.k, j.total, a.n FROM joined_agg j JOIN agg a ON j.k = a.k INTO chained_join`;

const PIPELINE = compileSql(SQL, SOURCES);
const FRESH = PIPELINE.createExecutor().snapshot();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const command = changeCommand();

/** Same tables, same ops, same order (of tables and of ops). */
function expectSame(got: Map<string, Operation[]>, expected: Map<string, Operation[]>): void {
  expect([...got]).toEqual([...expected]);
}

describe.each([0, 1, 2, 3])('threaded executor, threads: %i', (threads) => {
  let executor: ThreadedSqlExecutor;
  beforeAll(async () => {
    executor = await createThreadedExecutor(SQL, SOURCES, { threads });
  });
  afterAll(async () => {
    await executor?.close();
    expect(executor.liveThreads).toBe(0);
  });

  it('uses the threads it was given, each heavy operator in its own micro-node', () => {
    expect(executor.threads).toBe(threads);
    expect(new Set(executor.microNodes.map((m) => m.thread)).size).toBe(Math.max(1, threads));
    const heavy = PIPELINE.dag()
      .nodes()
      .filter((n) => ['aggregate', 'hash-join', 'top-n', 'row-number', 'window', 'ttl'].includes(n.kind))
      .map((n) => n.id);
    expect(executor.microNodes.map((m) => m.id).filter((id) => heavy.includes(id))).toEqual(
      expect.arrayContaining(heavy),
    );
    for (const m of executor.microNodes) {
      const inside = m.operators.map((o) => o.split(':')[0] + ':' + o.split(':')[1]);
      expect(inside.filter((id) => heavy.includes(id)).length).toBeLessThanOrEqual(1);
    }
  });

  it('gives exactly the single-thread outputs over random streams, and snapshots interchangeably', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { maxLength: 50 }),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(),
        async (commands, size, cut) => {
          const batches = toBatches(commands, { size });
          const at = cut % (batches.length + 1);
          const single = PIPELINE.createExecutor();
          await executor.restore(FRESH);
          // Before the cut: every push issued at once (pipelined across the threads).
          const first = batches.slice(0, at);
          const got = await Promise.all(first.map(([table, ops]) => executor.push(table, ops)));
          for (const [i, [table, ops]] of first.entries()) expectSame(got[i]!, single.push(table, ops));
          // The threaded snapshot is the single-thread one, byte for byte...
          const threadedBytes = await executor.snapshot();
          const singleBytes = single.snapshot();
          expect(text(threadedBytes)).toBe(text(singleBytes));
          // ...and each restores into the other kind, which continue identically.
          const resumed = PIPELINE.createExecutor();
          resumed.restore(threadedBytes);
          await executor.restore(singleBytes);
          expectSame(await executor.start(), resumed.start());
          for (const [table, ops] of batches.slice(at))
            expectSame(await executor.push(table, ops), resumed.push(table, ops));
          expect(text(await executor.snapshot())).toBe(text(resumed.snapshot()));
        },
      ),
      { numRuns: threads === 0 ? 100 : 50 },
    );
  });
});

describe('threaded executor errors', () => {
  it('rejects a push with the failing operator named, and its threads end', async () => {
    const sql = `
      SELECT id, CAST(s AS int) AS n FROM t INTO casted;
      SELECT c.n, COUNT(*) AS c FROM casted c JOIN u ON c.id = u.id GROUP BY c.n INTO counted`;
    const executor = await createThreadedExecutor(sql, SOURCES, { threads: 2 });
    try {
      expect(executor.liveThreads).toBe(2);
      const ok = await executor.push('t', [{ kind: 'insert', new: [1n, 1n, 1n, '12', null] }]);
      expect(ok.get('casted')).toEqual([{ kind: 'insert', new: [1n, 12n] }]);
      const error = await executor.push('t', [{ kind: 'insert', new: [2n, 1n, 1n, 'abc', null] }]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MicroNodeError);
      expect((error as MicroNodeError).node).toBe('casted/1:filter-project');
      expect((error as MicroNodeError).code).toBe('EVAL');
      expect((error as Error).message).toMatch(
        /^micro-node "casted\/1:filter-project" on worker thread \d failed: invalid input for type int: "abc" in "CAST\(s AS int\)" at line 2, column /,
      );
      expect(executor.liveThreads).toBe(0);
      await expect(executor.push('u', [{ kind: 'insert', new: [1n, 1n, 1n] }])).rejects.toBe(error);
    } finally {
      await executor.close();
    }
  });

  it('settles every push in flight when one of them fails', async () => {
    const sql = `
      SELECT id, CAST(s AS int) AS n FROM t INTO casted;
      SELECT n, COUNT(*) AS c FROM casted GROUP BY n INTO counted`;
    const executor = await createThreadedExecutor(sql, SOURCES, { threads: 2, maxInFlight: 3 });
    try {
      const row = (id: number, s: string) => [BigInt(id), 1n, 1n, s, null];
      const pushes = ['1', '2', 'x', '4', '5'].map((s, i) =>
        executor.push('t', [{ kind: 'insert', new: row(i, s) }]),
      );
      const settled = await Promise.allSettled(pushes);
      // The failing push and every one after it reject with the same error; none hangs.
      const failure = (settled[2] as PromiseRejectedResult).reason as MicroNodeError;
      expect(failure).toBeInstanceOf(MicroNodeError);
      expect(failure.node).toBe('casted/1:filter-project');
      for (const r of settled.slice(2)) expect(r).toEqual({ status: 'rejected', reason: failure });
      expect(executor.liveThreads).toBe(0);
    } finally {
      await executor.close();
    }
  });

  it('refuses a table that is not an input, as the single-thread executor does', async () => {
    const executor = await createThreadedExecutor('SELECT id FROM t INTO o', SOURCES, { threads: 0 });
    await expect(executor.push('nope', [])).rejects.toThrow(
      'push: "nope" is not an input of this pipeline; its inputs are: t',
    );
    await executor.close();
  });
});
