import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describeWithService,
  dropReplicationSlot,
  PG,
  pgConnectionYaml,
} from '../../../test/support/services.js';
import { type DozerProcess, freePort, spawnDozer, until } from './helpers.js';

// The separate roles with checkpoints over a Postgres table: `dozer ingest`
// confirms the replication slot only once a complete checkpoint covers the
// position, which needs the processor and the API; an offloaded log entry
// alone (what the ingestor confirms on without checkpoints) is not enough.

const SLOT = 'dozer_cli_split_ack';
const PUBLICATION = 'dozer_cli_split_ack_pub';
const TABLE = 'cli_split_ack_orders';
const Client = createRequire(import.meta.url)('pg/lib/client.js') as typeof pg.Client;

await describeWithService(
  'PostgreSQL',
  PG,
  'dozer ingest / process / serve with checkpoints over Postgres',
  () => {
    let client: pg.Client;
    let dir: string;
    let file: string;
    let rest: number;
    const running: DozerProcess[] = [];

    const dropAll = async () => {
      await dropReplicationSlot((q, p) => client.query(q, p), SLOT);
      await client.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
      await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
    };

    beforeAll(async () => {
      client = new Client(PG);
      await client.connect();
      await dropAll();
      await client.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, customer text NOT NULL)`);
      await client.query(`INSERT INTO ${TABLE} VALUES (1, 'ada'), (2, 'bob')`);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-split-ack-pg-'));
      file = path.join(dir, 'dozer.yaml');
      rest = await freePort();
      fs.writeFileSync(
        file,
        `version: 1
app_name: split-ack-pg
home_dir: ./home
checkpoint: { interval_ms: 300 }
connections:
${pgConnectionYaml({ slot: SLOT, publication: PUBLICATION, tables: [TABLE] })}sources:
  - name: orders
    connection: shop
    table_name: ${TABLE}
endpoints:
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
      await dropAll();
      await client.end();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    const confirmedPast = async (lsn: string) => {
      const r = await client.query<{ ok: boolean }>(
        'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1',
        [SLOT, lsn],
      );
      return r.rows[0]?.ok === true;
    };

    it('confirms the slot once a checkpoint covers the change, not when its log entry is offloaded', async () => {
      const env = { PG_PASSWORD: PG.password };
      const ingestor = spawnDozer(['ingest', '-c', file], { env });
      running.push(ingestor);
      await ingestor.waitFor('Ingesting 1 source(s)', 90_000);
      await ingestor.waitFor('source orders: snapshot done');
      await client.query(`INSERT INTO ${TABLE} VALUES (3, 'cy')`);
      const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      const lsn = rows[0]!.lsn;
      // Longer than the 5 s after which a quiet log is offloaded (and, without checkpoints, confirmed).
      await new Promise((r) => setTimeout(r, 7000));
      expect(await confirmedPast(lsn)).toBe(false);

      running.push(spawnDozer(['process', '-c', file], { env }));
      const api = spawnDozer(['serve', '-c', file], { env });
      running.push(api);
      await until(async () => confirmedPast(lsn), 90_000, 'the slot to be confirmed past the insert');
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
