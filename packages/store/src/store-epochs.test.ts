// Epoch marks and rollback: after rollbackTo(E) every endpoint equals a store that applied only the
// operations called before the mark of E, and applying the later operations again gives the
// state the store had before rolling back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decimal, deleteOp, insertOp, makeSchema, type Operation, type Row, updateOp } from '@dozer/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from './errors.js';
import {
  type EndpointDefinition,
  type EndpointStore,
  type OpenStoreOptions,
  openStore,
  type Store,
  type StoreChange,
} from './store.js';

const dirs: string[] = [];
const stores: Store[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dozer-epochs-'));
  dirs.push(d);
  return d;
}
function tempStore(opts: Partial<OpenStoreOptions> = {}, path = tempDir()): Store {
  const store = openStore({ path, ...opts });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const keyed: EndpointDefinition = {
  name: 'keyed',
  schema: makeSchema(
    [
      { name: 'id', type: 'int', nullable: false },
      { name: 'grp', type: 'int', nullable: true },
      { name: 'name', type: 'string', nullable: true },
      { name: 'price', type: 'decimal', nullable: true },
    ],
    ['id'],
  ),
  secondaryIndexes: [['grp'], ['name'], ['price'], ['grp', 'price'], { kind: 'full_text', field: 'name' }],
};
const bag: EndpointDefinition = {
  name: 'bag',
  schema: makeSchema([
    { name: 'x', type: 'int', nullable: false },
    { name: 's', type: 'string', nullable: true },
  ]),
};
const defs = [keyed, bag] as const;

const names = ['ann', 'bob', 'ann bob', 'Zoë', 'x y'];
const keyedRow: fc.Arbitrary<Row> = fc.tuple(
  fc.bigInt(0n, 6n),
  fc.option(fc.bigInt(-2n, 2n), { nil: null }),
  fc.option(fc.constantFrom(...names), { nil: null }),
  fc.option(
    fc.constantFrom('0', '1.5', '1.50', '-2', '10').map((s) => Decimal.parse(s)),
    { nil: null },
  ),
);
const bagRow: fc.Arbitrary<Row> = fc.tuple(
  fc.bigInt(0n, 3n),
  fc.option(fc.constantFrom('p', 'q r'), { nil: null }),
);
const opsOf = (row: fc.Arbitrary<Row>): fc.Arbitrary<Operation[]> =>
  fc.array(
    fc.oneof(
      { weight: 4, arbitrary: row.map(insertOp) },
      { weight: 2, arbitrary: row.map(deleteOp) },
      { weight: 3, arbitrary: fc.tuple(row, row).map(([o, n]) => updateOp(o, n)) },
    ),
    { minLength: 1, maxLength: 6 },
  );

type Step = { kind: 'apply'; endpoint: 0 | 1; ops: Operation[] } | { kind: 'mark' };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: opsOf(keyedRow).map((ops): Step => ({ kind: 'apply', endpoint: 0, ops })) },
  { weight: 2, arbitrary: opsOf(bagRow).map((ops): Step => ({ kind: 'apply', endpoint: 1, ops })) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'mark' }) },
);

/** Issues every step without waiting (applies and marks in flight together); epochs 10, 20, … */
async function run(store: Store, steps: readonly Step[], firstEpoch: number): Promise<void> {
  const eps = defs.map((d) => store.endpoint(d.name)!);
  const pending: Promise<void>[] = [];
  let epoch = firstEpoch;
  for (const s of steps) {
    if (s.kind === 'apply') pending.push(eps[s.endpoint]!.apply(s.ops));
    else pending.push(store.markEpoch(BigInt(10 * epoch++)));
  }
  await Promise.all(pending);
}

/** What a user sees of an endpoint: rows, counts, index queries, lookups by key. */
function view(ep: EndpointStore): unknown {
  const q = (json: unknown) => ep.query(ep.parseQuery(json));
  const rows = q({ $limit: 5000 });
  const out: Record<string, unknown> = { rows, count: ep.count() };
  if (ep.name === 'keyed') {
    out.byGroup = [-2, -1, 0, 1, 2, null].map((g) =>
      q({ $filter: { grp: g }, $order_by: [{ price: 'desc' }], $limit: 5000 }),
    );
    out.range = q({ $filter: { price: { $gte: '1.5' } }, $order_by: { name: 'asc' }, $limit: 5000 });
    out.words = q({ $filter: { name: { $matches_any: 'ann zoë' } }, $limit: 5000 });
    out.countGrp = ep.count(ep.parseQuery({ $filter: { grp: { $gt: 0 } } }).filter);
    out.get = [0n, 1n, 2n, 3n, 4n, 5n, 6n].map((k) => ep.get([k]) ?? null);
  } else {
    out.byS = q({ $filter: { s: 'p' }, $order_by: { x: 'desc' }, $limit: 5000 });
    out.get = rows.map((r) => ep.get(r));
  }
  return out;
}
const views = (store: Store) => defs.map((d) => view(store.endpoint(d.name)!));

function openAll(store: Store): EndpointStore[] {
  return defs.map((d) => store.openEndpoint(d));
}

describe('rollbackTo', () => {
  it('gives exactly the state of the marked epoch, and replaying the later ops gives the state before the rollback', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 25 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 4 }),
        async (body, pick, releasePick, retention) => {
          // Always at least one mark.
          const steps: Step[] = [...body, { kind: 'mark' }, ...body.slice(0, 3)];
          const marks = steps.flatMap((s, i) => (s.kind === 'mark' ? [i] : []));
          const k = pick % marks.length;
          const at = marks[k]!;
          const epoch = BigInt(10 * (k + 1));

          // A tiny retention: the marks alone keep the changes a rollback needs.
          const store = tempStore({ changeRetention: retention });
          openAll(store);
          await run(store, steps, 1);
          const before = views(store);
          expect(store.epoch()).toBe(BigInt(10 * marks.length));
          // Epochs before the chosen one may be released: it stays reachable.
          await store.releaseEpochsBefore(BigInt(10 * (1 + (releasePick % (k + 1)))));

          const reference = tempStore();
          openAll(reference);
          await run(reference, steps.slice(0, at), 1);

          await store.rollbackTo(epoch);
          expect(views(store)).toEqual(views(reference));
          expect(store.epoch()).toBe(epoch);

          // Replay what followed the mark (its later epochs again): the state before the rollback.
          await run(store, steps.slice(at + 1), k + 2);
          expect(views(store)).toEqual(before);
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it('lets a live subscriber and a feed reader follow the rollback as ordinary changes', async () => {
    const store = tempStore();
    const [ep] = openAll(store);
    const heard: StoreChange[] = [];
    await ep!.apply([insertOp([1n, 1n, 'ann', null]), insertOp([2n, 1n, 'bob', null])]);
    await store.markEpoch(1n);
    const stop = ep!.subscribe((cs) => heard.push(...cs));
    await ep!.apply([
      updateOp([1n, 1n, 'ann', null], [3n, 2n, 'ann', null]),
      deleteOp([2n, 1n, 'bob', null]),
      insertOp([4n, null, null, null]),
    ]);
    await store.rollbackTo(1n);
    stop();
    // The apply's three changes, then their inverses, newest first, as versions 6 to 8.
    expect(heard.map((c) => [c.version, c.op])).toEqual([
      [3n, updateOp([1n, 1n, 'ann', null], [3n, 2n, 'ann', null])],
      [4n, deleteOp([2n, 1n, 'bob', null])],
      [5n, insertOp([4n, null, null, null])],
      [6n, deleteOp([4n, null, null, null])],
      [7n, insertOp([2n, 1n, 'bob', null])],
      [8n, updateOp([3n, 2n, 'ann', null], [1n, 1n, 'ann', null])],
    ]);
    expect(ep!.changesSince(5n)).toEqual(heard.slice(3));
    expect(ep!.version()).toBe(8n);
    expect(ep!.query({})).toEqual([
      [1n, 1n, 'ann', null],
      [2n, 1n, 'bob', null],
    ]);
    // Rolling back to the same epoch again has nothing left to undo.
    await store.rollbackTo(1n);
    expect(ep!.version()).toBe(8n);
  });
});

describe('markEpoch', () => {
  it('covers exactly the applies called before it, with several in flight on both endpoints', async () => {
    const store = tempStore();
    const [a, b] = openAll(store);
    const calls = [
      a!.apply([insertOp([1n, 1n, 'ann', null])]),
      b!.apply([insertOp([1n, 'p'])]),
      a!.apply([updateOp([1n, 1n, 'ann', null], [1n, 2n, 'ann', null])]),
      store.markEpoch(7n),
      a!.apply([insertOp([2n, 1n, 'bob', null])]),
      b!.apply([insertOp([1n, 'p'])]),
      a!.apply([deleteOp([1n, 2n, 'ann', null])]),
    ];
    await Promise.all(calls);
    expect(a!.count()).toBe(1);
    expect(b!.count()).toBe(2);
    await store.rollbackTo(7n);
    expect(a!.query({})).toEqual([[1n, 2n, 'ann', null]]);
    expect(b!.query({})).toEqual([[1n, 'p']]);
    expect(a!.query(a!.parseQuery({ $filter: { grp: 2 } }))).toEqual([[1n, 2n, 'ann', null]]);
    expect(a!.query(a!.parseQuery({ $filter: { grp: 1 } }))).toEqual([]);
  });

  it('orders a rollback after the applies called before it and before those called after it', async () => {
    const store = tempStore();
    const [a] = openAll(store);
    await a!.apply([insertOp([1n, 1n, 'ann', null])]);
    await store.markEpoch(1n);
    await Promise.all([
      a!.apply([insertOp([2n, 1n, 'bob', null])]),
      store.rollbackTo(1n),
      a!.apply([insertOp([3n, 1n, 'Zoë', null])]),
      store.markEpoch(2n),
    ]);
    expect(a!.query({})).toEqual([
      [1n, 1n, 'ann', null],
      [3n, 1n, 'Zoë', null],
    ]);
    expect(store.epochs()).toEqual([1n, 2n]);
    await store.rollbackTo(1n);
    expect(a!.query({})).toEqual([[1n, 1n, 'ann', null]]);
  });

  it('refuses an epoch that is not above the last one, and a bad value', async () => {
    const store = tempStore();
    openAll(store);
    expect(store.epoch()).toBeNull();
    await store.markEpoch(5n);
    await expect(store.markEpoch(5n)).rejects.toThrow(
      new StoreError('markEpoch(5): epochs must increase, and epoch 5 is already marked'),
    );
    await expect(store.markEpoch(3n)).rejects.toThrow(
      new StoreError('markEpoch(3): epochs must increase, and epoch 5 is already marked'),
    );
    await expect(store.markEpoch(-1n)).rejects.toThrow(
      new StoreError('markEpoch: the epoch must be a bigint from 0 to 2^64 - 1, got -1'),
    );
    expect(store.epoch()).toBe(5n);
  });

  it('keeps its marks across a reopen, and a rollback after it restores the state of the mark', async () => {
    const path = tempDir();
    const first = openStore({ path });
    const [a] = openAll(first);
    await a!.apply([insertOp([1n, 1n, 'ann', null])]);
    await first.markEpoch(1n);
    await a!.apply([insertOp([2n, 1n, 'bob', null]), updateOp([1n, 1n, 'ann', null], [1n, 1n, 'Zoë', null])]);
    await first.close();
    const again = tempStore({}, path);
    const [a2] = openAll(again);
    expect(again.epoch()).toBe(1n);
    await again.rollbackTo(1n);
    expect(a2!.query({})).toEqual([[1n, 1n, 'ann', null]]);
    expect(a2!.query(a2!.parseQuery({ $filter: { name: { $matches_all: 'zoë' } } }))).toEqual([]);
  });
});

describe('rollbackTo errors and retention', () => {
  it('names the oldest reachable epoch for an epoch never marked or released', async () => {
    const store = tempStore({ changeRetention: 1 });
    const [a] = openAll(store);
    for (let e = 1n; e <= 4n; e++) {
      await a!.apply([insertOp([e, e, 'ann', null]), insertOp([e + 10n, e, 'bob', null])]);
      await store.markEpoch(e);
    }
    await expect(store.rollbackTo(9n)).rejects.toThrow(
      new StoreError(
        'rollbackTo(9): epoch 9 was never marked, or was released, or a rollback to an earlier epoch forgot it; the oldest epoch still reachable is 1',
      ),
    );
    await store.releaseEpochsBefore(3n);
    expect(store.epochs()).toEqual([3n, 4n]);
    await expect(store.rollbackTo(2n)).rejects.toThrow(/the oldest epoch still reachable is 3$/);
    // The feed keeps the changes after epoch 3 only: retention 1 prunes the rest on the next apply.
    await a!.apply([insertOp([5n, 5n, 'ann', null])]);
    expect(() => a!.changesSince(5n)).toThrow(/no longer kept/);
    expect(a!.changesSince(6n)).toHaveLength(3);
    await store.rollbackTo(3n);
    expect(a!.count()).toBe(6);
    expect(store.epochs()).toEqual([3n]);
  });

  it('refuses an epoch whose changes a reset dropped', async () => {
    const store = tempStore();
    const [a] = openAll(store);
    await a!.apply([insertOp([1n, 1n, 'ann', null])]);
    await store.markEpoch(1n);
    const reopened = store.openEndpoint(keyed, { reset: true });
    await reopened.apply([insertOp([2n, 1n, 'bob', null])]);
    await store.markEpoch(2n);
    await expect(store.rollbackTo(1n)).rejects.toThrow(
      new StoreError(
        'rollbackTo(1): endpoint "keyed" was reset (its rows dropped) after that epoch; the oldest epoch still reachable is 2',
      ),
    );
    expect(reopened.query({})).toEqual([[2n, 1n, 'bob', null]]);
    expect(store.epochs()).toEqual([2n]);
  });

  it('lets a mark made before a reset hold no changes back', async () => {
    const store = tempStore({ changeRetention: 2 });
    const [a] = openAll(store);
    await a!.apply([insertOp([1n, 1n, 'ann', null])]);
    await store.markEpoch(1n);
    const reopened = store.openEndpoint(keyed, { reset: true });
    for (let k = 2n; k < 6n; k++) await reopened.apply([insertOp([k, 1n, 'bob', null])]);
    // Retention 2 applies again: the changes of the first two inserts after the reset are pruned.
    expect(() => reopened.changesSince(2n)).toThrow(/no longer kept/);
    expect(reopened.changesSince(3n)).toHaveLength(2);
  });

  it('rolls back endpoints that are not open, from their stored definition', async () => {
    const path = tempDir();
    const first = openStore({ path });
    const [a, b] = openAll(first);
    await a!.apply([insertOp([1n, 1n, 'ann', null])]);
    await b!.apply([insertOp([1n, 'p']), insertOp([1n, 'p'])]);
    await first.markEpoch(1n);
    await a!.apply([
      insertOp([2n, 2n, 'bob', null]),
      updateOp([1n, 1n, 'ann', null], [1n, 2n, 'ann bob', null]),
    ]);
    await b!.apply([deleteOp([1n, 'p']), insertOp([2n, null])]);
    await first.close();
    const again = tempStore({}, path);
    await again.rollbackTo(1n);
    const [a2, b2] = openAll(again);
    expect(a2!.query({})).toEqual([[1n, 1n, 'ann', null]]);
    expect(a2!.query(a2!.parseQuery({ $filter: { grp: 2 } }))).toEqual([]);
    expect(a2!.query(a2!.parseQuery({ $filter: { name: { $matches_any: 'bob' } } }))).toEqual([]);
    expect(a2!.query(a2!.parseQuery({ $filter: { name: { $matches_any: 'ann' } } }))).toEqual([
      [1n, 1n, 'ann', null],
    ]);
    expect(b2!.query({})).toEqual([
      [1n, 'p'],
      [1n, 'p'],
    ]);
    expect(b2!.count(b2!.parseQuery({ $filter: { s: 'p' } }).filter)).toBe(2);
  });
});
