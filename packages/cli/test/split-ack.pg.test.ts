import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService, PG } from '../../../test/support/services.js';
import { type DozerProcess, freePort, spawnDozer, until } from './helpers.js';
import { createPgOrders, type PgOrders } from './pg-orders.js';

// The separate roles with checkpoints over a Postgres table: `dozer ingest`
// confirms the replication slot only once a complete checkpoint covers the
// position, which needs the processor and the API; an offloaded log entry
// alone (what the ingestor confirms on without checkpoints) is not enough.

const SLOT = 'dozer_cli_split_ack';
const PUBLICATION = 'dozer_cli_split_ack_pub';
const TABLE = 'cli_split_ack_orders';

await describeWithService(
  'PostgreSQL',
  PG,
  'dozer ingest / process / serve with checkpoints over Postgres',
  () => {
    let orders: PgOrders;
    let dir: string;
    let file: string;
    let rest: number;
    const running: DozerProcess[] = [];

    beforeAll(async () => {
      orders = await createPgOrders({ slot: SLOT, publication: PUBLICATION, table: TABLE });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-split-ack-pg-'));
      file = path.join(dir, 'dozer.yaml');
      rest = await freePort();
      fs.writeFileSync(
        file,
        `version: 1
app_name: split-ack-pg
home_dir: ./home
checkpoint: { interval_ms: 300 }
${orders.yaml}endpoints:
  - name: orders
    path: /orders
    table_name: orders
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

    it('confirms the slot once a checkpoint covers the change, not when its log entry is offloaded', async () => {
      const env = { PG_PASSWORD: PG.password };
      const ingestor = spawnDozer(['ingest', '-c', file], { env });
      running.push(ingestor);
      await ingestor.waitFor('Ingesting 1 source(s)', 90_000);
      await ingestor.waitFor('source orders: snapshot done');
      const lsn = await orders.insert(3, 'cy');
      // Longer than the 5 s after which a quiet log is offloaded (and, without checkpoints, confirmed).
      await new Promise((r) => setTimeout(r, 7000));
      expect(await orders.confirmedPast(lsn)).toBe(false);

      running.push(spawnDozer(['process', '-c', file], { env }));
      const api = spawnDozer(['serve', '-c', file], { env });
      running.push(api);
      await until(() => orders.confirmedPast(lsn), 90_000, 'the slot to be confirmed past the insert');
      expect(ingestor.stderr()).toMatch(/checkpoint \d+ complete/);
      // What the confirmed checkpoint covers is served.
      await until(
        async () => {
          const res = await fetch(`http://127.0.0.1:${rest}/orders`).catch(() => undefined);
          return res?.status === 200 && ((await res.json()) as unknown[]).length === 3;
        },
        60_000,
        'the API to serve the three rows',
      );
    }, 240_000);
  },
);
