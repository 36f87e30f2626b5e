import type { SourcePosition } from '@dozer/core';
import { type CheckpointStore, consoleSnapshotLogger, type SnapshotLogger } from './checkpoint-store.js';
import { CheckpointAbortedError, SnapshotError } from './errors.js';
import { checkEpoch } from './internal/bytes.js';
import type { CheckpointManifest } from './manifest.js';
import type { StateObjectRef } from './state-object.js';

/** What a participant contributes to the manifest of an epoch when it acknowledges it. */
export interface CheckpointAck {
  /** Positions of the sources this participant reads, at the barrier (a source's "state written"). */
  readonly sources?: ReadonlyMap<string, SourcePosition>;
  /** State chains of the operators this participant runs (an operator's "state written"). */
  readonly operators?: ReadonlyMap<string, readonly StateObjectRef[]>;
  /** The epoch the store committed at the barrier (the store's "sink reached"). */
  readonly storeEpoch?: bigint;
}

/** How an epoch ended. */
export type CheckpointOutcome =
  | { readonly epoch: bigint; readonly status: 'complete'; readonly manifest: CheckpointManifest }
  | { readonly epoch: bigint; readonly status: 'aborted'; readonly error: CheckpointAbortedError };

export interface CheckpointCoordinatorOptions {
  readonly store: CheckpointStore;
  /**
   * Everyone who must acknowledge an epoch before its manifest is written:
   * sources (positions), stateful operators (state written), sinks and the
   * store (barrier reached).
   */
  readonly participants: readonly string[];
  /** Starts epoch `epoch`: the sources inject its barrier. A throw aborts the epoch. */
  readonly inject: (epoch: bigint) => void | Promise<void>;
  /** Trigger an epoch this often once {@link CheckpointCoordinator.start} ran; none when absent (on demand only). */
  readonly intervalMs?: number;
  /** The first epoch to assign; default 1. After a restart: one above the newest epoch `store.list()` shows. */
  readonly firstEpoch?: bigint;
  /** After each completed checkpoint, keep this many complete checkpoints (see `CheckpointStore.retain`); none when absent. */
  readonly retain?: number;
  /** Abort an epoch that is not acknowledged by everyone within this long; default 10 minutes. */
  readonly timeoutMs?: number;
  /** The manifest's creation time; default `new Date()`. */
  readonly now?: () => Date;
  /** Where aborted epochs, failed retention and failed listeners are reported; default `console.warn`. */
  readonly logger?: SnapshotLogger;
}

/**
 * Runs checkpoints: assigns epochs (on an interval or on demand), starts
 * each by asking the sources to inject its barrier, collects every
 * participant's acknowledgement for it, writes the manifest, and only then
 * tells the listeners the epoch is complete (that is when sources may
 * confirm their positions upstream). One epoch is in flight at a time.
 *
 * A participant that fails, an `inject` that throws, a manifest that
 * cannot be written or a timeout aborts the epoch: no manifest, the abort
 * listeners are told, and the next epoch proceeds with a new number
 * (barriers of the aborted one may still be in the pipeline).
 */
export interface CheckpointCoordinator {
  /** Starts a checkpoint now (after the one in flight, if any) and resolves with how it ended. */
  trigger(): Promise<CheckpointOutcome>;
  /**
   * Records `participant`'s acknowledgement of `epoch`. Returns false for an
   * epoch that is no longer in flight (aborted or complete: late
   * acknowledgements are dropped). @throws SnapshotError for an unknown
   * participant, a repeated acknowledgement or an epoch not yet started.
   */
  acknowledge(epoch: bigint, participant: string, ack?: CheckpointAck): boolean;
  /** `participant` could not checkpoint `epoch`: aborts it. Returns false when it is no longer in flight. */
  fail(epoch: bigint, participant: string, error: unknown): boolean;
  /** Called with each manifest once written, in epoch order; returns an unsubscribe function. */
  onComplete(listener: (manifest: CheckpointManifest) => void | Promise<void>): () => void;
  /** Called with each aborted epoch; returns an unsubscribe function. */
  onAbort(listener: (error: CheckpointAbortedError) => void | Promise<void>): () => void;
  /** Starts the interval timer (when `intervalMs` is set). */
  start(): void;
  /** Stops the timer and aborts the epoch in flight; resolves once it has ended. */
  close(): Promise<void>;
  /** The epoch in flight, if any. */
  readonly inFlight: bigint | undefined;
  /** The epoch the next checkpoint gets. */
  readonly nextEpoch: bigint;
  /** The newest epoch whose manifest this coordinator wrote. */
  readonly lastCompleted: bigint | undefined;
}

interface Flight {
  readonly epoch: bigint;
  readonly waiting: Set<string>;
  readonly sources: Map<string, SourcePosition>;
  readonly operators: Map<string, readonly StateObjectRef[]>;
  storeEpoch: bigint | null;
  /** Set when every participant acknowledged, or on the first failure. */
  settle: (failure: CheckpointAbortedError | undefined) => void;
  settled: boolean;
}

/** Creates a {@link CheckpointCoordinator}. */
export function createCheckpointCoordinator(options: CheckpointCoordinatorOptions): CheckpointCoordinator {
  const participants = [...options.participants];
  if (participants.length === 0) {
    throw new SnapshotError('createCheckpointCoordinator: at least one participant must acknowledge epochs', {
      code: 'CONFIG',
    });
  }
  if (new Set(participants).size !== participants.length) {
    throw new SnapshotError(
      `createCheckpointCoordinator: participant names repeat: ${participants.join(', ')}`,
      {
        code: 'CONFIG',
      },
    );
  }
  const known = new Set(participants);
  const logger = options.logger ?? consoleSnapshotLogger;
  const now = options.now ?? (() => new Date());
  const timeoutMs = options.timeoutMs ?? 600_000;
  if (options.intervalMs !== undefined && !(options.intervalMs > 0)) {
    throw new SnapshotError(
      `createCheckpointCoordinator: intervalMs must be > 0, got ${options.intervalMs}`,
      {
        code: 'CONFIG',
      },
    );
  }
  if (options.retain !== undefined && (!Number.isSafeInteger(options.retain) || options.retain < 1)) {
    throw new SnapshotError(
      `createCheckpointCoordinator: retain must be an integer ≥ 1, got ${options.retain}`,
      {
        code: 'CONFIG',
      },
    );
  }
  let next = options.firstEpoch ?? 1n;
  checkEpoch(next, 'createCheckpointCoordinator: firstEpoch');
  let flight: Flight | undefined;
  let lastCompleted: bigint | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const completeListeners = new Set<(m: CheckpointManifest) => void | Promise<void>>();
  const abortListeners = new Set<(e: CheckpointAbortedError) => void | Promise<void>>();

  const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

  async function notify<T>(listeners: Set<(x: T) => void | Promise<void>>, x: T, what: string) {
    for (const l of [...listeners]) {
      try {
        await l(x);
      } catch (e) {
        logger.warn(`a checkpoint ${what} listener failed: ${message(e)}`);
      }
    }
  }

  async function run(): Promise<CheckpointOutcome> {
    if (closed) {
      return {
        epoch: next,
        status: 'aborted',
        error: new CheckpointAbortedError(next, 'the coordinator was closed'),
      };
    }
    const epoch = next++;
    let settle!: (f: CheckpointAbortedError | undefined) => void;
    const settled = new Promise<CheckpointAbortedError | undefined>((resolve) => {
      settle = resolve;
    });
    const f: Flight = {
      epoch,
      waiting: new Set(participants),
      sources: new Map(),
      operators: new Map(),
      storeEpoch: null,
      settled: false,
      settle: (failure) => {
        if (f.settled) return;
        f.settled = true;
        settle(failure);
      },
    };
    flight = f;
    const timeout = setTimeout(() => {
      f.settle(
        new CheckpointAbortedError(
          epoch,
          `not acknowledged within ${timeoutMs} ms by ${[...f.waiting].map((p) => `"${p}"`).join(', ')}`,
        ),
      );
    }, timeoutMs);
    timeout.unref();
    let failure: CheckpointAbortedError | undefined;
    try {
      try {
        await options.inject(epoch);
      } catch (e) {
        f.settle(
          new CheckpointAbortedError(epoch, `injecting its barrier failed: ${message(e)}`, { cause: e }),
        );
      }
      failure = await settled;
    } finally {
      clearTimeout(timeout);
      flight = undefined;
    }
    if (failure === undefined) {
      const manifest: CheckpointManifest = {
        epoch,
        createdAt: now(),
        storeEpoch: f.storeEpoch,
        sources: f.sources,
        operators: f.operators,
      };
      try {
        await options.store.commit(manifest);
      } catch (e) {
        failure = new CheckpointAbortedError(epoch, `writing its manifest failed: ${message(e)}`, {
          cause: e,
        });
      }
      if (failure === undefined) {
        lastCompleted = epoch;
        if (options.retain !== undefined) {
          try {
            await options.store.retain(options.retain);
          } catch (e) {
            logger.warn(`checkpoint ${epoch} is complete but retention failed: ${message(e)}`);
          }
        }
        await notify(completeListeners, manifest, 'complete');
        return { epoch, status: 'complete', manifest };
      }
    }
    logger.warn(failure.message, { epoch: epoch.toString() });
    await notify(abortListeners, failure, 'abort');
    return { epoch, status: 'aborted', error: failure };
  }

  function trigger(): Promise<CheckpointOutcome> {
    if (closed) return Promise.reject(new SnapshotError('the checkpoint coordinator is closed'));
    const r = queue.then(run);
    queue = r.catch(() => {});
    return r;
  }

  function current(epoch: bigint, participant: string, what: string): Flight | undefined {
    checkEpoch(epoch, what);
    if (!known.has(participant)) {
      throw new SnapshotError(
        `${what}: unknown participant "${participant}"; the participants are: ${participants.map((p) => `"${p}"`).join(', ')}`,
      );
    }
    if (flight !== undefined && flight.epoch === epoch && !flight.settled) return flight;
    if (epoch >= next) {
      throw new SnapshotError(
        `${what}: epoch ${epoch} of "${participant}" has not started (the next is ${next})`,
      );
    }
    return undefined;
  }

  return {
    trigger,

    acknowledge(epoch, participant, ack = {}) {
      const f = current(epoch, participant, 'acknowledge');
      if (f === undefined) return false;
      if (!f.waiting.has(participant)) {
        throw new SnapshotError(`acknowledge: "${participant}" acknowledged epoch ${epoch} twice`);
      }
      if (ack.storeEpoch !== undefined)
        checkEpoch(ack.storeEpoch, `acknowledge of "${participant}": storeEpoch`);
      const clash =
        [...(ack.sources?.keys() ?? [])]
          .filter((n) => f.sources.has(n))
          .map((n) => `the position of source "${n}"`)[0] ??
        [...(ack.operators?.keys() ?? [])]
          .filter((n) => f.operators.has(n))
          .map((n) => `the state of operator "${n}"`)[0] ??
        (ack.storeEpoch !== undefined && f.storeEpoch !== null ? 'the store epoch' : undefined);
      if (clash !== undefined) {
        f.settle(
          new CheckpointAbortedError(
            epoch,
            `${clash} was reported by "${participant}" and by another participant`,
          ),
        );
        return true;
      }
      for (const [name, pos] of ack.sources ?? []) f.sources.set(name, pos);
      for (const [id, chain] of ack.operators ?? []) f.operators.set(id, chain);
      if (ack.storeEpoch !== undefined) f.storeEpoch = ack.storeEpoch;
      f.waiting.delete(participant);
      if (f.waiting.size === 0) f.settle(undefined);
      return true;
    },

    fail(epoch, participant, error) {
      const f = current(epoch, participant, 'fail');
      if (f === undefined) return false;
      f.settle(
        new CheckpointAbortedError(epoch, `participant "${participant}" failed: ${message(error)}`, {
          cause: error,
        }),
      );
      return true;
    },

    onComplete(listener) {
      completeListeners.add(listener);
      return () => completeListeners.delete(listener);
    },

    onAbort(listener) {
      abortListeners.add(listener);
      return () => abortListeners.delete(listener);
    },

    start() {
      if (closed) throw new SnapshotError('the checkpoint coordinator is closed');
      if (options.intervalMs === undefined || timer !== undefined) return;
      timer = setInterval(() => {
        // A tick while an epoch is in flight is skipped, not queued: checkpoints never pile up.
        if (flight !== undefined) return;
        trigger().catch((e) => logger.warn(`a scheduled checkpoint failed: ${message(e)}`));
      }, options.intervalMs);
      timer.unref();
    },

    async close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      flight?.settle(new CheckpointAbortedError(flight.epoch, 'the coordinator was closed'));
      await queue;
    },

    get inFlight() {
      return flight?.epoch;
    },
    get nextEpoch() {
      return next;
    },
    get lastCompleted() {
      return lastCompleted;
    },
  };
}
