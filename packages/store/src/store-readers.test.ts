// Readers in other threads keep reading while a write transaction runs, and
// see either all or none of its operations.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { insertOp, makeSchema } from '@dozer/core';
import { expect, it } from 'vitest';
import { openStore } from './store.js';

const readerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { open } = require(workerData.lmdb);
const env = open({ path: workerData.path, maxDbs: 1000 });
const rows = env.openDB({ name: 'endpoint/t', encoding: 'binary', keyEncoding: 'binary' });
parentPort.postMessage('ready');
const seen = [];
const deadline = Date.now() + 20000;
for (;;) {
  rows.resetReadTxn();
  const n = rows.getStats().entryCount;
  seen.push([Date.now(), n]);
  if (n === workerData.final || Date.now() > deadline) break;
}
env.close().then(() => parentPort.postMessage(seen));
`;

it('lets other threads read during a write transaction, which they see atomically', async () => {
  const path = mkdtempSync(join(tmpdir(), 'dozer-store-readers-'));
  const store = openStore({ path });
  try {
    const schema = makeSchema(
      [
        { name: 'id', type: 'int', nullable: false },
        { name: 'v', type: 'string', nullable: false },
      ],
      ['id'],
    );
    const ep = store.openEndpoint({ name: 't', schema });
    await ep.apply([insertOp([0n, 'first'])]);
    const total = 40_001;
    const worker = new Worker(readerSource, {
      eval: true,
      workerData: { path, lmdb: createRequire(import.meta.url).resolve('lmdb'), final: total },
    });
    const done = new Promise<[number, number][]>((resolve, reject) => {
      worker.on('message', (m) => {
        if (m !== 'ready') resolve(m as [number, number][]);
      });
      worker.on('error', reject);
    });
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    const t0 = Date.now();
    await ep.apply(Array.from({ length: total - 1 }, (_, i) => insertOp([BigInt(i + 1), `row ${i}`])));
    const t1 = Date.now();
    const seen = await done;
    await worker.terminate();
    // Only the state before and the state after the transaction are ever visible.
    expect(new Set(seen.map(([, n]) => n))).toEqual(new Set([1, total]));
    // The reader was not blocked by the writer: it kept reading while apply() ran.
    expect(seen.filter(([t, n]) => t >= t0 && t <= t1 && n === 1).length).toBeGreaterThan(0);
    expect(ep.count()).toBe(total);
  } finally {
    await store.close();
    rmSync(path, { recursive: true, force: true });
  }
}, 30_000);
