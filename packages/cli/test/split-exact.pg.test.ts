import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalObjectStore } from '@dozer/core';
import { createCheckpointStore } from '@dozer/snapshot';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService, dropReplicationSlot, PG } from '../../../test/support/services.js';
import { type DozerProcess, freePort, spawnDozer, until } from './helpers.js';
import { createPgOrders, type PgOrders } from './pg-orders.js';

// The separate roles over a Postgres table with REPLICA IDENTITY FULL: its
// connector guarantees exact changes, the ingestor says so on the table's log,
// and `dozer process` in another process takes the changes as they are (as
// `dozer run` does) instead of keeping a normalized copy of the table in its
// state and checkpoints; a processor restarted from a checkpoint continues;
// an ingestor whose slot was dropped makes every role rebuild.

const SLOT = 'dozer_cli_split_exact';
const PUBLICATION = 'dozer_cli_split_exact_pub';
const TABLE = 'cli_split_exact_orders';

await describeWithService('PostgreSQL', PG, 'dozer process over a source with exact changes', () => {
  let orders: PgOrders;
  let dir: string;
  let file: string;
  let rest: number;
  const running: DozerProcess[] = [];

  beforeAll(async () => {
    orders = await createPgOrders({ slot: SLOT, publication: PUBLICATION, table: TABLE });
    await orders.client.query(`ALTER TABLE ${TABLE} REPLICA IDENTITY FULL`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-split-exact-pg-'));
    file = path.join(dir, 'dozer.yaml');
    rest = await freePort();
    fs.writeFileSync(
      file,
      `version: 1
app_name: split-exact-pg
home_dir: ./home
checkpoint: { interval_ms: 300 }
${orders.yaml}sql: |
  SELECT customer, COUNT(*) AS n FROM orders GROUP BY customer INTO by_customer;
endpoints:
  - name: by_customer
    path: /by-customer
    table_name: by_customer
    index: { primary_key: [customer] }
api:
  rest: { host: 127.0.0.1, port: ${rest} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
nodes:
  ingestor: { host: 127.0.0.1, port: ${await freePort()} }
  processor: { host: 127.0.0.1, port: ${await freePort()} }
`,
    );
  }, 60_000);

  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited));
    await orders?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const counts = async () => {
    const res = await fetch(`http://127.0.0.1:${rest}/by-customer`).catch(() => undefined);
    if (res?.status !== 200) return undefined;
    const rows = (await res.json()) as { customer: string; n: string | number }[];
    return Object.fromEntries(rows.map((r) => [r.customer, Number(r.n)]));
  };
  const serving = (want: Record<string, number>, what: string) =>
    until(async () => JSON.stringify(await counts()) === JSON.stringify(want), 60_000, what);

  /** The state operators of the newest complete checkpoint. */
  const checkpointOperators = async () => {
    const store = createCheckpointStore({
      store: createLocalObjectStore(path.join(dir, 'home', 'objects')),
      prefix: 'checkpoints',
    });
    const latest = await store.loadLatest();
    return latest === undefined ? [] : [...latest.manifest.operators.keys()];
  };

  it('takes the changes as they are, checkpoints no copy of the table, resumes from its checkpoint, and rebuilds when the slot is gone', async () => {
    const env = { PG_PASSWORD: PG.password };
    const ingestor = spawnDozer(['ingest', '-c', file], { env });
    running.push(ingestor);
    await ingestor.waitFor('Ingesting 1 source(s)', 90_000);
    let processor = spawnDozer(['process', '-c', file], { env });
    running.push(processor);
    running.push(spawnDozer(['serve', '-c', file], { env }));
    await processor.waitFor(
      'changes taken as they are (the connector guarantees them exact, no normalizer state): orders',
      90_000,
    );
    await serving({ ada: 1, bob: 1 }, 'the snapshot counted');

    await orders.client.query(`UPDATE ${TABLE} SET customer = 'ada' WHERE id = 2`);
    await orders.insert(3, 'cy');
    await serving({ ada: 2, cy: 1 }, 'an update moving a row between groups, and an insert');
    await until(
      async () => (await checkpointOperators()).some((op) => op.startsWith('processor/sql/')),
      60_000,
      'a checkpoint holding the SQL state',
    );
    // The aggregate's state is there; a normalized copy of `orders` is not.
    const operators = await checkpointOperators();
    expect(operators.filter((op) => op.startsWith('processor/sql/')).length).toBeGreaterThan(0);
    expect(operators.some((op) => op.endsWith('/source/orders'))).toBe(false);

    // A processor killed and started again continues from the checkpoint (the exact sources match).
    processor.child.kill('SIGKILL');
    await processor.exited;
    processor = spawnDozer(['process', '-c', file], { env });
    running.push(processor);
    await processor.waitFor(
      /resuming from checkpoint \d+ \(generation \d+\): the SQL state is as it was then/,
      90_000,
    );
    expect(processor.stderr()).not.toMatch(/cannot resume/);
    await orders.client.query(`DELETE FROM ${TABLE} WHERE id = 1`);
    await serving({ ada: 1, cy: 1 }, 'a delete after the restart');

    // The ingestor gone and its replication slot dropped meanwhile: it cannot continue from the
    // checkpoint, so it begins a generation that rebuilds every role from a fresh snapshot (it
    // used to stop, asking to clear the data by hand).
    ingestor.child.kill('SIGKILL');
    await ingestor.exited;
    await dropReplicationSlot((q, p) => orders.client.query(q, p), SLOT);
    await orders.insert(4, 'dee');
    const again = spawnDozer(['ingest', '-c', file], { env });
    running.push(again);
    await again.waitFor(
      /replication slot "dozer_cli_split_exact" does not exist.*; rebuilding the whole pipeline from the sources/,
      90_000,
    );
    await again.waitFor(/rebuilding from the sources \(generation \d+\)/, 90_000);
    await serving({ ada: 1, cy: 1, dee: 1 }, 'the rebuilt pipeline');
    await orders.insert(5, 'ada');
    await serving({ ada: 2, cy: 1, dee: 1 }, 'a change after the rebuild');
  }, 300_000);
});
