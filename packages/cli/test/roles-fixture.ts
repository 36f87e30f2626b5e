import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { type DozerProcess, freePort, getJson, type LakeTable, lakeYaml, until } from './helpers.js';

// The input and the expected output of the node-role tests: customers in a
// CSV file, orders in JSON-lines files, SQL with a join and an aggregate, and
// an endpoint over a source served directly.

export const REGIONS = ['north', 'south', 'east', 'west'];
export const CUSTOMERS = 40;
export const ORDER_FILES = 6;
export const ORDERS_PER_FILE = 200;

export interface Customer {
  id: number;
  name: string;
  region: string;
}
export interface Order {
  id: number;
  customer_id: number;
  amount: number;
}

export const customers: Customer[] = Array.from({ length: CUSTOMERS }, (_, i) => ({
  id: i + 1,
  name: `customer ${i + 1}`,
  region: REGIONS[(i + 1) % REGIONS.length]!,
}));
// Customer ids 41 and 42 do not exist: the join drops their orders.
export const orders: Order[] = Array.from({ length: ORDER_FILES * ORDERS_PER_FILE }, (_, i) => ({
  id: i + 1,
  customer_id: (((i + 1) * 7) % (CUSTOMERS + 2)) + 1,
  amount: ((i + 1) * 37) % 100,
}));

export type Obj = Record<string, unknown>;

/** What the endpoints must serve, computed from the data (int fields are decimal strings in JSON). */
export function expectedContents(): Record<string, Obj[]> {
  const byId = new Map(customers.map((c) => [c.id, c]));
  const regions = new Map<string, { orders: number; total: number }>();
  const big: Obj[] = [];
  for (const o of orders) {
    const c = byId.get(o.customer_id);
    if (!c) continue;
    const r = regions.get(c.region) ?? { orders: 0, total: 0 };
    r.orders += 1;
    r.total += o.amount;
    regions.set(c.region, r);
    if (o.amount >= 90) big.push({ id: String(o.id), customer: c.name, amount: String(o.amount) });
  }
  return {
    by_region: [...regions]
      .map(([region, r]) => ({ region, orders: String(r.orders), total: String(r.total) }))
      .sort((a, b) => a.region.localeCompare(b.region)),
    big_orders: big.sort((a, b) => Number(a.id) - Number(b.id)),
    customers: customers.map((c) => ({ id: String(c.id), name: c.name, region: c.region })),
  };
}

export const ENDPOINTS = [
  { name: 'by_region', path: '/by-region', key: 'region' },
  { name: 'big_orders', path: '/big-orders', key: 'id' },
  { name: 'customers', path: '/customers', key: 'id' },
] as const;

/** dozer.yaml's `endpoints:` section serving {@link ENDPOINTS}. */
export const ENDPOINTS_YAML = `endpoints:
  - name: by_region
    path: /by-region
    table_name: by_region
    index: { primary_key: [region] }
  - name: big_orders
    path: /big-orders
    table_name: big_orders
    index: { primary_key: [id] }
  - name: customers
    path: /customers
    table_name: customers
`;

export interface Ports {
  rest: number;
  grpc: number;
  ingestor: number;
  processor: number;
  /** `http_port` of the ingestor and the processor node (their /health and /metrics), when set. */
  ingestorHttp?: number;
  processorHttp?: number;
}

/** Writes the data files under `data`. */
export function writeData(data: string): void {
  fs.mkdirSync(path.join(data, 'customers'), { recursive: true });
  fs.mkdirSync(path.join(data, 'orders'), { recursive: true });
  fs.writeFileSync(
    path.join(data, 'customers', 'customers.csv'),
    ['id,name,region', ...customers.map((c) => `${c.id},${c.name},${c.region}`), ''].join('\n'),
  );
  for (let f = 0; f < ORDER_FILES; f++) {
    const rows = orders.slice(f * ORDERS_PER_FILE, (f + 1) * ORDERS_PER_FILE);
    fs.writeFileSync(
      path.join(data, 'orders', `part-${f}.jsonl`),
      `${rows.map((o) => JSON.stringify(o)).join('\n')}\n`,
    );
  }
}

/** The customers CSV and the orders JSON-lines files `writeData` writes, as tables of the `lake` connection. */
export const LAKE_TABLES: LakeTable[] = [
  {
    name: 'customers',
    pattern: '*.csv',
    columns: { id: 'int!', name: 'string', region: 'string' },
    primaryKey: ['id'],
  },
  {
    name: 'orders',
    pattern: '*.jsonl',
    options: { batch_size: 20 },
    columns: { id: 'int!', customer_id: 'int', amount: 'int' },
    primaryKey: ['id'],
  },
];

/** `objectStore` is the YAML of `nodes.object_store`, e.g. `{ kind: local, path: ./objects }`. */
export function configText(data: string, home: string, objectStore: string, ports: Ports): string {
  return `version: 1
app_name: roles-e2e
home_dir: ${JSON.stringify(home)}
${lakeYaml(data, LAKE_TABLES)}sql: |
  SELECT c.region AS region, COUNT(*) AS orders, SUM(o.amount) AS total
  FROM orders o JOIN customers c ON o.customer_id = c.id
  GROUP BY c.region
  INTO by_region;
  SELECT o.id AS id, c.name AS customer, o.amount AS amount
  FROM orders o JOIN customers c ON o.customer_id = c.id
  WHERE o.amount >= 90
  INTO big_orders;
${ENDPOINTS_YAML}api:
  rest: { host: 127.0.0.1, port: ${ports.rest} }
  grpc: { host: 127.0.0.1, port: ${ports.grpc} }
nodes:
  ingestor: { host: 127.0.0.1, port: ${ports.ingestor}${httpPort(ports.ingestorHttp)} }
  processor: { host: 127.0.0.1, port: ${ports.processor}${httpPort(ports.processorHttp)} }
  object_store: ${objectStore}
  queue: { memory_limit_bytes: 4096, offload_at_bytes: 1024, segment_bytes: 1024 }
`;
}

const httpPort = (port: number | undefined) => (port === undefined ? '' : `, http_port: ${port}`);

export async function contents(base: string): Promise<Record<string, Obj[]>> {
  const out: Record<string, Obj[]> = {};
  for (const ep of ENDPOINTS) {
    const res = await getJson(`${base}${ep.path}?limit=5000`);
    expect(res.status).toBe(200);
    out[ep.name] = (res.body as Obj[]).sort((a, b) =>
      ep.key === 'id' ? Number(a.id) - Number(b.id) : String(a[ep.key]).localeCompare(String(b[ep.key])),
    );
  }
  return out;
}

/** Polls until the endpoints serve `expected` (the sources end, so the contents settle there). */
export async function settle(base: string, expected: Record<string, Obj[]>, what: string): Promise<void> {
  await until(
    async () => {
      try {
        return JSON.stringify(await contents(base)) === JSON.stringify(expected);
      } catch {
        return false;
      }
    },
    90_000,
    what,
  );
}

export async function freePorts(): Promise<Ports> {
  return {
    rest: await freePort(),
    grpc: await freePort(),
    ingestor: await freePort(),
    processor: await freePort(),
  };
}

export const stopped = async (p: DozerProcess): Promise<void> => {
  p.child.kill('SIGINT');
  expect(await p.exited).toBe(0);
  expect(p.stderr()).toContain('stopped cleanly');
};
