import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createLocalObjectStore } from '@dozer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateAt } from '../test/support/crash-model.js';
import { createCheckpointStore } from './checkpoint-store.js';
import { createKeyedState, stringCodec } from './keyed-state.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const writer = fileURLToPath(new URL('../test/support/crash-writer.ts', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dozer-snapshot-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts the writer; resolves its first line ("resumed <loaded> <newest listed>") and a reader of later lines. */
async function start(): Promise<{ child: ChildProcess; first: string; next: () => Promise<string> }> {
  const child = spawn(process.execPath, ['--conditions=@dozer/source', '--import', 'tsx', writer, dir], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`the checkpoint writer exited early: ${stderr}`);
    return r.value as string;
  };
  return { child, first: await next(), next };
}

describe('a checkpoint writer killed with SIGKILL at random moments', () => {
  it('always restarts from a complete checkpoint whose state is exactly that of its epoch', async () => {
    let resumedFrom = 0n;
    for (let round = 0; round < 4; round++) {
      const { child, first, next } = await start();
      const [, loaded, newest] = first.split(' ');
      // Manifests are written last and atomically: the newest one listed is always loadable.
      expect(loaded).toBe(newest);
      expect(BigInt(loaded!)).toBeGreaterThanOrEqual(resumedFrom);
      const wait = 2 + Math.floor(Math.random() * 6);
      let last = '';
      for (let i = 0; i < wait; i++) last = await next();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      expect(last).toMatch(/^committed \d+$/);

      const warnings: string[] = [];
      const cs = createCheckpointStore({
        store: createLocalObjectStore(dir),
        prefix: 'ck',
        logger: { warn: (m) => warnings.push(m) },
      });
      const latest = (await cs.loadLatest())!;
      expect(warnings).toEqual([]);
      const epoch = latest.manifest.epoch;
      expect(epoch).toBeGreaterThanOrEqual(BigInt(last.split(' ')[1]!));
      const state = createKeyedState({ codec: stringCodec });
      state.restore(latest.state('counts'));
      expect(new Map(state.entries())).toEqual(stateAt(Number(epoch)));
      expect(latest.manifest.sources.get('gen')).toBe(`row-${epoch}`);
      resumedFrom = epoch;
    }
  }, 120_000);
});
