import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insertOp, makeSchema, type Schema, updateOp, type Value } from '@dozer/core';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { type EndpointDefinition, openStore, type Store } from './store.js';

const dirs: string[] = [];
const stores: Store[] = [];
function tempDir(): string {
  const path = mkdtempSync(join(tmpdir(), 'dozer-format-'));
  dirs.push(path);
  return path;
}
function storeAt(path: string): Store {
  const store = openStore({ path });
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
    { name: 'city', type: 'string', nullable: true },
    { name: 'qty', type: 'int', nullable: true },
  ],
  ['id'],
);
const def: EndpointDefinition = { name: 'people', schema };
const r = (id: number, city: string | null, qty: number): Value[] => [BigInt(id), city, BigInt(qty)];

/**
 * Rewrites the store at `path` as format 2 wrote it: every index entry in one database
 * `endpoint/<name>/indexes`, keyed by a 2-byte index number then the entry's key of format 3,
 * and the definition marked version 2.
 */
async function downgradeToFormat2(path: string, name: string, indexCount: number): Promise<void> {
  const env = open({ path, maxDbs: 100 });
  const meta = env.openDB<{ version: number }, string>({ name: 'dozer/meta', encoding: 'json' });
  const legacy = env.openDB<Buffer, Buffer>({
    name: `endpoint/${name}/indexes`,
    encoding: 'binary',
    keyEncoding: 'binary',
  });
  await env.transaction(() => {
    for (let id = 1; id <= indexCount; id++) {
      const db = env.openDB<Buffer, Buffer>({
        name: `endpoint/${name}/index/${id}`,
        encoding: 'binary',
        keyEncoding: 'binary',
      });
      for (const { key, value } of db.getRange({})) {
        legacy.put(Buffer.concat([Buffer.from([id >> 8, id & 0xff]), key]), value);
      }
      db.clearSync();
    }
    meta.put(name, { ...meta.get(name)!, version: 2 });
  });
  await env.close();
}

describe('on-disk format', () => {
  it('upgrades an endpoint stored in format 2 (one index database) on open: index queries find the same rows', async () => {
    const path = tempDir();
    const first = storeAt(path);
    const ep = first.openEndpoint(def);
    await ep.apply([insertOp(r(1, 'Oslo', 5)), insertOp(r(2, 'Rome', 7)), insertOp(r(3, 'Oslo', 9))]);
    await first.close();
    await downgradeToFormat2(path, 'people', 2);

    const store = storeAt(path);
    const again = store.openEndpoint(def);
    const q = again.parseQuery({ $filter: { city: 'Oslo' }, $order_by: { qty: 'desc' } });
    expect(again.explain(q)).toMatch(/^index on city equality scan/);
    expect(again.query(q)).toEqual([r(3, 'Oslo', 9), r(1, 'Oslo', 5)]);
    expect(again.query(again.parseQuery({ $filter: { qty: { $gte: 7 } } }))).toEqual([
      r(2, 'Rome', 7),
      r(3, 'Oslo', 9),
    ]);
    // Writes after the upgrade keep the indexes right (the old entries are gone, not shadowing).
    await again.apply([updateOp(r(3, 'Oslo', 9), r(3, 'Rome', 1))]);
    expect(again.query(again.parseQuery({ $filter: { city: 'Oslo' } }))).toEqual([r(1, 'Oslo', 5)]);
    expect(again.count(again.parseQuery({ $filter: { city: 'Rome' } }).filter)).toBe(2);
    await store.close();

    const env = open({ path, maxDbs: 100, readOnly: true });
    const legacy = env.openDB({ name: 'endpoint/people/indexes', encoding: 'binary', keyEncoding: 'binary' });
    expect(legacy.getKeysCount()).toBe(0);
    const meta = env.openDB<{ version: number }, string>({ name: 'dozer/meta', encoding: 'json' });
    expect(meta.get('people')?.version).toBe(3);
    await env.close();
  });

  it('rolls back an endpoint stored in format 2 right after openStore, upgrading it', async () => {
    const path = tempDir();
    const first = storeAt(path);
    const ep = first.openEndpoint(def);
    await ep.apply([insertOp(r(1, 'Oslo', 5))]);
    await first.markEpoch(1n);
    await ep.apply([insertOp(r(2, 'Rome', 7)), updateOp(r(1, 'Oslo', 5), r(1, 'Lima', 6))]);
    await first.close();
    await downgradeToFormat2(path, 'people', 2);

    const store = storeAt(path);
    await store.rollbackTo(1n);
    const again = store.openEndpoint(def);
    expect(again.query({})).toEqual([r(1, 'Oslo', 5)]);
    expect(again.query(again.parseQuery({ $filter: { city: 'Oslo' } }))).toEqual([r(1, 'Oslo', 5)]);
    expect(again.query(again.parseQuery({ $filter: { city: 'Lima' } }))).toEqual([]);
    expect(again.query(again.parseQuery({ $filter: { qty: { $gt: 5 } } }))).toEqual([]);
  });
});
