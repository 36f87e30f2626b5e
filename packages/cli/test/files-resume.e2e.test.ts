import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DozerProcess, freePort, getJson, postJson, spawnDozer, until } from './helpers.js';

// A large file loaded by `dozer run`, killed with SIGKILL in the middle of the
// load after a checkpoint completed: the object_store connector's snapshot
// positions can be resumed from (TableInfo.resumableSnapshot), so checkpoints
// do not wait for the load to end, and the restart continues the file from
// the checkpoint instead of reading it again, with no row lost or repeated.

const ROWS = 400_000;
let dir: string;
let dozer: DozerProcess | undefined;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-files-resume-'));
  fs.mkdirSync(path.join(dir, 'data'));
  const lines = ['id,v'];
  for (let i = 0; i < ROWS; i++) lines.push(`${i},${i % 1000}`);
  fs.writeFileSync(path.join(dir, 'data', 'big.csv'), `${lines.join('\n')}\n`);
});

afterAll(() => {
  dozer?.child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

it('checkpoints during a long file load and resumes it from the checkpoint after a crash', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = path.join(dir, 'dozer.yaml');
  fs.writeFileSync(
    config,
    `version: 1
app_name: files-resume
home_dir: ./home
checkpoint: { interval_ms: 200 }
connections:
  - name: files
    kind: object_store
    config:
      storage: { kind: local, path: ./data } # beside this file, whatever the working directory
      tables:
        - { name: rows, pattern: "*.csv", format: csv, poll_interval_ms: 0, batch_size: 2000 }
sources:
  - { name: rows, connection: files, table_name: rows }
endpoints:
  - { name: rows, path: /rows, table_name: rows, index: { primary_key: [id] } }
api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
  );
  const health = async () =>
    (await getJson(`${base}/health`)).body as { sources: { rows: { ops: number; phase: string } } };

  dozer = spawnDozer(['run', '-c', config]);
  // A checkpoint completes while the file is still being loaded (before, the first came after the load).
  await dozer.waitFor(/checkpoint \d+ complete/, 60_000);
  expect(dozer.stdout() + dozer.stderr()).not.toMatch(/source rows: snapshot done/);
  const epoch = Number(/checkpoint (\d+) complete/.exec(dozer.stdout() + dozer.stderr())![1]);
  dozer.child.kill('SIGKILL');
  await dozer.exited;

  dozer = spawnDozer(['run', '-c', config]);
  await dozer.waitFor(/resuming from checkpoint (\d+)/, 30_000);
  const resumed = Number(/resuming from checkpoint (\d+)/.exec(dozer.stdout() + dozer.stderr())![1]);
  expect(resumed).toBeGreaterThanOrEqual(epoch);
  await dozer.waitFor('Serving 1 endpoint(s)', 30_000);
  await until(
    async () =>
      (((await postJson(`${base}/rows/count`, {})).body as { count: number } | undefined)?.count ?? 0) ===
      ROWS,
    120_000,
    `all ${ROWS} rows served`,
  );
  // Every row once: the ids are 0..ROWS-1 under a primary key, so the count and the ends tell.
  const ends = async (order: 'asc' | 'desc') =>
    (
      (await postJson(`${base}/rows/query`, { $order_by: { id: order }, $limit: 1 })).body as { id: string }[]
    )[0]!.id;
  expect([await ends('asc'), await ends('desc')]).toEqual(['0', String(ROWS - 1)]);
  expect(
    ((await postJson(`${base}/rows/count`, { $filter: { v: 999 } })).body as { count: number }).count,
  ).toBe(ROWS / 1000);
  // The restart read only the rest of the file.
  await until(async () => (await health()).sources.rows.phase === 'done', 30_000, 'the source to finish');
  const ops = (await health()).sources.rows.ops;
  expect(ops).toBeGreaterThan(0);
  expect(ops).toBeLessThan(ROWS);
  dozer.child.kill('SIGINT');
  expect(await dozer.exited).toBe(0);
}, 240_000);
