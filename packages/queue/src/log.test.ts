import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalObjectStore, encodeBatch, type ObjectStore } from '@dozer/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batch, batchNo, orders, take } from '../test/support/fixtures.js';
import {
  type LogQueueOptions,
  OffsetOutOfRangeError,
  openLogQueue,
  QueueError,
  SegmentCorruptError,
  SegmentMissingError,
} from './index.js';

let dir: string;
let store: ObjectStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dozer-queue-'));
  store = createLocalObjectStore(join(dir, 'objects'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const BATCH_BYTES = encodeBatch(orders, batch(1)).length + 4 + 64;

function queue(options: Partial<LogQueueOptions> = {}) {
  return openLogQueue({
    store,
    storeLabel: 'the test directory',
    memoryLimitBytes: 40 * BATCH_BYTES,
    offloadAtBytes: 20 * BATCH_BYTES,
    segmentTargetBytes: 8 * BATCH_BYTES,
    retryInitialMs: 5,
    retryMaxMs: 20,
    onError: () => {},
    ...options,
  });
}

const segmentFiles = () => {
  const d = join(dir, 'objects', 'queue', 'orders', 'segments');
  try {
    return readdirSync(d).sort();
  } catch {
    return [];
  }
};

describe('Log', () => {
  it('gives dense offsets from 0 and reads back every batch in order', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders);
    for (let i = 0; i < 5; i++) expect(await log.append(batch(i))).toBe(BigInt(i));
    expect(await log.appendBarrier(7n)).toBe(5n);
    const got = await take(log.read(), 6);
    expect(got.map((e) => e.offset)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(got[2]!.batch).toEqual(batch(2));
    expect(got[5]!.message).toEqual({ kind: 'barrier', epoch: 7n });
    expect(segmentFiles()).toEqual([]);
    await q.close({ flush: false });
  });

  it('appendEncoded keeps bytes encoded elsewhere as the entry, in order with appends, through offloading', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders);
    for (let i = 0; i < 60; i++) {
      const offset =
        i % 2 === 0 ? await log.appendEncoded(encodeBatch(orders, batch(i))) : await log.append(batch(i));
      expect(offset).toBe(BigInt(i));
    }
    await log.flush();
    expect(segmentFiles().length).toBeGreaterThan(0);
    const got = await take(log.read({ from: 0n }), 60);
    expect(got.map(batchNo)).toEqual([...Array(60).keys()]);
    expect(got[10]!.batch).toEqual(batch(10));
    await q.close();
  });

  it('appendEncoded refuses bytes that are not an encoded batch or barrier, and the log goes on', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders);
    await expect(log.appendEncoded(new TextEncoder().encode('{"id": 1}'))).rejects.toThrow(
      /not a Dozer binary message/,
    );
    await expect(log.appendEncoded(new Uint8Array(2))).rejects.toThrow(/truncated input/);
    expect(await log.appendEncoded(encodeBatch(orders, batch(3)))).toBe(0n);
    expect((await take(log.read(), 1)).map(batchNo)).toEqual([3]);
    await q.close({ flush: false });
  });

  it('with handOverAppended, the first reader here gets the appended batch itself, others a decoded copy', async () => {
    const q = queue();
    const shared = await q.openLog('orders', orders, { handOverAppended: true });
    const plain = await q.openLog('plain', orders);
    const appended = [batch(0), batch(1), batch(2)];
    for (const b of appended) {
      await shared.append(b);
      await plain.append(b);
    }
    const first = await take(shared.read(), 3);
    expect(first[1]!.batch).toBe(appended[1]);
    expect(first[1]!.batch).toBe(first[1]!.batch);
    const second = await take(shared.read(), 3);
    expect(second[1]!.batch).not.toBe(appended[1]);
    expect(second[1]!.batch).toEqual(appended[1]);
    const other = await take(plain.read(), 3);
    expect(other[1]!.batch).not.toBe(appended[1]);
    expect(other.map((e) => e.batch)).toEqual(appended);
    await q.close({ flush: false });
  });

  it('offloads the oldest entries to checksummed segments past the threshold and keeps memory bounded', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders);
    for (let i = 0; i < 200; i++) {
      await log.append(batch(i));
      expect(log.stats().memoryBytes).toBeLessThanOrEqual(40 * BATCH_BYTES);
    }
    await log.flush();
    const s = log.stats();
    expect(s.memoryStart).toBe(200n);
    expect(s.memoryBytes).toBe(0);
    expect(segmentFiles().length).toBe(s.segments);
    expect(segmentFiles()[0]).toBe('00000000000000000000-00000000000000000008.seg');
    const got = await take(log.read({ from: 0n }), 200);
    expect(got.map(batchNo)).toEqual([...Array(200).keys()]);
    await q.close();
  });

  it('a reader that starts in the offloaded part gets segments then memory then live appends, without gap or duplicate', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders);
    for (let i = 0; i < 100; i++) await log.append(batch(i));
    expect(log.stats().memoryStart).toBeGreaterThan(30n);
    const reader = log.read({ from: 30n });
    const first = await take(reader, 0);
    expect(first).toEqual([]);
    const it = log.read({ from: 30n });
    const got: number[] = [];
    const consume = (async () => {
      for await (const e of it) {
        got.push(batchNo(e));
        if (got.length === 120) break;
      }
    })();
    for (let i = 100; i < 150; i++) await log.append(batch(i));
    await consume;
    expect(got).toEqual([...Array(120).keys()].map((k) => k + 30));
    await q.close();
  });

  it('a restart finds the offloaded segments and continues at the next offset', async () => {
    const q1 = queue();
    const log1 = await q1.openLog('orders', orders);
    for (let i = 0; i < 50; i++) await log1.append(batch(i));
    await q1.close(); // flushes the tail
    const q2 = queue();
    const log2 = await q2.openLog('orders', orders);
    expect(log2.next).toBe(50n);
    expect(await log2.append(batch(50))).toBe(50n);
    const got = await take(log2.read({ from: 0n }), 51);
    expect(got.map(batchNo)).toEqual([...Array(51).keys()]);
    await q2.close({ flush: false });
  });

  it('after a crash, a restart adopts the segments stored since the last index write, up to a damaged one', async () => {
    const q1 = queue({ indexIntervalMs: 60_000 });
    const log1 = await q1.openLog('orders', orders);
    for (let i = 0; i < 100; i++) await log1.append(batch(i));
    const index = JSON.parse(readFileSync(join(dir, 'objects', 'queue', 'orders', 'index.json'), 'utf8'));
    expect(index.segments).toEqual([]); // the index write is still waiting for its interval
    await q1.close({ flush: false }); // a crash: the in-memory tail is lost
    const stored = segmentFiles();
    expect(stored.length).toBeGreaterThan(4);
    const damaged = join(dir, 'objects', 'queue', 'orders', 'segments', stored[3]!);
    writeFileSync(damaged, readFileSync(damaged).subarray(0, 100));
    const q2 = queue();
    const log2 = await q2.openLog('orders', orders);
    const end = BigInt(stored[2]!.slice(21, 41));
    expect(log2.next).toBe(end);
    expect(segmentFiles()).toEqual(stored.slice(0, 3));
    const got = await take(log2.read({ from: 0n }), Number(end));
    expect(got.map(batchNo)).toEqual([...Array(Number(end)).keys()]);
    await q2.close({ flush: false });
  });

  it('refuses to open a log whose index is damaged, naming the problem', async () => {
    const q1 = queue();
    const log1 = await q1.openLog('orders', orders);
    for (let i = 0; i < 30; i++) await log1.append(batch(i));
    await q1.close();
    const indexFile = join(dir, 'objects', 'queue', 'orders', 'index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    index.segments[1].first = '999';
    writeFileSync(indexFile, JSON.stringify(index));
    await expect(queue().openLog('orders', orders)).rejects.toThrow(
      /the log index lists segment ".*" for offsets 999\.\.\d+ where \d+ was expected next/,
    );
    writeFileSync(indexFile, '{"format": "dozer-queue-index", "version": 2}');
    await expect(queue().openLog('orders', orders)).rejects.toThrow(/the log index is invalid at version/);
  });

  it('refuses to reopen a log with a different schema', async () => {
    const q1 = queue();
    await q1.openLog('orders', orders);
    await q1.close();
    const other = { ...orders, fields: orders.fields.slice(0, 2) };
    await expect(queue().openLog('orders', other)).rejects.toThrow(/different schema/);
  });

  it('reports a corrupted segment as an error and never yields its entries', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders);
    for (let i = 0; i < 30; i++) await log.append(batch(i));
    await log.flush();
    const seg = join(dir, 'objects', 'queue', 'orders', 'segments', segmentFiles()[1]!);
    const bytes = readFileSync(seg);
    bytes[200] = bytes[200]! ^ 0xff;
    writeFileSync(seg, bytes);
    const seen: bigint[] = [];
    const reading = (async () => {
      for await (const e of log.read({ from: 0n })) seen.push(e.offset);
    })();
    await expect(reading).rejects.toThrow(SegmentCorruptError);
    await expect(reading).rejects.toThrow(/SHA-256 checksum mismatch/);
    expect(seen).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    await q.close({ flush: false });
  });

  it('reports a missing segment as an error', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders);
    for (let i = 0; i < 30; i++) await log.append(batch(i));
    await log.flush();
    rmSync(join(dir, 'objects', 'queue', 'orders', 'segments', segmentFiles()[0]!));
    await expect(take(log.read({ from: 0n }), 1)).rejects.toThrow(SegmentMissingError);
    await q.close({ flush: false });
  });

  it('deletes a segment only once every registered reader committed past it', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders, { readers: ['a', 'b'] });
    for (let i = 0; i < 40; i++) await log.append(batch(i));
    await log.flush();
    const all = segmentFiles();
    const ends = all.map((f) => BigInt(f.slice(21, 41)));
    expect(all.length).toBeGreaterThanOrEqual(4);
    await log.commit('a', 40n);
    expect(segmentFiles()).toEqual(all);
    const b = ends[1]! + 1n; // past the first two segments, inside the third
    await log.commit('b', b);
    expect(segmentFiles()).toEqual(all.slice(2));
    expect(log.start).toBe(ends[1]);
    expect(() => log.read({ from: 3n })).toThrow(OffsetOutOfRangeError);
    expect((await take(log.read({ from: ends[1]! }), 1))[0]!.offset).toBe(ends[1]);
    // Retention survives a restart: the index lists the readers and the new start.
    await q.close();
    const q2 = queue();
    const log2 = await q2.openLog('orders', orders);
    expect(log2.start).toBe(ends[1]);
    expect(log2.committed('b')).toBe(ends[1]! + 1n);
    await q2.close({ flush: false });
  });

  it('keeps every segment while no reader is registered', async () => {
    const q = queue();
    const log = await q.openLog('orders', orders);
    for (let i = 0; i < 40; i++) await log.append(batch(i));
    await log.flush();
    expect(segmentFiles().length).toBeGreaterThanOrEqual(5);
    expect(segmentFiles().length).toBe(log.stats().segments);
    expect(log.start).toBe(0n);
    await q.close({ flush: false });
  });

  it('holds appends while the object store is unreachable, then recovers by itself', async () => {
    const errors: unknown[] = [];
    const q = queue({ onError: (e) => errors.push(e) });
    const log = await q.openLog('orders', orders);
    for (let i = 0; i < 10; i++) await log.append(batch(i));
    // The store's directory becomes a file: every write fails for real.
    const objects = join(dir, 'objects');
    mkdirSync(objects, { recursive: true });
    renameSync(objects, join(dir, 'objects.away'));
    writeFileSync(objects, 'not a directory');
    const appends: Promise<bigint>[] = [];
    for (let i = 10; i < 80; i++) appends.push(log.append(batch(i)));
    let settled = 0;
    for (const a of appends) a.then(() => settled++);
    await until(() => errors.length >= 3);
    const s = log.stats();
    expect(s.memoryBytes).toBeLessThanOrEqual(40 * BATCH_BYTES);
    expect(s.waitingAppends).toBeGreaterThan(0);
    expect(settled).toBeLessThan(70);
    expect(s.lastError).toBeInstanceOf(Error);
    rmSync(objects);
    renameSync(join(dir, 'objects.away'), objects);
    expect(await Promise.all(appends)).toEqual([...Array(70).keys()].map((k) => BigInt(k + 10)));
    const got = await take(log.read({ from: 0n }), 80);
    expect(got.map(batchNo)).toEqual([...Array(80).keys()]);
    await q.close();
  });

  it('rejects bad input with a clear error', async () => {
    expect(() => queue({ memoryLimitBytes: 0 })).toThrow(/memoryLimitBytes must be a positive integer/);
    expect(() => queue({ memoryLimitBytes: 10, offloadAtBytes: 20 })).toThrow(/must not exceed/);
    const q = queue();
    await expect(q.openLog('', orders)).rejects.toThrow(/invalid log name/);
    const log = await q.openLog('orders', orders);
    await expect(q.openLog('orders', orders)).rejects.toThrow(/already open/);
    expect(() => q.log('nope')).toThrow(/no log named "nope"; the logs are: "orders"/);
    await expect(
      log.append({ table: 'orders', ops: [{ kind: 'insert', new: [1] }], position: null }),
    ).rejects.toThrow(/row/);
    expect(() => log.read({ from: 5n })).toThrow(/cannot read from offset 5; it holds offsets 0..0/);
    await expect(log.commit('r', 3n)).rejects.toThrow(OffsetOutOfRangeError);
    await q.close();
    await expect(log.append(batch(1))).rejects.toThrow(QueueError);
  });
});

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}
