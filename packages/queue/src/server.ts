import * as grpc from '@grpc/grpc-js';
import { QueueError } from './errors.js';
import type { LogEvent } from './events.js';
import type { Log } from './log.js';
import {
  LOG_PROTOCOL_VERSION,
  logServiceDefinition,
  type PbCommitRequest,
  type PbDescribeResponse,
  type PbReadEvent,
  type PbReadRequest,
  segmentToPb,
  toServiceError,
  u64,
} from './protocol.js';
import type { LogQueue } from './queue.js';
import { SEGMENT_FORMAT_VERSION } from './segment.js';

/** Options of {@link serveLogs}. */
export interface LogServerOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number;
  /** Default: insecure (plain HTTP/2), for loopback and private networks. */
  readonly credentials?: grpc.ServerCredentials;
}

/** What the server holds for its readers, for monitoring (and the flow-control tests). */
export interface LogServerStats {
  /** Read streams open now. */
  readonly reads: number;
  /** Bytes of entries written to read streams and not yet handed to HTTP/2, over all streams. */
  readonly bufferedBytes: number;
  /** The most `bufferedBytes` any single read stream ever had. */
  readonly peakStreamBufferedBytes: number;
}

/** A running log server. */
export interface LogServer {
  /** `127.0.0.1:<port>`, for `connectLogClient`. */
  readonly address: string;
  readonly port: number;
  stats(): LogServerStats;
  /** Ends every read stream (UNAVAILABLE: the reader should reconnect elsewhere or later) and stops listening. */
  close(): Promise<void>;
}

interface ActiveRead {
  readonly abort: AbortController;
  buffered: number;
  readonly call: grpc.ServerWritableStream<PbReadRequest, PbReadEvent>;
}

/**
 * Serves the logs of `queue` over the gRPC log protocol. Each read stream
 * costs the server a cursor and at most a few messages in flight: it
 * writes the next event only after grpc-js accepted the previous ones
 * (`write()` true, or `'drain'`), so a slow reader holds back its own
 * stream and nothing else.
 */
export async function serveLogs(queue: LogQueue, options: LogServerOptions = {}): Promise<LogServer> {
  const host = options.host ?? '127.0.0.1';
  const server = new grpc.Server();
  const active = new Set<ActiveRead>();
  let peak = 0;
  let closing = false;

  const describe: grpc.handleUnaryCall<unknown, PbDescribeResponse> = (_call, callback) => {
    callback(null, {
      protocol_version: LOG_PROTOCOL_VERSION,
      segment_format_version: SEGMENT_FORMAT_VERSION,
      logs: queue.logs().map((log) => {
        const s = log.stats();
        return {
          name: log.name,
          schema: log.schemaBytes,
          start: s.start.toString(),
          memory_start: s.memoryStart.toString(),
          next: s.next.toString(),
          labels: { ...log.labels },
        };
      }),
    });
  };

  const commit: grpc.handleUnaryCall<PbCommitRequest, object> = (call, callback) => {
    const req = call.request;
    (async () => {
      const log = queue.log(req.log);
      await log.commit(req.reader, u64(req.offset, 'commit offset'));
    })().then(
      () => callback(null, {}),
      (e: unknown) => callback(toServiceError(e)),
    );
  };

  const read: grpc.handleServerStreamingCall<PbReadRequest, PbReadEvent> = (call) => {
    const entry: ActiveRead = { abort: new AbortController(), buffered: 0, call };
    const signal = entry.abort.signal;
    call.on('cancelled', () => entry.abort.abort());
    call.on('error', () => entry.abort.abort());
    active.add(entry);
    const fail = (e: unknown) => {
      if (!signal.aborted) call.emit('error', toServiceError(e));
    };
    streamLog(call.request, entry)
      .then(() => {
        if (signal.aborted) return;
        // The log closed under the stream.
        fail(
          new QueueError(`log "${call.request.log}" closed; read again from your last offset`, {
            code: 'INTERNAL',
            retryable: true,
          }),
        );
      }, fail)
      .finally(() => active.delete(entry));
  };

  async function streamLog(req: PbReadRequest, entry: ActiveRead): Promise<void> {
    const { call } = entry;
    const signal = entry.abort.signal;
    if (closing)
      throw new QueueError('the log server is shutting down', { code: 'INTERNAL', retryable: true });
    const log: Log = queue.log(req.log);
    const reader = req.reader === '' ? undefined : req.reader;
    let from: bigint;
    if (req.from === 'FROM_COMMITTED') {
      if (reader === undefined) {
        throw new QueueError('Read FROM_COMMITTED needs a reader name', { code: 'INVALID_QUERY' });
      }
      const committed = log.committed(reader);
      if (committed === undefined) {
        throw new QueueError(
          `reader "${reader}" has no committed offset on log "${log.name}"; read from an offset or from the start`,
          { code: 'NOT_FOUND' },
        );
      }
      from = committed;
    } else if (req.from === 'FROM_START') {
      from = log.start;
    } else {
      from = u64(req.from_offset, 'from_offset');
    }
    const events = log.events(from, signal);
    if (reader !== undefined) await log.registerReader(reader, from);
    const write = (event: PbReadEvent, bytes: number) => {
      entry.buffered += bytes;
      if (entry.buffered > peak) peak = entry.buffered;
      return call.write(event, () => {
        entry.buffered -= bytes;
      });
    };
    const header: PbReadEvent = {
      header: {
        protocol_version: LOG_PROTOCOL_VERSION,
        segment_format_version: SEGMENT_FORMAT_VERSION,
        schema: log.schemaBytes,
        from_offset: from.toString(),
      },
    };
    if (!write(header, log.schemaBytes.length)) await drained(call, signal);
    for await (const ev of events) {
      if (signal.aborted) break;
      const [msg, bytes] = toPb(ev);
      if (!write(msg, bytes)) await drained(call, signal);
      if (signal.aborted) break;
    }
  }

  server.addService(logServiceDefinition(), {
    Describe: describe,
    Read: read,
    Commit: commit,
  } as grpc.UntypedServiceImplementation);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host}:${options.port ?? 0}`,
      options.credentials ?? grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(err) : resolve(p)),
    );
  });

  return {
    address: `${host}:${port}`,
    port,
    stats() {
      let buffered = 0;
      for (const a of active) buffered += a.buffered;
      return { reads: active.size, bufferedBytes: buffered, peakStreamBufferedBytes: peak };
    },
    async close() {
      if (closing) return;
      closing = true;
      for (const a of active) {
        const err = toServiceError(
          new QueueError('the log server is shutting down; read again from your last offset', {
            code: 'INTERNAL',
            retryable: true,
          }),
        );
        a.abort.abort();
        a.call.emit('error', { ...err, code: grpc.status.UNAVAILABLE });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
}

function toPb(ev: LogEvent): [PbReadEvent, number] {
  if (ev.kind === 'segments') {
    return [
      {
        segments: {
          from_offset: ev.from.toString(),
          to_offset: ev.to.toString(),
          segments: ev.refs.map(segmentToPb),
        },
      },
      64 * ev.refs.length,
    ];
  }
  let bytes = 0;
  for (const e of ev.entries) bytes += e.length;
  return [{ entries: { first_offset: ev.first.toString(), entries: ev.entries as Uint8Array[] } }, bytes];
}

function drained(
  call: grpc.ServerWritableStream<PbReadRequest, PbReadEvent>,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.on('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
