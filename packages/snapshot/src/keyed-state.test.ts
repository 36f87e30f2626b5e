import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalObjectStore, type ObjectStore } from '@dozer/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CheckpointStore, createCheckpointStore } from './checkpoint-store.js';
import { SnapshotError } from './errors.js';
import { bytesCodec, createKeyedState, type KeyedState, stringCodec } from './keyed-state.js';
import type { StateObjectRef } from './state-object.js';

let dir: string;
let objects: ObjectStore;
/** Makes the next `put` of the object store fail (an unreachable S3, a full disk). */
let failNextPut = false;
let cs: CheckpointStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dozer-keyed-state-'));
  const local = createLocalObjectStore(dir);
  failNextPut = false;
  objects = {
    ...local,
    put: async (key, bytes) => {
      if (failNextPut) {
        failNextPut = false;
        throw new Error(`disk full while writing ${key}`);
      }
      await local.put(key, bytes);
    },
  };
  cs = createCheckpointStore({ store: objects, prefix: 'ck', logger: { warn: () => {} } });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes a manifest holding only `chain` for operator "op". */
async function commit(epoch: bigint, chain: readonly StateObjectRef[]) {
  await cs.commit({
    epoch,
    createdAt: new Date(),
    storeEpoch: null,
    sources: new Map(),
    operators: new Map([['op', chain]]),
  });
}

async function restoreAt<V>(epoch: bigint, make: () => KeyedState<V>): Promise<KeyedState<V>> {
  const s = make();
  s.restore((await cs.load(epoch)).state('op'));
  return s;
}

const strings = () => createKeyedState({ codec: stringCodec });
/** Small states would be compacted on every snapshot by the size rule; these tests look at deltas. */
const deltas = () => createKeyedState({ codec: stringCodec, maxDeltaRatio: Number.POSITIVE_INFINITY });
const key = (i: number) => `key-${String(i).padStart(6, '0')}`;
const value = (i: number, gen: number) => `value-${i}-${gen}`;
/** Bytes of one put record: op, key length, key, value length, value. */
const putBytes = (k: string, v: string) => 1 + 4 + Buffer.byteLength(k) + 4 + Buffer.byteLength(v);
const HEADER_AND_TRAILER = 64;

describe('KeyedState', () => {
  it('decodes restored values only when they are read, and writes untouched ones back as they were', async () => {
    const s = strings();
    for (let i = 0; i < 100; i++) s.put(key(i), value(i, 0));
    await commit(1n, await s.snapshot(1n).write(cs, 'op'));
    let decodes = 0;
    const counting = () =>
      createKeyedState({
        codec: {
          encode: stringCodec.encode,
          decode: (b: Uint8Array) => {
            decodes++;
            return stringCodec.decode(b);
          },
        },
      });
    const r = await restoreAt(1n, counting);
    expect(r.size).toBe(100);
    expect(decodes).toBe(0);
    expect(r.get(key(7))).toBe(value(7, 0));
    expect(r.get(key(7))).toBe(value(7, 0));
    expect(decodes).toBe(1);
    // A base of the restored state carries the stored bytes of the keys nobody read.
    r.put(key(8), value(8, 1));
    await commit(2n, await r.snapshot(2n, { base: true }).write(cs, 'op'));
    expect(decodes).toBe(1);
    const again = await restoreAt(2n, strings);
    expect([...again.entries()].sort()).toEqual(
      Array.from({ length: 100 }, (_, i) => [key(i), value(i, i === 8 ? 1 : 0)]).sort(),
    );
  });

  it('ships the whole state first, then deltas whose size is exactly that of the changed records', async () => {
    const s = strings();
    let baseBytes = HEADER_AND_TRAILER;
    for (let i = 0; i < 10_000; i++) {
      s.put(key(i), value(i, 0));
      baseBytes += putBytes(key(i), value(i, 0));
    }
    const first = s.snapshot(1n);
    expect([first.kind, first.records, first.bytes]).toEqual(['base', 10_000, baseBytes]);
    await commit(1n, await first.write(cs, 'op'));

    for (const changed of [100, 200]) {
      const epoch = changed === 100 ? 2n : 3n;
      let expected = HEADER_AND_TRAILER;
      for (let i = 0; i < changed; i++) {
        // Each key changes twice before the checkpoint; it is shipped once, with its last value.
        s.put(key(i * 37), 'x');
        s.put(key(i * 37), value(i * 37, Number(epoch)));
        expected += putBytes(key(i * 37), value(i * 37, Number(epoch)));
      }
      s.delete(key(9_999 - Number(epoch)));
      expected += 1 + 4 + key(0).length;
      const snap = s.snapshot(epoch);
      expect([snap.kind, snap.records, snap.bytes]).toEqual(['delta', changed + 1, expected]);
      await commit(epoch, await snap.write(cs, 'op'));
    }
    const back = await restoreAt(3n, strings);
    expect(new Map(back.entries())).toEqual(new Map(s.entries()));
    expect(back.size).toBe(9_998);
    expect(s.chain.map((r) => [r.kind, r.epoch])).toEqual([
      ['base', 1n],
      ['delta', 2n],
      ['delta', 3n],
    ]);
  });

  it('ships a value changed in place once it is touched', async () => {
    const s = createKeyedState({ codec: bytesCodec, maxDeltaRatio: Number.POSITIVE_INFINITY });
    s.put('a', new Uint8Array([1, 2, 3]));
    await commit(1n, await s.snapshot(1n).write(cs, 'op'));
    s.get('a')![0] = 9;
    s.touch('a');
    s.touch('never-set');
    const snap = s.snapshot(2n);
    expect(snap.records).toBe(2);
    await commit(2n, await snap.write(cs, 'op'));
    const back = await restoreAt(2n, () => createKeyedState({ codec: bytesCodec }));
    expect([...back.entries()]).toEqual([['a', new Uint8Array([9, 2, 3])]]);
  });

  it('writes nothing when nothing changed, and the manifest reuses the previous chain; a base on request', async () => {
    const s = strings();
    s.put('a', '1');
    const chain1 = await s.snapshot(1n).write(cs, 'op');
    await commit(1n, chain1);
    const before = await objects.list('ck/state/');
    const snap = s.snapshot(2n);
    expect([snap.kind, snap.bytes]).toEqual(['none', 0]);
    const chain2 = await snap.write(cs, 'op');
    expect(chain2).toEqual(chain1);
    await commit(2n, chain2);
    expect(await objects.list('ck/state/')).toEqual(before);
    expect([...(await restoreAt(2n, strings)).entries()]).toEqual([['a', '1']]);
    const forced = s.snapshot(3n, { base: true });
    expect([forced.kind, forced.records]).toEqual(['base', 1]);
    expect((await forced.write(cs, 'op')).map((r) => [r.kind, r.epoch])).toEqual([['base', 3n]]);
  });

  it('compacts into a new base after maxDeltas deltas, or when the deltas outgrow maxDeltaRatio of the base', async () => {
    const s = createKeyedState({ codec: stringCodec, maxDeltas: 3, maxDeltaRatio: 0.5 });
    for (let i = 0; i < 1000; i++) s.put(key(i), value(i, 0));
    const kinds: string[] = [];
    for (let e = 1n; e <= 9n; e++) {
      // 1% of the keys change every epoch; at epoch 8, 60% (over half the base's bytes).
      const n = e === 8n ? 600 : 10;
      for (let i = 0; i < n; i++) s.put(key((Number(e) * 101 + i) % 1000), value(i, Number(e)));
      const snap = s.snapshot(e);
      kinds.push(snap.kind);
      await commit(e, await snap.write(cs, 'op'));
      expect(new Map((await restoreAt(e, strings)).entries())).toEqual(new Map(s.entries()));
    }
    expect(kinds).toEqual(['base', 'delta', 'delta', 'delta', 'base', 'delta', 'delta', 'base', 'delta']);
    expect(s.chain.map((r) => r.epoch)).toEqual([8n, 9n]);
  });

  it('in background mode, keeps shipping deltas and compacts from the stored chain off the barrier', async () => {
    const s = createKeyedState({ codec: stringCodec, maxDeltas: 2, compaction: 'background' });
    for (let i = 0; i < 1000; i++) s.put(key(i), value(i, 0));
    const kinds: string[] = [];
    const step = async (e: bigint, changes: number) => {
      for (let i = 0; i < changes; i++) s.put(key((Number(e) * 13 + i) % 1000), value(i, Number(e)));
      s.delete(key(Number(e)));
      const snap = s.snapshot(e);
      kinds.push(snap.kind);
      await commit(e, await snap.write(cs, 'op'));
    };
    await step(1n, 0);
    await step(2n, 10);
    expect(s.compactionDue).toBe(false);
    await step(3n, 700); // over half the base: due, but still a delta
    await step(4n, 10);
    expect(kinds).toEqual(['base', 'delta', 'delta', 'delta']);
    expect(s.compactionDue).toBe(true);

    expect(await s.compact(cs, 'op')).toBe(true);
    // Changes while compacting are fine: the live state is not involved.
    s.put('during', 'compaction');
    await step(5n, 10);
    expect(kinds.at(-1)).toBe('delta');
    // The compacted base holds the state of epoch 4 and is followed by the delta of 5.
    expect(s.chain.map((r) => [r.kind, r.epoch])).toEqual([
      ['base', 4n],
      ['delta', 5n],
    ]);
    expect(s.chain[0]!.key).toMatch(/\/00000000000000000005-[0-9a-f]{8}\.base$/);
    expect(s.compactionDue).toBe(false);
    for (const e of [3n, 4n, 5n]) {
      const back = await restoreAt(e, strings);
      if (e === 5n) expect(new Map(back.entries())).toEqual(new Map(s.entries()));
    }
    // Retention keeping only 5 keeps the compacted base and drops the old chain.
    await cs.retain(1);
    expect(new Set(await objects.list('ck/state/'))).toEqual(new Set(s.chain.map((r) => r.key)));
    expect(new Map((await restoreAt(5n, strings)).entries())).toEqual(new Map(s.entries()));
    expect(await s.compact(cs, 'op')).toBe(true);
    const single = createKeyedState({ codec: stringCodec });
    single.put('a', 'b');
    await single.snapshot(1n).write(cs, 'single');
    expect(await single.compact(cs, 'single')).toBe(false);
  });

  it('keeps the deltas written while a background compaction ran, after its base', async () => {
    const s = createKeyedState({ codec: stringCodec, compaction: 'background' });
    const put = async (e: bigint, k: string, v: string) => {
      s.put(k, v);
      await commit(e, await s.snapshot(e).write(cs, 'op'));
    };
    await put(1n, 'a', '1');
    await put(2n, 'b', '2');
    const compaction = s.compact(cs, 'op'); // merges epochs 1..2
    await put(3n, 'c', '3'); // written meanwhile
    expect(await compaction).toBe(true);
    await put(4n, 'a', '4');
    expect(s.chain.map((r) => [r.kind, r.epoch])).toEqual([
      ['base', 2n],
      ['delta', 3n],
      ['delta', 4n],
    ]);
    expect(Object.fromEntries((await restoreAt(4n, strings)).entries())).toEqual({ a: '4', b: '2', c: '3' });
  });

  it('after a failed write, ships those changes with the next snapshot', async () => {
    const s = deltas();
    s.put('a', '1');
    await commit(1n, await s.snapshot(1n).write(cs, 'op'));
    s.put('b', '2');
    s.delete('a');
    const lost = s.snapshot(2n);
    failNextPut = true;
    await expect(lost.write(cs, 'op')).rejects.toThrow(/disk full/);
    s.put('c', '3');
    const next = s.snapshot(3n);
    expect([next.kind, next.records]).toEqual(['delta', 3]);
    const chain = await next.write(cs, 'op');
    expect(chain.map((r) => r.epoch)).toEqual([1n, 3n]);
    await commit(3n, chain);
    expect(new Map((await restoreAt(3n, strings)).entries())).toEqual(
      new Map([
        ['b', '2'],
        ['c', '3'],
      ]),
    );
  });

  it('handles a snapshot taken while the previous one is still being written, whatever order they finish in', async () => {
    const s = deltas();
    s.put('a', '1');
    await commit(1n, await s.snapshot(1n).write(cs, 'op'));
    s.put('b', '2');
    const two = s.snapshot(2n);
    s.put('c', '3');
    const three = s.snapshot(3n);
    // Three carries two's changes too: it applies on top of epoch 1 whatever happens to two.
    expect(three.records).toBe(2);
    const chain3 = await three.write(cs, 'op');
    const chain2 = await two.write(cs, 'op');
    expect(chain2.map((r) => r.epoch)).toEqual([1n, 2n]);
    expect(chain3.map((r) => r.epoch)).toEqual([1n, 3n]);
    expect(s.chain).toEqual(chain3);
    await commit(3n, chain3);
    s.delete('a');
    const four = s.snapshot(4n);
    expect(four.records).toBe(1);
    await commit(4n, await four.write(cs, 'op'));
    expect(new Map((await restoreAt(4n, strings)).entries())).toEqual(
      new Map([
        ['b', '2'],
        ['c', '3'],
      ]),
    );
  });

  it('ships a base after clear, so keys removed by it stay removed', async () => {
    const s = strings();
    for (let i = 0; i < 10; i++) s.put(key(i), 'v');
    await commit(1n, await s.snapshot(1n).write(cs, 'op'));
    s.clear();
    s.put('only', 'one');
    const snap = s.snapshot(2n);
    expect([snap.kind, snap.records]).toEqual(['base', 1]);
    await commit(2n, await snap.write(cs, 'op'));
    expect([...(await restoreAt(2n, strings)).entries()]).toEqual([['only', 'one']]);
  });

  it('after clear and a failed base, ships a base again (the keys clear removed are not tracked one by one)', async () => {
    const s = deltas();
    for (let i = 0; i < 10; i++) s.put(key(i), 'v');
    await commit(1n, await s.snapshot(1n).write(cs, 'op'));
    s.clear();
    s.put('only', 'one');
    failNextPut = true;
    await expect(s.snapshot(2n).write(cs, 'op')).rejects.toThrow(/disk full/);
    const snap = s.snapshot(3n);
    expect(snap.kind).toBe('base');
    await commit(3n, await snap.write(cs, 'op'));
    expect([...(await restoreAt(3n, strings)).entries()]).toEqual([['only', 'one']]);
  });

  it('continues the restored chain with deltas', async () => {
    const s = strings();
    s.put('a', '1');
    await commit(1n, await s.snapshot(1n).write(cs, 'op'));
    const r = await restoreAt(1n, deltas);
    r.put('b', '2');
    const snap = r.snapshot(2n);
    expect(snap.kind).toBe('delta');
    await commit(2n, await snap.write(cs, 'op'));
    expect(new Map((await restoreAt(2n, strings)).entries())).toEqual(
      new Map([
        ['a', '1'],
        ['b', '2'],
      ]),
    );
    expect(() => r.snapshot(2n)).toThrow(/epoch 2 is not above the previous snapshot's 2/);
  });

  it('refuses to restore a blob or bad options', async () => {
    await cs.commit({
      epoch: 1n,
      createdAt: new Date(),
      storeEpoch: null,
      sources: new Map(),
      operators: new Map([['op', await cs.writeBlob('op', 1n, new Uint8Array([1]))]]),
    });
    await expect(restoreAt(1n, strings)).rejects.toThrow(/its checkpoint state is a blob, not a keyed state/);
    expect(() => createKeyedState({ codec: stringCodec, maxDeltas: -1 })).toThrow(SnapshotError);
  });
});
