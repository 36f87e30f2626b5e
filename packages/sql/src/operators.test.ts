import { Decimal, makeSchema, type Operation, type Row, Timestamp } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { compileSql, SqlEvalError } from './index.js';

const trips = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'city', type: 'string', nullable: true },
    { name: 'fare', type: 'decimal', nullable: true },
    { name: 'pickup', type: 'timestamp', nullable: false },
  ],
  ['id'],
);
const cities = makeSchema(
  [
    { name: 'name', type: 'string', nullable: false },
    { name: 'country', type: 'string', nullable: true },
  ],
  ['name'],
);
const SOURCES = new Map([
  ['trips', trips],
  ['cities', cities],
]);

const ts = (s: string) => Timestamp.parse(s);
const trip = (id: number, city: string | null, fare: string | null, at = '2024-01-01T00:00:00Z'): Row => [
  BigInt(id),
  city,
  fare === null ? null : Decimal.parse(fare),
  ts(at),
];
const ins = (row: Row): Operation => ({ kind: 'insert', new: row });
const del = (row: Row): Operation => ({ kind: 'delete', old: row });
const upd = (old: Row, row: Row): Operation => ({ kind: 'update', old, new: row });
const dec = (s: string) => Decimal.parse(s);

function runner(sql: string, out: string) {
  const p = compileSql(sql, SOURCES);
  const ex = p.createExecutor();
  return {
    pipeline: p,
    executor: ex,
    push: (table: string, ops: Operation[]) => ex.push(table, ops).get(out) ?? [],
  };
}

describe('aggregate', () => {
  it('emits one op per touched group per batch, and retracts groups that empty', () => {
    const r = runner('SELECT city, COUNT(*) AS n, SUM(fare) AS total FROM trips GROUP BY city INTO o', 'o');
    expect(r.pipeline.outputs.get('o')!.primaryKey).toEqual([0]);
    expect(r.push('trips', [ins(trip(1, 'Paris', '10')), ins(trip(2, 'Paris', '5.5'))])).toEqual([
      ins(['Paris', 2n, dec('15.5')]),
    ]);
    expect(r.push('trips', [upd(trip(2, 'Paris', '5.5'), trip(2, 'Rome', '1'))])).toEqual([
      upd(['Paris', 2n, dec('15.5')], ['Paris', 1n, dec('10.0')]),
      ins(['Rome', 1n, dec('1')]),
    ]);
    expect(r.push('trips', [del(trip(1, 'Paris', '10'))])).toEqual([del(['Paris', 1n, dec('10.0')])]);
    // A change that leaves the aggregate as it was emits nothing.
    expect(r.push('trips', [upd(trip(2, 'Rome', '1'), trip(2, 'Rome', '1.00'))])).toEqual([]);
  });

  it('keeps MIN and MAX right when the current extreme is deleted', () => {
    const r = runner('SELECT city, MIN(fare) AS lo, MAX(fare) AS hi FROM trips GROUP BY city INTO o', 'o');
    r.push('trips', [
      ins(trip(1, 'A', '5')),
      ins(trip(2, 'A', '9')),
      ins(trip(3, 'A', '9')),
      ins(trip(4, 'A', '1')),
    ]);
    expect(r.push('trips', [del(trip(4, 'A', '1'))])).toEqual([
      upd(['A', dec('1'), dec('9')], ['A', dec('5'), dec('9')]),
    ]);
    // One of two copies of the maximum goes: the maximum stays.
    expect(r.push('trips', [del(trip(2, 'A', '9'))])).toEqual([]);
    expect(r.push('trips', [del(trip(3, 'A', '9'))])).toEqual([
      upd(['A', dec('5'), dec('9')], ['A', dec('5'), dec('5')]),
    ]);
  });

  it('has one row for a whole-input aggregate, also over no input', () => {
    const r = runner(
      'SELECT COUNT(*) AS n, AVG(fare) AS avg, COUNT(DISTINCT city) AS cities FROM trips INTO o',
      'o',
    );
    expect(r.executor.start().get('o')).toEqual([ins([0n, null, 0n])]);
    expect(
      r.push('trips', [ins(trip(1, 'A', '1')), ins(trip(2, 'A', '2')), ins(trip(3, 'B', null))]),
    ).toEqual([upd([0n, null, 0n], [3n, dec('1.500000'), 2n])]);
    expect(
      r.push('trips', [del(trip(1, 'A', '1')), del(trip(2, 'A', '2')), del(trip(3, 'B', null))]),
    ).toEqual([upd([3n, dec('1.500000'), 2n], [0n, null, 0n])]);
  });

  it('filters groups with HAVING and names aggregates like PostgreSQL', () => {
    const r = runner('SELECT city, COUNT(*) FROM trips GROUP BY city HAVING SUM(fare) > 10 INTO o', 'o');
    expect(r.pipeline.outputs.get('o')!.fields.map((f) => f.name)).toEqual(['city', 'count']);
    expect(r.push('trips', [ins(trip(1, 'A', '6'))])).toEqual([]);
    expect(r.push('trips', [ins(trip(2, 'A', '6'))])).toEqual([ins(['A', 2n])]);
    expect(r.push('trips', [del(trip(1, 'A', '6'))])).toEqual([del(['A', 2n])]);
  });

  it('fails on integer overflow in SUM instead of wrapping', () => {
    const nums = makeSchema([{ name: 'x', type: 'int', nullable: false }]);
    const ex = compileSql('SELECT SUM(x) AS s FROM nums INTO o', new Map([['nums', nums]])).createExecutor();
    expect(() => ex.push('nums', [ins([9223372036854775807n]), ins([1n])])).toThrow(SqlEvalError);
  });

  it('DISTINCT keeps a row while any copy of it remains', () => {
    const r = runner('SELECT DISTINCT city FROM trips INTO o', 'o');
    expect(r.push('trips', [ins(trip(1, 'A', '1')), ins(trip(2, 'A', '2'))])).toEqual([ins(['A'])]);
    expect(r.push('trips', [del(trip(1, 'A', '1'))])).toEqual([]);
    expect(r.push('trips', [del(trip(2, 'A', '2'))])).toEqual([del(['A'])]);
  });
});

describe('join', () => {
  const sql = (type: string) =>
    `SELECT t.id, c.name, c.country FROM trips t ${type} JOIN cities c ON t.city = c.name INTO o`;

  it('inner join emits matches from either side', () => {
    const r = runner(sql('INNER'), 'o');
    expect(r.push('trips', [ins(trip(1, 'Paris', '1'))])).toEqual([]);
    expect(r.push('cities', [ins(['Paris', 'FR'])])).toEqual([ins([1n, 'Paris', 'FR'])]);
    expect(r.push('trips', [ins(trip(2, 'Paris', '1'))])).toEqual([ins([2n, 'Paris', 'FR'])]);
    expect(r.push('cities', [upd(['Paris', 'FR'], ['Paris', 'France'])])).toEqual([
      del([1n, 'Paris', 'FR']),
      del([2n, 'Paris', 'FR']),
      ins([1n, 'Paris', 'France']),
      ins([2n, 'Paris', 'France']),
    ]);
  });

  it('left join retracts the NULL-padded row at the first match and restores it after the last', () => {
    const r = runner(sql('LEFT'), 'o');
    expect(r.pipeline.outputs.get('o')!.fields.map((f) => [f.name, f.nullable])).toEqual([
      ['id', false],
      ['name', true],
      ['country', true],
    ]);
    expect(r.push('trips', [ins(trip(1, 'Paris', '1'))])).toEqual([ins([1n, null, null])]);
    expect(r.push('cities', [ins(['Paris', 'FR'])])).toEqual([
      del([1n, null, null]),
      ins([1n, 'Paris', 'FR']),
    ]);
    expect(r.push('cities', [del(['Paris', 'FR'])])).toEqual([
      del([1n, 'Paris', 'FR']),
      ins([1n, null, null]),
    ]);
    // NULL keys never match, but the row is still kept, padded.
    expect(r.push('trips', [ins(trip(2, null, '1'))])).toEqual([ins([2n, null, null])]);
  });

  it('full join pads both sides', () => {
    const r = runner(sql('FULL OUTER'), 'o');
    expect(r.push('cities', [ins(['Rome', 'IT'])])).toEqual([ins([null, 'Rome', 'IT'])]);
    expect(r.push('trips', [ins(trip(1, 'Rome', '1'))])).toEqual([
      del([null, 'Rome', 'IT']),
      ins([1n, 'Rome', 'IT']),
    ]);
    expect(r.push('trips', [upd(trip(1, 'Rome', '1'), trip(1, 'Oslo', '1'))])).toEqual([
      del([1n, 'Rome', 'IT']),
      ins([null, 'Rome', 'IT']),
      ins([1n, null, null]),
    ]);
  });

  it('applies extra ON conditions to matching, not as a filter on padded rows', () => {
    const r = runner(
      "SELECT t.id, c.country FROM trips t LEFT JOIN cities c ON t.city = c.name AND c.country = 'FR' INTO o",
      'o',
    );
    r.push('cities', [ins(['Rome', 'IT'])]);
    expect(r.push('trips', [ins(trip(1, 'Rome', '1'))])).toEqual([ins([1n, null])]);
  });
});

describe('union, top-N and windows', () => {
  it('UNION ALL keeps duplicates and UNION removes them', () => {
    const all = runner('SELECT city FROM trips UNION ALL SELECT name FROM cities INTO o', 'o');
    expect(all.pipeline.outputs.get('o')!.primaryKey).toEqual([]);
    expect(all.push('trips', [ins(trip(1, 'A', '1'))])).toEqual([ins(['A'])]);
    expect(all.push('cities', [ins(['A', null])])).toEqual([ins(['A'])]);
    const distinct = runner('SELECT city FROM trips UNION SELECT name FROM cities INTO o', 'o');
    expect(distinct.push('trips', [ins(trip(1, 'A', '1'))])).toEqual([ins(['A'])]);
    expect(distinct.push('cities', [ins(['A', null])])).toEqual([]);
    expect(distinct.push('trips', [del(trip(1, 'A', '1'))])).toEqual([]);
    expect(distinct.push('cities', [del(['A', null])])).toEqual([del(['A'])]);
  });

  it('ORDER BY … LIMIT maintains the top rows, promoting the next when one leaves', () => {
    const r = runner('SELECT id, fare FROM trips ORDER BY fare DESC LIMIT 2 INTO o', 'o');
    expect(r.push('trips', [ins(trip(1, 'A', '5')), ins(trip(2, 'A', '7')), ins(trip(3, 'A', '6'))])).toEqual(
      [ins([2n, dec('7')]), ins([3n, dec('6')])],
    );
    expect(r.push('trips', [del(trip(2, 'A', '7'))])).toEqual([del([2n, dec('7')]), ins([1n, dec('5')])]);
  });

  it('ROW_NUMBER renumbers the rows below one that enters a partition', () => {
    const r = runner(
      `SELECT id, city, rn FROM (SELECT id, city, ROW_NUMBER() OVER (PARTITION BY city ORDER BY fare DESC) AS rn
       FROM trips) s WHERE rn <= 2 INTO o`,
      'o',
    );
    expect(r.pipeline.outputs.get('o')!.primaryKey).toEqual([1, 2]);
    expect(r.push('trips', [ins(trip(1, 'A', '5')), ins(trip(2, 'A', '3'))])).toEqual([
      ins([1n, 'A', 1n]),
      ins([2n, 'A', 2n]),
    ]);
    expect(r.push('trips', [ins(trip(3, 'A', '9'))])).toEqual([
      upd([1n, 'A', 1n], [3n, 'A', 1n]),
      upd([2n, 'A', 2n], [1n, 'A', 2n]),
    ]);
  });

  it('TUMBLE and HOP add window_start and window_end', () => {
    const t = runner(
      "SELECT window_start, COUNT(*) AS n FROM TUMBLE(trips, pickup, '5 MINUTES') GROUP BY window_start INTO o",
      'o',
    );
    expect(
      t.push('trips', [
        ins(trip(1, 'A', '1', '2024-01-01T00:07:00Z')),
        ins(trip(2, 'A', '1', '2024-01-01T00:09:59Z')),
      ]),
    ).toEqual([ins([ts('2024-01-01T00:05:00Z'), 2n])]);
    const h = runner(
      "SELECT id, window_start, window_end FROM HOP(trips, pickup, '5 MINUTES', '10 MINUTES') INTO o",
      'o',
    );
    expect(h.push('trips', [ins(trip(1, 'A', '1', '2024-01-01T00:07:00Z'))])).toEqual([
      ins([1n, ts('2024-01-01T00:00:00Z'), ts('2024-01-01T00:10:00Z')]),
      ins([1n, ts('2024-01-01T00:05:00Z'), ts('2024-01-01T00:15:00Z')]),
    ]);
    expect(h.pipeline.outputs.get('o')!.primaryKey).toEqual([0, 1]);
  });
});

describe('TTL', () => {
  it('retracts rows older than the newest time minus the TTL, and drops late ones', () => {
    const r = runner(
      `SELECT window_start, COUNT(*) AS n
       FROM TTL(TUMBLE(trips, pickup, '5 MINUTES'), pickup, '15 MINUTES') GROUP BY window_start INTO o`,
      'o',
    );
    const at = (m: string) => `2024-01-01T00:${m}:00Z`;
    expect(r.push('trips', [ins(trip(1, 'A', '1', at('01'))), ins(trip(2, 'A', '1', at('12')))])).toEqual([
      ins([ts(at('00')), 1n]),
      ins([ts(at('10')), 1n]),
    ]);
    // The watermark moves to 00:20: the row of 00:01 is now more than 15 minutes behind.
    expect(r.push('trips', [ins(trip(3, 'A', '1', at('20')))])).toEqual([
      ins([ts(at('20')), 1n]),
      del([ts(at('00')), 1n]),
    ]);
    expect(r.push('trips', [ins(trip(4, 'A', '1', at('03')))])).toEqual([]);
    // Deleting an expired row changes nothing; deleting a live one does.
    expect(r.push('trips', [del(trip(1, 'A', '1', at('01'))), del(trip(2, 'A', '1', at('12')))])).toEqual([
      del([ts(at('10')), 1n]),
    ]);
  });
});

describe('snapshots', () => {
  it('an executor restored from a snapshot continues exactly like the original', () => {
    const sql = `SELECT city, COUNT(*) AS n, MAX(fare) AS hi FROM trips GROUP BY city INTO agg;
      SELECT t.id, c.country FROM trips t LEFT JOIN cities c ON t.city = c.name INTO j;
      SELECT id, fare FROM trips ORDER BY fare DESC LIMIT 2 INTO top;
      SELECT COUNT(DISTINCT city) AS n FROM trips INTO cnt`;
    const p = compileSql(sql, SOURCES);
    const a = p.createExecutor();
    a.push('trips', [ins(trip(1, 'A', '5')), ins(trip(2, 'B', '9')), ins(trip(3, 'A', '7'))]);
    a.push('cities', [ins(['A', 'X'])]);
    const b = p.createExecutor();
    b.restore(a.snapshot());
    expect(b.start().size).toBe(0);
    const next: [string, Operation[]][] = [
      ['trips', [del(trip(3, 'A', '7')), upd(trip(2, 'B', '9'), trip(2, 'A', '1'))]],
      ['cities', [ins(['B', 'Y']), del(['A', 'X'])]],
      ['trips', [ins(trip(4, 'B', '8'))]],
    ];
    for (const [table, ops] of next) expect(b.push(table, ops)).toEqual(a.push(table, ops));
  });

  it('refuses a snapshot of another pipeline', () => {
    const a = compileSql(
      'SELECT city, COUNT(*) AS n FROM trips GROUP BY city INTO o',
      SOURCES,
    ).createExecutor();
    const b = compileSql('SELECT id FROM trips INTO o', SOURCES).createExecutor();
    expect(() => b.restore(a.snapshot())).toThrow(
      'restore: the snapshot was taken from a different SQL pipeline',
    );
  });
});
