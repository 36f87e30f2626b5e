import { DuckDBInstance } from '@duckdb/node-api';
import type { Row } from './harness.js';

/**
 * The crash tests' SQL: a join and aggregates over `orders` and `customers`,
 * written once for both `dozer.yaml` (with INTO) and the oracle (without).
 * `o` and `c` name the two tables as the engine at hand knows them.
 */
export function crashQueries(o: string, c: string): ReadonlyArray<{ into: string; select: string }> {
  return [
    {
      into: 'by_region',
      select: `SELECT c.region AS region, COUNT(*) AS order_count, SUM(o.amount) AS total
FROM ${o} o JOIN ${c} c ON o.customer_id = c.id
GROUP BY c.region`,
    },
    {
      into: 'enriched',
      select: `SELECT o.id AS id, o.amount AS amount, o.status AS status, c.region AS region
FROM ${o} o JOIN ${c} c ON o.customer_id = c.id`,
    },
    {
      into: 'big_by_status',
      select: `SELECT o.status AS status, COUNT(*) AS order_count, MAX(o.amount) AS top
FROM ${o} o WHERE o.amount > 250 GROUP BY o.status`,
    },
  ];
}

/** dozer.yaml's `sql:` and `endpoints:` sections for {@link crashQueries}. */
export function crashSqlYaml(): string {
  const sql = crashQueries('orders', 'customers')
    .map((q) => `  ${q.select.replaceAll('\n', '\n  ')}\n  INTO ${q.into};`)
    .join('\n');
  return `sql: |
${sql}
endpoints:
  - name: by_region
    path: /by-region
    table_name: by_region
    index: { primary_key: [region] }
  - name: enriched
    path: /enriched
    table_name: enriched
    index: { primary_key: [id] }
  - name: big_by_status
    path: /big-by-status
    table_name: big_by_status
    index: { primary_key: [status] }
`;
}

/** The endpoints of {@link crashSqlYaml}, with the fields that identify their rows. */
export const CRASH_ENDPOINTS = [
  { path: '/by-region', key: ['region'] },
  { path: '/enriched', key: ['id'] },
  { path: '/big-by-status', key: ['status'] },
] as const;

const ENDPOINT_OF: Readonly<Record<string, string>> = {
  by_region: '/by-region',
  enriched: '/enriched',
  big_by_status: '/big-by-status',
};

/**
 * Runs {@link crashQueries} in DuckDB over tables that `load` creates
 * (statements run in order on an in-memory database), keyed by endpoint path.
 */
export async function duckdbOracle(load: readonly string[]): Promise<Map<string, Row[]>> {
  const duck = await DuckDBInstance.create(':memory:');
  const c = await duck.connect();
  try {
    for (const stmt of load) await c.run(stmt);
    const out = new Map<string, Row[]>();
    for (const q of crashQueries('orders', 'customers')) {
      const reader = await c.runAndReadAll(q.select);
      out.set(ENDPOINT_OF[q.into]!, reader.getRowObjectsJson() as Row[]);
    }
    return out;
  } finally {
    c.closeSync();
    duck.closeSync();
  }
}

/** Runs {@link crashQueries} through `query` (a Postgres or MySQL client: the source database itself), keyed by endpoint path. */
export async function serverOracle(
  query: (sql: string) => Promise<{ rows: Row[] }>,
  orders: string,
  customers: string,
): Promise<Map<string, Row[]>> {
  const out = new Map<string, Row[]>();
  for (const q of crashQueries(orders, customers)) {
    out.set(ENDPOINT_OF[q.into]!, (await query(q.select)).rows);
  }
  return out;
}
