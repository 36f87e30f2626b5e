import { Decimal, Json, makeSchema, Timestamp, type Value } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { compileSql, createThreadedExecutor, SqlError, SqlEvalError, type SqlExecutor } from './index.js';

const events = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'ts', type: 'timestamp', nullable: true },
    { name: 'doc', type: 'json', nullable: true },
  ],
  ['id'],
);
const SOURCES = new Map([['events', events]]);

/** The values of `exprs` for one input row. */
function evalRow(exprs: string, ts: string | null, doc: unknown = null): Value[] {
  const ex = compileSql(`SELECT ${exprs} FROM events INTO o`, SOURCES).createExecutor();
  const out = ex.push('events', [
    {
      kind: 'insert',
      new: [1n, ts === null ? null : Timestamp.parse(ts), doc === null ? null : new Json(doc as never)],
    },
  ]);
  const op = out.get('o')![0]!;
  return op.kind === 'insert' ? [...op.new] : [];
}

describe('time functions', () => {
  it('EXTRACT and date_part read UTC calendar fields', () => {
    expect(
      evalRow(
        "EXTRACT(YEAR FROM ts) AS y, EXTRACT(MONTH FROM ts) AS m, EXTRACT(DAY FROM ts) AS d, EXTRACT(HOUR FROM ts) AS h, date_part('minute', ts) AS mi, EXTRACT(DOW FROM ts) AS dow, EXTRACT(DOY FROM ts) AS doy, EXTRACT(QUARTER FROM ts) AS q, EXTRACT(WEEK FROM ts) AS w, EXTRACT(EPOCH FROM ts) AS e",
        '2024-03-31T23:59:30.250000Z',
      ),
    ).toEqual([2024n, 3n, 31n, 23n, 59n, 0n, 91n, 1n, 13n, Decimal.parse('1711929570.250000')]);
    expect(evalRow('EXTRACT(YEAR FROM ts) AS y', null)).toEqual([null]);
  });

  it('date_trunc floors to the unit, weeks from Monday', () => {
    const at = '2024-05-15T13:47:12.345678Z'; // a Wednesday
    expect(
      evalRow(
        "date_trunc('hour', ts) AS h, date_trunc('day', ts) AS d, date_trunc('week', ts) AS w, date_trunc('month', ts) AS m, date_trunc('year', ts) AS y",
        at,
      ).map(String),
    ).toEqual([
      '2024-05-15T13:00:00.000000Z',
      '2024-05-15T00:00:00.000000Z',
      '2024-05-13T00:00:00.000000Z',
      '2024-05-01T00:00:00.000000Z',
      '2024-01-01T00:00:00.000000Z',
    ]);
    expect(evalRow("date_trunc('minute', ts) AS m", '1969-12-31T23:59:59.5Z').map(String)).toEqual([
      '1969-12-31T23:59:00.000000Z',
    ]);
  });

  it('adds intervals and takes NOW() once, at compile time', () => {
    expect(evalRow("ts + INTERVAL '1 day' AS t", '2024-02-28T12:00:00Z').map(String)).toEqual([
      '2024-02-29T12:00:00.000000Z',
    ]);
    const [now] = evalRow('NOW() AS n', null);
    expect(now).toBeInstanceOf(Timestamp);
  });

  it('NOW() is the value the pipeline reports, and the one given when compiling (a restored pipeline keeps its NOW)', async () => {
    const sql = "SELECT id, NOW() AS n, ts > NOW() - INTERVAL '1 hour' AS recent FROM events INTO o";
    const first = compileSql(sql, SOURCES);
    const row = (ex: SqlExecutor) =>
      ex
        .push('events', [{ kind: 'insert', new: [1n, Timestamp.parse('2024-01-01T00:30:00Z'), null] }])
        .get('o')![0]!;
    const op = row(first.createExecutor());
    expect(op.kind === 'insert' && op.new[1]).toEqual(first.now);

    const then = Timestamp.parse('2024-01-01T01:00:00Z');
    const restored = compileSql(sql, SOURCES, { now: then });
    expect(restored.now).toEqual(then);
    expect(row(restored.createExecutor())).toEqual({ kind: 'insert', new: [1n, then, true] });
    // Worker threads compile the SQL again: with the caller's NOW, not their own.
    const threaded = await createThreadedExecutor(sql, SOURCES, { threads: 0, now: then });
    try {
      const out = await threaded.push('events', [
        { kind: 'insert', new: [1n, Timestamp.parse('2024-01-01T00:30:00Z'), null] },
      ]);
      expect(out.get('o')).toEqual([{ kind: 'insert', new: [1n, then, true] }]);
    } finally {
      await threaded.close();
    }
  });

  it('rejects unknown fields and units at compile time', () => {
    expect(() => compileSql("SELECT date_trunc('fortnight', ts) AS t FROM events INTO o", SOURCES)).toThrow(
      "unknown date_trunc unit 'fortnight'",
    );
    expect(() => compileSql('SELECT EXTRACT(YEAR FROM id) AS y FROM events INTO o', SOURCES)).toThrow(
      SqlError,
    );
  });
});

describe('JSON functions', () => {
  const doc = { a: { b: [10, 'x', { c: true }] }, s: 'str', n: null };

  it('-> gives json, ->> gives text, by key or index', () => {
    expect(
      evalRow(
        "doc -> 'a' AS a, doc ->> 's' AS s, doc -> 'a' -> 'b' -> 1 AS x, doc ->> 'n' AS n, doc -> 'zz' AS z",
        null,
        doc,
      ),
    ).toEqual([new Json({ b: [10, 'x', { c: true }] }), 'str', new Json('x'), null, null]);
  });

  it('JSON_VALUE gives scalars as text, JSON_QUERY gives json', () => {
    expect(
      evalRow(
        "JSON_VALUE(doc, '$.a.b[0]') AS v, JSON_VALUE(doc, '$.a') AS obj, JSON_QUERY(doc, '$.a.b[2]') AS q, JSON_VALUE(doc, '$.missing') AS m",
        null,
        doc,
      ),
    ).toEqual(['10', null, new Json({ c: true }), null]);
  });

  it('reports a malformed path with the expression', () => {
    expect(() => evalRow("JSON_VALUE(doc, 'a.b') AS v", null, doc)).toThrow(SqlEvalError);
    expect(() => compileSql("SELECT id ->> 'a' AS v FROM events INTO o", SOURCES)).toThrow(
      '->> expects json, got int',
    );
  });
});
