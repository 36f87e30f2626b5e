import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalObjectStore, encodeBatch } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batch, batchNo, orders } from '../test/support/fixtures.js';
import { openLogQueue } from './index.js';

const UNIT = encodeBatch(orders, batch(1, 2)).length + 64;

describe('Log.read under random offload timing', () => {
  it('yields every offset from where it starts exactly once, in order, whatever moves to segments meanwhile', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          limit: fc.integer({ min: 4, max: 40 }),
          offloadPercent: fc.integer({ min: 10, max: 100 }),
          segment: fc.integer({ min: 1, max: 12 }),
          before: fc.integer({ min: 0, max: 60 }),
          // For each later append: how many entries the reader pulls first.
          pulls: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 60 }),
          fromPercent: fc.integer({ min: 0, max: 100 }),
        }),
        async ({ limit, offloadPercent, segment, before, pulls, fromPercent }) => {
          const dir = mkdtempSync(join(tmpdir(), 'dozer-queue-prop-'));
          const queue = openLogQueue({
            store: createLocalObjectStore(dir),
            memoryLimitBytes: limit * UNIT,
            offloadAtBytes: Math.max(1, Math.floor((limit * UNIT * offloadPercent) / 100)),
            segmentTargetBytes: segment * UNIT,
            maxEventBytes: 3 * UNIT,
            onError: () => {},
          });
          try {
            const log = await queue.openLog('orders', orders);
            for (let i = 0; i < before; i++) await log.append(batch(i, 2));
            const from = BigInt(Math.floor((before * fromPercent) / 100));
            const total = before + pulls.length;
            const it = log.read({ from });
            const got: number[] = [];
            const pull = async () => {
              const r = await it.next();
              if (!r.done) got.push(batchNo(r.value));
            };
            for (const [k, n] of pulls.entries()) {
              for (let p = 0; p < n && BigInt(got.length) + from < BigInt(total - pulls.length + k); p++)
                await pull();
              await log.append(batch(before + k, 2));
            }
            while (BigInt(got.length) + from < BigInt(total)) await pull();
            await it.return(undefined);
            expect(got).toEqual([...Array(total - Number(from)).keys()].map((k) => k + Number(from)));
          } finally {
            await queue.close({ flush: false });
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});
