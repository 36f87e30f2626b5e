import { createHash } from 'node:crypto';
import type { MetricFamily } from '@dozer/api';
import type { ObjectStore, SourcePosition } from '@dozer/core';
import { Timestamp } from '@dozer/core';
import {
  type CheckpointCoordinator,
  type CheckpointManifest,
  type CheckpointStore,
  createCheckpointCoordinator,
  createCheckpointStore,
  type LoadedCheckpoint,
} from '@dozer/snapshot';
import type { Store } from '@dozer/store';
import type { DozerConfig } from '../config/index.js';
import type { Logger } from '../logger.js';
import { deleteKeys } from './object-store.js';
import type { TransformStateForm } from './transform.js';

/** Key prefix of the checkpoints in the shared object store (beside the queues'). */
export const CHECKPOINT_PREFIX = 'checkpoints';

/** The manifest's operator id of the pipeline's own record: what it was built from, and NOW(). */
export const PIPELINE_OPERATOR = 'dozer/pipeline';

/** The checkpoint participants of `dozer run`. */
export const Participant = { ingestor: 'ingestor', processor: 'processor', api: 'api' } as const;

/** What a checkpoint records about the pipeline itself (a blob, JSON). */
export interface PipelineRecord {
  readonly version: 1;
  /** {@link pipelineFingerprint} of the config that wrote it. */
  readonly fingerprint: string;
  /** NOW() of the SQL, in microseconds since the Unix epoch. */
  readonly now: string;
  /**
   * A split processor's: the sources it took as exact (no normalizer state),
   * sorted. Absent from records written before it: every keyed input normalized.
   */
  readonly exact?: readonly string[];
}

/**
 * What a checkpoint depends on: the sources (connection kinds, tables,
 * columns), the SQL, the endpoints' tables and keys, and how the SQL state
 * is kept. A checkpoint written under another fingerprint cannot be
 * continued (its positions, state or store would not match), so the
 * pipeline rebuilds instead. Addresses, credentials, API and queue settings
 * are left out: changing them keeps the checkpoints.
 */
export function pipelineFingerprint(
  config: DozerConfig,
  stateForm: TransformStateForm,
  exactSources: ReadonlySet<string> = new Set(),
): string {
  const kinds = new Map(config.connections.map((c) => [c.name, c.kind]));
  const shape = {
    sources: config.sources.map((s) => [
      s.name,
      kinds.get(s.connection),
      s.connection,
      s.table_name,
      s.columns ?? null,
    ]),
    sql: config.sql?.trim() ?? '',
    endpoints: config.endpoints.map((e) => [e.name, e.table_name, e.index.primary_key ?? null]),
    state: stateForm,
    // Which sources have normalizer state (the others are exact).
    exact: [...exactSources].sort(),
    // What the checkpoints of this build hold (3: with the source normalizers' rows, binary).
    layout: 3,
  };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 32);
}

/** A checkpoint `dozer run` continues from. */
export interface Recovery {
  readonly checkpoint: LoadedCheckpoint;
  readonly epoch: bigint;
  /** Where each source resumes. */
  readonly positions: ReadonlyMap<string, SourcePosition>;
  /** NOW() of the checkpointed SQL. */
  readonly now: Timestamp;
}

/** The bytes of a {@link PipelineRecord} blob. */
export function encodePipelineRecord(
  fingerprint: string,
  now: Timestamp,
  exactSources?: ReadonlySet<string>,
): Uint8Array {
  const record: PipelineRecord = {
    version: 1,
    fingerprint,
    now: now.micros.toString(),
    ...(exactSources === undefined ? {} : { exact: [...exactSources].sort() }),
  };
  return new TextEncoder().encode(JSON.stringify(record));
}

/** The {@link PipelineRecord} blob of `operatorId` in a loaded checkpoint; throws when it is missing or unreadable. */
export function readPipelineRecord(loaded: LoadedCheckpoint, operatorId: string): PipelineRecord {
  return JSON.parse(new TextDecoder().decode(loaded.blob(operatorId))) as PipelineRecord;
}

/** Opens the checkpoints of the shared object store, reporting rejected ones through `log`. */
export function openCheckpointStore(objects: ObjectStore, log: Logger): CheckpointStore {
  return createCheckpointStore({
    store: objects,
    prefix: CHECKPOINT_PREFIX,
    logger: { warn: (message) => log.warn(message) },
  });
}

/**
 * Finds the checkpoint to continue from: the newest complete one (corrupt
 * or partial newer ones are reported and skipped by `loadLatest`), if it was
 * written by this pipeline (same {@link pipelineFingerprint}) and the store
 * can still roll back to its epoch. Says in the log what it found and, when
 * it cannot use a checkpoint, why the pipeline rebuilds.
 */
export async function findRecovery(
  checkpoints: CheckpointStore,
  store: Store,
  fingerprint: string,
  log: Logger,
): Promise<Recovery | undefined> {
  const loaded = await checkpoints.loadLatest();
  if (loaded === undefined) return undefined;
  const { manifest } = loaded;
  const epoch = manifest.epoch;
  let record: PipelineRecord;
  try {
    record = readPipelineRecord(loaded, PIPELINE_OPERATOR);
  } catch (e) {
    log.warn(
      `checkpoint ${epoch} has no readable pipeline record (${(e as Error).message}); rebuilding from the sources`,
    );
    return undefined;
  }
  if (record.fingerprint !== fingerprint) {
    log.warn(
      `checkpoint ${epoch} was written for other sources, SQL, endpoints or threads setting than dozer.yaml has now; rebuilding from the sources`,
    );
    return undefined;
  }
  if (manifest.storeEpoch === null || !store.epochs().includes(manifest.storeEpoch)) {
    log.warn(
      `checkpoint ${epoch}: the store cannot return to its epoch ${manifest.storeEpoch ?? '(none recorded)'} (it was deleted, reset or is another one; it can return to ${store.epochs().join(', ') || 'no epoch'}); rebuilding from the sources`,
    );
    return undefined;
  }
  return { checkpoint: loaded, epoch, positions: manifest.sources, now: new Timestamp(BigInt(record.now)) };
}

/**
 * Deletes every checkpoint (a rebuild makes them useless: the store no
 * longer matches them) and forgets the store's epoch marks, which would
 * otherwise keep its change feed from pruning.
 */
export async function discardCheckpoints(objects: ObjectStore, store: Store): Promise<void> {
  await deleteKeys(objects, await objects.list(`${CHECKPOINT_PREFIX}/`));
  const last = store.epoch();
  if (last !== null) await store.releaseEpochsBefore(last + 1n);
}

/** What {@link startCheckpoints} drives. */
export interface CheckpointsOptions {
  readonly checkpoints: CheckpointStore;
  readonly store: Store;
  readonly config: DozerConfig;
  readonly fingerprint: string;
  /** NOW() of the running SQL. */
  readonly now: Timestamp;
  /** Epochs start above this (the newest checkpoint's and the store's marks). */
  readonly after: bigint;
  /** Injects epoch E's barrier; the sources' positions at it, or `undefined` when they cannot resume yet. */
  readonly barrier: (epoch: bigint) => Map<string, SourcePosition> | undefined;
  /** Whether anything reached the sources' logs since the last barrier. */
  readonly changed: () => boolean;
  /** Whether every source can resume from where it is (past its initial snapshot). */
  readonly ready: () => boolean;
  /** Each source position of a complete checkpoint: the connector may drop what came before. */
  readonly acknowledge: (source: string, position: SourcePosition) => void;
  readonly log: Logger;
}

/** What `GET /health` shows of checkpoints. */
export interface CheckpointHealth {
  readonly epoch: string | null;
  readonly at: string | null;
  readonly lastMs: number | null;
  readonly complete: number;
  readonly aborted: number;
  /** True when the newest complete checkpoint covers everything the sources delivered so far. */
  readonly covered: boolean;
}

/** The checkpoint figures of `GET /metrics`. */
export function checkpointMetrics(h: CheckpointHealth): MetricFamily[] {
  return [
    {
      name: 'dozer_checkpoints_complete_total',
      help: 'Checkpoints completed since the process started',
      type: 'counter',
      samples: [{ value: h.complete }],
    },
    {
      name: 'dozer_checkpoints_aborted_total',
      help: 'Checkpoints aborted since the process started',
      type: 'counter',
      samples: [{ value: h.aborted }],
    },
    {
      name: 'dozer_checkpoint_epoch',
      help: 'Epoch of the newest complete checkpoint',
      type: 'gauge',
      samples: h.epoch === null ? [] : [{ value: Number(h.epoch) }],
    },
    {
      name: 'dozer_checkpoint_age_seconds',
      help: 'Seconds since the newest complete checkpoint was taken',
      type: 'gauge',
      samples: h.at === null ? [] : [{ value: (Date.now() - Date.parse(h.at)) / 1000 }],
    },
    {
      name: 'dozer_checkpoint_duration_seconds',
      help: 'How long the newest complete checkpoint took',
      type: 'gauge',
      samples: h.lastMs === null ? [] : [{ value: h.lastMs / 1000 }],
    },
  ];
}

/** Checkpoints of a running `dozer run`. */
export interface RunningCheckpoints {
  readonly coordinator: CheckpointCoordinator;
  health(): CheckpointHealth;
  /**
   * Takes a checkpoint now, if something changed since the last one and the
   * sources can resume from where they are; resolves with its epoch once
   * complete, `undefined` when none was taken or it was aborted.
   */
  checkpointNow(): Promise<bigint | undefined>;
  /** Stops the timer and aborts the checkpoint in flight. */
  close(): Promise<void>;
}

/**
 * Runs the checkpoints of `dozer run`: every `checkpoint.interval_ms` (when
 * something changed and every source is past its snapshot) an epoch's
 * barrier goes into the sources' logs; the ingestor (positions and the
 * pipeline record), the processor (SQL state) and the API (the store's
 * epoch mark) acknowledge it; the manifest is written last. Then the
 * sources are told their positions are consumed, old checkpoints are
 * retired and the store forgets epochs no kept checkpoint needs.
 */
export function startCheckpoints(options: CheckpointsOptions): RunningCheckpoints {
  const { checkpoints, store, log, config } = options;
  const recordBytes = encodePipelineRecord(options.fingerprint, options.now);
  let started = 0;
  const coordinator = createCheckpointCoordinator({
    store: checkpoints,
    participants: Object.values(Participant),
    firstEpoch: options.after + 1n,
    // A checkpoint waits for the pipeline to work off what is queued before its barrier.
    timeoutMs: Math.max(120_000, config.checkpoint.interval_ms * 20),
    logger: { warn: (message) => log.warn(message) },
    inject: async (epoch) => {
      const positions = options.barrier(epoch);
      if (positions === undefined) throw new Error('a source is still in its initial snapshot');
      started = Date.now();
      const refs = await checkpoints.writeBlob(PIPELINE_OPERATOR, epoch, recordBytes);
      coordinator.acknowledge(epoch, Participant.ingestor, {
        sources: positions,
        operators: new Map([[PIPELINE_OPERATOR, refs]]),
      });
    },
  });

  let complete = 0;
  let aborted = 0;
  let last: { epoch: bigint; at: Date; ms: number } | undefined;
  coordinator.onComplete(async (manifest: CheckpointManifest) => {
    complete++;
    last = { epoch: manifest.epoch, at: manifest.createdAt, ms: Date.now() - started };
    if (complete === 1) {
      log.info(
        `checkpoint ${manifest.epoch} complete in ${last.ms} ms; a restart resumes from the newest one (every ${config.checkpoint.interval_ms} ms)`,
      );
    }
    for (const [source, position] of manifest.sources) options.acknowledge(source, position);
    const retained = await checkpoints.retain(config.checkpoint.retain);
    // The store keeps the epochs of every kept checkpoint: a corrupt newer one falls back to them.
    const oldest = retained.kept.reduce<bigint | undefined>(
      (a, b) => (a === undefined || b < a ? b : a),
      undefined,
    );
    if (oldest !== undefined) await store.releaseEpochsBefore(oldest);
  });
  coordinator.onAbort(() => {
    aborted++;
  });

  let inFlight: Promise<unknown> | undefined;
  const take = (): Promise<unknown> => {
    const p = coordinator.trigger().catch(() => undefined);
    inFlight = p.finally(() => {
      if (inFlight === tracked) inFlight = undefined;
    });
    const tracked = inFlight;
    return p;
  };
  const tick = () => {
    if (inFlight !== undefined || !options.ready() || !options.changed()) return;
    void take();
  };
  const timer = setInterval(tick, config.checkpoint.interval_ms);
  timer.unref();

  return {
    coordinator,
    health: () => ({
      epoch: last ? last.epoch.toString() : null,
      at: last ? last.at.toISOString() : null,
      lastMs: last ? last.ms : null,
      complete,
      aborted,
      covered: last !== undefined && inFlight === undefined && !options.changed(),
    }),
    async checkpointNow() {
      await inFlight;
      if (!options.ready() || !options.changed()) return undefined;
      const outcome = await coordinator.trigger();
      return outcome.status === 'complete' ? outcome.epoch : undefined;
    },
    async close() {
      clearInterval(timer);
      await coordinator.close();
    },
  };
}
