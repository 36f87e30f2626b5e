import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeSchema, type Operation } from '@dozer/core';
import { type EndpointStore, openStore, type Store } from '@dozer/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupWriter } from './group-writer.js';

const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'n', type: 'int', nullable: false },
  ],
  ['id'],
);
const ins = (id: number, n = 0): Operation => ({ kind: 'insert', new: [BigInt(id), BigInt(n)] });
const upd = (id: number, from: number, to: number): Operation => ({
  kind: 'update',
  old: [BigInt(id), BigInt(from)],
  new: [BigInt(id), BigInt(to)],
});

describe('GroupWriter', () => {
  let dir: string;
  let store: Store;
  let ep: EndpointStore;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-gw-'));
    store = openStore({ path: dir });
    ep = store.openEndpoint({ name: 'e', schema, conflictResolution: { onInsert: 'panic' } });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('commits batches added while a commit runs together, in order, and reports them once committed', async () => {
    const committed: number[][] = [];
    const versions: bigint[] = [];
    const writer = new GroupWriter<number>(1_000_000, (tokens) => {
      committed.push([...tokens]);
      versions.push(ep.version());
    });
    const adds: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) adds.push(writer.add(new Map([[ep, [ins(i)]]]), i));
    for (let i = 0; i < 50; i++) adds.push(writer.add(new Map([[ep, [upd(i, 0, i + 1)]]]), 50 + i));
    await Promise.all(adds);
    await writer.flush();
    // Every token reported once, in order, each only after the store held it.
    expect(committed.flat()).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(committed.length).toBeLessThan(100);
    expect(versions.at(-1)).toBe(100n);
    expect(ep.get([7n])).toEqual([7n, 8n]);
  });

  it('makes add wait while too many ops are queued', async () => {
    const writer = new GroupWriter<number>(10, () => {});
    let resolved = 0;
    const adds = Array.from({ length: 5 }, (_, i) =>
      writer.add(new Map([[ep, Array.from({ length: 6 }, (_, j) => ins(i * 6 + j))]]), i).then(() => {
        resolved++;
      }),
    );
    // Nothing has committed yet (commits run on later ticks); at most the adds under the bound resolved.
    await Promise.resolve();
    expect(resolved).toBeLessThan(5);
    await Promise.all(adds);
    await writer.flush();
    expect(ep.count()).toBe(30);
  });

  it('after a failed commit rejects every later add and flush with that error, and reports it', async () => {
    const committed: number[] = [];
    const writer = new GroupWriter<number>(1_000_000, (t) => committed.push(...t));
    await writer.add(new Map([[ep, [ins(1)]]]), 1);
    await writer.flush();
    await writer.add(new Map([[ep, [ins(1)]]]), 2); // a taken key under on_insert panic
    await expect(writer.flush()).rejects.toThrow(/"e"/);
    await expect(writer.failed).rejects.toThrow(/"e"/);
    await expect(writer.add(new Map([[ep, [ins(3)]]]), 3)).rejects.toThrow(/"e"/);
    expect(committed).toEqual([1]);
    expect(ep.get([3n])).toBeUndefined();
  });
});
