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
import { freePort, getJson, spawnDozer, until } from './helpers.js';

// A TRUNCATE of a followed table between the last checkpoint and a crash: the
// restart replays it from the checkpoint's position, and the API must end with
// the table as Postgres has it, not with the rows from before the TRUNCATE
// (they came back before: the connector deleted the rows its cache held, read
// after the TRUNCATE). The connector asks for a rebuild; `dozer run` rebuilds.

const SLOT = 'dozer_truncate';
const PUBLICATION = 'dozer_truncate_pub';
const Client = createRequire(import.meta.url)('pg/lib/client.js') as typeof pg.Client;

await describeWithService('PostgreSQL', PG, 'sources that cannot continue from their checkpoint', () => {
  let client: pg.Client;
  let dir: string;
  const dropAll = async () => {
    await dropReplicationSlot((q, p) => client.query(q, p), SLOT);
    await client.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
    await client.query('DROP TABLE IF EXISTS trunc_items');
  };
  beforeAll(async () => {
    client = new Client(PG);
    await client.connect();
    await dropAll();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-truncate-'));
  });
  afterAll(async () => {
    await dropAll().catch(() => {});
    await client.end();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rebuilds when a restart replays a TRUNCATE, or finds its replication slot gone, and serves the table as it is', async () => {
    await client.query('CREATE TABLE trunc_items (id integer PRIMARY KEY, v text NOT NULL)');
    await client.query("INSERT INTO trunc_items SELECT g, 'before ' || g FROM generate_series(1, 3) g");
    const port = await freePort();
    const file = path.join(dir, 'dozer.yaml');
    fs.writeFileSync(
      file,
      `version: 1
app_name: truncate
home_dir: ./home
connections:
${pgConnectionYaml({ slot: SLOT, publication: PUBLICATION, tables: ['trunc_items'] })}sources:
  - name: items
    connection: shop
    table_name: trunc_items
sql: |
  SELECT COUNT(*) AS n FROM items INTO totals;
endpoints:
  - name: items
    path: /items
    table_name: items
  - name: totals
    path: /totals
    table_name: totals
api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
checkpoint: { interval_ms: 6000 }
`,
    );
    const env = { PG_PASSWORD: PG.password };
    // The rows the API serves; none while it restarts (the rebuild stops and starts it again).
    const items = async () => {
      try {
        const res = await getJson(`http://127.0.0.1:${port}/items?limit=100`);
        return (res.body as { id: string }[]).map((r) => Number(r.id)).sort((a, b) => a - b);
      } catch {
        return [];
      }
    };
    const first = spawnDozer(['run', '-c', file], { cwd: dir, env });
    await first.waitFor('Serving 2 endpoint(s)');
    await until(async () => (await items()).length === 3, 30_000, 'the snapshot');
    await first.waitFor(/checkpoint \d+ complete/);
    // The next checkpoint comes 6 s later: the TRUNCATE and the kill fall before it.
    const epoch = /checkpoint (\d+) complete/.exec(first.stderr())![1];
    await client.query('TRUNCATE trunc_items');
    await client.query("INSERT INTO trunc_items VALUES (4, 'after')");
    await until(async () => JSON.stringify(await items()) === '[4]', 10_000, 'the TRUNCATE and the insert');
    first.child.kill('SIGKILL');
    await first.exited;

    const second = spawnDozer(['run', '-c', file], { cwd: dir, env });
    try {
      await second.waitFor(/resuming from checkpoint \d+/);
      expect(second.stderr()).toContain(`resuming from checkpoint ${epoch} `);
      // The replayed TRUNCATE cannot name the rows the checkpoint holds: the pipeline rebuilds.
      await second.waitFor(
        /table "trunc_items" was truncated at [0-9A-F]+\/[0-9A-F]+, after the position it resumed from .*; rebuilding the whole pipeline from the sources/,
      );
      await until(async () => JSON.stringify(await items()) === '[4]', 30_000, 'the rebuilt table');
      expect((await getJson(`http://127.0.0.1:${port}/totals`)).body).toEqual([{ n: '1' }]);
      // And it keeps following the table.
      await client.query("INSERT INTO trunc_items VALUES (5, 'later')");
      await until(
        async () => JSON.stringify(await items()) === '[4,5]',
        10_000,
        'a change after the rebuild',
      );
    } finally {
      second.child.kill('SIGINT');
      await second.exited;
    }

    // A replication slot dropped while the pipeline was stopped: the changes since its checkpoint
    // are gone, so the restart rebuilds too (it used to stop, asking to clear the data by hand).
    await dropReplicationSlot((q, p) => client.query(q, p), SLOT);
    await client.query("INSERT INTO trunc_items VALUES (6, 'while stopped')");
    const third = spawnDozer(['run', '-c', file], { cwd: dir, env });
    try {
      await third.waitFor(
        /replication slot "dozer_truncate" does not exist, but tables "trunc_items" resume from earlier positions.*; rebuilding the whole pipeline from the sources/,
      );
      await until(
        async () => JSON.stringify(await items()) === '[4,5,6]',
        30_000,
        'the table after the rebuild',
      );
      await client.query("INSERT INTO trunc_items VALUES (7, 'after')");
      await until(async () => JSON.stringify(await items()) === '[4,5,6,7]', 10_000, 'a change after it');
    } finally {
      third.child.kill('SIGINT');
      expect(await third.exited).toBe(0);
    }
  }, 120_000);
});
