import { Decimal, makeSchema, type Operation, type Row, Timestamp } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { compileSql, SqlError } from './index.js';

const trips = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'price', type: 'decimal', nullable: true, precision: 10, scale: 2 },
    { name: 'name', type: 'string', nullable: true },
    { name: 'pickup', type: 'timestamp', nullable: false },
    { name: 'city', type: 'string', nullable: false },
  ],
  ['id'],
);
const SOURCES = new Map([['trips', trips]]);

function compileError(sql: string): SqlError {
  try {
    compileSql(sql, SOURCES);
  } catch (e) {
    expect(e).toBeInstanceOf(SqlError);
    expect((e as SqlError).code).toBe('SQL');
    return e as SqlError;
  }
  throw new Error(`expected a compile error for: ${sql}`);
}

const row = (id: number, price: string | null, name: string | null, city = 'Paris'): Row => [
  BigInt(id),
  price === null ? null : Decimal.parse(price),
  name,
  Timestamp.parse('2024-01-01T00:00:00Z'),
  city,
];

describe('compile errors', () => {
  it('names an unknown column with its position and the table columns', () => {
    const e = compileError('SELECT pricee FROM trips INTO o');
    expect(e.message).toBe(
      'unknown column "pricee" at line 1, column 8: SELECT pricee FROM trips INTO o (columns of trips: id, price, name, pickup, city)',
    );
    expect(e.position).toEqual({ offset: 7, line: 1, column: 8 });
  });

  it('points at the right line and column in multi-line, multi-statement SQL', () => {
    const e = compileError('SELECT id FROM trips INTO a;\nSELECT id,\n       t.nme\nFROM trips t INTO b');
    expect(e.message).toBe(
      'unknown column "t.nme" at line 3, column 8: t.nme (columns of trips: id, price, name, pickup, city)',
    );
    expect(e.position).toEqual({ offset: 47, line: 3, column: 8 });
  });

  it('rejects a qualifier that is not the FROM table or its alias', () => {
    expect(compileError('SELECT trips.id FROM trips AS t INTO o').message).toBe(
      'unknown table "trips" in column reference "trips.id" at line 1, column 8: SELECT trips.id FROM trips AS t INTO o (the FROM table is trips AS t; write t.id)',
    );
  });

  it('reports ambiguous case-insensitive column names', () => {
    const s = new Map([
      [
        't',
        makeSchema([
          { name: 'Name', type: 'string', nullable: true },
          { name: 'NAME', type: 'string', nullable: true },
        ]),
      ],
    ]);
    expect(() => compileSql('SELECT name FROM t INTO o', s)).toThrow(
      'ambiguous column "name" at line 1, column 8: SELECT name FROM t INTO o (Name, NAME all match; double-quote the exact name)',
    );
    expect(compileSql('SELECT "NAME" FROM t INTO o', s).outputs.get('o')!.fields[0]!.name).toBe('NAME');
  });

  it('names an unknown table and lists the known ones', () => {
    expect(compileError('SELECT * FROM trip INTO o').message).toBe(
      'unknown table "trip" at line 1, column 15: SELECT * FROM trip INTO o (known tables: trips (source), o (output))',
    );
  });

  it('names unknown functions and wrong argument counts', () => {
    expect(compileError('SELECT upperr(name) FROM trips INTO o').message).toMatch(
      /^unknown function "upperr" at line 1, column 8: SELECT upperr\(name\) FROM trips INTO o \(known functions: abs, /,
    );
    expect(compileError('SELECT upper(name, city) FROM trips INTO o').message).toBe(
      'function upper takes 1 argument, got 2 in "upper(name, city)" at line 1, column 8: SELECT upper(name, city) FROM trips INTO o (usage: upper(string))',
    );
  });

  it('reports type mismatches with the offending fragment', () => {
    expect(compileError('SELECT name + 1 FROM trips INTO o').message).toBe(
      'operator + cannot be applied to string and int in "name + 1" at line 1, column 8: SELECT name + 1 FROM trips INTO o (use || to concatenate strings, or CAST(… AS …) to convert)',
    );
    expect(compileError('SELECT id FROM trips WHERE price INTO o').message).toBe(
      'WHERE condition must be boolean, got decimal in "price" at line 1, column 28: SELECT id FROM trips WHERE price INTO o',
    );
    expect(compileError("SELECT id FROM trips WHERE pickup > 'soon' INTO o").message).toBe(
      "invalid timestamp literal 'soon' in comparison \"pickup > 'soon'\": operands at line 1, column 37: SELECT id FROM trips WHERE pickup > 'soon' INTO o",
    );
    expect(compileError('SELECT lower(id) FROM trips INTO o').message).toBe(
      'function lower expects a string as argument 1, got int in "lower(id)" at line 1, column 8: SELECT lower(id) FROM trips INTO o (usage: lower(string))',
    );
    expect(compileError('SELECT id FROM trips WHERE id = name INTO o').message).toContain(
      'have incompatible types int and string',
    );
    expect(compileError('SELECT CAST(pickup AS int) FROM trips INTO o').message).toContain(
      'cannot cast timestamp to int',
    );
  });

  it('names unsupported constructs instead of compiling them wrongly', () => {
    const cases: [string, string][] = [
      ['SELECT id FROM trips INTERSECT SELECT id FROM trips INTO o', 'INTERSECT is not supported'],
      ['SELECT id FROM trips LIMIT 5 INTO o', 'LIMIT without ORDER BY is not supported'],
      ['SELECT id FROM trips ORDER BY id LIMIT 5 OFFSET 2 INTO o', 'OFFSET is not supported'],
      [
        'SELECT RANK() OVER (PARTITION BY city ORDER BY id) AS r FROM trips INTO o',
        'window function RANK() is not supported',
      ],
      ['SELECT COUNT(*) OVER (PARTITION BY city) FROM trips INTO o', 'COUNT() OVER (…) is not supported'],
      [
        "SELECT id FROM SESSION(trips, pickup, '5 MINUTES') INTO o",
        'unknown table function SESSION(…) in FROM',
      ],
      [
        'SELECT id FROM trips WHERE COUNT(*) > 1 INTO o',
        'aggregate function COUNT() is not allowed in WHERE',
      ],
      ['SELECT a.id FROM trips a JOIN trips b USING (id) INTO o', 'JOIN … USING is not supported'],
      ['INSERT INTO trips (id) VALUES (1)', 'only SELECT … INTO statements are supported, got INSERT'],
      [
        'SELECT id FROM trips WHERE id NOT IN (SELECT id FROM trips) INTO o',
        'NOT IN (SELECT …) is not supported in "id NOT IN (SELECT id FROM trips)"',
      ],
      [
        'SELECT id FROM trips WHERE id = 1 OR id IN (SELECT id FROM trips) INTO o',
        'IN (SELECT …) inside OR, NOT or an expression is not supported',
      ],
      [
        'SELECT id FROM trips WHERE price = (SELECT price FROM trips) INTO o',
        'a scalar subquery must aggregate its whole input (one row, always) in "(SELECT price FROM trips)" at line 1, column 36',
      ],
      [
        'SELECT id, (SELECT MAX(price) FROM trips) AS m FROM trips INTO o',
        'a subquery is not supported in the select list',
      ],
      [
        'SELECT a.id FROM trips a JOIN trips b ON a.id = b.id, trips INTO o',
        'a comma after JOIN … ON … is read as part of the ON condition at line 1, column 39',
      ],
      [
        'SELECT id FROM trips t WHERE EXISTS (SELECT 1 FROM trips u WHERE u.id = t.id) INTO o',
        'EXISTS (SELECT …) is not supported',
      ],
      [
        'SELECT id FROM trips WHERE id IN (SELECT id, city FROM trips) INTO o',
        'the subquery of IN must select exactly one column, got 2 in "(SELECT id, city FROM trips)" at line 1, column 34',
      ],
    ];
    for (const [sql, msg] of cases) expect(compileError(sql).message, sql).toContain(msg);
  });

  it('rejects ungrouped columns, ambiguous join columns and mismatched unions', () => {
    expect(compileError('SELECT city, name FROM trips GROUP BY city INTO o').message).toBe(
      'column "name" must appear in GROUP BY or be used in an aggregate function at line 1, column 14: SELECT city, name FROM trips GROUP BY city INTO o (add it to GROUP BY, or aggregate it (e.g. MIN, MAX))',
    );
    expect(compileError('SELECT id FROM trips a JOIN trips b ON a.id = b.id INTO o').message).toBe(
      'ambiguous column "id" at line 1, column 8: SELECT id FROM trips a JOIN trips b ON a.id = b.id INTO o (it is a column of a and b; qualify it, e.g. a.id)',
    );
    expect(compileError('SELECT id FROM trips UNION SELECT id, city FROM trips INTO o').message).toContain(
      'each UNION query must have the same number of columns: 1 and 2',
    );
    expect(compileError('SELECT id FROM trips UNION ALL SELECT city FROM trips INTO o').message).toContain(
      'UNION column 1 ("id") has incompatible types int and string',
    );
    expect(compileError('SELECT SUM(city) FROM trips INTO o').message).toContain(
      'SUM expects a number, got string in "SUM(city)"',
    );
  });

  it('requires INTO, unique outputs and output names', () => {
    expect(compileError('SELECT id FROM trips').message).toBe(
      'statement 1 has no INTO clause at line 1, column 1: SELECT id FROM trips (every statement names its output table, e.g. SELECT * FROM trips WHERE price > 10 INTO expensive_trips)',
    );
    expect(compileError('SELECT id FROM trips INTO o; SELECT id FROM trips INTO o').message).toContain(
      'output table "o" is written by two statements at line 1, column 56',
    );
    expect(compileError('SELECT id FROM trips INTO trips').message).toContain(
      'output table "trips" has the name of a source table',
    );
    expect(compileError('SELECT upper(name), upper(city) FROM trips INTO o').message).toBe(
      'duplicate output column "upper" in the select list of o at line 1, column 21: SELECT upper(name), upper(city) FROM trips INTO o (give one of them another name with AS)',
    );
    expect(compileError('SELECT *, id FROM trips INTO o').message).toContain('duplicate output column "id"');
  });

  it('rejects cycles between statements', () => {
    expect(compileError('SELECT * FROM b INTO a;\nSELECT * FROM a INTO b').message).toBe(
      'statements form a cycle: a → b → a at line 1, column 15: SELECT * FROM b INTO a; (a statement may read only sources and the outputs of statements that do not read it back)',
    );
    expect(compileError('SELECT * FROM a INTO a').message).toContain('statements form a cycle: a → a');
  });

  it('reports syntax errors with their position', () => {
    const e = compileError('SELECT id\nFROM trips WHERE id >> 2 INTO o');
    expect(e.message).toBe(
      'syntax error at line 2, column 22: FROM trips WHERE id >> 2 INTO o (unexpected ">")',
    );
    expect(compileError('SELECT id FROM trips WHERE').message).toBe(
      'syntax error at line 1, column 27: SELECT id FROM trips WHERE (unexpected end of the SQL text)',
    );
  });
});

describe('output schemas', () => {
  it('takes names and types from the projections and infers nullability', () => {
    const p = compileSql(
      "SELECT id AS trip_id, price * 2, upper(name), COALESCE(name, 'n/a') AS label, price::decimal(12, 3) AS p3, 1 + 1 FROM trips INTO o",
      SOURCES,
    );
    expect(p.outputs.get('o')).toEqual({
      fields: [
        { name: 'trip_id', type: 'int', nullable: false },
        { name: 'expr_2', type: 'decimal', nullable: true },
        { name: 'upper', type: 'string', nullable: true },
        { name: 'label', type: 'string', nullable: false },
        { name: 'p3', type: 'decimal', nullable: true, precision: 12, scale: 3 },
        { name: 'expr_6', type: 'int', nullable: false },
      ],
      primaryKey: [0],
    });
  });

  it('keeps the primary key only when all key fields are projected as plain columns', () => {
    expect(compileSql('SELECT name, id FROM trips INTO o', SOURCES).outputs.get('o')!.primaryKey).toEqual([
      1,
    ]);
    expect(
      compileSql('SELECT id + 0 AS id, name FROM trips INTO o', SOURCES).outputs.get('o')!.primaryKey,
    ).toEqual([]);
    expect(compileSql('SELECT t.* FROM trips t INTO o', SOURCES).outputs.get('o')).toEqual(trips);
  });
});

describe('statements reading each other', () => {
  const sql = `
    SELECT id, price FROM expensive WHERE price > 100 INTO very_expensive;
    SELECT id, price, name FROM trips WHERE price > 10 INTO expensive;
    SELECT id, upper(name) AS shout FROM expensive INTO shouted`;

  it('plans in dependency order whatever the text order, and explains it', () => {
    const p = compileSql(sql, SOURCES);
    expect(p.inputs).toEqual(['trips']);
    expect([...p.outputs.keys()]).toEqual(['very_expensive', 'expensive', 'shouted']);
    expect(p.explain()).toBe(
      [
        'very_expensive (id int NOT NULL, price decimal(10, 2)) KEY (id)',
        '  Project id, price',
        '    Filter (price > 100)',
        '      Scan expensive',
        'expensive (id int NOT NULL, price decimal(10, 2), name string) KEY (id)',
        '  Project id, price, name',
        '    Filter (price > 10)',
        '      Scan trips',
        'shouted (id int NOT NULL, shout string) KEY (id)',
        '  Project id, upper(name) AS shout',
        '    Scan expensive',
      ].join('\n'),
    );
  });

  it('propagates one push through the chain in the same call', () => {
    const ex = compileSql(sql, SOURCES).createExecutor();
    const out = ex.push('trips', [
      { kind: 'insert', new: row(1, '5', 'a') },
      { kind: 'insert', new: row(2, '50', 'b') },
      { kind: 'insert', new: row(3, '500', null) },
    ]);
    expect([...out.keys()].sort()).toEqual(['expensive', 'shouted', 'very_expensive']);
    expect(out.get('expensive')!.map((o) => (o.kind === 'insert' ? o.new[0] : null))).toEqual([2n, 3n]);
    expect(out.get('very_expensive')).toEqual([{ kind: 'insert', new: [3n, Decimal.parse('500')] }]);
    expect(out.get('shouted')).toEqual([
      { kind: 'insert', new: [2n, 'B'] },
      { kind: 'insert', new: [3n, null] },
    ]);
    // A change below every filter reaches no output.
    expect(ex.push('trips', [{ kind: 'update', old: row(1, '5', 'a'), new: row(1, '6', 'a') }]).size).toBe(0);
  });

  it('accepts INTO right after the select list, aliases and case-folded names', () => {
    const p = compileSql(
      'SELECT T.ID, Name AS "Who" INTO picked FROM Trips AS t WHERE t.City = \'Paris\'',
      SOURCES,
    );
    expect(p.inputs).toEqual(['trips']);
    expect(p.outputs.get('picked')!.fields.map((f) => f.name)).toEqual(['id', 'Who']);
    const out = p.createExecutor().push('trips', [
      { kind: 'insert', new: row(1, '1', 'ann') },
      { kind: 'insert', new: row(2, '1', 'bob', 'Rome') },
    ]);
    expect(out.get('picked')).toEqual([{ kind: 'insert', new: [1n, 'ann'] }]);
  });

  it('rejects pushes to tables that are not inputs', () => {
    const ex = compileSql(sql, SOURCES).createExecutor();
    expect(() => ex.push('expensive', [])).toThrow(
      'push: "expensive" is not an input of this pipeline; its inputs are: trips',
    );
  });

  it('emits the row of a statement without FROM once', () => {
    const p = compileSql(
      "SELECT 1 AS one, 'x' || 'y' AS xy INTO consts; SELECT one + 1 AS two FROM consts INTO derived",
      SOURCES,
    );
    expect(p.inputs).toEqual([]);
    const ex = p.createExecutor();
    const first = ex.start();
    expect(first.get('consts')).toEqual([{ kind: 'insert', new: [1n, 'xy'] }]);
    expect(first.get('derived')).toEqual([{ kind: 'insert', new: [2n] }]);
    expect(ex.start().size).toBe(0);
  });
});

describe('filter + project on changes', () => {
  const ex = () =>
    compileSql('SELECT id, upper(city) AS city FROM trips WHERE price > 10 INTO o', SOURCES).createExecutor();
  const push = (e: ReturnType<typeof ex>, ops: Operation[]) => e.push('trips', ops).get('o') ?? [];

  it('turns updates into inserts, deletes or nothing as rows cross the filter', () => {
    const e = ex();
    expect(push(e, [{ kind: 'insert', new: row(1, '5', 'a') }])).toEqual([]);
    expect(push(e, [{ kind: 'update', old: row(1, '5', 'a'), new: row(1, '20', 'a') }])).toEqual([
      { kind: 'insert', new: [1n, 'PARIS'] },
    ]);
    expect(push(e, [{ kind: 'update', old: row(1, '20', 'a'), new: row(1, '30', 'a', 'Rome') }])).toEqual([
      { kind: 'update', old: [1n, 'PARIS'], new: [1n, 'ROME'] },
    ]);
    expect(
      push(e, [{ kind: 'update', old: row(1, '30', 'a', 'Rome'), new: row(1, null, 'a', 'Rome') }]),
    ).toEqual([{ kind: 'delete', old: [1n, 'ROME'] }]);
    expect(push(e, [{ kind: 'update', old: row(1, null, 'a'), new: row(1, '1', 'a') }])).toEqual([]);
    expect(push(e, [{ kind: 'delete', old: row(1, '1', 'a') }])).toEqual([]);
  });

  it('drops updates that do not change the projected row', () => {
    const e = ex();
    push(e, [{ kind: 'insert', new: row(1, '20', 'a') }]);
    expect(push(e, [{ kind: 'update', old: row(1, '20', 'a'), new: row(1, '25', 'b') }])).toEqual([]);
    expect(push(e, [{ kind: 'delete', old: row(1, '25', 'b') }])).toEqual([
      { kind: 'delete', old: [1n, 'PARIS'] },
    ]);
  });
});

describe('the plan as a DAG', () => {
  it('has a source per input, fused stateless chains, stateful operators and outputs that feed readers', () => {
    const cities = makeSchema(
      [
        { name: 'name', type: 'string', nullable: false },
        { name: 'country', type: 'string', nullable: true },
      ],
      ['name'],
    );
    const p = compileSql(
      `SELECT t.city, c.country FROM trips t JOIN cities c ON t.city = c.name WHERE t.price > 1 INTO j;
       SELECT country, COUNT(*) AS n FROM j GROUP BY country INTO per_country`,
      new Map([
        ['trips', trips],
        ['cities', cities],
      ]),
    );
    const dag = p.dag();
    dag.validate();
    expect(dag.topologicalOrder().map((n) => `${n.id} ${n.kind}`)).toEqual([
      'source:trips source',
      'source:cities source',
      'j/1:hash-join hash-join',
      'j/2:filter-project filter-project',
      'output:j output',
      'per_country/1:aggregate aggregate',
      'per_country/2:filter-project filter-project',
      'output:per_country output',
    ]);
    expect(dag.incoming('j/1:hash-join').map((e) => `${e.from.node} → ${e.to.port}`)).toEqual([
      'source:trips → left',
      'source:cities → right',
    ]);
    expect(dag.node('j/2:filter-project').payload.description).toBe(
      'Filter (price > 1) → Project city, country',
    );
    expect(
      dag
        .nodes()
        .filter((n) => n.payload.stateful)
        .map((n) => n.kind),
    ).toEqual(['hash-join', 'aggregate']);
    expect(dag.outgoing('output:j').map((e) => e.to.node)).toEqual(['per_country/1:aggregate']);
  });
});
