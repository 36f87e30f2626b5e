import type { Connector } from '@dozer/connectors';
import { compareBytes, encodeSchema, type Schema, type SourcePosition } from '@dozer/core';
import type { Log, LogQueue } from '@dozer/queue';
import type { DozerConfig } from '../config/index.js';
import type { Logger } from '../logger.js';
import type { SourceStats } from '../progress.js';
import type { EncodedIngestSink } from './connector-thread.js';
import { EXACT_CHANGES_LABEL } from './upstream.js';

/** When the ingestor tells a connector that a position is consumed. */
export const AckPolicy = {
  /**
   * Once the log entry carrying it is in a segment in the object store (`dozer ingest`); a log
   * whose oldest unacknowledged position waited 5 s is flushed, so quiet sources get there too.
   */
  offloaded: 'offloaded',
  /** When the caller says so with `acknowledge` (`dozer run`: once the store committed what came of it). */
  caller: 'caller',
} as const;
export type AckPolicy = (typeof AckPolicy)[keyof typeof AckPolicy];

/** What {@link startIngestor} needs. */
export interface IngestOptions {
  readonly config: DozerConfig;
  /** One per connection that a source uses (`planPipeline`). */
  readonly connectors: ReadonlyMap<string, Connector>;
  readonly sourceSchemas: ReadonlyMap<string, Schema>;
  /** The ingestor's queue: one log per source, named after it. */
  readonly queue: LogQueue;
  readonly log: Logger;
  readonly ack: AckPolicy;
  /** Readers registered at the start of every log, so retention keeps their data. */
  readonly readers?: readonly string[];
  /**
   * Where each source resumes (a checkpoint's positions, by source name): its
   * connector continues after that position, skipping its snapshot. Sources
   * not listed start from scratch.
   */
  readonly resumeFrom?: ReadonlyMap<string, SourcePosition>;
  /**
   * Open the logs but start the connectors only on `begin()` (default: at
   * once). `dozer run` serves its restored store first: a resuming
   * connector may replay its own state on the thread before its first write.
   */
  readonly deferStart?: boolean;
  /**
   * Sources whose connector guarantees exact changes (`planPipeline`'s
   * `exactSources`): their logs carry {@link EXACT_CHANGES_LABEL}, so a
   * processor reading them takes their changes as they are.
   */
  readonly exactSources?: ReadonlySet<string>;
  /**
   * Sources whose snapshot can be resumed part-way (`planPipeline`'s
   * `resumableSnapshots`): from their first batch on they do not hold up
   * checkpoints (`resumable`) until their snapshot is done.
   */
  readonly resumableSnapshots?: ReadonlySet<string>;
}

/** A running ingestor. */
export interface RunningIngestor {
  readonly sources: readonly SourceStats[];
  /** The log of each source. */
  readonly logs: ReadonlyMap<string, Log>;
  /** Settles when every connector has finished; rejects on the first failure. */
  readonly finished: Promise<void>;
  /** Tells the source's connector that everything up to `position` is consumed (policy `caller`). */
  acknowledge(source: string, position: SourcePosition): void;
  /**
   * Appends a checkpoint barrier of `epoch` to every source's log, after
   * every batch appended so far (in order, even while appends wait for
   * memory), and returns each source's position at the barrier: where it
   * resumes from a checkpoint of `epoch`. Returns `undefined`, appending
   * nothing, while some source cannot resume from where it is (it has not
   * finished its initial snapshot, which connectors cannot continue
   * part-way).
   */
  barrier(epoch: bigint): Map<string, SourcePosition> | undefined;
  /** Whether a batch was appended since the last barrier (or since the start). */
  readonly changedSinceBarrier: boolean;
  /** Whether every source could resume from where it is: {@link barrier} would inject one. */
  readonly resumable: boolean;
  /** Starts the connectors, if `deferStart` held them back; once. */
  begin(): void;
  /** Stops the connectors and closes them; the queue stays open. */
  stop(): Promise<void>;
}

/** Each schema's encoding, to compare it with a log's (`Log.schemaBytes`). */
const schemaEncodings = new WeakMap<Schema, Uint8Array>();
function encodesAs(schema: Schema, bytes: Uint8Array): boolean {
  let mine = schemaEncodings.get(schema);
  if (mine === undefined) {
    mine = encodeSchema(schema);
    schemaEncodings.set(schema, mine);
  }
  return compareBytes(mine, bytes) === 0;
}

/** How often each connector's lag is asked for (`SourceStats.lag`). */
const LAG_SAMPLE_MS = 1000;

/** How often the `offloaded` policy looks for entries that reached the object store. */
const ACK_SWEEP_MS = 500;

/** Policy `offloaded`: a position that waited this long has its log flushed to the object store. */
const ACK_FLUSH_AFTER_MS = 5000;

/**
 * Opens a log per source in `queue` and runs the connectors: each batch is
 * appended to its source's log, and awaiting the append is the
 * backpressure a connector feels (the log's memory bound, which holds while
 * the object store is slow or unreachable). Sources resume from
 * `options.resumeFrom` (a checkpoint's positions) or start from scratch.
 */
export async function startIngestor(options: IngestOptions): Promise<RunningIngestor> {
  const { config, queue, log } = options;
  const logs = new Map<string, Log>();
  for (const source of config.sources) {
    const schema = options.sourceSchemas.get(source.name)!;
    logs.set(
      source.name,
      await queue.openLog(source.name, schema, {
        readers: options.readers ?? [],
        ...(options.exactSources?.has(source.name) ? { labels: { [EXACT_CHANGES_LABEL]: 'true' } } : {}),
      }),
    );
  }
  const sources: SourceStats[] = config.sources.map((s) => ({
    name: s.name,
    ops: 0,
    batches: 0,
    // A source resumed from a checkpoint is past its snapshot.
    snapshotDone: options.resumeFrom?.has(s.name) ?? false,
    finished: false,
  }));
  const statsByName = new Map(sources.map((s) => [s.name, s]));
  const abort = new AbortController();
  // Per source: the position of the last batch appended (or where its snapshot ended, or where
  // it resumed), and whether it is past its snapshot, i.e. could resume from that position.
  const positions = new Map<string, SourcePosition>(options.resumeFrom ?? []);
  const resumable = new Set<string>(options.resumeFrom?.keys() ?? []);
  let changedSinceBarrier = false;
  const allResumable = () => config.sources.every((s) => resumable.has(s.name));

  const acknowledge = (sourceName: string, table: string, position: SourcePosition): void => {
    const source = config.sources.find((s) => s.name === sourceName)!;
    const connector = options.connectors.get(source.connection);
    if (!connector?.acknowledge) return;
    // A failed acknowledgement only delays the source's cleanup: the next one covers it.
    connector.acknowledge(table, position).catch((e: unknown) => {
      if (!abort.signal.aborted) {
        log.warn(
          `source ${sourceName}: acknowledging position ${position} failed: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    });
  };

  // Policy `offloaded`: the positions appended, oldest first, until their entry leaves memory.
  const unacked = new Map<
    string,
    Array<{ offset: bigint; table: string; position: SourcePosition; at: number }>
  >();
  const flushing = new Set<string>();
  let sweeper: NodeJS.Timeout | undefined;
  if (options.ack === AckPolicy.offloaded) {
    sweeper = setInterval(() => {
      for (const [name, list] of unacked) {
        const sourceLog = logs.get(name)!;
        const offloadedTo = sourceLog.stats().memoryStart;
        let last: (typeof list)[number] | undefined;
        while (list.length > 0 && list[0]!.offset < offloadedTo) last = list.shift();
        if (last) acknowledge(name, last.table, last.position);
        // A quiet source may never fill memory up to the offload threshold; without this its
        // positions would wait forever (and a Postgres slot would hold the server's WAL).
        const oldest = list[0];
        if (oldest && Date.now() - oldest.at >= ACK_FLUSH_AFTER_MS && !flushing.has(name)) {
          flushing.add(name);
          sourceLog
            .flush()
            .catch((e: unknown) => {
              if (!abort.signal.aborted)
                log.warn(`source ${name}: flushing its log failed: ${(e as Error).message}`);
            })
            .finally(() => flushing.delete(name));
        }
      }
    }, ACK_SWEEP_MS);
    sweeper.unref();
  }

  /** Appends a batch of `table` to its source's log with `append`, and accounts for it. */
  const appendBatch = async (
    source: DozerConfig['sources'][number],
    table: string,
    position: SourcePosition | null,
    opCount: number,
    append: (log: Log) => Promise<bigint>,
  ): Promise<void> => {
    // Recorded before the append is queued: a barrier queued after it carries this position.
    if (position !== null) {
      positions.set(source.name, position);
      if (options.resumableSnapshots?.has(source.name)) resumable.add(source.name);
    }
    changedSinceBarrier = true;
    const offset = await append(logs.get(source.name)!);
    const stats = statsByName.get(source.name)!;
    stats.ops += opCount;
    stats.batches += 1;
    if (position !== null && options.ack === AckPolicy.offloaded) {
      const list = unacked.get(source.name) ?? [];
      unacked.set(source.name, list);
      list.push({ offset, table, position, at: Date.now() });
    }
  };

  // Each connector's lag, asked for every second while it runs, lands in its sources' stats.
  let lagTimer: NodeJS.Timeout | undefined;
  let sampling = false;
  const sampleLag = async () => {
    if (sampling) return;
    sampling = true;
    try {
      await Promise.all(
        [...options.connectors].map(async ([connName, connector]) => {
          if (!connector.lag) {
            // It cannot tell: known to be unknown (readiness does not wait for it).
            for (const s of config.sources)
              if (s.connection === connName) {
                const stats = statsByName.get(s.name)!;
                stats.lag ??= { behindOps: null, behindMillis: null, atOps: stats.ops };
              }
            return;
          }
          // A connector that cannot answer now keeps its last figures; the next sample tries again.
          const info = await connector.lag().catch(() => undefined);
          if (info === undefined) return;
          for (const t of info.tables) {
            for (const s of config.sources) {
              if (s.connection !== connName || s.table_name !== t.table) continue;
              const stats = statsByName.get(s.name)!;
              stats.lag = { behindOps: t.behindOps, behindMillis: t.behindMillis, atOps: stats.ops };
            }
          }
        }),
      );
    } finally {
      sampling = false;
    }
  };

  const runs: Promise<void>[] = [];
  let stopped = false;
  let began = false;
  let launched: () => void = () => {};
  const launchedOnce = new Promise<void>((r) => {
    launched = r;
  });
  /** Starts the connectors once; after `stop`, starts none (and `finished` settles all the same). */
  const begin = () => {
    if (began) return;
    began = true;
    if (stopped) {
      launched();
      return;
    }
    for (const [connName, connector] of options.connectors) {
      const connSources = config.sources.filter((s) => s.connection === connName);
      const byTable = new Map(connSources.map((s) => [s.table_name, s]));
      const sink: EncodedIngestSink = {
        write: (batch) =>
          appendBatch(byTable.get(batch.table)!, batch.table, batch.position, batch.ops.length, (l) =>
            l.append(batch),
          ),
        // A connector on its own thread: its batch is appended as it was encoded there
        // when the schema it was encoded with is the log's (it is, unless a bug says otherwise).
        writeEncoded: (batch) =>
          appendBatch(byTable.get(batch.table)!, batch.table, batch.position, batch.opCount, (l) =>
            encodesAs(batch.schema, l.schemaBytes) ? l.appendEncoded(batch.bytes) : l.append(batch.decode()),
          ),
        snapshotDone: async (table, position) => {
          const s = byTable.get(table);
          if (!s) return;
          positions.set(s.name, position);
          resumable.add(s.name);
          const stats = statsByName.get(s.name)!;
          stats.snapshotDone = true;
          log.info(`source ${s.name}: snapshot done (${stats.ops.toLocaleString('en-US')} ops)`);
        },
      };
      runs.push(
        connector
          .start({
            tables: connSources.map((s) => ({
              name: s.table_name,
              ...(s.columns ? { columns: s.columns } : {}),
              resumeFrom: options.resumeFrom?.get(s.name) ?? null,
            })),
            signal: abort.signal,
            sink,
          })
          .then(() => {
            for (const s of connSources) statsByName.get(s.name)!.finished = true;
          }),
      );
    }
    lagTimer = setInterval(() => void sampleLag(), LAG_SAMPLE_MS);
    lagTimer.unref();
    launched();
  };
  if (options.deferStart !== true) begin();
  const finished = launchedOnce.then(() => Promise.all(runs)).then(() => {});
  // The caller may look at `finished` only later; a failure is still reported there.
  finished.catch(() => {});

  return {
    sources,
    logs,
    finished,
    acknowledge(source, position) {
      const s = config.sources.find((x) => x.name === source);
      if (s) acknowledge(source, s.table_name, position);
    },
    begin,
    get resumable() {
      return allResumable();
    },
    barrier(epoch) {
      if (!allResumable()) return undefined;
      const at = new Map<string, SourcePosition>();
      for (const s of config.sources) {
        at.set(s.name, positions.get(s.name)!);
        logs
          .get(s.name)!
          .appendBarrier(epoch)
          .catch((e: unknown) => {
            if (!abort.signal.aborted)
              log.warn(
                `source ${s.name}: appending the barrier of checkpoint ${epoch} failed: ${(e as Error).message}`,
              );
          });
      }
      changedSinceBarrier = false;
      return at;
    },
    get changedSinceBarrier() {
      return changedSinceBarrier;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      begin(); // held back by deferStart: starts nothing now, and `finished` settles
      abort.abort();
      if (sweeper) clearInterval(sweeper);
      if (lagTimer) clearInterval(lagTimer);
      await Promise.allSettled(runs);
      await Promise.allSettled([...options.connectors.values()].map((c) => c.close()));
    },
  };
}
