import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFilesLake } from './crash/files-lake.js';
import {
  type CrashScenario,
  converge,
  crashSeed,
  crashTimeoutMs,
  killCount,
  seededRandom,
} from './crash/harness.js';
import { CRASH_ENDPOINTS, crashSqlYaml, duckdbOracle } from './crash/oracle.js';
import { type DozerProcess, freePort, spawnDozer } from './helpers.js';

// The separate roles under SIGKILL: two ingestors (one per source), the processor and the API,
// each its own process, over a files source that keeps receiving files. Each role in turn is
// killed at a random moment and started again; at the end the API must serve exactly what
// DuckDB computes over the files, and every start after a completed checkpoint must have
// resumed from one (a new generation from the newest checkpoint) rather than rebuilt.
// DOZER_CRASH_KILLS sets the number of kills, DOZER_CRASH_SEED repeats a kill schedule.

const KILLS = killCount(20);
const log = (line: string) => {
  if (process.env.DOZER_CRASH_VERBOSE) process.stderr.write(`${line}\n`);
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-split-crash-'));
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STARTED_GENERATION = /starting generation (\d+) of the pipeline \(([^)]*)\): (.*)/;
/** A role's start began a generation, or joined one another role began at the same moment. */
const IN_A_GENERATION = /starting generation \d+ of the pipeline|began at the same time; joining it/;

describe('dozer ingest / process / serve killed in turn', () => {
  it(
    `serve every file exactly once across ${KILLS} kills of the separate roles`,
    async () => {
      const seed = crashSeed();
      const random = seededRandom(seed);
      const data = path.join(dir, 'data');
      const objects = path.join(dir, 'objects');
      const lake = makeFilesLake(data, random);
      lake.addCustomers(30);
      lake.addOrders(200);

      const [rest, grpc, ingestC, ingestO, processor] = await Promise.all([
        freePort(),
        freePort(),
        freePort(),
        freePort(),
        freePort(),
      ]);
      const configFile = path.join(dir, 'dozer.yaml');
      fs.writeFileSync(
        configFile,
        `version: 1
app_name: split-crash
# Checkpoints often, so that most kills land between two of them and the restart resumes.
checkpoint: { interval_ms: 300 }
home_dir: ./home
${lake.yaml}${crashSqlYaml()}api:
  rest: { host: 127.0.0.1, port: ${rest} }
  grpc: { host: 127.0.0.1, port: ${grpc} }
nodes:
  ingestors:
    - { name: c, host: 127.0.0.1, port: ${ingestC}, sources: [customers] }
    - { name: o, host: 127.0.0.1, port: ${ingestO}, sources: [orders] }
  processors:
    - { name: p, host: 127.0.0.1, port: ${processor}, tables: [by_region, enriched, big_by_status] }
  object_store: { kind: local, path: ${JSON.stringify(objects)} }
  queue: { memory_limit_bytes: 65536, offload_at_bytes: 8192, segment_bytes: 8192 }
`,
      );
      const roles: Record<string, string[]> = {
        'ingestor c': ['ingest', '--node', 'c'],
        'ingestor o': ['ingest', '--node', 'o'],
        processor: ['process', '--node', 'p'],
        api: ['serve'],
      };
      const names = Object.keys(roles);
      const manifests = () => {
        const at = path.join(objects, 'checkpoints', 'manifests');
        return fs.existsSync(at) ? fs.readdirSync(at).filter((f) => f.endsWith('.manifest')).length : 0;
      };
      const newestManifest = () => {
        const at = path.join(objects, 'checkpoints', 'manifests');
        const epochs = fs.existsSync(at) ? fs.readdirSync(at).map((f) => Number.parseInt(f, 10)) : [];
        return Math.max(0, ...epochs.filter((e) => Number.isFinite(e)));
      };
      // Every process started, whether a checkpoint existed when it started, and how it ended.
      const started: Array<{ name: string; proc: DozerProcess; afterCheckpoint: boolean; killed: boolean }> =
        [];
      const current = new Map<string, (typeof started)[number]>();
      let exitedByItself: string | undefined;
      const spawnRole = (name: string) => {
        const entry = {
          name,
          proc: spawnDozer([...roles[name]!, '-c', configFile]),
          afterCheckpoint: manifests() > 0,
          killed: false,
        };
        entry.proc.exited.then((code) => {
          if (!entry.killed && exitedByItself === undefined) {
            exitedByItself = `${name} exited by itself (code ${code})\nstderr:\n${entry.proc.stderr().split('\n').slice(-40).join('\n')}`;
          }
        });
        started.push(entry);
        current.set(name, entry);
        return entry;
      };
      const stopAll = async (signal: NodeJS.Signals) => {
        await Promise.all(
          [...current.values()].map(async (e) => {
            e.killed = true;
            e.proc.child.kill(signal);
            const code = await Promise.race([e.proc.exited, sleep(15_000).then(() => 'hung' as const)]);
            if (code === 'hung') {
              e.proc.child.kill('SIGKILL');
              await e.proc.exited;
            }
          }),
        );
      };

      let stopped = false;
      try {
        for (const name of names) spawnRole(name);
        await current.get('api')!.proc.waitFor(/Serving \d+ endpoint\(s\)/, 120_000);
        const load = (async () => {
          for (let i = 1; !stopped; i++) {
            lake.addOrders(5 + Math.floor(random() * 30));
            if (i % 10 === 0) lake.addCustomers(2);
            await sleep(100);
          }
        })();
        for (let i = 0; i < KILLS; i++) {
          const name = names[i % names.length]!;
          await sleep(Math.round(200 + random() * 1000));
          if (exitedByItself) throw new Error(exitedByItself);
          const victim = current.get(name)!;
          // A random moment of the victim's life: half the kills while the pipeline may still be
          // restarting from the previous one (a generation beginning, the others reconnecting),
          // half once it checkpoints again; never while the victim is still loading its code.
          await victim.proc.waitFor(IN_A_GENERATION, 60_000).catch(() => {});
          if (random() < 0.5) {
            const before = newestManifest();
            const end = Date.now() + 60_000;
            while (newestManifest() <= before && Date.now() < end) await sleep(100);
          }
          await sleep(Math.round(random() * 2500));
          victim.killed = true;
          victim.proc.child.kill('SIGKILL');
          await victim.proc.exited;
          log(
            `kill ${i + 1}/${KILLS}: ${name} (${manifests()} checkpoint(s) kept, ${lake.rows()} rows so far)`,
          );
          spawnRole(name);
        }
        stopped = true;
        await load;
        const expected = await duckdbOracle(lake.oracleSetup);
        const scenario: CrashScenario = {
          name: 'split roles',
          configFile,
          baseUrl: `http://127.0.0.1:${rest}`,
          endpoints: CRASH_ENDPOINTS,
          startLoad: async () => ({ stop: async () => {}, changes: () => 0 }),
          expected: async () => expected,
        };
        // The API restarts with every generation: while it is down, ask again.
        const end = Date.now() + 150_000;
        for (;;) {
          try {
            await converge(scenario, expected, current.get('api')!.proc, Math.max(1000, end - Date.now()));
            break;
          } catch (e) {
            if (!(e instanceof TypeError) || Date.now() > end) throw e;
            await sleep(500);
          }
        }
        if (exitedByItself) throw new Error(exitedByItself);
      } finally {
        stopped = true;
        await stopAll('SIGTERM');
        const logs = process.env.DOZER_SPLIT_CRASH_LOGS;
        if (logs) {
          fs.mkdirSync(logs, { recursive: true });
          for (const [i, s] of started.entries())
            fs.writeFileSync(
              path.join(logs, `${String(i).padStart(2, '0')}-${s.name.replace(' ', '-')}.log`),
              s.proc.stderr(),
            );
        }
      }

      // Every start after a checkpoint existed began a generation that resumed from one.
      let resumed = 0;
      for (const s of started.filter((e) => e.afterCheckpoint)) {
        const line = STARTED_GENERATION.exec(s.proc.stderr());
        if (!line) continue; // killed before it got that far
        expect(line[3], `${s.name}: ${line[0]}`).toMatch(/every role resumes from checkpoint \d+/);
        resumed++;
      }
      const all = started.map((s) => s.proc.stderr()).join('\n');
      log(
        `seed ${seed}: ${started.length} starts, ${resumed} resumed; ${all.match(/resuming from checkpoint/g)?.length ?? 0} role restarts from a checkpoint`,
      );
      expect(resumed).toBeGreaterThan(KILLS / 2);
      // No generation, begun by a start or by a role that lost its upstream, rebuilt once a
      // checkpoint had completed; and each kind of role restarted from checkpoints.
      const at = (line: string) => line.slice(0, 12);
      const firstCheckpoint = all
        .split('\n')
        .filter((l) => /checkpoint \d+ complete/.test(l))
        .map(at)
        .sort()[0];
      expect(firstCheckpoint).toBeDefined();
      const lateRebuilds = all
        .split('\n')
        .filter((l) => /starting generation .* every role rebuilds/.test(l) && at(l) > firstCheckpoint!);
      expect(lateRebuilds).toEqual([]);
      for (const what of [
        'the SQL state is as it was then',
        'the store is as it was then',
        'source(s) continue from their positions',
      ]) {
        expect(all).toContain(what);
      }
      expect(lake.rows()).toBeGreaterThan(230);
    },
    crashTimeoutMs(KILLS),
  );
});
