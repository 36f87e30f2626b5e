// Slow queries beside fast ones. While two clients run queries that scan the
// whole endpoint (a filter on a field without an index), another looks rows up
// by key, all through the `answer…` methods the API uses. With the store's read
// thread (the default) the scans run there; the baseline, measured in the same
// run on the same data, is `readThreads: 0`, where each scan holds the calling
// thread (as every read did before read threads). Prints key lookups/s, scans/s
// and the calling thread's event-loop delay (p50/p99: how long a request that
// arrives during a scan waits), and the ratios. Never fails on a figure.
//   pnpm bench scans [rows] [seconds per configuration]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { insertOp, makeSchema } from '@dozer/core';
import { openStore } from '../src/index.js';

const ROWS = Number(process.argv[2] ?? 200_000);
const SECONDS = Number(process.argv[3] ?? 5);
const SCANNERS = 2;
const dir = mkdtempSync(join(tmpdir(), 'dozer-scans-bench-'));
const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: false },
    { name: 'city', type: 'string', nullable: false },
  ],
  ['id'],
);
const definition = { name: 'people', schema, secondaryIndexes: [['city']] };

{
  const store = openStore({ path: dir });
  const ep = store.openEndpoint(definition);
  for (let b = 0; b < ROWS; b += 10_000) {
    const n = Math.min(10_000, ROWS - b);
    await ep.apply(
      Array.from({ length: n }, (_, i) =>
        insertOp([BigInt(b + i), `person ${b + i}`, `city ${(b + i) % 500}`]),
      ),
    );
  }
  await store.close();
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Figures {
  lookups: number;
  scans: number;
  p50: number;
  p99: number;
}

async function measure(readThreads: number, scanners: number): Promise<Figures> {
  const store = openStore({ path: dir, readThreads });
  const ep = store.openEndpoint(definition);
  const scan = ep.parseQuery({ $filter: { name: { $contains: 'nobody' } }, $limit: 10 });
  // Warm-up: the read thread starts (and loads its code) before the clock runs.
  await ep.answerPageJson(scan);
  let running = true;
  let lookups = 0;
  let scans = 0;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const t0 = performance.now();
  delay.enable();
  const lookupClient = (async () => {
    let k = 0;
    while (running) {
      for (let i = 0; i < 20; i++) {
        const key = BigInt((k++ * 7919) % ROWS);
        const page = ep.answerPageJson(ep.parseQuery({ $filter: { id: key } }));
        if (page instanceof Promise) await page;
        lookups++;
      }
      await turn();
    }
  })();
  const scanClients = Array.from({ length: scanners }, async () => {
    while (running) {
      await ep.answerPageJson(scan);
      scans++;
      await turn();
    }
  });
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  await Promise.all([lookupClient, ...scanClients]);
  delay.disable();
  const secs = (performance.now() - t0) / 1000;
  await store.close();
  return {
    lookups: lookups / secs,
    scans: scans / secs,
    p50: delay.percentile(50) / 1e6,
    p99: delay.percentile(99) / 1e6,
  };
}

const quiet = await measure(1, 0);
const threaded = await measure(1, SCANNERS);
const inline = await measure(0, SCANNERS);
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number) => `${x.toFixed(1)} ms`;
const line = (label: string, f: Figures) =>
  console.log(
    `${label.padEnd(44)} ${n(f.lookups).padStart(9)} lookups/s  ${f.scans.toFixed(1).padStart(6)} scans/s  event-loop delay p50 ${ms(f.p50)}, p99 ${ms(f.p99)}`,
  );
console.log(
  `${n(ROWS)} rows; ${SCANNERS} clients scanning every row, one looking rows up by key; ${SECONDS} s each`,
);
line('no scans (the lookups alone)', quiet);
line('scans on the read thread (default)', threaded);
line('scans on the calling thread (readThreads: 0)', inline);
console.log(
  `ratio, read thread vs calling thread: lookups ${(threaded.lookups / inline.lookups).toFixed(1)}x, ` +
    `scans ${(threaded.scans / inline.scans).toFixed(2)}x, event-loop delay p99 ${(threaded.p99 / inline.p99).toFixed(3)}x; ` +
    `lookups during scans vs alone: ${(threaded.lookups / quiet.lookups).toFixed(2)}x`,
);
rmSync(dir, { recursive: true, force: true });
