// A commit that fails (here: LMDB's writes past a file size limit, as on a full disk) fails its
// apply with a StoreError naming the cause, makes the store refuse later writes, keeps every
// apply that resolved before it, and neither crashes nor hangs the process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { insertOp, makeSchema } from '@dozer/core';
import { afterAll, expect, it } from 'vitest';
import { openStore } from './index.js';

const filler = fileURLToPath(new URL('../test/support/fill-store.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dozer-store-failure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'v', type: 'string', nullable: false },
  ],
  ['id'],
);

it('fails the apply whose commit fails, refuses later writes, and keeps what was committed', async () => {
  const path = join(dir, 'store');
  // A 4 MiB file size limit: LMDB's data file cannot grow past it.
  const child = spawn(
    'bash',
    [
      '-c',
      `ulimit -f 4096; exec "${process.execPath}" --conditions=@dozer/source --import tsx "${filler}" "${path}"`,
    ],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.resume();
  const code = await new Promise((r) => child.once('exit', r));
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(code, out).toBe(0);
  const [failed, after, read, done] = lines;
  expect(lines).toHaveLength(4); // no unhandled rejection was reported
  const committed = failed!.committed as number;
  expect(committed).toBeGreaterThan(5);
  expect(failed!.failed).toBe(committed);
  expect(failed!.message).toMatch(
    /^a write to the store at .*store failed \(.+\); the writes queued after it were not made, the ones before it are kept; the store takes no more writes: restart the process \(after freeing disk space, if that was the cause\)$/,
  );
  // LMDB's own error, not lmdb-js's generic "Commit failed".
  expect(failed!.message).not.toContain('Commit failed');
  expect(after).toEqual({ after: failed!.message });
  expect(read).toEqual({ read: true, count: committed * 200 });
  expect(done).toEqual({ done: true });

  // Without the limit: every apply that resolved is there, the failed one is not, writes work.
  const store = openStore({ path });
  const ep = store.openEndpoint({ name: 't', schema });
  expect(ep.count()).toBe(committed * 200);
  for (let b = 0; b < committed; b++) {
    expect(ep.get([BigInt(b * 200)])).toBeDefined();
    expect(ep.get([BigInt(b * 200 + 199)])).toBeDefined();
  }
  expect(ep.get([BigInt(committed * 200)])).toBeUndefined();
  await ep.apply([insertOp([-1n, 'after'])]);
  expect(ep.get([-1n])).toEqual([-1n, 'after']);
  await store.close();
}, 60_000);
