// A writer applying batches with applies and epoch marks in flight is killed with SIGKILL at
// random moments (mostly mid-apply); after each kill, rolling the store back to its last marked
// epoch gives exactly the state of a store that applied the batches up to that mark.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BATCHES_PER_EPOCH, bagDef, batch, depthAt, keyedDef } from '../test/support/epoch-ops.js';
import { type EndpointStore, openStore, type Store } from './store.js';

const writer = fileURLToPath(new URL('../test/support/epoch-writer.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dozer-epochs-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer until it kills itself after issuing batch `killAt`; resolves its first line. */
async function runWriter(path: string, killAt: number): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--conditions=@dozer/source', '--import', 'tsx', writer, path, String(killAt)],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const signal = await new Promise((r) => child.once('exit', (_, sig) => r(sig)));
  expect(stderr).toBe('');
  expect(signal).toBe('SIGKILL');
  return stdout.split('\n')[0]!;
}

/** A store that applied batches 0 to n - 1. */
async function reference(path: string, n: number): Promise<Store> {
  const store = openStore({ path });
  const eps = { keyed: store.openEndpoint(keyedDef), bag: store.openEndpoint(bagDef) };
  for (let i = 0; i < n; i++) {
    const { endpoint, ops } = batch(i);
    await eps[endpoint].apply(ops);
  }
  return store;
}

function view(ep: EndpointStore): unknown {
  const q = (json: unknown) => ep.query(ep.parseQuery(json));
  const rows = q({ $limit: 5000 });
  return {
    rows,
    count: ep.count(),
    byIndex:
      ep.name === 'keyed'
        ? [0, 1, 2, 3, 4, null].map((g) =>
            q({ $filter: { grp: g }, $order_by: { price: 'desc' }, $limit: 5000 }),
          )
        : q({ $filter: { s: 'p' }, $limit: 5000 }),
    words: ep.name === 'keyed' ? q({ $filter: { name: { $matches_all: 'bob' } }, $limit: 5000 }) : [],
    get: rows.map((r) => ep.get(ep.name === 'keyed' ? [r[0]!] : r) ?? null),
  };
}
const views = (store: Store) => [keyedDef, bagDef].map((d) => view(store.openEndpoint(d)));

describe('epoch marks across SIGKILL', () => {
  it('roll back to exactly the state of the last marked epoch after a kill with applies in flight', async () => {
    const path = join(dir, 'db');
    let resumed = 0;
    for (let round = 0; round < 5; round++) {
      // Kill after issuing a batch k (not the last of its epoch) of an epoch where the writer
      // awaits each apply: batches before k are committed, k is not, the last mark covers the
      // batches of the epochs before k's, and batches k - r to k - 1 of k's epoch follow it.
      let epochIndex = resumed + 1 + Math.floor(Math.random() * 6);
      while (depthAt(epochIndex * BATCHES_PER_EPOCH) !== 0) epochIndex++;
      const killAt = epochIndex * BATCHES_PER_EPOCH + 1 + Math.floor(Math.random() * (BATCHES_PER_EPOCH - 1));
      expect(await runWriter(path, killAt)).toBe(`resumed ${resumed}`);

      const store = openStore({ path });
      expect(store.epoch()).toBe(BigInt(epochIndex));
      // Endpoints must be open to be rolled back. Before: exactly the committed batches.
      const before = views(store);
      const committed = await reference(join(dir, `committed-${round}`), killAt);
      expect(before).toEqual(views(committed));
      await committed.close();

      await store.rollbackTo(BigInt(epochIndex));
      const got = views(store);
      await store.close();
      const marked = await reference(join(dir, `marked-${round}`), epochIndex * BATCHES_PER_EPOCH);
      expect(got).toEqual(views(marked));
      await marked.close();
      expect(got).not.toEqual(before);
      resumed = epochIndex;
    }
  }, 180_000);
});
