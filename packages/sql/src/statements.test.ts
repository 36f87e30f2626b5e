import { makeSchema } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { compileSql, keepSqlStatements, SqlError, splitSqlStatements } from './index.js';

const shape = (sql: string) => splitSqlStatements(sql).map((s) => ({ into: s.into, reads: s.reads }));

describe('splitSqlStatements', () => {
  it('gives each statement its INTO table and the tables it reads, in order', () => {
    const sql = `
      -- enriched orders; a ; in a comment does not split
      SELECT o.id, c.name FROM orders o JOIN customers AS c ON o.customer_id = c.id INTO enriched;
      SELECT region, COUNT(*) AS n FROM enriched GROUP BY region INTO "By Region";
      SELECT 'a;b' AS s INTO one
    `;
    expect(shape(sql)).toEqual([
      { into: 'enriched', reads: ['orders', 'customers'] },
      { into: 'By Region', reads: ['enriched'] },
      { into: 'one', reads: [] },
    ]);
    const [first] = splitSqlStatements(sql);
    expect(sql.slice(first!.start, first!.end)).toMatch(/^SELECT o\.id.*INTO enriched$/);
  });

  it('keeps CTEs and subqueries inside their statement, and leaves CTE names out of the reads', () => {
    expect(
      shape(`WITH big AS (SELECT * FROM orders WHERE amount > 90), w (id) AS (SELECT id FROM big)
        SELECT * FROM w WHERE id IN (SELECT customer_id FROM returns) INTO a;
        SELECT x.id FROM (SELECT id FROM customers; ) x INTO b`),
    ).toEqual([
      { into: 'a', reads: ['orders', 'returns'] },
      // The ; inside the parentheses does not end the statement.
      { into: 'b', reads: ['customers'] },
    ]);
  });

  it('reads comma lists, schema-qualified names, table functions, and not EXTRACT(… FROM …)', () => {
    expect(
      shape(`SELECT EXTRACT(YEAR FROM t.ts) AS y, a IS DISTINCT FROM b AS d
        FROM trips t, public.zones AS z, cabs c WHERE t.zone = z.id INTO x;
        SELECT * FROM TTL(TUMBLE(events, ts, '1 MINUTE'), ts, '1 HOUR') INTO w`),
    ).toEqual([
      { into: 'x', reads: ['trips', 'public.zones', 'cabs'] },
      { into: 'w', reads: ['events'] },
    ]);
  });

  it('a statement without INTO is an SqlError that says where', () => {
    expect(() => splitSqlStatements('SELECT 1 AS x INTO one;\n  SELECT * FROM t')).toThrow(
      /statement 2 has no INTO clause at line 2, column 3/,
    );
    expect(() => splitSqlStatements('SELECT * FROM t')).toThrow(SqlError);
  });
});

describe('keepSqlStatements', () => {
  const orders = makeSchema(
    [
      { name: 'id', type: 'int', nullable: false },
      { name: 'amount', type: 'int', nullable: false },
    ],
    ['id'],
  );
  const sql =
    'SELECT id, amount FROM orders WHERE amount > 10 INTO big;\nSELECT COUNT(*) AS n FROM big INTO n_big;\n';

  it('blanks the other statements: the rest compiles alone, reading the others’ outputs as inputs', () => {
    const second = keepSqlStatements(sql, (s) => s.into === 'n_big');
    expect(second.split('\n').length).toBe(sql.split('\n').length);
    const big = compileSql(
      keepSqlStatements(sql, (s) => s.into === 'big'),
      new Map([['orders', orders]]),
    );
    expect([...big.outputs.keys()]).toEqual(['big']);
    const pipeline = compileSql(second, new Map([['big', big.outputs.get('big')!]]));
    expect(pipeline.inputs).toEqual(['big']);
    expect([...pipeline.outputs.keys()]).toEqual(['n_big']);
  });

  it('keeps positions: an error in a kept statement names its line in the whole text', () => {
    const bad = 'SELECT id FROM orders INTO a;\nSELECT nope FROM orders INTO b;';
    expect(() =>
      compileSql(
        keepSqlStatements(bad, (s) => s.into === 'b'),
        new Map([['orders', orders]]),
      ),
    ).toThrow(/line 2/);
  });
});
