import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalObjectStore, type ObjectStore } from '@dozer/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CheckpointStore, createCheckpointStore, type SnapshotLogger } from './checkpoint-store.js';
import { CheckpointCorruptError, CheckpointObjectMissingError, SnapshotError } from './errors.js';
import { createKeyedState, type KeyedState, stringCodec } from './keyed-state.js';
import type { StateObjectRef } from './state-object.js';

let dir: string;
let objects: ObjectStore;
let warnings: string[];
let cs: CheckpointStore;

const logger: SnapshotLogger = { warn: (m) => warnings.push(m) };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dozer-checkpoints-'));
  objects = createLocalObjectStore(dir);
  warnings = [];
  cs = createCheckpointStore({ store: objects, prefix: 'ck', logger });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const fileOf = (key: string) => join(dir, ...key.split('/'));

/** Snapshots `state` for `epoch`, writes its object and a blob, then (unless `commit` is false) the manifest. */
async function checkpoint(
  state: KeyedState<string>,
  epoch: bigint,
  commit = true,
): Promise<{ counts: readonly StateObjectRef[]; blob: readonly StateObjectRef[] }> {
  const counts = await state.snapshot(epoch).write(cs, 'counts');
  const blob = await cs.writeBlob('sql executor', epoch, new TextEncoder().encode(`blob of ${epoch}`));
  if (commit) {
    await cs.commit({
      epoch,
      createdAt: new Date(Number(epoch) * 1000),
      storeEpoch: epoch,
      sources: new Map([['orders', `pos-${epoch}`]]),
      operators: new Map([
        ['counts', counts],
        ['sql executor', blob],
      ]),
    });
  }
  return { counts, blob };
}

const contents = (s: KeyedState<string>) => new Map(s.entries());

/** Runs `n` checkpoints over a state that changes a few keys each time; returns the state contents at each epoch. */
async function history(n: number, state = createKeyedState({ codec: stringCodec })) {
  const at = new Map<bigint, Map<string, string>>();
  for (let e = 1n; e <= BigInt(n); e++) {
    for (let k = 0; k < 50; k++) state.put(`k${(Number(e) * 7 + k) % 120}`, `v${e}-${k}`);
    state.delete(`k${Number(e) % 120}`);
    await checkpoint(state, e);
    at.set(e, contents(state));
  }
  return { state, at };
}

async function restored(epoch?: bigint) {
  const loaded = epoch === undefined ? await cs.loadLatest() : await cs.load(epoch);
  if (loaded === undefined) return undefined;
  const s = createKeyedState({ codec: stringCodec });
  s.restore(loaded.state('counts'));
  return { loaded, contents: contents(s), blob: new TextDecoder().decode(loaded.blob('sql executor')) };
}

describe('CheckpointStore', () => {
  it('loads back the manifest, the keyed state and the blob of the latest checkpoint', async () => {
    const { at } = await history(3);
    expect(await cs.list()).toEqual([1n, 2n, 3n]);
    const r = (await restored())!;
    expect(r.loaded.manifest.epoch).toBe(3n);
    expect(r.loaded.manifest.sources).toEqual(new Map([['orders', 'pos-3']]));
    expect(r.loaded.manifest.storeEpoch).toBe(3n);
    expect(r.loaded.manifest.createdAt).toEqual(new Date(3000));
    expect(r.contents).toEqual(at.get(3n));
    expect(r.blob).toBe('blob of 3');
    expect(r.loaded.rejected).toEqual([]);
    expect((await restored(1n))!.contents).toEqual(at.get(1n));
    expect(warnings).toEqual([]);
    expect(() => r.loaded.state('nope')).toThrow(
      /holds no state for operator "nope"; it holds: "counts", "sql executor"/,
    );
    expect(() => r.loaded.blob('counts')).toThrow(/is a base chain, not a blob/);
  });

  it('ignores state objects written without a manifest (a crash before the manifest)', async () => {
    const { state, at } = await history(2);
    for (let k = 0; k < 10; k++) state.put(`new${k}`, 'x');
    await checkpoint(state, 3n, false);
    const r = (await restored())!;
    expect(r.loaded.manifest.epoch).toBe(2n);
    expect(r.contents).toEqual(at.get(2n));
    expect(r.loaded.rejected).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('falls back to the previous checkpoint when the newest manifest is corrupt, and says so', async () => {
    const { at } = await history(3);
    const key = 'ck/manifests/00000000000000000003.manifest';
    const bytes = await readFile(fileOf(key));
    bytes[bytes.length >> 1]! ^= 0xff;
    await writeFile(fileOf(key), bytes);
    const r = (await restored())!;
    expect(r.loaded.manifest.epoch).toBe(2n);
    expect(r.contents).toEqual(at.get(2n));
    expect(r.loaded.rejected.map((x) => x.epoch)).toEqual([3n]);
    expect(r.loaded.rejected[0]!.error).toBeInstanceOf(CheckpointCorruptError);
    expect(warnings).toEqual([
      `checkpoint 3 rejected: checkpoint object "${key}" is corrupt: SHA-256 checksum mismatch (the manifest was damaged or cut short); falling back to checkpoint 2`,
    ]);
  });

  it('falls back when a manifest was cut short (a store without atomic writes)', async () => {
    await history(2);
    const key = 'ck/manifests/00000000000000000002.manifest';
    const bytes = await readFile(fileOf(key));
    await writeFile(fileOf(key), bytes.subarray(0, 100));
    expect((await cs.loadLatest())!.manifest.epoch).toBe(1n);
    expect(warnings[0]).toMatch(/^checkpoint 2 rejected: .*checksum mismatch/);
  });

  it('falls back past a checkpoint whose state object is damaged, naming the object', async () => {
    const { at } = await history(3);
    const m = (await cs.load(3n)).manifest;
    const ref = m.operators.get('counts')!.at(-1)!;
    const bytes = await readFile(fileOf(ref.key));
    bytes[40]! ^= 0x10;
    await writeFile(fileOf(ref.key), bytes);
    const r = (await restored())!;
    expect(r.loaded.manifest.epoch).toBe(2n);
    expect(r.contents).toEqual(at.get(2n));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      `checkpoint 3 rejected: checkpoint object "${ref.key}" is corrupt: SHA-256 checksum mismatch`,
    );
    expect(warnings[0]).toContain('falling back to checkpoint 2');
  });

  it('falls back past a checkpoint whose state object is missing, and past one whose object was replaced', async () => {
    const { at } = await history(4);
    const ref4 = (await cs.load(4n)).manifest.operators.get('counts')!.at(-1)!;
    await unlink(fileOf(ref4.key));
    const ref3 = (await cs.load(3n)).manifest.operators.get('counts')!.at(-1)!;
    const ref2 = (await cs.load(2n)).manifest.operators.get('counts')!.at(-1)!;
    // A valid object of another epoch under epoch 3's key: its own checksum is fine, the manifest's is not.
    await writeFile(fileOf(ref3.key), await readFile(fileOf(ref2.key)));
    const r = (await restored())!;
    expect(r.loaded.manifest.epoch).toBe(2n);
    expect(r.contents).toEqual(at.get(2n));
    expect(r.loaded.rejected.map((x) => [x.epoch, x.error.constructor])).toEqual([
      [4n, CheckpointObjectMissingError],
      [3n, CheckpointCorruptError],
    ]);
    expect(warnings[0]).toBe(
      `checkpoint 4 rejected: state object "${ref4.key}" referenced by checkpoint 4 is missing from the object store ` +
        '(deleted by hand, by a retention that did not see this manifest, or never written); falling back to checkpoint 3',
    );
    expect(warnings[1]).toMatch(
      /^checkpoint 3 rejected: .* is corrupt: .*(differs from|bytes but its manifest says)/,
    );
  });

  it('returns undefined when no checkpoint verifies, after reporting each', async () => {
    expect(await cs.loadLatest()).toBeUndefined();
    await history(1);
    await writeFile(fileOf('ck/manifests/00000000000000000001.manifest'), 'garbage');
    expect(await cs.loadLatest()).toBeUndefined();
    expect(warnings).toEqual([
      expect.stringMatching(/^checkpoint 1 rejected: .*; no older checkpoint is left$/),
    ]);
  });

  it('refuses to commit an epoch twice', async () => {
    await history(1);
    await expect(
      cs.commit({
        epoch: 1n,
        createdAt: new Date(),
        storeEpoch: null,
        sources: new Map(),
        operators: new Map(),
      }),
    ).rejects.toThrow(
      /checkpoint 1: its manifest "ck\/manifests\/00000000000000000001.manifest" exists already/,
    );
  });

  it('keeps operator ids apart in keys, whatever characters they hold', async () => {
    const a = await cs.writeBlob('a/b', 1n, new Uint8Array([1]));
    const b = await cs.writeBlob('a~2fb', 1n, new Uint8Array([2]));
    const c = await cs.writeBlob('.hidden', 1n, new Uint8Array([3]));
    expect(new Set([a[0]!.key, b[0]!.key, c[0]!.key].map((k) => k.split('/')[2])).size).toBe(3);
    await cs.commit({
      epoch: 1n,
      createdAt: new Date(),
      storeEpoch: null,
      sources: new Map(),
      operators: new Map([
        ['a/b', a],
        ['a~2fb', b],
        ['.hidden', c],
      ]),
    });
    const l = (await cs.loadLatest())!;
    expect([l.blob('a/b')[0], l.blob('a~2fb')[0], l.blob('.hidden')[0]]).toEqual([1, 2, 3]);
  });
});

describe('CheckpointStore.retain', () => {
  it('keeps exactly the last N complete checkpoints and the objects they need', async () => {
    // Small maxDeltas: chains span several epochs, compaction happens at epochs 1, 4, 7.
    const state = createKeyedState({ codec: stringCodec, maxDeltas: 2, maxDeltaRatio: 100 });
    const { at } = await history(8, state);
    // An epoch in flight: its objects are written, its manifest is not.
    state.put('in-flight', 'x');
    const inflight = await checkpoint(state, 9n, false);
    const needed = async (epochs: bigint[]) => {
      const keys = new Set<string>();
      for (const e of epochs)
        for (const refs of (await cs.load(e)).manifest.operators.values())
          for (const r of refs) keys.add(r.key);
      return keys;
    };
    const keep = await needed([7n, 8n]);
    // The chain of 8 reaches back to the base of 7.
    expect((await cs.load(8n)).manifest.operators.get('counts')!.map((r) => r.epoch)).toEqual([7n, 8n]);
    const result = await cs.retain(2);
    expect(result.kept).toEqual([8n, 7n]);
    expect(await cs.list()).toEqual([7n, 8n]);
    const left = new Set(await objects.list('ck/state/'));
    expect(left).toEqual(new Set([...keep, inflight.counts.at(-1)!.key, inflight.blob[0]!.key]));
    expect(result.deletedManifests).toHaveLength(6);
    expect((await restored(7n))!.contents).toEqual(at.get(7n));
    expect((await restored(8n))!.contents).toEqual(at.get(8n));
    // Once 9 completes, retention with keep 1 must not touch the base and delta of 7/8 that 9 chains onto.
    await cs.commit({
      epoch: 9n,
      createdAt: new Date(),
      storeEpoch: null,
      sources: new Map(),
      operators: new Map([
        ['counts', inflight.counts],
        ['sql executor', inflight.blob],
      ]),
    });
    expect(inflight.counts.map((r) => r.epoch)).toEqual([7n, 8n, 9n]);
    await cs.retain(1);
    expect(await cs.list()).toEqual([9n]);
    expect(new Set(await objects.list('ck/state/'))).toEqual(await needed([9n]));
    expect((await restored())!.contents.get('in-flight')).toBe('x');
  });

  it('does not count incomplete checkpoints, and deletes nothing when none is complete', async () => {
    await history(3);
    const ref3 = (await cs.load(3n)).manifest.operators.get('counts')!.at(-1)!;
    await unlink(fileOf(ref3.key));
    const r = await cs.retain(1);
    expect(r.kept).toEqual([2n]);
    expect(r.incomplete.map((x) => x.epoch)).toEqual([3n]);
    expect(await cs.list()).toEqual([2n, 3n]);
    expect((await cs.loadLatest())!.manifest.epoch).toBe(2n);

    const only = createCheckpointStore({ store: objects, prefix: 'other', logger });
    await only.writeBlob('x', 1n, new Uint8Array(1));
    await only.commit({
      epoch: 1n,
      createdAt: new Date(),
      storeEpoch: null,
      sources: new Map(),
      operators: new Map([
        ['x', [{ key: 'other/state/x/gone', kind: 'blob', epoch: 1n, bytes: 65, sha256: 'a'.repeat(64) }]],
      ]),
    });
    const before = await objects.list('other/');
    expect((await only.retain(1)).kept).toEqual([]);
    expect(await objects.list('other/')).toEqual(before);
  });

  it('with verify "full" also skips a checkpoint whose object is damaged', async () => {
    await history(3);
    const ref3 = (await cs.load(3n)).manifest.operators.get('counts')!.at(-1)!;
    const bytes = await readFile(fileOf(ref3.key));
    bytes[33]! ^= 1;
    await writeFile(fileOf(ref3.key), bytes);
    const r = await cs.retain(1, { verify: 'full' });
    expect(r.kept).toEqual([2n]);
    expect(r.incomplete.map((x) => x.error.message)).toEqual([expect.stringContaining('checksum mismatch')]);
    expect(await cs.list()).toEqual([2n, 3n]);
    expect((await cs.loadLatest())!.manifest.epoch).toBe(2n);
  });

  it('rejects a keep below 1', () => {
    expect(() => cs.retain(0)).toThrow(SnapshotError);
  });
});
