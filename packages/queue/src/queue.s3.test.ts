import { encodeBatch, isObjectNotFound } from '@dozer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_CREDENTIALS, type S3TestServer, startS3Server } from '../../../test/support/s3.js';
import { batch, batchNo, orders, take } from '../test/support/fixtures.js';
import { connectLogClient, openLogQueue, S3ObjectStore, SegmentCorruptError, serveLogs } from './index.js';

const BUCKET = 'dozer-queue-test';
let s3: S3TestServer;
const stores: S3ObjectStore[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
});
afterAll(async () => {
  for (const s of stores) s.close();
  await s3?.close();
});

function s3Store(prefix: string): S3ObjectStore {
  const store = new S3ObjectStore({
    bucket: BUCKET,
    prefix,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    maxAttempts: 1,
  });
  stores.push(store);
  return store;
}

const BATCH_BYTES = encodeBatch(orders, batch(1)).length + 64;

describe('S3ObjectStore (s3rver)', () => {
  it('puts, gets, lists in key order, checks and deletes objects under its prefix', async () => {
    const store = s3Store('store-test/');
    await store.put('a/2', new Uint8Array([2]));
    await store.put('a/1', new Uint8Array([1, 1]));
    await store.put('b', new Uint8Array([]));
    expect(await store.get('a/1')).toEqual(new Uint8Array([1, 1]));
    expect(await store.get('b')).toEqual(new Uint8Array([]));
    expect(await store.list('a/')).toEqual(['a/1', 'a/2']);
    expect(await store.list('')).toEqual(['a/1', 'a/2', 'b']);
    expect(await store.exists('a/2')).toBe(true);
    await store.delete('a/2');
    await store.delete('a/2');
    expect(await store.exists('a/2')).toBe(false);
    const missing = await store.get('a/2').catch((e: unknown) => e);
    expect(isObjectNotFound(missing)).toBe(true);
    await expect(store.put('/abs', new Uint8Array())).rejects.toThrow(/absolute path/);
    expect(() => new S3ObjectStore({ bucket: 'X' })).toThrow(/bucket name "X" is invalid/);
  });
});

describe('log queue on S3 (s3rver)', () => {
  it('offloads to S3 and a remote reader reads the segments from S3 and the live tail over gRPC', async () => {
    const queue = openLogQueue({
      store: s3Store('offload/'),
      storeLabel: `s3://${BUCKET}/offload/`,
      memoryLimitBytes: 40 * BATCH_BYTES,
      offloadAtBytes: 20 * BATCH_BYTES,
      segmentTargetBytes: 8 * BATCH_BYTES,
      onError: () => {},
    });
    const log = await queue.openLog('orders', orders);
    for (let i = 0; i < 100; i++) await log.append(batch(i));
    expect(log.stats().segments).toBeGreaterThan(5);
    const server = await serveLogs(queue);
    const client = connectLogClient({ address: server.address, store: s3Store('offload/') });
    try {
      const got: number[] = [];
      const reading = (async () => {
        for await (const e of client.read('orders', { from: 0n, reader: 'proc' })) {
          got.push(batchNo(e));
          if (got.length === 150) break;
        }
      })();
      for (let i = 100; i < 150; i++) await log.append(batch(i));
      await reading;
      expect(got).toEqual([...Array(150).keys()]);
    } finally {
      client.close();
      await server.close();
      await queue.close({ flush: false });
    }
  });

  it('detects a segment overwritten in S3', async () => {
    const store = s3Store('corrupt/');
    const queue = openLogQueue({ store, memoryLimitBytes: 40 * BATCH_BYTES, onError: () => {} });
    const log = await queue.openLog('orders', orders);
    for (let i = 0; i < 20; i++) await log.append(batch(i));
    await log.flush();
    const [key] = await store.list('queue/orders/segments/');
    const bytes = await store.get(key!);
    bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 0x10;
    await store.put(key!, bytes);
    await expect(take(log.read({ from: 0n }), 1)).rejects.toThrow(SegmentCorruptError);
    await queue.close({ flush: false });
  });

  it('holds appends while S3 is down and recovers by itself when it returns, losing nothing', async () => {
    const errors: unknown[] = [];
    const queue = openLogQueue({
      store: s3Store('outage/'),
      memoryLimitBytes: 30 * BATCH_BYTES,
      offloadAtBytes: 10 * BATCH_BYTES,
      segmentTargetBytes: 5 * BATCH_BYTES,
      retryInitialMs: 20,
      retryMaxMs: 200,
      onError: (e) => errors.push(e),
    });
    const log = await queue.openLog('orders', orders);
    for (let i = 0; i < 10; i++) await log.append(batch(i));
    await s3.stop();
    try {
      const appends: Promise<bigint>[] = [];
      for (let i = 10; i < 100; i++) appends.push(log.append(batch(i)));
      while (errors.length < 3) await new Promise((r) => setTimeout(r, 10));
      const s = log.stats();
      expect(s.memoryBytes).toBeLessThanOrEqual(30 * BATCH_BYTES);
      expect(s.waitingAppends).toBeGreaterThan(50);
      expect((errors[0] as Error).message).toMatch(/cannot write "queue\/orders\/segments\/.*" in s3:\/\//);
      await s3.restart();
      expect(await Promise.all(appends)).toEqual([...Array(90).keys()].map((k) => BigInt(k + 10)));
      await log.flush();
      expect(log.stats().lastError).toBe(null);
      const got = await take(log.read({ from: 0n }), 100);
      expect(got.map(batchNo)).toEqual([...Array(100).keys()]);
    } finally {
      await queue.close({ flush: false });
    }
  }, 60_000);
});
