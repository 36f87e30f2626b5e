import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService, PG } from '../../../test/support/services.js';
import { type DozerProcess, freePort, spawnDozer, until } from './helpers.js';
import { createPgOrders, type PgOrders } from './pg-orders.js';

// `dozer ingest` alone over a Postgres table: it confirms the replication slot
// once the log entry carrying a position is stored in a segment in the object
// store, with no processor or API running. A few changes never fill the
// default 64 MiB memory bound, so this also holds the ingestor to flushing a
// log whose positions have waited (5 s) instead of keeping the slot, and the
// server's WAL, held forever.
const SLOT = 'dozer_cli_roles';
const PUBLICATION = 'dozer_cli_roles_pub';
const TABLE = 'cli_roles_orders';

await describeWithService('PostgreSQL', PG, 'dozer ingest over a Postgres source', () => {
  let orders: PgOrders;
  let dir: string;
  let file: string;
  let ingestor: DozerProcess | undefined;

  beforeAll(async () => {
    orders = await createPgOrders({ slot: SLOT, publication: PUBLICATION, table: TABLE });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-roles-pg-'));
    file = path.join(dir, 'dozer.yaml');
    fs.writeFileSync(
      file,
      `version: 1
app_name: roles-pg
home_dir: ./home
# Without checkpoints the ingestor confirms once offloaded; with them, once a checkpoint covers
# the position (split-crash.e2e checks the checkpointed roles).
checkpoint: { interval_ms: 0 }
${orders.yaml}endpoints:
  - name: orders
    path: /orders
    table_name: orders
nodes:
  ingestor: { host: 127.0.0.1, port: ${await freePort()} }
`,
    );
  }, 60_000);

  afterAll(async () => {
    ingestor?.child.kill('SIGKILL');
    await ingestor?.exited;
    await orders?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('without checkpoints, confirms the slot past a change once its log entry is in the object store, also when memory is far from full', async () => {
    ingestor = spawnDozer(['ingest', '-c', file], { env: { PG_PASSWORD: PG.password } });
    await ingestor.waitFor('Ingesting 1 source(s)', 90_000);
    await ingestor.waitFor('source orders: snapshot done');
    const lsn = await orders.insert(3, 'cy');
    await until(() => orders.confirmedPast(lsn), 30_000, 'the slot to be confirmed past the insert');
    const segments = path.join(dir, 'home', 'objects', 'ingest', 'orders', 'segments');
    expect(fs.readdirSync(segments).filter((f) => f.endsWith('.seg')).length).toBeGreaterThan(0);
    ingestor.child.kill('SIGINT');
    expect(await ingestor.exited).toBe(0);
  });
});
