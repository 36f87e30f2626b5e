import type { Operation } from '@dozer/core';
import type { EndpointStore } from '@dozer/store';

/**
 * Writes operations into endpoint stores with group commit: everything
 * queued while one commit runs goes into the next one, so a stream of small
 * batches costs few LMDB transactions. Order is kept per endpoint.
 *
 * `add` resolves as soon as the queue has room (at most `maxPendingOps`
 * waiting), which is the backpressure a connector feels; it does not mean
 * the ops are durable. `onCommitted` gets the tokens of the batches whose
 * ops a commit made durable, in the order they were added; that is when a
 * source may be told a position is consumed. After a failed commit every
 * later `add` and `flush` rejects with that error, and nothing is committed
 * any more.
 */
export class GroupWriter<T> {
  private queued = new Map<EndpointStore, Operation[]>();
  private queuedTokens: T[] = [];
  private queuedOps = 0;
  private running: Promise<void> | undefined;
  private failedWith: { error: unknown } | undefined;
  private roomWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private rejectFailed: (error: unknown) => void = () => {};
  /** Rejects with the error of the first failed commit; never resolves. */
  readonly failed: Promise<never>;

  constructor(
    private readonly maxPendingOps: number,
    private readonly onCommitted: (tokens: readonly T[]) => void,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => {});
  }

  /** Queues one batch's writes (per endpoint, in order) with its token. */
  async add(writes: ReadonlyMap<EndpointStore, readonly Operation[]>, token: T): Promise<void> {
    if (this.failedWith) throw this.failedWith.error;
    for (const [store, ops] of writes) {
      if (ops.length === 0) continue;
      const list = this.queued.get(store);
      if (list) for (const op of ops) list.push(op);
      else this.queued.set(store, [...ops]);
      this.queuedOps += ops.length;
    }
    this.queuedTokens.push(token);
    this.start();
    while (this.queuedOps >= this.maxPendingOps && !this.failedWith) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    this.throwIfFailed();
  }

  /** Resolves when everything added so far is committed; rejects after a failed commit. */
  async flush(): Promise<void> {
    while (this.running || this.queuedTokens.length > 0) {
      if (this.failedWith) break;
      this.start();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    if (this.failedWith) throw this.failedWith.error;
  }

  /** The error of the failed commit, if one failed. */
  get failure(): unknown {
    return this.failedWith?.error;
  }

  private start(): void {
    if (this.running || this.failedWith || this.queuedTokens.length === 0) return;
    this.running = this.loop()
      .catch((error: unknown) => {
        if (!this.failedWith) {
          this.failedWith = { error };
          this.rejectFailed(error);
        }
      })
      .finally(() => {
        this.running = undefined;
        this.wake(this.roomWaiters);
        if (this.queuedTokens.length > 0 && !this.failedWith) this.start();
        else this.wake(this.idleWaiters);
      });
  }

  private async loop(): Promise<void> {
    while (this.queuedTokens.length > 0) {
      const writes = this.queued;
      const tokens = this.queuedTokens;
      this.queued = new Map();
      this.queuedTokens = [];
      this.queuedOps = 0;
      this.wake(this.roomWaiters);
      await Promise.all([...writes].map(([store, ops]) => store.apply(ops)));
      this.onCommitted(tokens);
    }
  }

  private throwIfFailed(): void {
    const failed = this.failedWith;
    if (failed) throw failed.error;
  }

  private wake(waiters: Array<() => void>): void {
    const all = waiters.splice(0);
    for (const w of all) w();
  }
}
