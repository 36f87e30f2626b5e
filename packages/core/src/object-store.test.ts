import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLocalObjectStore,
  isObjectNotFound,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreError,
  validateObjectKey,
} from './object-store.js';

let dir: string;
let store: ObjectStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dozer-object-store-'));
  store = createLocalObjectStore(join(dir, 'store'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (...b: number[]) => new Uint8Array(b);
const text = (s: string) => new TextEncoder().encode(s);

async function filesUnder(d: string): Promise<string[]> {
  const entries = await readdir(d, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(d.length + 1));
}

describe('local object store', () => {
  it('stores, replaces and reads back objects under nested keys', async () => {
    await store.put('segments/orders/0001.seg', bytes(1, 2, 3));
    expect(await store.get('segments/orders/0001.seg')).toEqual(bytes(1, 2, 3));
    await store.put('segments/orders/0001.seg', bytes(9));
    expect(await store.get('segments/orders/0001.seg')).toEqual(bytes(9));
    await store.put('empty', new Uint8Array(0));
    expect(await store.get('empty')).toEqual(new Uint8Array(0));
  });

  it('keeps the object as a plain file at the key path, with no temporary files left', async () => {
    await store.put('a/b/c.bin', text('hello'));
    expect(await filesUnder(join(dir, 'store'))).toEqual([join('a', 'b', 'c.bin')]);
  });

  it('throws ObjectNotFoundError naming the key when getting a missing object', async () => {
    const err = await store.get('snapshots/7/manifest.json').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectNotFoundError);
    expect(err).toBeInstanceOf(ObjectStoreError);
    expect(isObjectNotFound(err)).toBe(true);
    expect((err as ObjectNotFoundError).code).toBe('OBJECT_STORE');
    expect((err as ObjectNotFoundError).key).toBe('snapshots/7/manifest.json');
    expect((err as Error).message).toMatch(
      /object "snapshots\/7\/manifest.json" not found in the local object store at /,
    );
    // A prefix of existing keys is not an object either.
    await store.put('snapshots/7/manifest.json', text('{}'));
    await expect(store.get('snapshots/7')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('lists keys by string prefix, sorted, and nothing from a missing directory', async () => {
    expect(await store.list('')).toEqual([]);
    for (const k of ['seg/b/2', 'seg/a/10', 'seg/a/9', 'seg/ab', 'segment', 'other/x'])
      await store.put(k, bytes(0));
    expect(await store.list('')).toEqual(['other/x', 'seg/a/10', 'seg/a/9', 'seg/ab', 'seg/b/2', 'segment']);
    expect(await store.list('seg/')).toEqual(['seg/a/10', 'seg/a/9', 'seg/ab', 'seg/b/2']);
    expect(await store.list('seg/a')).toEqual(['seg/a/10', 'seg/a/9', 'seg/ab']);
    expect(await store.list('seg/a/')).toEqual(['seg/a/10', 'seg/a/9']);
    expect(await store.list('seg/a/1')).toEqual(['seg/a/10']);
    expect(await store.list('seg')).toEqual(['seg/a/10', 'seg/a/9', 'seg/ab', 'seg/b/2', 'segment']);
    expect(await store.list('nope/')).toEqual([]);
    expect(await store.list('segment/')).toEqual([]);
  });

  it('deletes objects idempotently and removes directories left empty', async () => {
    await store.put('cp/1/a', bytes(1));
    await store.put('cp/1/b', bytes(2));
    await store.put('cp/2/a', bytes(3));
    expect(await store.exists('cp/1/a')).toBe(true);
    await store.delete('cp/1/a');
    expect(await store.exists('cp/1/a')).toBe(false);
    await store.delete('cp/1/a');
    await store.delete('never/was');
    await store.delete('cp/1/b');
    expect(await store.list('cp/')).toEqual(['cp/2/a']);
    expect(await readdir(join(dir, 'store', 'cp'))).toEqual(['2']);
    // The emptied directory can be written again.
    await store.put('cp/1/c', bytes(4));
    expect(await store.get('cp/1/c')).toEqual(bytes(4));
  });

  it('reports exists only for objects, not for prefixes', async () => {
    await store.put('x/y', bytes(1));
    expect(await store.exists('x/y')).toBe(true);
    expect(await store.exists('x')).toBe(false);
    expect(await store.exists('x/y/z')).toBe(false);
  });

  it('ignores temporary files a crash left behind', async () => {
    await store.put('t/obj', bytes(1));
    await writeFile(join(dir, 'store', 't', '.obj.deadbeef.tmp'), 'half');
    expect(await store.list('')).toEqual(['t/obj']);
    expect(await store.get('t/obj')).toEqual(bytes(1));
  });

  it('keeps the old object whole when a write fails', async () => {
    await store.put('k/v', bytes(1, 2));
    // Writing a child under an existing object fails; nothing of the key space changes.
    await expect(store.put('k/v/w', bytes(3))).rejects.toThrow(/a prefix of the key is already an object/);
    await expect(store.put('k', bytes(3))).rejects.toThrow(/other objects are stored under "k\/"/);
    expect(await store.get('k/v')).toEqual(bytes(1, 2));
    expect(await store.list('')).toEqual(['k/v']);
    expect(await filesUnder(join(dir, 'store'))).toEqual([join('k', 'v')]);
  });

  it('gives every one of many concurrent writers a complete object', async () => {
    const payloads = Array.from({ length: 20 }, (_, i) => new Uint8Array(64 * 1024).fill(i));
    await Promise.all(payloads.map((p) => store.put('hot/key', p)));
    const got = await store.get('hot/key');
    expect(got.length).toBe(64 * 1024);
    expect(got.every((b) => b === got[0])).toBe(true);
    expect(await store.list('hot/')).toEqual(['hot/key']);
  });

  it('rejects keys that escape the store or are not plain relative paths', async () => {
    for (const bad of [
      '',
      '/etc/passwd',
      '../x',
      'a/../../x',
      'a//b',
      'a/',
      'a/./b',
      '.hidden',
      'a\\b',
      'a\nb',
    ]) {
      await expect(store.put(bad, bytes(1)), bad).rejects.toThrow(ObjectStoreError);
      await expect(store.get(bad), bad).rejects.toThrow(/invalid object key/);
    }
    await expect(store.list('../')).rejects.toThrow(
      /invalid object key prefix "\.\.\/": segment "\.\." is not allowed/,
    );
    expect(() => validateObjectKey('a//b')).toThrow(
      'invalid object key "a//b": it has an empty segment (a leading, trailing or doubled "/")',
    );
    expect(() => validateObjectKey('segments/orders/0001.seg')).not.toThrow();
    expect(await readdir(dir)).toEqual([]);
  });
});
