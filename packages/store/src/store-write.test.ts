// The write path: concurrent applies share commits but keep their order and their own
// all-or-nothing, and a resolved apply survives a reopen and a killed process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deleteOp, insertOp, makeSchema, type Schema, updateOp, type Value } from '@dozer/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, StoreError } from './errors.js';
import { type OpenStoreOptions, openStore, type Store, type StoreChange } from './store.js';

const dirs: string[] = [];
const stores: Store[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dozer-write-'));
  dirs.push(d);
  return d;
}
function tempStore(path: string, opts: Partial<OpenStoreOptions> = {}): Store {
  const store = openStore({ path, ...opts });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const schema: Schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: true },
    { name: 'qty', type: 'int', nullable: true },
  ],
  ['id'],
);
const r = (id: number, name: string | null, qty: number | null = null): Value[] => [
  BigInt(id),
  name,
  qty === null ? null : BigInt(qty),
];

describe('apply', () => {
  it('keeps the call order of applies issued without waiting, in rows, versions and notifications', async () => {
    const ep = tempStore(tempDir()).openEndpoint({ name: 'people', schema });
    const seen: StoreChange[][] = [];
    ep.subscribe((cs) => seen.push([...cs]));
    const done: number[] = [];
    await Promise.all([
      ep.apply([insertOp(r(1, 'ada', 1)), insertOp(r(2, 'bob', 2))]).then(() => done.push(1)),
      ep.apply([updateOp(r(1, 'ada', 1), r(1, 'ada l.', 5))]).then(() => done.push(2)),
      ep.apply([deleteOp(r(2, 'bob', 2)), insertOp(r(3, 'cy', 5))]).then(() => done.push(3)),
      ep.apply([updateOp(r(3, 'cy', 5), r(3, 'cyd', 7))]).then(() => done.push(4)),
    ]);
    expect(done).toEqual([1, 2, 3, 4]);
    expect(ep.query({})).toEqual([r(1, 'ada l.', 5), r(3, 'cyd', 7)]);
    // The secondary index on qty follows the last write of each row.
    expect(ep.query(ep.parseQuery({ $filter: { qty: 5 } }))).toEqual([r(1, 'ada l.', 5)]);
    expect(ep.query(ep.parseQuery({ $filter: { qty: 7 } }))).toEqual([r(3, 'cyd', 7)]);
    expect(ep.version()).toBe(6n);
    expect(seen.map((cs) => cs.map((c) => [c.version, c.op.kind]))).toEqual([
      [
        [1n, 'insert'],
        [2n, 'insert'],
      ],
      [[3n, 'update']],
      [
        [4n, 'delete'],
        [5n, 'insert'],
      ],
      [[6n, 'update']],
    ]);
    expect(ep.changesSince(0n).map((c) => c.version)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it('rolls back only the apply that hits a panic conflict, not those committed with it', async () => {
    const ep = tempStore(tempDir()).openEndpoint({
      name: 'people',
      schema,
      conflictResolution: { onInsert: 'panic' },
    });
    const seen: bigint[] = [];
    ep.subscribe((cs) => seen.push(...cs.map((c) => c.version)));
    const results = await Promise.allSettled([
      ep.apply([insertOp(r(1, 'ada'))]),
      ep.apply([insertOp(r(2, 'bob')), insertOp(r(1, 'again'))]),
      ep.apply([insertOp(r(3, 'cy'))]),
    ]);
    expect(results.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (results[1] as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain('operation 1 (insert) on key (id = 1)');
    expect(ep.get([2n])).toBeUndefined();
    expect(ep.query({})).toEqual([r(1, 'ada'), r(3, 'cy')]);
    // The failed apply took no versions: the feed stays dense.
    expect(ep.changesSince(0n).map((c) => [c.version, c.op])).toEqual([
      [1n, insertOp(r(1, 'ada'))],
      [2n, insertOp(r(3, 'cy'))],
    ]);
    expect(seen).toEqual([1n, 2n]);
  });

  it('undoes every write of a failed apply, index entries included, with and without a primary key', async () => {
    const indexes = [['name'], ['qty'], ['name', 'qty'], { kind: 'full_text', field: 'name' }] as const;
    const queries = [
      {},
      { $filter: { qty: 3 } },
      { $filter: { qty: { $gte: 4 } } },
      { $filter: { name: 'bob' } },
      { $filter: { name: 'ada', qty: 3 } },
      { $filter: { name: { $matches_any: 'ada bob new moved' } } },
      { $order_by: { name: 'desc' } },
    ];
    for (const keyed of [true, false]) {
      const store = tempStore(tempDir());
      const ep = store.openEndpoint({
        name: 'people',
        schema: keyed ? schema : makeSchema(schema.fields, []),
        secondaryIndexes: [...indexes],
        conflictResolution: { onDelete: 'panic' },
      });
      await ep.apply([insertOp(r(1, 'ada', 3)), insertOp(r(2, 'bob', 3)), insertOp(r(3, 'cy', 5))]);
      const answers = () => queries.map((q) => ep.query(ep.parseQuery(q)));
      const before = answers();
      // Every kind of write, then a delete of a missing row, which fails the apply.
      await expect(
        ep.apply([
          insertOp(r(4, 'new', 9)),
          insertOp(r(1, 'ada', 3)),
          updateOp(r(2, 'bob', 3), r(2, 'bob', 4)),
          updateOp(r(3, 'cy', 5), r(7, 'moved', 3)),
          deleteOp(r(1, 'ada', 3)),
          deleteOp(r(8, 'none', 1)),
        ]),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(answers()).toEqual(before);
      expect(ep.changesSince(0n)).toHaveLength(3);
      // The store goes on as if the failed apply never ran.
      await ep.apply([updateOp(r(2, 'bob', 3), r(2, 'bob', 6))]);
      expect(ep.query(ep.parseQuery({ $filter: { qty: 3 } }))).toEqual([r(1, 'ada', 3)]);
      expect(ep.version()).toBe(4n);
    }
  });

  it('resolves an apply that changes nothing only after the applies called before it', async () => {
    const ep = tempStore(tempDir()).openEndpoint({ name: 'people', schema });
    const done: number[] = [];
    let seen: unknown;
    await Promise.all([
      ep.apply([insertOp(r(1, 'ada'))]).then(() => done.push(1)),
      // A delete of a missing row (on_delete: nothing) writes nothing.
      ep.apply([deleteOp(r(9, 'nobody'))]).then(() => {
        done.push(2);
        seen = ep.get([1n]);
      }),
    ]);
    expect(done).toEqual([1, 2]);
    expect(seen).toEqual(r(1, 'ada'));
    expect(ep.version()).toBe(1n);
  });

  it('refuses to reset an endpoint while its applies are in flight, and resets it once they are committed', async () => {
    const store = tempStore(tempDir());
    const ep = store.openEndpoint({ name: 'people', schema });
    const pending = ep.apply([insertOp(r(1, 'ada'))]);
    expect(() => store.openEndpoint({ name: 'people', schema }, { reset: true })).toThrow(
      new StoreError(
        'openEndpoint: endpoint "people" has 1 apply(s) not yet committed; wait for them before resetting it',
      ),
    );
    await pending;
    expect(ep.get([1n])).toEqual(r(1, 'ada'));
    const again = store.openEndpoint({ name: 'people', schema }, { reset: true });
    expect(again.count()).toBe(0);
    // Writes after the reset start from the empty endpoint, not from what was in flight before it.
    await again.apply([insertOp(r(1, 'bob')), insertOp(r(2, 'cy'))]);
    expect(again.query({})).toEqual([r(1, 'bob'), r(2, 'cy')]);
  });

  it('rewrites only the index entries of fields an update changes, and queries still find the row', async () => {
    const ep = tempStore(tempDir()).openEndpoint({
      name: 'people',
      schema,
      secondaryIndexes: [['name'], ['qty'], { kind: 'full_text', field: 'name' }],
    });
    await ep.apply([insertOp(r(1, 'ada lovelace', 3)), insertOp(r(2, 'bob', 3))]);
    await ep.apply([updateOp(r(1, 'ada lovelace', 3), r(1, 'ada lovelace', 4)), insertOp(r(2, 'bob b', 3))]);
    expect(ep.query(ep.parseQuery({ $filter: { qty: 3 } }))).toEqual([r(2, 'bob b', 3)]);
    expect(ep.query(ep.parseQuery({ $filter: { qty: 4 } }))).toEqual([r(1, 'ada lovelace', 4)]);
    expect(ep.query(ep.parseQuery({ $filter: { name: 'ada lovelace' } }))).toEqual([r(1, 'ada lovelace', 4)]);
    expect(ep.query(ep.parseQuery({ $filter: { name: { $matches_all: 'lovelace' } } }))).toEqual([
      r(1, 'ada lovelace', 4),
    ]);
    expect(ep.query(ep.parseQuery({ $filter: { name: { $matches_any: 'b' } } }))).toEqual([r(2, 'bob b', 3)]);
    expect(ep.query(ep.parseQuery({ $filter: { name: 'bob' } }))).toEqual([]);
  });
});

describe('durability', () => {
  for (const durability of ['process', 'sync'] as const) {
    it(`keeps resolved applies across a reopen (durability: ${durability})`, async () => {
      const path = tempDir();
      const store = tempStore(path, { durability });
      const ep = store.openEndpoint({ name: 'people', schema });
      await Promise.all([ep.apply([insertOp(r(1, 'ada'))]), ep.apply([insertOp(r(2, 'bob'))])]);
      await store.close();
      const again = tempStore(path).openEndpoint({ name: 'people', schema });
      expect(again.query({})).toEqual([r(1, 'ada'), r(2, 'bob')]);
      expect(again.version()).toBe(2n);
    });
  }

  it('keeps a resolved apply when the process is killed right after it', () => {
    const path = tempDir();
    const script = join(path, 'writer.mts');
    const storeEntry = pathToFileURL(fileURLToPath(new URL('./index.ts', import.meta.url))).href;
    const coreEntry = import.meta.resolve('@dozer/core');
    writeFileSync(
      script,
      `import { openStore } from ${JSON.stringify(storeEntry)};
import { insertOp, makeSchema } from ${JSON.stringify(coreEntry)};
const store = openStore({ path: ${JSON.stringify(join(path, 'db'))} });
const ep = store.openEndpoint({ name: 'people', schema: makeSchema(
  [{ name: 'id', type: 'int', nullable: false }, { name: 'name', type: 'string', nullable: true }, { name: 'qty', type: 'int', nullable: true }],
  ['id'],
) });
const ops = [];
for (let i = 0; i < 5000; i++) ops.push(insertOp([BigInt(i), 'row ' + i, BigInt(i % 7)]));
await ep.apply(ops);
await ep.apply([insertOp([5000n, 'last', null])]);
process.stdout.write('applied\\n');
process.kill(process.pid, 'SIGKILL');
`,
    );
    const child = spawnSync(process.execPath, ['--conditions=@dozer/source', '--import', 'tsx', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe('applied\n');
    expect(child.signal).toBe('SIGKILL');
    const ep = tempStore(join(path, 'db')).openEndpoint({ name: 'people', schema });
    expect(ep.count()).toBe(5001);
    expect(ep.get([5000n])).toEqual(r(5000, 'last'));
    expect(ep.version()).toBe(5001n);
    expect(ep.query(ep.parseQuery({ $filter: { qty: 3 }, $limit: 5000 }))).toHaveLength(714);
  }, 60_000);

  it('refuses an unknown durability', () => {
    expect(() => openStore({ path: tempDir(), durability: 'fast' as never })).toThrow(
      new StoreError(`durability must be 'process' or 'sync', got "fast"`),
    );
  });
});
