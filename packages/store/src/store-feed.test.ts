import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deleteOp,
  insertOp,
  makeSchema,
  type Operation,
  type Schema,
  updateOp,
  type Value,
} from '@dozer/core';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { ChangesExpiredError, ConflictError, InvalidQueryError } from './errors.js';
import {
  type ConflictResolution,
  type EndpointDefinition,
  type OpenStoreOptions,
  openStore,
  type Store,
  type StoreChange,
} from './store.js';

const dirs: string[] = [];
const stores: Store[] = [];
function tempStore(opts: Partial<OpenStoreOptions> = {}, path = mkdtempSync(join(tmpdir(), 'dozer-feed-'))) {
  dirs.push(path);
  const store = openStore({ path, ...opts });
  stores.push(store);
  return { store, path };
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const schema: Schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: true },
  ],
  ['id'],
);
const def: EndpointDefinition = { name: 'people', schema };
const r = (id: number, name: string | null): Value[] => [BigInt(id), name];
const ops = (changes: readonly StoreChange[]) => changes.map((c) => c.op);

describe('change feed', () => {
  it('numbers changes densely from 1, returns them after a version, and tells subscribers in order', async () => {
    const { store } = tempStore();
    const ep = store.openEndpoint(def);
    expect(ep.version()).toBe(0n);
    expect(ep.changesSince(0n)).toEqual([]);
    const seen: StoreChange[][] = [];
    const stop = ep.subscribe((cs) => seen.push([...cs]));
    await ep.apply([insertOp(r(1, 'ada')), insertOp(r(2, 'bob'))]);
    // An insert of a taken key is, with the default on_insert: update, an update of the stored row.
    await ep.apply([insertOp(r(1, 'ada l.')), updateOp(r(2, 'x'), r(3, 'bob')), deleteOp(r(1, null))]);
    // A delete of a missing row changes nothing and gets no version.
    await ep.apply([deleteOp(r(42, null))]);
    expect(ep.version()).toBe(5n);
    const all = ep.changesSince(0n);
    expect(all.map((c) => c.version)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(ops(all)).toEqual([
      insertOp(r(1, 'ada')),
      insertOp(r(2, 'bob')),
      updateOp(r(1, 'ada'), r(1, 'ada l.')),
      // The old row as it was stored, not as the operation described it.
      updateOp(r(2, 'bob'), r(3, 'bob')),
      deleteOp(r(1, 'ada l.')),
    ]);
    expect(seen).toEqual([all.slice(0, 2), all.slice(2)]);
    expect(ep.changesSince(3n)).toEqual(all.slice(3));
    expect(ep.changesSince(1n, 2)).toEqual(all.slice(1, 3));
    expect(ep.changesSince(5n)).toEqual([]);
    stop();
    await ep.apply([insertOp(r(9, 'z'))]);
    expect(seen).toHaveLength(2);
    expect(() => ep.changesSince(7n)).toThrow(InvalidQueryError);
    expect(() => ep.changesSince(7n)).toThrow(
      /version 7 is ahead of endpoint "people", whose last change is version 6/,
    );
  });

  it('keeps only the last N changes, across a reopen, and expires the older ones with a clear error', async () => {
    const { store, path } = tempStore({ changeRetention: 3 });
    const ep = store.openEndpoint(def);
    for (let i = 1; i <= 4; i++) await ep.apply([insertOp(r(i, `n${i}`))]);
    // One batch longer than the retention: only its last 3 changes are kept.
    await ep.apply([updateOp(r(1, null), r(1, 'a')), updateOp(r(2, null), r(2, 'b')), deleteOp(r(3, null))]);
    await ep.apply([deleteOp(r(4, null))]);
    expect(ep.version()).toBe(8n);
    expect(ep.changesSince(5n).map((c) => c.version)).toEqual([6n, 7n, 8n]);
    let err: unknown;
    try {
      ep.changesSince(4n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChangesExpiredError);
    expect((err as ChangesExpiredError).code).toBe('INVALID_QUERY');
    expect((err as ChangesExpiredError).oldestAfter).toBe(5n);
    expect((err as Error).message).toMatch(
      /changes of endpoint "people" after version 4 are no longer kept \(it keeps the last 3, from after version 5\); reload the rows/,
    );
    await store.close();

    const again = tempStore({ changeRetention: 3 }, path).store;
    const ep2 = again.openEndpoint(def);
    expect(ep2.version()).toBe(8n);
    expect(ops(ep2.changesSince(6n))).toEqual([deleteOp(r(3, 'n3')), deleteOp(r(4, 'n4'))]);
    // A reset drops the rows and expires the feed, but versions keep counting.
    const reset = again.openEndpoint(def, { reset: true });
    expect(reset.version()).toBe(8n);
    expect(() => reset.changesSince(6n)).toThrow(ChangesExpiredError);
    await reset.apply([insertOp(r(1, 'fresh'))]);
    expect(reset.changesSince(8n)).toEqual([{ version: 9n, op: insertOp(r(1, 'fresh')) }]);
  });

  it('deletes expired changes from disk, so the feed stays as small as its retention', async () => {
    const { store, path } = tempStore({ changeRetention: 5 });
    const ep = store.openEndpoint(def);
    for (let i = 1; i <= 200; i++) {
      await ep.apply(i % 2 === 0 ? [insertOp(r(i, 'a')), deleteOp(r(i - 1, null))] : [insertOp(r(i, 'b'))]);
    }
    expect(ep.version()).toBe(300n);
    expect(ep.changesSince(295n).map((c) => c.version)).toEqual([296n, 297n, 298n, 299n, 300n]);
    expect(() => ep.changesSince(294n)).toThrow(ChangesExpiredError);
    await store.close();
    const env = open({ path, maxDbs: 10, readOnly: true });
    const feed = env.openDB({ name: 'endpoint/people/changes', encoding: 'binary', keyEncoding: 'binary' });
    // The state entry and the few records holding the last 5 changes (two changes a record at most).
    expect(feed.getKeysCount()).toBeLessThanOrEqual(1 + 4);
    await env.close();
  });

  it('records changes of an endpoint without primary key copy by copy', async () => {
    const { store } = tempStore();
    const ep = store.openEndpoint({ name: 'log', schema: makeSchema(schema.fields, []) });
    await ep.apply([insertOp(r(1, 'a')), insertOp(r(1, 'a'))]);
    await ep.apply([updateOp(r(1, 'a'), r(2, 'b')), deleteOp(r(1, 'a')), deleteOp(r(1, 'a'))]);
    expect(ops(ep.changesSince(0n))).toEqual([
      insertOp(r(1, 'a')),
      insertOp(r(1, 'a')),
      updateOp(r(1, 'a'), r(2, 'b')),
      deleteOp(r(1, 'a')),
    ]);
    expect(ep.query({})).toEqual([r(2, 'b')]);
  });

  it('keeps writing and telling other listeners when a listener throws', async () => {
    const { store } = tempStore();
    const ep = store.openEndpoint(def);
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      ep.subscribe(() => {
        throw new Error('listener bug');
      });
      const seen: bigint[] = [];
      ep.subscribe((cs) => seen.push(...cs.map((c) => c.version)));
      await ep.apply([insertOp(r(1, 'a'))]);
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(seen).toEqual([1n]);
      expect(ep.get([1n])).toEqual(r(1, 'a'));
      expect(errors.map((e) => (e as Error).message)).toEqual(['listener bug']);
    } finally {
      process.off('uncaughtException', onError);
    }
  });
});

describe('conflict resolution', () => {
  async function run(cr: ConflictResolution, batch: Operation[]) {
    const { store } = tempStore();
    const ep = store.openEndpoint({ ...def, conflictResolution: cr });
    await ep.apply([insertOp(r(1, 'one')), insertOp(r(2, 'two'))]);
    const before = ep.version();
    let error: unknown;
    try {
      await ep.apply(batch);
    } catch (e) {
      error = e;
    }
    return { rows: ep.query({}), changes: ops(ep.changesSince(before)), error };
  }

  it('on_insert: nothing ignores, update replaces, panic fails naming the endpoint and key', async () => {
    const batch = [insertOp(r(3, 'three')), insertOp(r(1, 'uno'))];
    expect(await run({ onInsert: 'nothing' }, batch)).toEqual({
      rows: [r(1, 'one'), r(2, 'two'), r(3, 'three')],
      changes: [insertOp(r(3, 'three'))],
      error: undefined,
    });
    expect(await run({ onInsert: 'update' }, batch)).toMatchObject({
      rows: [r(1, 'uno'), r(2, 'two'), r(3, 'three')],
      changes: [insertOp(r(3, 'three')), updateOp(r(1, 'one'), r(1, 'uno'))],
    });
    const panic = await run({ onInsert: 'panic' }, batch);
    // The whole batch is rolled back, also the insert before the conflict.
    expect(panic.rows).toEqual([r(1, 'one'), r(2, 'two')]);
    expect(panic.changes).toEqual([]);
    expect(panic.error).toBeInstanceOf(ConflictError);
    expect((panic.error as ConflictError).key).toEqual({ id: '1' });
    expect((panic.error as Error).message).toBe(
      'endpoint "people", operation 1 (insert) on key (id = 1): a row with this key already exists ' +
        '(conflict resolution on_insert: panic); nothing of this batch was written',
    );
  });

  it('on_update: nothing ignores, upsert inserts or replaces, panic fails', async () => {
    const missing = [updateOp(r(7, 'x'), r(7, 'seven'))];
    const onto = [updateOp(r(1, 'one'), r(2, 'moved'))];
    expect(await run({ onUpdate: 'nothing' }, missing)).toMatchObject({ changes: [], error: undefined });
    expect(await run({ onUpdate: 'nothing' }, onto)).toMatchObject({
      rows: [r(1, 'one'), r(2, 'two')],
      changes: [],
    });
    expect(await run({ onUpdate: 'upsert' }, missing)).toMatchObject({
      rows: [r(1, 'one'), r(2, 'two'), r(7, 'seven')],
      changes: [insertOp(r(7, 'seven'))],
    });
    expect(await run({ onUpdate: 'upsert' }, onto)).toMatchObject({
      rows: [r(2, 'moved')],
      changes: [deleteOp(r(1, 'one')), updateOp(r(2, 'two'), r(2, 'moved'))],
    });
    const p1 = await run({ onUpdate: 'panic' }, missing);
    expect(p1.error).toBeInstanceOf(ConflictError);
    expect((p1.error as Error).message).toMatch(
      /operation 0 \(update\) on key \(id = 7\): there is no row with the old key \(conflict resolution on_update: panic\)/,
    );
    const p2 = await run({ onUpdate: 'panic' }, onto);
    expect((p2.error as Error).message).toMatch(
      /on key \(id = 2\): the update moves its row to this key, which another row holds/,
    );
    expect(p2.rows).toEqual([r(1, 'one'), r(2, 'two')]);
    // An update in place or to a free key is no conflict in any mode.
    expect(await run({ onUpdate: 'panic' }, [updateOp(r(1, 'one'), r(5, 'five'))])).toMatchObject({
      rows: [r(2, 'two'), r(5, 'five')],
      changes: [updateOp(r(1, 'one'), r(5, 'five'))],
      error: undefined,
    });
  });

  it('on_delete: nothing ignores a missing row, panic fails', async () => {
    expect(await run({ onDelete: 'nothing' }, [deleteOp(r(9, null)), deleteOp(r(1, null))])).toMatchObject({
      rows: [r(2, 'two')],
      changes: [deleteOp(r(1, 'one'))],
    });
    const p = await run({ onDelete: 'panic' }, [deleteOp(r(1, null)), deleteOp(r(9, null))]);
    expect((p.error as Error).message).toMatch(
      /endpoint "people", operation 1 \(delete\) on key \(id = 9\): there is no row with this key \(conflict resolution on_delete: panic\)/,
    );
    expect(p.rows).toEqual([r(1, 'one'), r(2, 'two')]);
  });

  it('rejects an unknown mode, naming the endpoint', () => {
    const { store } = tempStore();
    expect(() =>
      store.openEndpoint({ ...def, conflictResolution: { onDelete: 'upsert' as 'nothing' } }),
    ).toThrow(
      'conflict resolution on_delete of endpoint "people" must be one of nothing, panic, got "upsert"',
    );
  });
});
