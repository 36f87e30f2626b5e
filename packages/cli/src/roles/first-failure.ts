/**
 * How a running role ends on its first failure: `stopWith(e)` records `e`
 * (once; later failures, and failures while stopping, are ignored), rejects
 * `failed` with it and aborts `abort`, which stops the role's loops.
 */
export interface FirstFailure {
  /** Rejects with the first failure; never resolves. */
  readonly failed: Promise<never>;
  /** The first failure, `undefined` while there is none. */
  readonly error: unknown;
  stopWith(e: unknown): void;
}

export function firstFailure(abort: AbortController): FirstFailure {
  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  // The caller may look at `failed` only later; the failure stays reported there.
  failed.catch(() => {});
  let error: unknown;
  return {
    failed,
    get error() {
      return error;
    },
    stopWith(e) {
      if (error !== undefined || abort.signal.aborted) return;
      error = e;
      fail(e);
      abort.abort();
    },
  };
}
