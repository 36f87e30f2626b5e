import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '@dozer/core';
import { InvalidQueryError, StoreError } from './errors.js';
import type { WireFilter, WireQuery } from './internal/query-wire.js';

/** A read asked of a read thread: an endpoint (its name and stored layout) and the query. */
export type ReadRequest =
  | { readonly op: 'page'; readonly name: string; readonly meta: string; readonly query: WireQuery }
  | { readonly op: 'count'; readonly name: string; readonly meta: string; readonly filter?: WireFilter };

/** A page as a read thread answers it: the rows' stored encodings, one after another. */
export interface EncodedPage {
  readonly bytes: Uint8Array;
  /** Where each row starts in `bytes`. */
  readonly offsets: readonly number[];
  readonly cursor?: string;
}

/** What a read thread posts back. */
export type ReadReply =
  | { readonly id: number; readonly ok: true; readonly page?: EncodedPage; readonly count?: number }
  | { readonly id: number; readonly ok: false; readonly error: { name: string; message: string } };

/** What a read thread is started with. */
export interface ReadThreadInit {
  readonly path: string;
  readonly maxDbs: number;
  readonly defaultLimit: number;
  readonly maxLimit: number;
}

interface Pending {
  resolve(reply: ReadReply): void;
  reject(e: unknown): void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

const here = import.meta.url;
const ENTRY = new URL(here.endsWith('.ts') ? './read-worker.ts' : './read-worker.js', here);

/**
 * Worker threads that answer the reads a store gives them (queries that
 * scan many rows) over the same LMDB environment, so that the thread that
 * owns the store (the API, the writer) keeps answering meanwhile. Threads
 * start on first use; a thread that dies fails its reads and is replaced by
 * the next one.
 */
export class ReadPool {
  private readonly threads: (Thread | undefined)[];
  private next = 0;
  private seq = 0;
  private closed = false;
  /** Reads answered by the threads. */
  answered = 0;

  constructor(
    private readonly init: ReadThreadInit,
    size: number,
  ) {
    this.threads = Array.from({ length: size }, () => undefined);
  }

  /** Answers `request` on the thread with the fewest reads waiting. */
  read(request: ReadRequest): Promise<ReadReply & { ok: true }> {
    if (this.closed) return Promise.reject(new StoreError('the store is closed'));
    let best = this.next;
    let fewest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.threads.length; i++) {
      const at = (this.next + i) % this.threads.length;
      const n = this.threads[at]?.pending.size ?? 0;
      if (n < fewest) {
        fewest = n;
        best = at;
      }
    }
    this.next = (best + 1) % this.threads.length;
    const thread = this.threads[best] ?? this.start(best);
    const id = ++this.seq;
    return new Promise<ReadReply>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ id, ...request });
    }).then((reply) => {
      if (reply.ok) {
        this.answered++;
        return reply;
      }
      const { name, message } = reply.error;
      throw name === 'InvalidQueryError' ? new InvalidQueryError(message) : new StoreError(message);
    });
  }

  private start(at: number): Thread {
    const worker = spawnModuleWorker(ENTRY, 'the store', {
      workerData: this.init,
      name: `store reads ${at + 1}`,
    });
    worker.unref();
    const thread: Thread = { worker, pending: new Map() };
    this.threads[at] = thread;
    const fail = (e: Error) => {
      if (this.threads[at] === thread) this.threads[at] = undefined;
      for (const p of thread.pending.values()) {
        p.reject(
          new StoreError(`a read thread of the store at ${this.init.path} failed: ${e.message}`, {
            cause: e,
          }),
        );
      }
      thread.pending.clear();
    };
    worker.on('message', (reply: ReadReply) => {
      const p = thread.pending.get(reply.id);
      if (p === undefined) return;
      thread.pending.delete(reply.id);
      p.resolve(reply);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`it exited (code ${code})`));
    });
    return thread;
  }

  /** Stops the threads; reads still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.threads.filter((t): t is Thread => t !== undefined);
    this.threads.fill(undefined);
    for (const t of running) {
      for (const p of t.pending.values()) p.reject(new StoreError('the store is closed'));
      t.pending.clear();
    }
    await Promise.all(running.map((t) => t.worker.terminate()));
  }
}
