import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type DozerProcess,
  dropFile,
  freePort,
  getJson,
  lakeYaml,
  postJson,
  spawnDozer,
  until,
} from './helpers.js';

// Checkpoints in `dozer run`: a restart continues from the newest complete
// checkpoint (store rolled back to its epoch, SQL state restored, the source
// continuing after its recorded position) instead of reading everything
// again; a corrupt newest checkpoint falls back to the previous one; a
// checkpoint the pipeline cannot use (changed SQL, a deleted store) leads to
// a rebuild, said in the log. Every case ends with exact endpoint contents.

const USERS = 7;
const ROWS_PER_FILE = 150;

interface Event {
  id: number;
  user: number;
  amount: number;
}

const eventsOf = (file: number): Event[] =>
  Array.from({ length: ROWS_PER_FILE }, (_, i) => {
    const id = file * 1000 + i;
    return { id, user: id % (USERS + 1), amount: (id * 37) % 100 };
  });

/** What the endpoints serve after `files` event files: per user name, events and total (users without a name drop out of the join). */
function expected(files: number[]): Array<Record<string, string>> {
  const per = new Map<number, { n: number; total: number }>();
  for (const f of files) {
    for (const e of eventsOf(f)) {
      if (e.user === 0) continue; // no user 0: the inner join drops these
      const p = per.get(e.user) ?? { n: 0, total: 0 };
      p.n += 1;
      p.total += e.amount;
      per.set(e.user, p);
    }
  }
  return [...per]
    .sort(([a], [b]) => a - b)
    .map(([user, p]) => ({ name: `user ${user}`, n: String(p.n), total: String(p.total) }));
}

let dir: string;
let data: string;
let base: string;
let configFile: string;
let run: DozerProcess | undefined;

const POLL = { poll_interval_ms: 100 };

const SQL = `
  SELECT u.name, COUNT(*) AS n, SUM(e.amount) AS total
    FROM events e JOIN users u ON e.user_id = u.id
   GROUP BY u.name
    INTO per_user;`;

function writeConfig(sql: string): void {
  fs.writeFileSync(
    configFile,
    `version: 1
app_name: checkpoint-e2e
home_dir: ./home
${lakeYaml(data, [
  {
    name: 'events',
    pattern: '*.jsonl',
    options: POLL,
    columns: { id: 'int!', user_id: 'int!', amount: 'int!' },
    primaryKey: ['id'],
  },
  {
    name: 'users',
    pattern: '*.jsonl',
    options: POLL,
    columns: { id: 'int!', name: 'string!' },
    primaryKey: ['id'],
  },
])}sql: |
${sql
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
endpoints:
  - name: per_user
    path: /per-user
    table_name: per_user
    index: { primary_key: [name] }
api:
  rest: { port: ${new URL(base).port} }
  grpc: { port: 0 }
checkpoint: { interval_ms: 150, retain: 3 }
`,
  );
}

function dropEvents(file: number): void {
  dropFile(
    data,
    `events/${String(file).padStart(4, '0')}.jsonl`,
    `${eventsOf(file)
      .map((e) => JSON.stringify({ id: e.id, user_id: e.user, amount: e.amount }))
      .join('\n')}\n`,
  );
}

const served = async () =>
  (await postJson(`${base}/per-user/query`, { $order_by: { name: 'asc' }, $limit: 100 })).body;

interface Health {
  sources: Record<string, { ops: number }>;
  checkpoint?: { epoch: string | null; complete: number; covered: boolean };
}
const health = async () => (await getJson(`${base}/health`)).body as Health;

/** Waits until the endpoint serves `files`' rows and a complete checkpoint covers them. */
async function settle(files: number[]): Promise<void> {
  const want = expected(files);
  await until(async () => JSON.stringify(await served()) === JSON.stringify(want), 60_000, 'the rows');
  await until(
    async () => (await health()).checkpoint?.covered === true,
    30_000,
    'a checkpoint covering them',
  );
}

async function start(): Promise<DozerProcess> {
  run = spawnDozer(['run', '-c', configFile]);
  await run.waitFor(/Serving \d+ endpoint/, 120_000);
  return run;
}

async function kill(): Promise<string> {
  const r = run!;
  run = undefined;
  r.child.kill('SIGKILL');
  await r.exited;
  return r.stderr();
}

async function stop(): Promise<string> {
  const r = run!;
  run = undefined;
  r.child.kill('SIGTERM');
  expect(await r.exited).toBe(0);
  return r.stderr();
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-checkpoint-e2e-'));
  data = path.join(dir, 'data');
  configFile = path.join(dir, 'dozer.yaml');
  base = `http://127.0.0.1:${await freePort()}`;
  dropFile(
    data,
    'users/all.jsonl',
    `${Array.from({ length: USERS }, (_, i) => JSON.stringify({ id: i + 1, name: `user ${i + 1}` })).join('\n')}\n`,
  );
  writeConfig(SQL);
});

afterEach(async () => {
  if (run) await kill();
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('dozer run with checkpoints', () => {
  it('resumes after kill -9 from the newest checkpoint: nothing read again, nothing lost', async () => {
    dirs.push(dir);
    for (const f of [1, 2, 3]) dropEvents(f);
    await start();
    await settle([1, 2, 3]);
    expect((await health()).sources.events!.ops).toBe(3 * ROWS_PER_FILE);
    const first = await kill();
    expect(first).toMatch(/checkpoint \d+ complete/);
    expect(first).not.toMatch(/resuming from checkpoint/);

    dropEvents(4);
    await start();
    const log = () => run!.stderr();
    expect(log()).toMatch(
      /resuming from checkpoint \d+ of .*: the store and the SQL state are as they were then/,
    );
    await settle([1, 2, 3, 4]);
    // Only the file that arrived while it was down was read: the others are behind the checkpoint.
    const h = await health();
    expect(h.sources.events!.ops).toBe(ROWS_PER_FILE);
    expect(h.sources.users!.ops).toBe(0);

    // A clean stop takes a last checkpoint: the next start reads nothing again either.
    dropEvents(5);
    await settle([1, 2, 3, 4, 5]);
    await stop();
    await start();
    expect(log()).toMatch(/resuming from checkpoint/);
    expect(await served()).toEqual(expected([1, 2, 3, 4, 5]));
    expect((await health()).sources.events!.ops).toBe(0);
  });

  it('falls back past a corrupt newest checkpoint, with a log line, to the previous complete one', async () => {
    dirs.push(dir);
    for (const f of [1, 2]) dropEvents(f);
    await start();
    await settle([1, 2]);
    dropEvents(3);
    await settle([1, 2, 3]);
    await kill();
    const cpDir = path.join(dir, 'home', 'objects', 'checkpoints', 'manifests');
    const manifests = fs
      .readdirSync(cpDir)
      .filter((f) => f.endsWith('.manifest'))
      .sort();
    expect(manifests.length).toBeGreaterThanOrEqual(2);
    const newest = manifests.at(-1)!;
    const bytes = fs.readFileSync(path.join(cpDir, newest));
    bytes[bytes.length - 5]! ^= 0xff;
    fs.writeFileSync(path.join(cpDir, newest), bytes);
    const newestEpoch = BigInt(newest.replace('.manifest', ''));

    await start();
    const log = run!.stderr();
    const resumed = /resuming from checkpoint (\d+)/.exec(log);
    expect(resumed, log).not.toBeNull();
    expect(BigInt(resumed![1]!)).toBeLessThan(newestEpoch);
    expect(log).toContain(`checkpoint ${newestEpoch}`);
    await until(
      async () => JSON.stringify(await served()) === JSON.stringify(expected([1, 2, 3])),
      60_000,
      'the rows after the fallback',
    );
  });

  it('rebuilds, saying why, when the SQL changed or the store is gone', async () => {
    dirs.push(dir);
    for (const f of [1, 2]) dropEvents(f);
    await start();
    await settle([1, 2]);
    await kill();

    // Another SQL: the checkpoint's state is of other operators.
    writeConfig(`${SQL}\n  SELECT COUNT(*) AS n FROM events INTO total;`);
    await start();
    expect(run!.stderr()).toMatch(
      /checkpoint \d+ was written for other sources, SQL, endpoints or threads setting .*; rebuilding from the sources/,
    );
    await settle([1, 2]);
    expect((await health()).sources.events!.ops).toBe(2 * ROWS_PER_FILE);
    await kill();

    // The store deleted behind its back: the checkpoint cannot be rolled back to.
    fs.rmSync(path.join(dir, 'home', 'store'), { recursive: true, force: true });
    await start();
    expect(run!.stderr()).toMatch(/cannot return to its epoch .*; rebuilding from the sources/);
    await settle([1, 2]);
    expect((await health()).sources.events!.ops).toBe(2 * ROWS_PER_FILE);
  });
});
