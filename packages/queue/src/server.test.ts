import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalObjectStore, encodeBatch, type ObjectStore } from '@dozer/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batch, batchNo, orders, take } from '../test/support/fixtures.js';
import {
  connectLogClient,
  type LogClient,
  type LogQueue,
  type LogServer,
  openLogQueue,
  RemoteLogError,
  SegmentCorruptError,
  SegmentMissingError,
  serveLogs,
} from './index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const BATCH_BYTES = encodeBatch(orders, batch(1)).length + 64;
const MAX_EVENT_BYTES = 4 * BATCH_BYTES;

let dir: string;
let store: ObjectStore;
let queue: LogQueue;
let server: LogServer;
let client: LogClient;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dozer-queue-grpc-'));
  store = createLocalObjectStore(join(dir, 'objects'));
  queue = openLogQueue({
    store,
    memoryLimitBytes: 40 * BATCH_BYTES,
    offloadAtBytes: 20 * BATCH_BYTES,
    segmentTargetBytes: 8 * BATCH_BYTES,
    maxEventBytes: MAX_EVENT_BYTES,
    onError: () => {},
  });
  server = await serveLogs(queue);
  // The reader has its own handle on the same directory, as a remote node would.
  client = connectLogClient({ address: server.address, store: createLocalObjectStore(join(dir, 'objects')) });
});
afterEach(async () => {
  client.close();
  await server.close();
  await queue.close({ flush: false });
  rmSync(dir, { recursive: true, force: true });
});

const segmentFiles = () => readdirSync(join(dir, 'objects', 'queue', 'orders', 'segments')).sort();

describe('gRPC log protocol', () => {
  it('describes the logs with their schemas, offsets and labels', async () => {
    const log = await queue.openLog('orders', orders, { labels: { 'dozer.exact_changes': 'true' } });
    for (let i = 0; i < 3; i++) await log.append(batch(i));
    await queue.openLog('plain', orders);
    const logs = await client.describe();
    expect(logs).toEqual([
      {
        name: 'orders',
        schema: orders,
        start: 0n,
        memoryStart: 0n,
        next: 3n,
        labels: { 'dozer.exact_changes': 'true' },
      },
      { name: 'plain', schema: orders, start: 0n, memoryStart: 0n, next: 0n, labels: {} },
    ]);
    expect(log.labels).toEqual({ 'dozer.exact_changes': 'true' });
  });

  it('a late reader gets the offloaded segments, then memory, then live appends: no gap, no duplicate', async () => {
    const log = await queue.openLog('orders', orders);
    for (let i = 0; i < 100; i++) await log.append(batch(i));
    expect(log.stats().memoryStart).toBeGreaterThan(50n); // most of it is offloaded
    const got: LogEntry[] = [];
    const reading = (async () => {
      for await (const e of client.read('orders', { from: 0n })) {
        got.push(e);
        if (got.length === 300) break;
      }
    })();
    for (let i = 100; i < 300; i++) await log.append(batch(i));
    await reading;
    expect(got.map((e) => e.offset)).toEqual([...Array(300).keys()].map(BigInt));
    expect(got.map(batchNo)).toEqual([...Array(300).keys()]);
    expect(got[123]!.batch).toEqual(batch(123));
  });

  it('a reader killed mid-stream resumes from its committed offset', async () => {
    const log = await queue.openLog('orders', orders);
    for (let i = 0; i < 60; i++) await log.append(batch(i));
    await client.commit('orders', 'proc', 0n); // registers the reader at 0
    const child = spawnReader(server.address, join(dir, 'objects'), 25);
    const out = await waitForLine(child, 'stalled');
    expect(out).toContain('committed 25');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(log.committed('proc')).toBe(25n);
    // Retention kept everything from 25 on for the dead reader.
    expect(log.start).toBeLessThanOrEqual(25n);
    const resumed = await take(client.read('orders', { reader: 'proc', from: 'committed' }), 35);
    expect(resumed.map((e) => e.offset)).toEqual([...Array(35).keys()].map((k) => BigInt(k + 25)));
  }, 30_000);

  it('a slow reader makes the server buffer a few messages, not the log; it catches up through segments', async () => {
    const log = await queue.openLog('orders', orders);
    const it = client.read('orders', { from: 0n });
    await log.append(batch(0));
    expect((await it.next()).value!.offset).toBe(0n);
    // The reader stops pulling while 800 batches (many times the memory limit) go by.
    for (let i = 1; i < 800; i++) await log.append(batch(i));
    await new Promise((r) => setTimeout(r, 100));
    const stats = server.stats();
    expect(stats.reads).toBe(1);
    // grpc-js accepts up to 16 messages before write() returns false.
    expect(stats.peakStreamBufferedBytes).toBeLessThanOrEqual(17 * MAX_EVENT_BYTES);
    expect(log.stats().memoryStart).toBeGreaterThan(400n);
    const rest: number[] = [];
    for await (const e of it) {
      rest.push(batchNo(e));
      if (rest.length === 799) break;
    }
    expect(rest).toEqual([...Array(799).keys()].map((k) => k + 1));
  }, 30_000);

  it('reports a corrupted segment as an error, not as data', async () => {
    const log = await queue.openLog('orders', orders);
    for (let i = 0; i < 40; i++) await log.append(batch(i));
    await log.flush();
    const seg = join(dir, 'objects', 'queue', 'orders', 'segments', segmentFiles()[0]!);
    const bytes = readFileSync(seg);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 1;
    writeFileSync(seg, bytes);
    const seen: bigint[] = [];
    const reading = (async () => {
      for await (const e of client.read('orders', { from: 0n })) seen.push(e.offset);
    })();
    await expect(reading).rejects.toThrow(SegmentCorruptError);
    expect(seen).toEqual([]);
  });

  it('reports a missing segment as an error', async () => {
    const log = await queue.openLog('orders', orders);
    for (let i = 0; i < 40; i++) await log.append(batch(i));
    await log.flush();
    rmSync(join(dir, 'objects', 'queue', 'orders', 'segments', segmentFiles()[1]!));
    const seen: bigint[] = [];
    const reading = (async () => {
      for await (const e of client.read('orders', { from: 0n })) seen.push(e.offset);
    })();
    await expect(reading).rejects.toThrow(SegmentMissingError);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual([...Array(seen.length).keys()].map(BigInt));
  });

  it('a server that shuts down ends its read streams with a retryable error', async () => {
    const log = await queue.openLog('orders', orders);
    await log.append(batch(0));
    const it = client.read('orders', { from: 0n });
    expect((await it.next()).value!.offset).toBe(0n);
    const next = it.next().catch((e: unknown) => e);
    await server.close();
    const err = await next;
    expect(err).toBeInstanceOf(RemoteLogError);
    expect((err as RemoteLogError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/shutting down; read again from your last offset/);
  });

  it('answers bad requests with clear errors', async () => {
    const log = await queue.openLog('orders', orders);
    await log.append(batch(0));
    await expect(take(client.read('nope'), 1)).rejects.toThrow(/no log named "nope"; the logs are: "orders"/);
    const err = await take(client.read('orders', { from: 5n }), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteLogError);
    expect((err as RemoteLogError).code).toBe('INVALID_QUERY');
    expect((err as Error).message).toMatch(/cannot read from offset 5; it holds offsets 0..1/);
    await expect(take(client.read('orders', { reader: 'x', from: 'committed' }), 1)).rejects.toThrow(
      /reader "x" has no committed offset/,
    );
    await expect(client.commit('orders', 'r', 9n)).rejects.toThrow(/cannot commit offset 9/);
    const dead = connectLogClient({ address: '127.0.0.1:1', store });
    await expect(dead.describe()).rejects.toMatchObject({ retryable: true });
    dead.close();
  });
});

type LogEntry = Awaited<ReturnType<typeof take>>[number];

function spawnReader(address: string, storeDir: string, stopAt: number): ChildProcess {
  return spawn(
    process.execPath,
    [
      '--conditions=@dozer/source',
      '--import',
      'tsx',
      join(ROOT, 'packages/queue/test/support/reader-child.ts'),
      address,
      storeDir,
      String(stopAt),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

function waitForLine(child: ChildProcess, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(`${line}\n`)) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`reader exited with ${code} before "${line}": ${out}`)));
  });
}
