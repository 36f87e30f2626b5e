import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { processAlive } from '@dozer/core';
import { StoreError } from './errors.js';

/**
 * The file naming the process that writes the store at `storePath`:
 * `writer.lock` in its directory, or `<file>-writer.lock` beside a store
 * kept in one file (a path with an extension, as lmdb-js takes it).
 */
export function writerLockFile(storePath: string): string {
  const p = path.resolve(storePath);
  return path.extname(p) ? `${p}-writer.lock` : path.join(p, 'writer.lock');
}

/** Who holds a store directory's writer lock. */
export interface WriterLockHolder {
  readonly pid: number;
  readonly host: string;
  /** The process's start time as the kernel counts it (Linux), to tell a reused pid apart. */
  readonly start: string | null;
  /** The worker thread (`threadId`, 0 for the main thread). */
  readonly thread: number;
}

/** The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or null off Linux. */
function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function readHolder(file: string): WriterLockHolder | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as Partial<WriterLockHolder>;
    if (typeof v.pid === 'number' && typeof v.host === 'string') {
      return {
        pid: v.pid,
        host: v.host,
        start: typeof v.start === 'string' ? v.start : null,
        thread: typeof v.thread === 'number' ? v.thread : 0,
      };
    }
  } catch {
    // A lock file cut short by a crash while it was written: nobody holds it.
  }
  return { pid: 0, host: os.hostname(), start: null, thread: 0 };
}

/**
 * Whether the holder of a lock still runs: on another host it cannot be
 * checked, so it counts as running; here, its pid must run and (on Linux)
 * have started when the holder did. A lock of this very process is held
 * (by a thread of it that has not closed its store).
 */
function holding(h: WriterLockHolder): boolean {
  if (h.host !== os.hostname()) return true;
  if (h.pid <= 0 || !processAlive(h.pid)) return false;
  return h.start === null || startTime(h.pid) === h.start;
}

/**
 * The process writing the store at `storePath` (holding its writer lock),
 * or undefined when no running process does.
 */
export function storeWriter(storePath: string): WriterLockHolder | undefined {
  const h = readHolder(writerLockFile(storePath));
  return h !== undefined && holding(h) ? h : undefined;
}

/**
 * Takes a store's writer lock, `file` (its directory must exist): a file
 * naming this process, created only when absent, or taken over when the
 * process it names no longer runs. Returns its release. `shown` names the
 * store in messages.
 */
export function takeWriterLock(file: string, shown: string): () => void {
  const me: WriterLockHolder = {
    pid: process.pid,
    host: os.hostname(),
    start: startTime(process.pid),
    thread: threadId,
  };
  const text = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, text, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        throw new StoreError(
          `cannot take the writer lock of the store at ${shown} (${file}): ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
    }
    const holder = readHolder(file);
    if (holder !== undefined && holding(holder)) {
      const where =
        holder.host !== me.host
          ? `process ${holder.pid} on host ${holder.host}`
          : holder.pid === me.pid
            ? `${holder.thread === 0 ? 'the main thread' : `thread ${holder.thread}`} of this process`
            : `process ${holder.pid}`;
      throw new StoreError(
        `the store at ${shown} is being written by ${where} (it holds ${file}): a store has one writer; stop that process or use another directory. If it no longer runs, delete ${file}`,
      );
    }
    // Left by a process that is gone: take it over.
    fs.rmSync(file, { force: true });
  }
  return () => {
    const h = readHolder(file);
    if (h !== undefined && h.pid === me.pid && h.host === me.host && h.thread === me.thread) {
      fs.rmSync(file, { force: true });
    }
  };
}
