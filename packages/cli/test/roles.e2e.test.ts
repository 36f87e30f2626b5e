import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DozerProcess, freePort, getJson, spawnDozer, until } from './helpers.js';

// `dozer ingest`, `dozer process` and `dozer serve` as three processes on
// loopback, over a directory of CSV and JSON-lines files, with a queue memory
// bound so small that the logs offload to the object store all the time. The
// endpoints must serve what the data says, and exactly what `dozer run`
// serves on the same files.

const REGIONS = ['north', 'south', 'east', 'west'];
const CUSTOMERS = 40;
const ORDER_FILES = 6;
const ORDERS_PER_FILE = 200;

interface Customer {
  id: number;
  name: string;
  region: string;
}
interface Order {
  id: number;
  customer_id: number;
  amount: number;
}

const customers: Customer[] = Array.from({ length: CUSTOMERS }, (_, i) => ({
  id: i + 1,
  name: `customer ${i + 1}`,
  region: REGIONS[(i + 1) % REGIONS.length]!,
}));
// Customer ids 41 and 42 do not exist: the join drops their orders.
const orders: Order[] = Array.from({ length: ORDER_FILES * ORDERS_PER_FILE }, (_, i) => ({
  id: i + 1,
  customer_id: (((i + 1) * 7) % (CUSTOMERS + 2)) + 1,
  amount: ((i + 1) * 37) % 100,
}));

type Obj = Record<string, unknown>;

/** What the endpoints must serve, computed from the data (int fields are decimal strings in JSON). */
function expectedContents(): Record<string, Obj[]> {
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

const ENDPOINTS = [
  { name: 'by_region', path: '/by-region', key: 'region' },
  { name: 'big_orders', path: '/big-orders', key: 'id' },
  { name: 'customers', path: '/customers', key: 'id' },
] as const;

interface Ports {
  rest: number;
  grpc: number;
  ingestor: number;
  processor: number;
}

function configText(data: string, home: string, objects: string, ports: Ports): string {
  return `version: 1
app_name: roles-e2e
home_dir: ${JSON.stringify(home)}
connections:
  - name: lake
    kind: object_store
    config:
      storage: { kind: local, path: ${JSON.stringify(data)} }
      tables:
        - name: customers
          prefix: customers/
          pattern: "*.csv"
          format: csv
          schema:
            columns:
              - { name: id, type: int, nullable: false }
              - { name: name, type: string }
              - { name: region, type: string }
            primary_key: [id]
        - name: orders
          prefix: orders/
          pattern: "*.jsonl"
          format: jsonl
          batch_size: 20
          schema:
            columns:
              - { name: id, type: int, nullable: false }
              - { name: customer_id, type: int }
              - { name: amount, type: int }
            primary_key: [id]
sources:
  - name: customers
    connection: lake
  - name: orders
    connection: lake
sql: |
  SELECT c.region AS region, COUNT(*) AS orders, SUM(o.amount) AS total
  FROM orders o JOIN customers c ON o.customer_id = c.id
  GROUP BY c.region
  INTO by_region;
  SELECT o.id AS id, c.name AS customer, o.amount AS amount
  FROM orders o JOIN customers c ON o.customer_id = c.id
  WHERE o.amount >= 90
  INTO big_orders;
endpoints:
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
api:
  rest: { host: 127.0.0.1, port: ${ports.rest} }
  grpc: { host: 127.0.0.1, port: ${ports.grpc} }
nodes:
  ingestor: { host: 127.0.0.1, port: ${ports.ingestor} }
  processor: { host: 127.0.0.1, port: ${ports.processor} }
  object_store: { kind: local, path: ${JSON.stringify(objects)} }
  queue: { memory_limit_bytes: 4096, offload_at_bytes: 1024, segment_bytes: 1024 }
`;
}

async function contents(base: string): Promise<Record<string, Obj[]>> {
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
async function settle(base: string, expected: Record<string, Obj[]>, what: string): Promise<void> {
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

async function freePorts(): Promise<Ports> {
  return {
    rest: await freePort(),
    grpc: await freePort(),
    ingestor: await freePort(),
    processor: await freePort(),
  };
}

const stopped = async (p: DozerProcess): Promise<void> => {
  p.child.kill('SIGINT');
  expect(await p.exited).toBe(0);
  expect(p.stderr()).toContain('stopped cleanly');
};

describe('dozer ingest / process / serve as three processes', () => {
  let dir: string;
  let split: Ports;
  let splitConfig: string;
  const running: DozerProcess[] = [];
  const expected = expectedContents();

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-roles-e2e-'));
    const data = path.join(dir, 'data');
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
    splitConfig = path.join(dir, 'split.yaml');
    return (async () => {
      split = await freePorts();
      fs.writeFileSync(splitConfig, configText(data, './split-home', './split-objects', split));
      fs.writeFileSync(
        path.join(dir, 'run.yaml'),
        configText(data, './run-home', './run-objects', await freePorts()),
      );
    })();
  });

  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the join and the aggregate, offloading the logs to the object store, and equals dozer run', async () => {
    // Downstream first: each waits, retrying, for the role it reads from.
    const serve = spawnDozer(['serve', '-c', splitConfig]);
    running.push(serve);
    await serve.waitFor(/the processor at 127\.0\.0\.1:\d+ is unreachable .*retrying/);
    const processor = spawnDozer(['process', '-c', splitConfig]);
    running.push(processor);
    const ingestor = spawnDozer(['ingest', '-c', splitConfig]);
    running.push(ingestor);
    await ingestor.waitFor('Ingesting 2 source(s)');
    await processor.waitFor('Processing 2 source log(s)');
    await serve.waitFor('Serving 3 endpoint(s)');
    const base = `http://127.0.0.1:${split.rest}`;
    await settle(base, expected, 'the three roles to serve the expected contents');
    const served = await contents(base);
    expect(served).toEqual(expected);

    // The logs really went through the object store: segment files of both queues.
    const segments = (queue: string, log: string) => {
      const at = path.join(dir, 'split-objects', queue, log, 'segments');
      return fs.existsSync(at) ? fs.readdirSync(at).filter((f) => f.endsWith('.seg')) : [];
    };
    expect(segments('ingest', 'orders').length).toBeGreaterThan(5);
    expect(segments('process', 'big_orders').length).toBeGreaterThan(0);

    // The same files through `dozer run` serve the same contents.
    const runConfig = path.join(dir, 'run.yaml');
    const runPorts = fs.readFileSync(runConfig, 'utf8').match(/rest: \{ host: 127\.0\.0\.1, port: (\d+) \}/)!;
    const run = spawnDozer(['run', '-c', runConfig]);
    running.push(run);
    await run.waitFor('Serving 3 endpoint(s)');
    const runBase = `http://127.0.0.1:${runPorts[1]}`;
    await settle(runBase, expected, 'dozer run to serve the expected contents');
    expect(await contents(runBase)).toEqual(served);
    await stopped(run);

    // A restarted processor: the API notices, reconnects and rebuilds the same contents.
    await stopped(processor);
    await serve.waitFor(/lost the processor at .*reconnecting/);
    const again = spawnDozer(['process', '-c', splitConfig]);
    running.push(again);
    await again.waitFor('Processing 2 source log(s)');
    await until(
      async () => (serve.stdout().match(/Serving 3 endpoint\(s\)/g) ?? []).length >= 2,
      60_000,
      'the API to serve again',
    );
    await settle(base, expected, 'the API to rebuild after the processor restarted');

    // Ctrl-C stops each role cleanly, downstream first.
    await stopped(serve);
    await stopped(again);
    await stopped(ingestor);
  }, 300_000);
});
