import type { Operation, Schema, SourcePosition } from '@dozer/core';
import type { Log, LogQueue } from '@dozer/queue';
import type { CheckpointStore, StateObjectRef } from '@dozer/snapshot';
import type { DozerConfig } from '../config/index.js';
import { UpstreamLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SourceStats } from '../progress.js';
import { alignBarriers } from './align.js';
import { firstFailure } from './first-failure.js';
import type { Transform } from './transform.js';
import type { Upstream } from './upstream.js';
import { Watermarks } from './watermarks.js';

/** What {@link startProcessor} needs. */
export interface ProcessOptions {
  readonly config: DozerConfig;
  /** The schema of every source log (from the ingestor). */
  readonly sourceSchemas: ReadonlyMap<string, Schema>;
  /** The compiled SQL, if the config has any. */
  readonly transform: Transform | undefined;
  /** The ingestor's logs. */
  readonly upstream: Upstream;
  /** Where the outputs go: one log per table an endpoint serves. */
  readonly queue: LogQueue;
  readonly log: Logger;
  /** Readers registered at the start of every output log, so retention keeps their data. */
  readonly readers?: readonly string[];
  /**
   * The output logs hand each appended batch as it is to their first reader
   * in this process (`handOverAppended`): `dozer run`, whose store reads
   * them here, then decodes none of them.
   */
  readonly handOverOutputs?: boolean;
  /**
   * Called after an input entry carrying a source position went through the
   * SQL and its outputs were appended, with the `next` offset of every
   * output log at that moment: once each output log is served up to
   * there, the position is safe to acknowledge.
   */
  readonly onProcessed?: (
    source: string,
    position: SourcePosition,
    outputNext: ReadonlyMap<string, bigint>,
  ) => void;
  /**
   * Where the SQL state of each checkpoint goes. At the barrier of epoch E
   * (once it arrived on every input) the state is captured, the barrier is
   * appended to every output after the results of what came before it, and
   * `onState` is called once the state is written (`onStateFailed` if not).
   * Without it barriers are still aligned and forwarded, with no state.
   */
  readonly checkpoints?: {
    readonly store: CheckpointStore;
    onState(epoch: bigint, operators: Map<string, readonly StateObjectRef[]>): void;
    onStateFailed(epoch: bigint, error: unknown): void;
  };
  /** The logs to read (default every source); one of several processors also reads others' INTO tables. */
  readonly inputs?: readonly string[];
  /** The logs to write (default {@link outputTables}). */
  readonly outputs?: readonly string[];
}

/** A running processor. */
export interface RunningProcessor {
  /** Per input log: entries and ops read. `snapshotDone` means it caught up with the log's end when it connected. */
  readonly inputs: readonly SourceStats[];
  /** The output log of each endpoint table. */
  readonly outputs: ReadonlyMap<string, Log>;
  /** The next offset to process in each input log. */
  readonly watermarks: Watermarks;
  /** Rejects on the first failure (upstream lost, SQL or log error); never resolves. */
  readonly failed: Promise<never>;
  /** Stops reading and waits for the entry in flight. */
  stop(): Promise<void>;
}

/**
 * The tables the processor writes: each one an endpoint serves, an SQL
 * output or a source (a source served directly is forwarded as it is, so
 * the API role reads every endpoint table from the processor alone).
 */
export function outputTables(config: DozerConfig): string[] {
  return [...new Set(config.endpoints.map((e) => e.table_name))];
}

/**
 * Reads every source log of the ingestor from its first offset (segments
 * from the object store, then the live stream), runs the batches through
 * the SQL one at a time, and appends what changes in each endpoint table
 * to that table's output log. A restarted processor reads from offset 0
 * again (its upstream's logs then start at the checkpoint its state was
 * restored from, or at the beginning), which is why readers here commit
 * nothing (retention would delete what that needs).
 */
export async function startProcessor(options: ProcessOptions): Promise<RunningProcessor> {
  const { config, queue, transform, upstream } = options;
  const outputs = new Map<string, Log>();
  for (const table of options.outputs ?? outputTables(config)) {
    const schema = transform?.outputs.get(table) ?? options.sourceSchemas.get(table)!;
    outputs.set(
      table,
      await queue.openLog(table, schema, {
        readers: options.readers ?? [],
        handOverAppended: options.handOverOutputs === true,
      }),
    );
  }
  const inputNames = options.inputs ?? config.sources.map((s) => s.name);
  const forwarded = new Set(inputNames.filter((name) => outputs.has(name) && !transform?.outputs.has(name)));
  const sqlInputs = new Set(transform?.inputs ?? []);
  const watermarks = new Watermarks();
  const abort = new AbortController();
  const failure = firstFailure(abort);
  const { failed, stopWith } = failure;

  const append = async (writes: Map<string, Operation[]>): Promise<void> => {
    await Promise.all(
      [...writes].map(([table, ops]) => outputs.get(table)!.append({ table, ops, position: null })),
    );
  };
  const collect = (into: Map<string, Operation[]>, table: string, ops: readonly Operation[]) => {
    if (ops.length === 0 || !outputs.has(table)) return;
    const list = into.get(table);
    if (list) list.push(...ops);
    else into.set(table, [...ops]);
  };

  // Results are appended one entry at a time, in the order the entries were pushed into the
  // SQL (the transform keeps that order); the chain's depth is each reader's backpressure.
  let chain: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void>): Promise<void> => {
    const next = chain.then(() => {
      if (failure.error !== undefined) throw failure.error;
      return work();
    });
    chain = next.catch(stopWith);
    return next;
  };

  if (transform) {
    // Called before any push: the rows of statements without FROM come first.
    const started = transform.start();
    started.catch(() => {});
    void enqueue(async () => {
      const writes = new Map<string, Operation[]>();
      for (const [table, ops] of await started) collect(writes, table, ops);
      await append(writes);
    }).catch(() => {});
  }

  const described = await upstream.logs();
  const inputs: SourceStats[] = inputNames.map((name) => ({
    name,
    ops: 0,
    batches: 0,
    snapshotDone: (described.get(name)?.next ?? 0n) === 0n,
    finished: false,
  }));
  // With a threaded transform several entries are in flight: each one's push starts as it is
  // read (in read order, which the transform keeps), and its results are appended in the same
  // order by the chain. A reader waits for a free slot, not for its entry to be appended.
  const maxInFlight = Math.max(1, transform?.maxInFlight ?? 1);
  let inFlight = 0;
  const slotWaiters: Array<() => void> = [];
  const takeSlot = async (): Promise<void> => {
    while (inFlight >= maxInFlight) await new Promise<void>((r) => slotWaiters.push(r));
    inFlight++;
  };
  const releaseSlot = () => {
    inFlight--;
    slotWaiters.shift()?.();
  };

  // Aligned barriers: an input that reads the barrier of epoch E stops until E arrived on every
  // input. Then every push of an entry before the barrier has been called and none after it, so
  // the state captured now is the state of E; the barrier follows their results in every output.
  const barrier = alignBarriers(inputNames.length, (epoch: bigint) => {
    const cp = options.checkpoints;
    if (cp && transform) {
      const captured = transform.checkpoint(epoch, cp.store);
      captured.then(
        (operators) => cp.onState(epoch, operators),
        (e: unknown) => cp.onStateFailed(epoch, e),
      );
    } else if (cp) {
      queueMicrotask(() => cp.onState(epoch, new Map()));
    }
    void enqueue(async () => {
      await Promise.all([...outputs.values()].map((l) => l.appendBarrier(epoch)));
    }).catch(() => {});
  });

  const readers = inputNames.map(async (name, i) => {
    const source = { name };
    const stats = inputs[i]!;
    const caughtUpAt = described.get(source.name)?.next ?? 0n;
    try {
      for await (const entry of upstream.read(source.name, 0n, abort.signal)) {
        const batch = entry.batch;
        const next = entry.offset + 1n;
        if (failure.error !== undefined) throw failure.error;
        if (batch === null) {
          const message = entry.message;
          if (message.kind === 'barrier') await barrier(message.epoch);
          if (abort.signal.aborted) return;
        }
        const pushed =
          batch !== null && transform && sqlInputs.has(source.name)
            ? transform.push(source.name, batch.ops)
            : undefined;
        // Awaited by the entry's turn in the chain; until then a failure is not unhandled.
        pushed?.catch(() => {});
        await takeSlot();
        const done = enqueue(async () => {
          if (batch !== null) {
            stats.ops += batch.ops.length;
            stats.batches += 1;
            const writes = new Map<string, Operation[]>();
            if (forwarded.has(source.name)) collect(writes, source.name, batch.ops);
            if (pushed) {
              for (const [table, ops] of await pushed) collect(writes, table, ops);
            }
            await append(writes);
            if (batch.position !== null && options.onProcessed) {
              options.onProcessed(
                source.name,
                batch.position,
                new Map([...outputs].map(([t, l]) => [t, l.next])),
              );
            }
          }
          watermarks.set(source.name, next);
          if (next >= caughtUpAt) stats.snapshotDone = true;
        }).finally(releaseSlot);
        if (maxInFlight === 1) await done;
        else done.catch(() => {});
      }
    } catch (e) {
      if (abort.signal.aborted) return;
      stopWith(readError(e, upstream.label, source.name));
    }
  });

  let stopped = false;
  return {
    inputs,
    outputs,
    watermarks,
    failed,
    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      await Promise.allSettled(readers);
      await chain;
      await transform?.close();
    },
  };
}

/** A failed read of an upstream log: a lost connection is an {@link UpstreamLostError}, the rest as it is. */
export function readError(e: unknown, upstream: string, log: string): Error {
  // Already named after the one upstream of several that was lost (`combineUpstreams`).
  if (e instanceof UpstreamLostError) return e;
  if ((e as { retryable?: boolean }).retryable === true) return new UpstreamLostError(upstream, log, e);
  return e instanceof Error ? e : new Error(String(e));
}
