/** Engine features a corpus query needs, from the SQL surface. */
export const FEATURES = [
  'select',
  'distinct',
  'aggregate',
  'join',
  'union',
  'cte',
  'subquery',
  'order-limit',
  'row-number',
  'window',
  'chain',
] as const;

/** One of {@link FEATURES}. */
export type Feature = (typeof FEATURES)[number];

/** A query of the oracle corpus. */
export interface CorpusEntry {
  readonly name: string;
  readonly features: readonly Feature[];
  /** Our SQL; the output compared is `out`. */
  readonly sql: string;
  /** The same query for DuckDB, when removing `INTO out` is not enough (windows, chains, `/`). */
  readonly duck?: string;
}

const FIVE_MIN = "INTERVAL '5 minutes'";
const TEN_MIN = "INTERVAL '10 minutes'";

/** The corpus: at least one query per construct the issue lists, over tables t1, t2, t3 (see tables.ts). */
export const CORPUS: readonly CorpusEntry[] = [
  // Filters, projections and expressions.
  {
    name: 'filter',
    features: ['select'],
    sql: 'SELECT id, a, b FROM t1 WHERE a > 1 AND b IS NOT NULL INTO out',
  },
  {
    name: 'arithmetic',
    features: ['select'],
    sql: 'SELECT id, a + b AS ab, a * 2 - b AS e, -a AS na, a % 3 AS m FROM t1 INTO out',
  },
  { name: 'not-or', features: ['select'], sql: 'SELECT id FROM t1 WHERE NOT a = 1 OR NOT b < 0 INTO out' },
  {
    name: 'searched-case',
    features: ['select'],
    sql: "SELECT id, CASE WHEN a > 1 THEN 'big' WHEN a IS NULL THEN 'none' ELSE 'small' END AS c FROM t1 INTO out",
  },
  {
    name: 'simple-case',
    features: ['select'],
    sql: "SELECT id, CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' END AS c FROM t1 INTO out",
  },
  {
    name: 'coalesce-nullif',
    features: ['select'],
    sql: 'SELECT id, COALESCE(a, b, 0) AS c, NULLIF(a, 1) AS n FROM t1 INTO out',
  },
  {
    name: 'like',
    features: ['select'],
    sql: "SELECT id, s FROM t1 WHERE s LIKE 'a%' OR s LIKE '_o%' INTO out",
  },
  { name: 'ilike', features: ['select'], sql: "SELECT id FROM t1 WHERE s ILIKE 'b%' INTO out" },
  {
    name: 'in-list',
    features: ['select'],
    sql: "SELECT id, a FROM t1 WHERE a IN (1, 3) OR s IN ('a', 'Bob') INTO out",
  },
  { name: 'not-in', features: ['select'], sql: 'SELECT id, x FROM t2 WHERE x NOT IN (0, 1) INTO out' },
  {
    name: 'between',
    features: ['select'],
    sql: 'SELECT id FROM t1 WHERE b BETWEEN 0 AND 3 AND a NOT BETWEEN 2 AND 3 INTO out',
    duck: 'SELECT id FROM t1 WHERE b BETWEEN 0 AND 3 AND a NOT BETWEEN 2 AND 3',
  },
  {
    name: 'casts',
    features: ['select'],
    sql: 'SELECT id, CAST(a AS text) AS atext, CAST(d AS int) AS di, CAST(b AS decimal(10, 2)) AS bd FROM t1 INTO out',
  },
  {
    name: 'string-functions',
    features: ['select'],
    sql: "SELECT id, upper(s) AS u, lower(s) AS l, length(s) AS n, s || '!' AS e FROM t1 INTO out",
  },
  {
    name: 'substring-trim-replace',
    features: ['select'],
    sql: "SELECT id, substring(s, 2, 2) AS sub, trim(s) AS t, replace(s, 'b', 'B') AS r FROM t1 INTO out",
  },
  {
    name: 'math-functions',
    features: ['select'],
    sql: 'SELECT id, abs(b) AS ab, round(d, 1) AS r, floor(d) AS f, ceil(d) AS c FROM t1 INTO out',
  },
  {
    name: 'decimal-arithmetic',
    features: ['select'],
    sql: 'SELECT id, d * 2 AS d2, d + a AS da, d - 1.5 AS dm FROM t1 WHERE d > 0 INTO out',
  },
  {
    name: 'timestamp-range',
    features: ['select'],
    sql: "SELECT id, ts FROM t1 WHERE ts >= TIMESTAMP '2024-01-01 00:05:00' AND ts < TIMESTAMP '2024-01-01 00:10:00' INTO out",
  },
  {
    name: 'timestamp-interval',
    features: ['select'],
    sql: "SELECT id, ts + INTERVAL '1 hour' AS later FROM t2 INTO out",
  },
  {
    name: 'is-true',
    features: ['select'],
    sql: 'SELECT id, (a > b) IS TRUE AS gt, (a > b) IS NOT FALSE AS ngf FROM t1 INTO out',
  },
  { name: 'star', features: ['select'], sql: 'SELECT * FROM t2 WHERE x <> 2 INTO out' },
  {
    name: 'integer-division',
    features: ['select'],
    sql: 'SELECT id, a / NULLIF(b, 0) AS q FROM t1 INTO out',
    duck: 'SELECT id, a // NULLIF(b, 0) AS q FROM t1',
  },
  {
    name: 'chain',
    features: ['select', 'chain'],
    sql: 'SELECT id, a10 + 1 AS y FROM mid WHERE a10 > 0 INTO out; SELECT id, a * 10 AS a10, s FROM t1 WHERE a IS NOT NULL INTO mid',
    duck: 'SELECT id, a10 + 1 AS y FROM (SELECT id, a * 10 AS a10, s FROM t1 WHERE a IS NOT NULL) mid WHERE a10 > 0',
  },
  {
    name: 'extract-date-trunc',
    features: ['select'],
    sql: "SELECT id, EXTRACT(MINUTE FROM ts) AS m, EXTRACT(SECOND FROM ts) AS sec, date_trunc('minute', ts) AS t FROM t1 INTO out",
  },
  {
    name: 'interval-arithmetic',
    features: ['select'],
    sql: "SELECT id, ts - INTERVAL '90 seconds' AS e, ts + INTERVAL '1 day 2 hours' AS l FROM t1 WHERE ts + INTERVAL '5 minutes' > TIMESTAMP '2024-01-01 00:12:00' INTO out",
  },
  {
    name: 'split-part',
    features: ['select'],
    sql: "SELECT id, split_part(s, 'b', 1) AS p1, split_part(s, 'b', 2) AS p2 FROM t1 INTO out",
  },
  {
    name: 'cast-round-trips',
    features: ['select'],
    sql: 'SELECT id, CAST(CAST(ts AS text) AS timestamp) AS t, CAST(CAST(d AS text) AS decimal(10, 2)) AS dd, CAST(CAST(a AS text) AS int) AS ai FROM t1 INTO out',
  },
  // DISTINCT.
  { name: 'distinct-one', features: ['distinct'], sql: 'SELECT DISTINCT a FROM t1 INTO out' },
  { name: 'distinct-two', features: ['distinct'], sql: 'SELECT DISTINCT a, s FROM t1 WHERE b > 0 INTO out' },
  // Aggregates.
  { name: 'count-star', features: ['aggregate'], sql: 'SELECT a, COUNT(*) AS n FROM t1 GROUP BY a INTO out' },
  {
    name: 'count-column-distinct',
    features: ['aggregate'],
    sql: 'SELECT a, COUNT(b) AS nb, COUNT(DISTINCT b) AS db FROM t1 GROUP BY a INTO out',
  },
  {
    name: 'sum-min-max',
    features: ['aggregate'],
    sql: 'SELECT s, SUM(b) AS sb, MIN(b) AS mn, MAX(b) AS mx FROM t1 GROUP BY s INTO out',
  },
  { name: 'avg-int', features: ['aggregate'], sql: 'SELECT a, AVG(b) AS av FROM t1 GROUP BY a INTO out' },
  {
    name: 'decimal-aggregates',
    features: ['aggregate'],
    sql: 'SELECT a, SUM(d) AS sd, AVG(d) AS ad, MIN(d) AS mn, MAX(d) AS mx FROM t1 GROUP BY a INTO out',
  },
  {
    name: 'global-aggregate',
    features: ['aggregate'],
    sql: 'SELECT COUNT(*) AS n, SUM(b) AS sb, MAX(s) AS ms FROM t1 INTO out',
  },
  {
    name: 'having-count',
    features: ['aggregate'],
    sql: 'SELECT a, COUNT(*) AS n FROM t1 GROUP BY a HAVING COUNT(*) > 1 INTO out',
  },
  {
    name: 'having-sum-min',
    features: ['aggregate'],
    sql: 'SELECT s, SUM(b) AS sb FROM t1 WHERE a IS NOT NULL GROUP BY s HAVING SUM(b) > 2 OR MIN(b) < 0 INTO out',
  },
  {
    name: 'group-by-expression',
    features: ['aggregate'],
    sql: 'SELECT a % 2 AS parity, COUNT(*) AS n, SUM(d) AS sd FROM t1 GROUP BY a % 2 INTO out',
  },
  {
    name: 'group-by-two-keys',
    features: ['aggregate'],
    sql: 'SELECT a, s, COUNT(*) AS n, MAX(ts) AS last FROM t1 GROUP BY a, s INTO out',
  },
  {
    name: 'count-distinct-string',
    features: ['aggregate'],
    sql: 'SELECT a, COUNT(DISTINCT s) AS ds FROM t1 GROUP BY a INTO out',
  },
  {
    name: 'min-max-string-timestamp',
    features: ['aggregate'],
    sql: 'SELECT a, MIN(s) AS mn, MAX(s) AS mx, MIN(ts) AS first FROM t1 GROUP BY a INTO out',
  },
  {
    name: 'expression-over-aggregates',
    features: ['aggregate'],
    sql: 'SELECT a, SUM(b) * 2 + COUNT(*) AS score, COALESCE(MAX(b), -1) AS mb FROM t1 GROUP BY a INTO out',
  },
  {
    name: 'case-inside-aggregate',
    features: ['aggregate'],
    sql: 'SELECT a, SUM(CASE WHEN b > 0 THEN 1 ELSE 0 END) AS pos FROM t1 GROUP BY a INTO out',
  },
  {
    name: 'aggregate-filter',
    features: ['aggregate'],
    sql: 'SELECT a, COUNT(*) FILTER (WHERE b > 0) AS pos, SUM(b) FILTER (WHERE s IS NOT NULL) AS sb, COUNT(DISTINCT s) FILTER (WHERE b < 3) AS ds, MAX(d) FILTER (WHERE b <> 1) AS md FROM t1 GROUP BY a INTO out',
  },
  {
    name: 'having-count-distinct',
    features: ['aggregate'],
    sql: 'SELECT a, MIN(s) AS ms FROM t1 GROUP BY a HAVING COUNT(DISTINCT s) > 1 AND MAX(b) IS NOT NULL INTO out',
  },
  {
    name: 'aggregate-chain',
    features: ['aggregate', 'chain'],
    sql: 'SELECT a, COUNT(*) AS n FROM t1 GROUP BY a INTO mid; SELECT n, COUNT(*) AS groups FROM mid GROUP BY n INTO out',
    duck: 'SELECT n, COUNT(*) AS groups FROM (SELECT a, COUNT(*) AS n FROM t1 GROUP BY a) mid GROUP BY n',
  },
  // Joins.
  {
    name: 'inner-join',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2, t1.b, t2.x FROM t1 JOIN t2 ON t1.a = t2.a INTO out',
  },
  {
    name: 'left-join',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2, t2.x FROM t1 LEFT JOIN t2 ON t1.a = t2.a INTO out',
  },
  {
    name: 'right-join',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2 FROM t1 RIGHT JOIN t2 ON t1.a = t2.a INTO out',
  },
  {
    name: 'full-join',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2, t1.a, t2.a AS a2 FROM t1 FULL JOIN t2 ON t1.a = t2.a INTO out',
  },
  {
    name: 'join-two-columns',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2 FROM t1 JOIN t2 ON t1.a = t2.a AND t1.s = t2.s INTO out',
  },
  {
    name: 'join-extra-condition',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2 FROM t1 JOIN t2 ON t1.a = t2.a AND t2.x > t1.b INTO out',
  },
  {
    name: 'left-join-extra-condition',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2 FROM t1 LEFT JOIN t2 ON t1.a = t2.a AND t2.x > 1 INTO out',
  },
  {
    name: 'join-where',
    features: ['join'],
    sql: 'SELECT t1.id, t2.x FROM t1 JOIN t2 ON t1.a = t2.a WHERE t2.x IS NOT NULL AND t1.b < 3 INTO out',
  },
  {
    name: 'three-way-join',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2, t3.name FROM t1 JOIN t2 ON t1.a = t2.a JOIN t3 ON t3.a = t2.x INTO out',
  },
  {
    name: 'self-join',
    features: ['join'],
    sql: 'SELECT l.id, r.id AS rid FROM t1 l JOIN t1 r ON l.a = r.b INTO out',
  },
  {
    name: 'comma-join-where',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS id2, t3.id AS id3 FROM t1, t2, t3 WHERE t1.a = t2.a AND t3.a = t2.x AND t1.b > 0 INTO out',
  },
  {
    name: 'left-join-then-cross',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS i2, t3.id AS i3 FROM t1 LEFT JOIN t2 ON t1.a = t2.a CROSS JOIN t3 WHERE t3.a = t2.x OR t2.x IS NULL INTO out',
  },
  {
    name: 'left-join-cross-equality',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS i2, t3.id AS i3 FROM t1 LEFT JOIN t2 ON t1.a = t2.a CROSS JOIN t3 WHERE t3.a = t2.x INTO out',
  },
  {
    name: 'join-aggregate',
    features: ['join', 'aggregate'],
    sql: 'SELECT t1.a, COUNT(*) AS n, SUM(t2.x) AS sx FROM t1 JOIN t2 ON t1.a = t2.a GROUP BY t1.a INTO out',
  },
  {
    name: 'left-join-count',
    features: ['join', 'aggregate'],
    sql: 'SELECT t1.id, COUNT(t2.id) AS n FROM t1 LEFT JOIN t2 ON t1.a = t2.a GROUP BY t1.id INTO out',
  },
  {
    name: 'join-chain',
    features: ['join', 'aggregate', 'chain'],
    sql: 'SELECT t1.id, t1.a, t2.x FROM t1 JOIN t2 ON t1.a = t2.a INTO j; SELECT x, COUNT(*) AS n FROM j GROUP BY x INTO out',
    duck: 'SELECT x, COUNT(*) AS n FROM (SELECT t1.id, t1.a, t2.x FROM t1 JOIN t2 ON t1.a = t2.a) j GROUP BY x',
  },
  {
    name: 'full-join-coalesce',
    features: ['join'],
    sql: "SELECT COALESCE(t2.a, t3.a) AS k, t2.id AS i2, t3.id AS i3 FROM t2 FULL OUTER JOIN t3 ON t2.a = t3.a AND t3.name <> 'bo' INTO out",
  },
  {
    name: 'left-join-chain',
    features: ['join'],
    sql: 'SELECT t1.id, t2.id AS i2, t3.id AS i3 FROM t1 LEFT JOIN t2 ON t1.a = t2.a LEFT JOIN t3 ON t2.x = t3.a INTO out',
  },
  {
    name: 'self-full-join',
    features: ['join'],
    sql: 'SELECT l.id, r.id AS rid FROM t2 l FULL JOIN t2 r ON l.a = r.x AND l.id <> r.id INTO out',
  },
  {
    name: 'join-count-distinct-min',
    features: ['join', 'aggregate'],
    sql: 'SELECT t1.a, COUNT(DISTINCT t2.x) AS dx, MIN(t2.x) AS mn, MAX(t2.s) AS ms FROM t1 JOIN t2 ON t1.a = t2.a GROUP BY t1.a INTO out',
  },
  {
    name: 'distinct-join',
    features: ['join', 'distinct'],
    sql: 'SELECT DISTINCT t2.x, t3.name FROM t2 JOIN t3 ON t2.a = t3.a INTO out',
  },
  // UNION.
  {
    name: 'union-all',
    features: ['union'],
    sql: 'SELECT id, a FROM t1 UNION ALL SELECT id, a FROM t2 INTO out',
  },
  { name: 'union-distinct', features: ['union'], sql: 'SELECT a FROM t1 UNION SELECT a FROM t2 INTO out' },
  {
    name: 'union-in-subquery',
    features: ['union', 'subquery', 'aggregate'],
    sql: 'SELECT a, COUNT(*) AS n FROM (SELECT a FROM t1 UNION ALL SELECT x AS a FROM t2) u GROUP BY a INTO out',
  },
  {
    name: 'union-all-aggregates',
    features: ['union', 'aggregate'],
    sql: 'SELECT a, COUNT(*) AS n FROM t1 GROUP BY a UNION ALL SELECT a, COUNT(*) AS n FROM t2 GROUP BY a INTO out',
  },
  // CTEs and subqueries in FROM.
  {
    name: 'cte',
    features: ['cte', 'aggregate'],
    sql: 'WITH big AS (SELECT id, a, b FROM t1 WHERE b > 0) SELECT a, COUNT(*) AS n FROM big GROUP BY a INTO out',
  },
  {
    name: 'cte-join',
    features: ['cte', 'join', 'aggregate'],
    sql: 'WITH c AS (SELECT a, COUNT(*) AS n FROM t2 GROUP BY a) SELECT t1.id, c.n FROM t1 JOIN c ON t1.a = c.a INTO out',
  },
  {
    name: 'subquery-in-from',
    features: ['subquery', 'aggregate'],
    sql: 'SELECT g.a, g.n FROM (SELECT a, COUNT(*) AS n FROM t1 GROUP BY a) g WHERE g.n >= 2 INTO out',
  },
  {
    name: 'max-per-group',
    features: ['subquery', 'join', 'aggregate'],
    sql: 'SELECT t1.id, t1.a, t1.b FROM t1 JOIN (SELECT a, MAX(b) AS mb FROM t1 GROUP BY a) m ON t1.a = m.a AND t1.b = m.mb INTO out',
  },
  {
    name: 'in-subquery',
    features: ['subquery'],
    sql: 'SELECT id, a FROM t1 WHERE a IN (SELECT a FROM t2 WHERE x > 1) INTO out',
  },
  {
    name: 'scalar-subquery',
    features: ['subquery', 'aggregate'],
    sql: 'SELECT id, b FROM t1 WHERE b = (SELECT MAX(b) FROM t1) INTO out',
  },
  {
    name: 'in-subquery-and',
    features: ['subquery'],
    sql: 'SELECT id, b FROM t1 WHERE b > 0 AND a IN (SELECT x FROM t2) INTO out',
  },
  {
    name: 'scalar-subquery-count',
    features: ['subquery', 'aggregate'],
    sql: 'SELECT id, a FROM t1 WHERE a < (SELECT COUNT(*) FROM t3) INTO out',
  },
  {
    name: 'cte-used-twice',
    features: ['cte', 'join', 'aggregate'],
    sql: 'WITH c AS (SELECT a, COUNT(*) AS n FROM t1 GROUP BY a) SELECT x.a, x.n, y.n AS n2 FROM c x JOIN c y ON x.a = y.a + 1 INTO out',
  },
  // ORDER BY … LIMIT (orders are total so that the top is well defined).
  {
    name: 'order-limit',
    features: ['order-limit'],
    sql: 'SELECT id, b FROM t1 ORDER BY id DESC LIMIT 3 INTO out',
  },
  {
    name: 'order-limit-two-keys',
    features: ['order-limit'],
    sql: 'SELECT id, a, b FROM t1 WHERE b IS NOT NULL ORDER BY b DESC, id LIMIT 2 INTO out',
  },
  {
    name: 'order-limit-aggregate',
    features: ['order-limit', 'aggregate'],
    sql: 'SELECT a, COUNT(*) AS n FROM t1 WHERE a IS NOT NULL GROUP BY a ORDER BY n DESC, a LIMIT 2 INTO out',
  },
  // ROW_NUMBER top-N.
  {
    name: 'row-number-top-2',
    features: ['row-number', 'subquery'],
    sql: 'SELECT id, a, b FROM (SELECT id, a, b, ROW_NUMBER() OVER (PARTITION BY a ORDER BY id DESC) AS rn FROM t1) r WHERE rn <= 2 INTO out',
  },
  {
    name: 'row-number-first',
    features: ['row-number', 'subquery'],
    sql: 'SELECT a, id, rn FROM (SELECT a, id, ROW_NUMBER() OVER (PARTITION BY a ORDER BY COALESCE(b, 100), id) AS rn FROM t1) r WHERE rn = 1 INTO out',
  },
  {
    name: 'row-number-over-join',
    features: ['row-number', 'join', 'subquery'],
    sql: 'SELECT id, id2, rn FROM (SELECT t1.id, t2.id AS id2, ROW_NUMBER() OVER (PARTITION BY t1.id ORDER BY t2.x DESC, t2.id) AS rn FROM t1 JOIN t2 ON t1.a = t2.a) r WHERE rn <= 2 INTO out',
  },
  {
    name: 'row-number-all',
    features: ['row-number'],
    sql: 'SELECT id, a, ROW_NUMBER() OVER (PARTITION BY a ORDER BY b, id) AS rn FROM t1 INTO out',
  },
  {
    name: 'order-limit-nulls-first',
    features: ['order-limit'],
    sql: 'SELECT id, b FROM t1 ORDER BY b DESC NULLS FIRST, id LIMIT 3 INTO out',
  },
  // Windows: TUMBLE(table, time column, size) and HOP(table, time column, slide, size) add window_start and window_end.
  {
    name: 'tumble-count',
    features: ['window', 'aggregate'],
    sql: "SELECT window_start, window_end, COUNT(*) AS n FROM TUMBLE(t1, ts, '5 MINUTES') GROUP BY window_start, window_end INTO out",
    duck: `SELECT time_bucket(${FIVE_MIN}, ts) AS ws, time_bucket(${FIVE_MIN}, ts) + ${FIVE_MIN} AS we, COUNT(*) AS n FROM t1 WHERE ts IS NOT NULL GROUP BY ws, we`,
  },
  {
    name: 'tumble-rows',
    features: ['window'],
    sql: "SELECT id, b, window_start FROM TUMBLE(t1, ts, '5 MINUTES') WHERE b > 0 INTO out",
    duck: `SELECT id, b, time_bucket(${FIVE_MIN}, ts) AS window_start FROM t1 WHERE ts IS NOT NULL AND b > 0`,
  },
  {
    name: 'tumble-sum-per-key',
    features: ['window', 'aggregate'],
    sql: "SELECT a, window_start, SUM(b) AS sb FROM TUMBLE(t1, ts, '10 MINUTES') GROUP BY a, window_start INTO out",
    duck: `SELECT a, time_bucket(${TEN_MIN}, ts) AS ws, SUM(b) AS sb FROM t1 WHERE ts IS NOT NULL GROUP BY a, ws`,
  },
  {
    name: 'hop-count',
    features: ['window', 'aggregate'],
    sql: "SELECT window_start, window_end, COUNT(*) AS n FROM HOP(t2, ts, '2 MINUTES', '6 MINUTES') GROUP BY window_start, window_end INTO out",
    duck: `SELECT ws, ws + INTERVAL '6 minutes' AS we, COUNT(*) AS n
           FROM (SELECT time_bucket(INTERVAL '2 minutes', ts) - to_minutes(k * 2) AS ws FROM t2, range(0, 3) r(k) WHERE ts IS NOT NULL) w
           GROUP BY ws, we`,
  },
];

/**
 * Corpus entries the engine rejects today with "not supported yet", and why.
 * The oracle test fails when an entry here compiles (move it out: it is now
 * checked) or when an entry not here is rejected as unsupported.
 */
export const PENDING: ReadonlyMap<string, string> = new Map([]);
