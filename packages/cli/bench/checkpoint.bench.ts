// pnpm bench checkpoint [changes] [keys]   (changes 0 skips part 1, keys 0 part 2)
// In one run:
//  1. Throughput of `dozer run` (in process, `startPipeline`) with checkpoints
//     every second beside checkpoints off, on the same generator input: a
//     snapshot of 20,000 trips, then `changes` inserts, updates and deletes
//     (default 300,000) through a per-rider and a per-city aggregate into the
//     store. Alternating runs, the median of each; target ≥ 0.9×.
//  2. Recovery after `kill -9` of a `dozer run` process holding `keys`
//     (default 1,000,000) keys of SQL state (GROUP BY id over `keys` trips):
//     from the restart's spawn until it serves again, resumed from its newest
//     checkpoint, until the API answers a query with the restored state
//     (target < 5 s), beside the time the first run took to build
//     that state from the source (what a restart without checkpoints costs).
//  3. `pnpm bench checkpoint-state` (@dozer/snapshot): checkpoint duration
//     and bytes for 1M and 10M keys with 1% changed, and state restore.
// Prints figures and ratios only; they move with the machine's load.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConnectorRegistry } from '@dozer/connectors';
import { parseConfig } from '../src/config/index.js';
import type { Logger } from '../src/logger.js';
import { planPipeline, startPipeline } from '../src/pipeline.js';

const CHANGES = Number(process.argv[2] ?? 300_000);
const KEYS = Number(process.argv[3] ?? 1_000_000);
const ROUNDS = 3;
const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const MAIN = join(REPO, 'packages/cli/src/main.ts');
const BUILT_MAIN = join(REPO, 'packages/cli/dist/main.js');
const quiet: Logger = { info() {}, warn() {}, error() {} };
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

console.log(`dozer run checkpoint benchmark: ${cpus().length} CPUs, load average ${load()}\n`);

// ---------------------------------------------------------------------------
// 1. Throughput, checkpoints every second vs off.

async function throughput(intervalMs: number): Promise<{ ms: number; checkpoints: number }> {
  const home = mkdtempSync(join(tmpdir(), 'dozer-bench-checkpoint-'));
  try {
    const config = parseConfig(
      `version: 1
app_name: bench
home_dir: ${JSON.stringify(home)}
connections:
  - name: gen
    kind: generator
    config: { seed: 5, rate: 0, batch_size: 500, tables: [{ name: trips, rows: 20000, max_ops: ${CHANGES}, update_ratio: 0.4, delete_ratio: 0.1 }] }
sources:
  - { name: trips, connection: gen }
sql: |
  SELECT rider, COUNT(*) AS n, SUM(fare) AS total, MAX(distance) AS longest FROM trips GROUP BY rider INTO per_rider;
  SELECT city, COUNT(*) AS n, SUM(fare) AS total FROM trips GROUP BY city INTO by_city;
endpoints:
  - { name: per_rider, path: /per-rider, table_name: per_rider, index: { primary_key: [rider] } }
  - { name: by_city, path: /by-city, table_name: by_city, index: { primary_key: [city] } }
api:
  rest: { port: 0 }
  grpc: { port: 0 }
checkpoint: { interval_ms: ${intervalMs} }
`,
      join(home, 'dozer.yaml'),
      { env: {} },
    );
    const plan = await planPipeline(config, createConnectorRegistry(), quiet, { connectorThreads: true });
    const t0 = performance.now();
    const pipeline = await startPipeline(plan, quiet);
    await pipeline.ingestion;
    const ms = performance.now() - t0;
    const health = (await (await fetch(`${pipeline.url}/health`)).json()) as {
      checkpoint?: { complete: number };
    };
    await pipeline.stop();
    return { ms, checkpoints: health.checkpoint?.complete ?? 0 };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const ops = 20_000 + CHANGES;
if (CHANGES > 0) {
  const on: number[] = [];
  const off: number[] = [];
  let checkpointsTaken = 0;
  await throughput(0); // warm-up: module loading and JIT for both
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [0, 1000] : [1000, 0];
    for (const interval of order) {
      const { ms, checkpoints } = await throughput(interval);
      if (interval === 0) off.push(ms);
      else {
        on.push(ms);
        checkpointsTaken += checkpoints;
      }
    }
  }
  const rate = (ms: number) => (ops / ms) * 1000;
  console.log(
    `1. throughput, ${fmt(ops)} generator ops through two aggregates into the store (median of ${ROUNDS}):`,
  );
  console.log(`   checkpoints off          ${fmt(rate(median(off))).padStart(9)} ops/s`);
  console.log(
    `   checkpoints every 1 s    ${fmt(rate(median(on))).padStart(9)} ops/s  (${fmt(checkpointsTaken / ROUNDS, 1)} checkpoints per run)`,
  );
  const ratio = rate(median(on)) / rate(median(off));
  console.log(`   ratio ${ratio.toFixed(2)}× (target ≥ 0.9×: ${ratio >= 0.9 ? 'met' : 'NOT met'})\n`);
}

// ---------------------------------------------------------------------------
// 2. Recovery after kill -9 with KEYS keys of SQL state.

interface Child {
  readonly child: ChildProcess;
  log(): string;
  waitFor(re: RegExp, ms: number): Promise<void>;
  exited: Promise<unknown>;
}

function dozer(config: string): Child {
  const child = spawn(
    process.execPath,
    [
      ...(fromDist ? [BUILT_MAIN] : ['--conditions=@dozer/source', '--import', 'tsx', MAIN]),
      'run',
      '-c',
      config,
    ],
    {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let text = '';
  const waiters: Array<() => void> = [];
  const on = (d: Buffer) => {
    text += d;
    for (const w of waiters) w();
  };
  child.stdout!.on('data', on);
  child.stderr!.on('data', on);
  const exited = new Promise((r) => child.on('exit', r));
  return {
    child,
    log: () => text,
    exited,
    waitFor: (re, ms) =>
      new Promise((resolve, reject) => {
        if (re.test(text)) return resolve();
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}:\n${text}`)), ms);
        waiters.push(() => {
          if (re.test(text)) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then(() => reject(new Error(`dozer exited before ${re}:\n${text}`)));
      }),
  };
}

async function health(
  port: number,
): Promise<{ sources: Record<string, { ops: number }>; checkpoint?: { covered: boolean } }> {
  return (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as never;
}

// The restarts run the built CLI, as `npx @dozer/cli` does (`pnpm build` first, cached by
// turbo); from source (tsx compiling on the fly) if the build fails.
const fromDist = KEYS > 0 && spawnSync('pnpm', ['build'], { cwd: REPO, stdio: 'ignore' }).status === 0;
const home = mkdtempSync(join(tmpdir(), 'dozer-bench-recovery-'));
try {
  if (KEYS > 0) {
    const port = 18_000 + Math.floor(Math.random() * 2000);
    const config = join(home, 'dozer.yaml');
    writeFileSync(
      config,
      `version: 1
app_name: bench-recovery
home_dir: ./home
connections:
  - name: gen
    kind: generator
    config: { seed: 9, rate: 0, batch_size: 1000, tables: [{ name: trips, rows: ${KEYS}, max_ops: 0 }] }
sources:
  - { name: trips, connection: gen }
sql: |
  SELECT id, COUNT(*) AS n, SUM(fare) AS total FROM trips GROUP BY id INTO per_trip;
  SELECT COUNT(*) AS trips, SUM(total) AS fares FROM per_trip INTO totals;
endpoints:
  - { name: totals, path: /totals, table_name: totals }
api:
  rest: { port: ${port} }
  grpc: { port: 0 }
checkpoint: { interval_ms: 1000 }
`,
    );
    const t0 = performance.now();
    const first = dozer(config);
    await first.waitFor(/Serving/, 300_000);
    for (;;) {
      const h = await health(port);
      if (h.sources.trips?.ops === KEYS && h.checkpoint?.covered) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const buildMs = performance.now() - t0;
    first.child.kill('SIGKILL');
    await first.exited;

    const t1 = performance.now();
    const second = dozer(config);
    // Recovered = the API answers a query with the restored state (not just "listening").
    for (;;) {
      const answer = await fetch(`http://127.0.0.1:${port}/totals`)
        .then(async (r) => (r.status === 200 ? ((await r.json()) as Array<{ trips: string }>) : undefined))
        .catch(() => undefined);
      if (answer?.[0]?.trips === String(KEYS)) break;
      if (second.child.exitCode !== null) throw new Error(`the restart exited:\n${second.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const recoverMs = performance.now() - t1;
    const resumed = /resuming from checkpoint (\d+)/.exec(second.log());
    const totals = (await (await fetch(`http://127.0.0.1:${port}/totals`)).json()) as Array<{
      trips: string;
    }>;
    const h = await health(port);
    second.child.kill('SIGTERM');
    await second.exited;
    if (!resumed) throw new Error(`the restart did not resume from a checkpoint:\n${second.log()}`);
    if (totals[0]?.trips !== String(KEYS) || h.sources.trips?.ops !== 0) {
      throw new Error(
        `the restart does not hold the state it should: ${JSON.stringify(totals)}, ${JSON.stringify(h)}`,
      );
    }
    // The restart's own log: start-up to the decision, then to the restored SQL state.
    const at = (re: RegExp) => {
      const m = new RegExp(`(\\d\\d):(\\d\\d):(\\d\\d\\.\\d+) INFO  ${re.source}`).exec(second.log());
      return m ? (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 : Number.NaN;
    };
    const startedAt = at(/dozer /);
    const loadedMs = at(/resuming from checkpoint/) - startedAt;
    const restoredMs = at(/SQL operators run on/) - startedAt;
    const listeningMs = at(/REST API listening/) - startedAt;
    console.log(
      `2. recovery after kill -9 with ${fmt(KEYS)} keys of SQL state (GROUP BY id), checkpoints every 1 s, ${fromDist ? 'built CLI (dist)' : 'CLI from source (tsx; the build failed)'}:`,
    );
    console.log(
      `   first run, building the state from the source       ${fmt(buildMs).padStart(7)} ms (what a restart without checkpoints costs)`,
    );
    console.log(
      `   restart: spawn → first query answered, from checkpoint ${resumed[1]}  ${fmt(recoverMs).padStart(7)} ms`,
    );
    console.log(
      `     of which: checkpoint found, verified, store rolled back ${fmt(loadedMs)} ms; SQL state restored by ${fmt(restoredMs)} ms; ` +
        `serving by ${fmt(listeningMs)} ms (from the process's first log line; before it: node start-up and planning, ${fmt(recoverMs - listeningMs)} ms)`,
    );
    console.log(
      `   ratio ${(recoverMs / buildMs).toFixed(3)}× of rebuilding; target < 5000 ms: ${recoverMs < 5000 ? 'met' : 'NOT met'}\n`,
    );
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// 3. State checkpoints at 1M and 10M keys (@dozer/snapshot).

console.log('3. pnpm bench checkpoint-state:\n');
const state = spawnSync(
  process.execPath,
  [...process.execArgv, join(REPO, 'bench/run.ts'), 'checkpoint-state'],
  { cwd: REPO, stdio: 'inherit' },
);
process.exit(state.status ?? 1);
