// One process writes a store: a second process (or thread) opening the same directory is refused
// with a message naming the writer, until the writer closes it or is gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { insertOp, makeSchema, spawnModuleWorker } from '@dozer/core';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, storeWriter, writerLockFile } from './index.js';

const holder = fileURLToPath(new URL('../test/support/hold-store.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dozer-writer-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'v', type: 'string', nullable: false },
  ],
  ['id'],
);

/** A child process holding the store at `path` open; resolves once it is. */
async function hold(path: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=@dozer/source', '--import', 'tsx', holder, path], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) =>
      d.toString().startsWith('open') ? resolve() : reject(new Error(`holder said ${d}`)),
    );
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  return child;
}

/** A worker thread that tries to open the store at `path` (see open-in-worker.ts). */
const openInWorker = (path: string) =>
  spawnModuleWorker(new URL('../test/support/open-in-worker.ts', import.meta.url), 'the test', {
    workerData: path,
  });

const exited = (child: ChildProcess) => new Promise((r) => child.once('exit', r));

describe('the writer lock of a store directory', () => {
  it('refuses a second process while the first has the store open, and lets it in once closed', async () => {
    const path = join(dir, 'a');
    const first = openStore({ path });
    await first.openEndpoint({ name: 't', schema }).apply([insertOp([1n, 'kept'])]);
    await first.close();

    const child = await hold(path);
    expect(storeWriter(path)?.pid).toBe(child.pid);
    expect(() => openStore({ path })).toThrow(
      `the store at ${path} is being written by process ${child.pid} (it holds ${writerLockFile(path)}): a store has one writer; stop that process or use another directory. If it no longer runs, delete ${writerLockFile(path)}`,
    );
    child.stdin!.write('close\n');
    await exited(child);
    expect(existsSync(writerLockFile(path))).toBe(false);
    expect(storeWriter(path)).toBeUndefined();

    const again = openStore({ path });
    expect(again.openEndpoint({ name: 't', schema }).get([1n])).toEqual([1n, 'kept']);
    expect(storeWriter(path)?.pid).toBe(process.pid);
    await again.close();
    expect(existsSync(writerLockFile(path))).toBe(false);
  });

  it('takes over the lock of a writer killed with SIGKILL, or of a lock file cut short', async () => {
    const path = join(dir, 'b');
    const child = await hold(path);
    child.kill('SIGKILL');
    await exited(child);
    expect(existsSync(writerLockFile(path))).toBe(true);
    expect(storeWriter(path)).toBeUndefined();
    const store = openStore({ path });
    expect(JSON.parse(readFileSync(writerLockFile(path), 'utf8')).pid).toBe(process.pid);
    await store.close();

    writeFileSync(writerLockFile(path), '{"pid": 12');
    await openStore({ path }).close();
  });

  it('refuses a lock held on another host, saying which file to delete if that writer is gone', async () => {
    const path = join(dir, 'c');
    await openStore({ path }).close();
    writeFileSync(
      writerLockFile(path),
      JSON.stringify({ pid: 4242, host: 'elsewhere', start: null, thread: 0 }),
    );
    expect(() => openStore({ path })).toThrow(
      /is being written by process 4242 on host elsewhere .*If it no longer runs, delete .*writer\.lock$/,
    );
    rmSync(writerLockFile(path));
  });

  it('refuses a worker thread of this process while the main thread has the store open', async () => {
    const path = join(dir, 'd');
    const store = openStore({ path });
    const worker = openInWorker(path);
    const said = await new Promise((r) => worker.once('message', r));
    await worker.terminate();
    expect(said).toMatch(/is being written by the main thread of this process/);
    await store.close();
    // Closed: a thread may open it now.
    const next = openInWorker(path);
    expect(await new Promise((r) => next.once('message', r))).toBe('opened');
    await next.terminate();
  });

  it('keeps a store kept in one file (a path with an extension) locked beside it', async () => {
    const path = join(dir, 'e', 'rows.mdb');
    const store = openStore({ path });
    expect(writerLockFile(path)).toBe(`${path}-writer.lock`);
    expect(existsSync(`${path}-writer.lock`)).toBe(true);
    await store.close();
    expect(existsSync(`${path}-writer.lock`)).toBe(false);
  });
});
