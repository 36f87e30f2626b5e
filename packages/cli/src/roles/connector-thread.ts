import type { Worker } from 'node:worker_threads';
import {
  type Connector,
  ConnectorError,
  type ConnectorLogger,
  type ConnectorOrigin,
  type IngestSink,
  type LagInfo,
  projectTable,
  type StartRequest,
  type TableInfo,
} from '@dozer/connectors';
import {
  decodeBatch,
  deserializeError,
  type OpBatch,
  type Schema,
  type SourcePosition,
  serializeError,
  spawnModuleWorker,
} from '@dozer/core';
import type {
  ConnectorCall,
  ConnectorCallBody,
  ConnectorThreadInit,
  FromConnectorThread,
  ToConnectorThread,
} from './connector-protocol.js';

/** A batch as a connector thread hands it over: still encoded. */
export interface EncodedBatch {
  readonly table: string;
  readonly position: SourcePosition | null;
  readonly opCount: number;
  /** `encodeBatch(schema, batch)`. */
  readonly bytes: Uint8Array;
  readonly schema: Schema;
  /** The batch itself, decoded from `bytes`. */
  decode(): OpBatch;
}

/**
 * An IngestSink that also takes batches still encoded (the ingestor's,
 * which appends them to its log as they are): a connector on a thread then
 * costs this thread no decoding and no encoding.
 */
export interface EncodedIngestSink extends IngestSink {
  writeEncoded(batch: EncodedBatch): Promise<void>;
}

/** What {@link connectorOnThread} needs. */
export interface ConnectorThreadOptions {
  /** Where the thread loads the connector's factory from (`ConnectorRegistry.origin`). */
  readonly origin: ConnectorOrigin;
  /** The connection's config, validated. */
  readonly config: unknown;
  /** The connection's name. */
  readonly name: string;
  /** `ConnectorContext.baseDir`: relative paths in `config` are resolved against it. */
  readonly baseDir?: string;
  /** Where the connector's log lines go, on this thread. */
  readonly logger: ConnectorLogger;
  /**
   * A connector of the same kind and config created on this thread and
   * never started: it answers `comparePositions`, which cannot wait for
   * another thread.
   */
  readonly local: Connector;
  /** Batches the thread may hand over before the engine has taken the first of them (default 4). */
  readonly window?: number;
}

/**
 * Runs a connector on a worker thread of its own and returns a Connector
 * that stands for it here: the source's reading and decoding (pgoutput,
 * binlog events, CSV or Parquet parsing) then runs beside the engine's
 * operators and store writes instead of between them. Each batch crosses
 * as the codec's bytes (transferred, not copied) and is decoded here; the
 * thread may run up to `window` batches ahead of the sink, and a sink that
 * refuses a batch fails `start` with its error and stops the connector.
 * Calls keep the Connector contract: `start` resolves once the sink has
 * taken every batch, `close` ends the thread.
 */
export function connectorOnThread(options: ConnectorThreadOptions): Connector {
  return new ThreadConnector(options);
}

/** Whether `c` stands for a connector running on a thread of its own. */
export function isOnThread(c: Connector): boolean {
  return c instanceof ThreadConnector;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

class ThreadConnector implements Connector {
  private readonly worker: Worker;
  private readonly calls = new Map<number, Pending>();
  private nextId = 1;
  private tables: TableInfo[] | undefined;
  /** Set when the thread died: every call fails with it. */
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  // The running start: its sink, the schema of each table, and how to fail it.
  private sink: IngestSink | undefined;
  private readonly schemas = new Map<string, Schema>();
  private failStart: ((e: unknown) => void) | undefined;
  /** What the sink refused first: `start` fails with it. */
  private sinkFailure: unknown;
  /** Batches and snapshot ends are given to the sink one after another, in the order sent. */
  private taking: Promise<void> = Promise.resolve();
  readonly acknowledge?: (table: string, position: SourcePosition) => Promise<void>;
  readonly lag?: () => Promise<LagInfo>;

  constructor(private readonly options: ConnectorThreadOptions) {
    const here = import.meta.url;
    const entry = new URL(here.endsWith('.ts') ? './connector-worker.ts' : './connector-worker.js', here);
    const init: ConnectorThreadInit = {
      origin: options.origin,
      config: options.config,
      name: options.name,
      ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir }),
      window: options.window ?? 4,
    };
    this.worker = spawnModuleWorker(entry, `the connector of connection "${options.name}"`, {
      workerData: init,
      name: `connector ${options.name}`,
    });
    this.worker.on('message', (m: FromConnectorThread) => this.receive(m));
    this.worker.on('error', (e) =>
      this.die(
        new ConnectorError(`connection "${options.name}": its connector thread failed: ${e.message}`, {
          cause: e,
        }),
      ),
    );
    this.worker.on('exit', (code) => {
      if (this.closing === undefined) {
        this.die(
          new ConnectorError(`connection "${options.name}": its connector thread exited (code ${code})`),
        );
      }
    });
    if (options.local.acknowledge) {
      this.acknowledge = (table, position) => this.call({ m: 'acknowledge', table, position }).then(() => {});
    }
    if (options.local.lag) this.lag = () => this.call({ m: 'lag' }) as Promise<LagInfo>;
  }

  async listTables(): Promise<TableInfo[]> {
    this.tables = (await this.call({ m: 'listTables' })) as TableInfo[];
    return this.tables;
  }

  comparePositions(a: SourcePosition, b: SourcePosition): number {
    return this.options.local.comparePositions(a, b);
  }

  async start(request: StartRequest): Promise<void> {
    const tables = this.tables ?? (await this.listTables());
    for (const r of request.tables) {
      const info = tables.find((t) => t.name === r.name);
      if (info !== undefined) this.schemas.set(r.name, projectTable(info, r.columns).schema);
    }
    this.sink = request.sink;
    const onAbort = () => this.post({ t: 'abort' });
    try {
      await new Promise<void>((resolve, reject) => {
        this.failStart = reject;
        this.call({ m: 'start', tables: request.tables }).then(
          // Everything handed over was taken before the thread's start resolved.
          () =>
            this.taking.then(() => (this.sinkFailure === undefined ? resolve() : reject(this.sinkFailure))),
          (e: unknown) => reject(this.sinkFailure ?? e),
        );
        if (request.signal.aborted) onAbort();
        else request.signal.addEventListener('abort', onAbort, { once: true });
      });
    } finally {
      request.signal.removeEventListener('abort', onAbort);
      this.failStart = undefined;
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      let error: unknown;
      if (this.failure === undefined) {
        try {
          await this.call({ m: 'close' }, true);
        } catch (e) {
          error = e;
        }
      }
      await this.worker.terminate();
      await this.options.local.close();
      if (error !== undefined) throw error;
    })();
    return this.closing;
  }

  private call(m: ConnectorCallBody, closing = false): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing !== undefined && !closing) {
      return Promise.reject(new ConnectorError(`connection "${this.options.name}": the connector is closed`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.post({ ...m, t: 'call', id } as ConnectorCall);
    });
  }

  private post(m: ToConnectorThread): void {
    if (this.failure === undefined) this.worker.postMessage(m);
  }

  private receive(m: FromConnectorThread): void {
    switch (m.t) {
      case 'reply': {
        const pending = this.calls.get(m.id);
        this.calls.delete(m.id);
        if ('error' in m) pending?.reject(deserializeError(m.error));
        else pending?.resolve(m.value);
        break;
      }
      case 'write':
      case 'snapshotDone':
        this.taking = this.taking.then(() => this.take(m));
        break;
      case 'log':
        this.options.logger[m.level](m.message, m.fields);
        break;
    }
  }

  /** Gives a batch or a snapshot end to the sink and tells the thread it was taken. */
  private async take(m: Extract<FromConnectorThread, { t: 'write' | 'snapshotDone' }>): Promise<void> {
    try {
      if (this.sinkFailure !== undefined) throw this.sinkFailure;
      const sink = this.sink!;
      if (m.t === 'snapshotDone') await sink.snapshotDone(m.table, m.position);
      else {
        const schema = this.schemas.get(m.table);
        if (schema === undefined) {
          throw new ConnectorError(
            `connection "${this.options.name}": its connector wrote a batch of table "${m.table}", which was not requested`,
          );
        }
        if ('writeEncoded' in sink) {
          const bytes = m.bytes;
          await (sink as EncodedIngestSink).writeEncoded({
            table: m.table,
            position: m.position,
            opCount: m.opCount,
            bytes,
            schema,
            decode: () => decodeBatch(schema, bytes),
          });
        } else await sink.write(decodeBatch(schema, m.bytes));
      }
      this.post({ t: 'taken', id: m.id });
    } catch (e) {
      const first = this.sinkFailure === undefined;
      this.sinkFailure ??= e;
      this.post({ t: 'taken', id: m.id, error: serializeError(e) });
      if (first) {
        this.post({ t: 'abort' });
        this.failStart?.(e);
      }
    }
  }

  private die(e: Error): void {
    if (this.failure !== undefined) return;
    this.failure = e;
    for (const p of this.calls.values()) p.reject(e);
    this.calls.clear();
    this.failStart?.(e);
  }
}
