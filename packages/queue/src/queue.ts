import type { ObjectStore, Schema } from '@dozer/core';
import { LogNotFoundError, QueueError } from './errors.js';
import { Log, type LogSettings } from './log.js';
import { logKey, validateLogName } from './names.js';

/** Options of {@link openLogQueue}. Sizes are bytes, times milliseconds. */
export interface LogQueueOptions {
  /** Where segments and indexes go: a local directory (`createLocalObjectStore`) or `S3ObjectStore`. */
  readonly store: ObjectStore;
  /** `local directory ./data`, `s3://bucket/prefix`: names the store in messages. Default: the store's `label`, else `the object store`. */
  readonly storeLabel?: string;
  /** Key prefix of every log: `<prefix>/<log>/index.json`, `<prefix>/<log>/segments/…`. Default `queue`. */
  readonly prefix?: string;
  /** Upper bound of each log's in-memory tail; appends wait beyond it. Default 64 MiB. */
  readonly memoryLimitBytes?: number;
  /** Past this many bytes in memory the oldest entries are offloaded. Default half of `memoryLimitBytes`. */
  readonly offloadAtBytes?: number;
  /** Target size of a segment file (a segment holds at least one entry). Default min(8 MiB, `offloadAtBytes`). */
  readonly segmentTargetBytes?: number;
  /** First wait after a failed offload; doubles up to `retryMaxMs`. Default 100. */
  readonly retryInitialMs?: number;
  /** Longest wait between offload attempts. Default 5000. */
  readonly retryMaxMs?: number;
  /**
   * While offloading, the index is rewritten at most this often (a restart
   * adopts stored segments the index does not list yet). Default 1000.
   */
  readonly indexIntervalMs?: number;
  /** Most bytes of entries in one live-stream message. Default 512 KiB. */
  readonly maxEventBytes?: number;
  /** Told about each failed offload, index write or delete (they are retried). Default: `console.warn` once per failure streak. */
  readonly onError?: (error: unknown, log: string) => void;
}

/** Options of {@link LogQueue.openLog}. */
export interface OpenLogOptions {
  /** Readers to register at the log's start if they are not registered yet, so retention keeps data for them from the first append. */
  readonly readers?: readonly string[];
  /**
   * Hand each batch given to `append` as it is to the first reader in this
   * process that asks for that entry's `message`, instead of decoding the
   * entry's bytes again; other readers decode. Only for a log whose
   * appenders never modify a batch after appending it and whose readers
   * never modify what they read (`dozer run` between its processor and its
   * store). A batch stays referenced until a reader takes it or its entry
   * leaves memory. Default false.
   */
  readonly handOverAppended?: boolean;
  /**
   * Facts about the log for its readers (`Describe` serves them; `Log.labels`
   * here): short text keys and values, e.g. `dozer.exact_changes: "true"`.
   * Not stored: each opener states them.
   */
  readonly labels?: Readonly<Record<string, string>>;
}

/** The logs of one node (an ingestor's tables, a processor's outputs), sharing an object store and settings. */
export interface LogQueue {
  /** Opens the log `name` with `schema`, finding its offloaded segments and readers from a previous run. */
  openLog(name: string, schema: Schema, options?: OpenLogOptions): Promise<Log>;
  /** The open log `name`; throws `LogNotFoundError`. */
  log(name: string): Log;
  /** The open logs, by name. */
  logs(): readonly Log[];
  /** Closes every log (see `Log.close`). */
  close(options?: { flush?: boolean }): Promise<void>;
}

function positiveInt(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new QueueError(`log queue option ${what} must be a positive integer, got ${String(value)}`);
  }
  return v;
}

/** How messages name a store: its own `label` (as `S3ObjectStore` has) or a generic name. */
export function storeLabelOf(store: ObjectStore): string {
  const label = (store as { label?: unknown }).label;
  return typeof label === 'string' ? label : 'the object store';
}

/** Opens a log queue over `options.store`. Logs are opened one by one with `openLog`. */
export function openLogQueue(options: LogQueueOptions): LogQueue {
  const memoryLimitBytes = positiveInt(options.memoryLimitBytes, 64 * 1024 * 1024, 'memoryLimitBytes');
  const offloadAtBytes = positiveInt(
    options.offloadAtBytes,
    Math.floor(memoryLimitBytes / 2),
    'offloadAtBytes',
  );
  if (offloadAtBytes > memoryLimitBytes) {
    throw new QueueError(
      `log queue option offloadAtBytes (${offloadAtBytes}) must not exceed memoryLimitBytes (${memoryLimitBytes})`,
    );
  }
  const prefix = options.prefix ?? 'queue';
  if (typeof prefix !== 'string' || prefix === '' || prefix.startsWith('/') || prefix.endsWith('/')) {
    throw new QueueError(
      `log queue option prefix must be a key prefix like "queue" or "node-1/queue", got ${JSON.stringify(prefix)}`,
    );
  }
  let warned = false;
  const settings: LogSettings = {
    memoryLimitBytes,
    offloadAtBytes,
    segmentTargetBytes: positiveInt(
      options.segmentTargetBytes,
      Math.min(8 * 1024 * 1024, offloadAtBytes),
      'segmentTargetBytes',
    ),
    retryInitialMs: positiveInt(options.retryInitialMs, 100, 'retryInitialMs'),
    retryMaxMs: positiveInt(options.retryMaxMs, 5000, 'retryMaxMs'),
    indexIntervalMs: positiveInt(options.indexIntervalMs, 1000, 'indexIntervalMs'),
    maxEventBytes: positiveInt(options.maxEventBytes, 512 * 1024, 'maxEventBytes'),
    onError:
      options.onError ??
      ((e, log) => {
        if (warned) return;
        warned = true;
        console.warn(`@dozer/queue: log "${log}": ${(e as Error).message ?? String(e)} (retrying)`);
      }),
  };
  const storeLabel = options.storeLabel ?? storeLabelOf(options.store);
  const logs = new Map<string, Log>();
  const opening = new Map<string, Promise<Log>>();
  let closed = false;

  return {
    async openLog(name, schema, openOptions = {}) {
      validateLogName(name);
      if (closed) throw new QueueError('the log queue is closed', { code: 'INTERNAL' });
      const existing = logs.get(name) ?? opening.get(name);
      if (existing !== undefined) {
        throw new QueueError(`log "${name}" is already open in this queue; use queue.log("${name}")`);
      }
      const p = Log.open(
        name,
        schema,
        options.store,
        storeLabel,
        `${prefix}/${logKey(name)}`,
        settings,
        openOptions.readers ?? [],
        openOptions.handOverAppended === true,
      );
      opening.set(name, p);
      try {
        const log = await p;
        log.labels = Object.freeze({ ...openOptions.labels });
        logs.set(name, log);
        return log;
      } finally {
        opening.delete(name);
      }
    },
    log(name) {
      const log = logs.get(name);
      if (log === undefined) throw new LogNotFoundError(name, [...logs.keys()]);
      return log;
    },
    logs() {
      return [...logs.values()];
    },
    async close(closeOptions) {
      closed = true;
      await Promise.all([...logs.values()].map((l) => l.close(closeOptions)));
    },
  };
}
