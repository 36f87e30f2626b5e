/** Errors of the queue (codes from `@dozer/core`'s table). */

export {
  connectLogClient,
  type LogClient,
  type LogClientOptions,
  type LogClientReadOptions,
  type LogDescription,
  type ReadFrom,
} from './client.js';
export {
  LogNotFoundError,
  LogProtocolError,
  OffsetOutOfRangeError,
  QueueError,
  SegmentCorruptError,
  SegmentMissingError,
} from './errors.js';
/** A log's in-process API: append, read, commit, flush, close. */
export { Log, type LogReadOptions, type LogStats } from './log.js';
/** One log entry: offset, encoded bytes and the lazily decoded message. */
export { LogEntry } from './log-entry.js';
/** The gRPC log protocol: server and client. */
export { LOG_PROTOCOL_VERSION, RemoteLogError } from './protocol.js';
/** The queue of a node's logs and its settings. */
export { type LogQueue, type LogQueueOptions, type OpenLogOptions, openLogQueue } from './queue.js';
/** An `ObjectStore` on S3 or an S3-compatible server. */
export { S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.js';
/** Segment file format (version 1) and the locations readers fetch. */
export { decodeSegment, encodeSegment, SEGMENT_FORMAT_VERSION, type SegmentRef } from './segment.js';
export { type LogServer, type LogServerOptions, type LogServerStats, serveLogs } from './server.js';
