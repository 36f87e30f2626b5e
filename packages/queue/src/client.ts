import { decodeSchema, type ObjectStore, type Schema } from '@dozer/core';
import * as grpc from '@grpc/grpc-js';
import { LogProtocolError } from './errors.js';
import { type LogEvent, mergeLogEvents } from './events.js';
import type { LogEntry } from './log-entry.js';
import {
  fromServiceError,
  logServiceDefinition,
  type PbDescribeResponse,
  type PbReadEvent,
  type PbReadRequest,
  segmentFromPb,
  u64,
} from './protocol.js';
import { storeLabelOf } from './queue.js';

/** Options of {@link connectLogClient}. */
export interface LogClientOptions {
  /** `host:port` of a log server (`LogServer.address`). */
  readonly address: string;
  /** The object store the server offloads to, as this process reaches it: segments are read from it directly. */
  readonly store: ObjectStore;
  /** Names the store in messages. Default: the store's `label`, else `the object store`. */
  readonly storeLabel?: string;
  /** Default: insecure (plain HTTP/2). */
  readonly credentials?: grpc.ChannelCredentials;
}

/** A log as `describe` reports it. */
export interface LogDescription {
  readonly name: string;
  readonly schema: Schema;
  /** First offset still held. */
  readonly start: bigint;
  /** First offset in the server's memory. */
  readonly memoryStart: bigint;
  /** The offset the next append gets. */
  readonly next: bigint;
  /** Facts about the log its opener stated (`OpenLogOptions.labels`); empty from older servers. */
  readonly labels: Readonly<Record<string, string>>;
}

/** Where a read starts. */
export type ReadFrom = bigint | 'start' | 'committed';

/** Options of {@link LogClient.read}. */
export interface LogClientReadOptions {
  /** An offset, `'start'` (the first offset held; the default), or `'committed'` (the reader's committed offset). */
  readonly from?: ReadFrom;
  /** The reader's name: registers it for retention (at the offset it starts from) if it is new. Needed for `'committed'`. */
  readonly reader?: string;
  /** Ends the iteration quietly. */
  readonly signal?: AbortSignal;
}

/** A client of the gRPC log protocol. */
export interface LogClient {
  /** The server's logs. */
  describe(): Promise<LogDescription[]>;
  /**
   * Entries of `log` from the asked offset on, each offset exactly once:
   * offloaded segments straight from the object store (checksums verified),
   * then the server's memory and live appends. Runs until the loop breaks
   * or `signal` aborts; a failure (missing or corrupt segment, server gone)
   * is thrown from the iterator.
   */
  read(log: string, options?: LogClientReadOptions): AsyncGenerator<LogEntry>;
  /** Commits `offset` (the next offset `reader` will read) on `log`. */
  commit(log: string, reader: string, offset: bigint): Promise<void>;
  /** Closes the channel; open reads fail. */
  close(): void;
}

type RawClient = grpc.Client & {
  Describe(req: object, cb: (e: grpc.ServiceError | null, res: PbDescribeResponse) => void): void;
  Commit(req: object, cb: (e: grpc.ServiceError | null) => void): void;
  Read(req: PbReadRequest): grpc.ClientReadableStream<PbReadEvent>;
};

/** Connects to a log server (lazily: the first call opens the channel). */
export function connectLogClient(options: LogClientOptions): LogClient {
  const Ctor = grpc.makeGenericClientConstructor(logServiceDefinition(), 'LogService');
  const raw = new Ctor(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
  }) as unknown as RawClient;
  const address = options.address;
  const storeLabel = options.storeLabel ?? storeLabelOf(options.store);

  return {
    describe() {
      return new Promise((resolve, reject) => {
        raw.Describe({}, (e, res) => {
          if (e) return reject(fromServiceError(e, address, 'Describe'));
          try {
            resolve(
              res.logs.map((l) => ({
                name: l.name,
                schema: decodeSchema(l.schema),
                start: u64(l.start, 'start'),
                memoryStart: u64(l.memory_start, 'memory_start'),
                next: u64(l.next, 'next'),
                labels: { ...(l.labels ?? {}) },
              })),
            );
          } catch (err) {
            reject(err);
          }
        });
      });
    },

    commit(log, reader, offset) {
      return new Promise((resolve, reject) => {
        raw.Commit({ log, reader, offset: offset.toString() }, (e) =>
          e
            ? reject(fromServiceError(e, address, `Commit of "${reader}" at ${offset} on log "${log}"`))
            : resolve(),
        );
      });
    },

    read(log, readOptions = {}) {
      return readLog(raw, address, options.store, storeLabel, log, readOptions);
    },

    close() {
      raw.close();
    },
  };
}

async function* readLog(
  raw: RawClient,
  address: string,
  store: ObjectStore,
  storeLabel: string,
  log: string,
  options: LogClientReadOptions,
): AsyncGenerator<LogEntry> {
  const from = options.from ?? 'start';
  const request: PbReadRequest = {
    log,
    reader: options.reader ?? '',
    from_offset: typeof from === 'bigint' ? from.toString() : '0',
    from: from === 'start' ? 'FROM_START' : from === 'committed' ? 'FROM_COMMITTED' : 'FROM_OFFSET',
  };
  const signal = options.signal;
  if (signal?.aborted) return;
  const call = raw.Read(request);
  // The iterator below reports errors; this keeps a late CANCELLED from being unhandled.
  call.on('error', () => {});
  const onAbort = () => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  const what = `Read of log "${log}"`;
  const stream = call[Symbol.asyncIterator]() as AsyncIterator<PbReadEvent>;
  try {
    const first = await stream.next();
    if (first.done || first.value.header === undefined) {
      throw new LogProtocolError(`log server ${address}: ${what}: the stream did not start with a header`);
    }
    const header = first.value.header;
    const schemaBytes = new Uint8Array(header.schema);
    const schema = decodeSchema(schemaBytes);
    const start = u64(header.from_offset, 'header from_offset');
    async function* events(): AsyncGenerator<LogEvent> {
      for (;;) {
        const r = await stream.next();
        if (r.done) {
          throw new LogProtocolError(`log server ${address}: ${what}: the server ended the stream`, {
            retryable: true,
          });
        }
        const ev = r.value;
        if (ev.segments !== undefined) {
          yield {
            kind: 'segments',
            from: u64(ev.segments.from_offset, 'segments from_offset'),
            to: u64(ev.segments.to_offset, 'segments to_offset'),
            refs: ev.segments.segments.map(segmentFromPb),
          };
        } else if (ev.entries !== undefined) {
          yield {
            kind: 'entries',
            first: u64(ev.entries.first_offset, 'entries first_offset'),
            entries: ev.entries.entries,
          };
        } else {
          throw new LogProtocolError(
            `log server ${address}: ${what}: unexpected event ${JSON.stringify(ev.event)}`,
          );
        }
      }
    }
    yield* mergeLogEvents(events(), { log, schema, schemaBytes, store, storeLabel }, start);
  } catch (e) {
    if (signal?.aborted) return;
    throw fromServiceError(e, address, what);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    call.cancel();
  }
}
