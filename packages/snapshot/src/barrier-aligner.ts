import type { Barrier } from '@dozer/core';
import { BarrierOrderError, SnapshotError } from './errors.js';
import { checkEpoch } from './internal/bytes.js';

/** The non-barrier messages of a stream type: `AlignedData<StreamMessage>` is the batch message. */
export type AlignedData<M> = Exclude<M, Barrier>;

export interface BarrierAlignerOptions<M extends { readonly kind: string }> {
  /** Names of the operator's inputs; each must carry every epoch's barrier (until it ends). */
  readonly inputs: readonly string[];
  /** Processes one data message of `input`. Never called for an input while it is blocked. */
  readonly onData: (input: string, message: AlignedData<M>) => void | Promise<void>;
  /** Snapshots the operator's state for `epoch`: every input has delivered exactly what precedes its barrier. */
  readonly onSnapshot: (epoch: bigint) => void | Promise<void>;
  /** Forwards the barrier of `epoch` downstream; runs right after {@link onSnapshot}, before any held data. */
  readonly onForward: (epoch: bigint) => void | Promise<void>;
  /** The epoch the operator's state was restored from: barriers must be above it. */
  readonly after?: bigint;
}

/**
 * Aligns checkpoint barriers across the inputs of one operator
 * (Chandy–Lamport with aligned barriers, as in Flink). After the barrier of
 * epoch E arrives on an input, that input's later messages are held until
 * E arrived on every input; then `onSnapshot(E)` runs, then `onForward(E)`,
 * then the held messages are released in the order they arrived.
 *
 * Calls are serialized: each `push`/`end` resolves once its message was
 * delivered or held, and callbacks never overlap, even if the caller does
 * not await. A barrier out of order rejects its `push` with
 * {@link BarrierOrderError} naming the input and leaves the aligner as it
 * was; a callback that throws fails the aligner for good (every later call
 * rejects with that cause), as the operator's state is then unknown.
 *
 * Held messages are buffered in memory; a runtime that can stop reading an
 * input should not read it while {@link BarrierAligner.isBlocked} is true.
 */
export interface BarrierAligner<M extends { readonly kind: string }> {
  /** Delivers a message of `input`: data, or a `{ kind: 'barrier', epoch }`. */
  push(input: string, message: M | Barrier): Promise<void>;
  /** `input` has no more messages: later epochs align without it. */
  end(input: string): Promise<void>;
  /** True while `input` delivered the barrier being aligned and its messages are held. */
  isBlocked(input: string): boolean;
  /** The epoch being aligned, if a barrier arrived on some but not yet all inputs. */
  readonly aligning: bigint | undefined;
  /** The last epoch snapshotted and forwarded. */
  readonly lastEpoch: bigint | undefined;
  /** Messages held back, on all inputs. */
  readonly held: number;
}

type Item<M> = { readonly kind: 'message'; readonly message: M | Barrier } | { readonly kind: 'end' };

const isBarrier = (m: { readonly kind: string }): m is Barrier => m.kind === 'barrier';

/** Creates a {@link BarrierAligner} over `options.inputs`. */
export function createBarrierAligner<M extends { readonly kind: string }>(
  options: BarrierAlignerOptions<M>,
): BarrierAligner<M> {
  const inputs = [...options.inputs];
  if (inputs.length === 0)
    throw new SnapshotError('createBarrierAligner: an operator needs at least one input');
  if (new Set(inputs).size !== inputs.length) {
    throw new SnapshotError(`createBarrierAligner: input names repeat: ${inputs.join(', ')}`);
  }
  if (options.after !== undefined) checkEpoch(options.after, 'createBarrierAligner: after');
  const known = new Set(inputs);
  const lastSeen = new Map<string, bigint>();
  const blocked = new Set<string>();
  const ended = new Set<string>();
  let held: { input: string; item: Item<M> }[] = [];
  let aligning: bigint | undefined;
  let lastEpoch = options.after;
  let failure: unknown;
  let queue: Promise<unknown> = Promise.resolve();

  const names = (xs: Iterable<string>) => [...xs].map((x) => `"${x}"`).join(', ');

  function serial(step: () => Promise<void>): Promise<void> {
    const run = queue.then(step);
    queue = run.catch(() => {});
    return run;
  }

  /** Checks done when a message arrives; a failure rejects only that message. */
  function admit(input: string, item: Item<M>): void {
    if (failure !== undefined) {
      throw new SnapshotError(
        `the barrier aligner failed earlier (${(failure as Error).message ?? String(failure)}); it accepts no more messages`,
        { cause: failure },
      );
    }
    if (!known.has(input)) {
      throw new SnapshotError(`unknown input "${input}"; the operator's inputs are: ${names(inputs)}`);
    }
    if (ended.has(input) || held.some((h) => h.input === input && h.item.kind === 'end')) {
      throw new SnapshotError(`input "${input}" sent a message after it ended`);
    }
    if (item.kind !== 'message' || !isBarrier(item.message)) return;
    const epoch = item.message.epoch;
    checkEpoch(epoch, `barrier on input "${input}"`);
    const last = lastSeen.get(input) ?? options.after;
    if (last !== undefined && epoch <= last) {
      throw new BarrierOrderError(
        input,
        epoch,
        `input "${input}" sent barrier ${epoch} after barrier ${last}; epochs must increase`,
      );
    }
    if (!blocked.has(input) && aligning !== undefined && epoch !== aligning) {
      throw new BarrierOrderError(
        input,
        epoch,
        `input "${input}" sent barrier ${epoch} while inputs ${names(blocked)} are aligned on barrier ${aligning}; ` +
          'every input must carry every epoch, in order',
      );
    }
    lastSeen.set(input, epoch);
  }

  const allAligned = () => inputs.every((i) => ended.has(i) || blocked.has(i));

  async function handle(input: string, item: Item<M>): Promise<void> {
    if (blocked.has(input)) {
      held.push({ input, item });
      return;
    }
    if (item.kind === 'end') {
      ended.add(input);
      if (aligning !== undefined && allAligned()) await completeAlignment();
      return;
    }
    const message = item.message;
    if (!isBarrier(message)) {
      await options.onData(input, message as AlignedData<M>);
      return;
    }
    if (aligning === undefined) aligning = message.epoch;
    else if (message.epoch !== aligning) {
      throw new BarrierOrderError(
        input,
        message.epoch,
        `input "${input}" sent barrier ${message.epoch} while inputs ${names(blocked)} are aligned on barrier ${aligning}; ` +
          'every input must carry every epoch, in order',
      );
    }
    blocked.add(input);
    if (allAligned()) await completeAlignment();
  }

  async function completeAlignment(): Promise<void> {
    const epoch = aligning!;
    await options.onSnapshot(epoch);
    await options.onForward(epoch);
    lastEpoch = epoch;
    aligning = undefined;
    blocked.clear();
    const release = held;
    held = [];
    // A held barrier may block its input again; its later messages then go back to `held`, in order.
    for (const h of release) await handle(h.input, h.item);
  }

  function accept(input: string, item: Item<M>): Promise<void> {
    return serial(async () => {
      admit(input, item);
      try {
        await handle(input, item);
      } catch (e) {
        failure = e;
        throw e;
      }
    });
  }

  return {
    push: (input, message) => accept(input, { kind: 'message', message }),
    end: (input) => accept(input, { kind: 'end' }),
    isBlocked: (input) => blocked.has(input),
    get aligning() {
      return aligning;
    },
    get lastEpoch() {
      return lastEpoch;
    },
    get held() {
      return held.length;
    },
  };
}
