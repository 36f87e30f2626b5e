import { fileURLToPath } from 'node:url';
import { DozerError, type ErrorCode, isDozerError } from '@dozer/core';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { SegmentRef } from './segment.js';

/** The log protocol version this build speaks (`protos/dozer/queue/v1/log.proto`). */
export const LOG_PROTOCOL_VERSION = 1;

// The message shapes @grpc/proto-loader hands over with LOADER_OPTIONS
// (field names as written, 64-bit integers as decimal strings, enums as
// names, defaults filled in, bytes as Buffer). Written by hand: the
// protocol is small and these are exactly the loader's objects.
export interface PbLogDescription {
  name: string;
  schema: Uint8Array;
  start: string;
  memory_start: string;
  next: string;
  labels: Record<string, string>;
}
export interface PbDescribeResponse {
  protocol_version: number;
  segment_format_version: number;
  logs: PbLogDescription[];
}
export type PbFromMode = 'FROM_OFFSET' | 'FROM_START' | 'FROM_COMMITTED';
export interface PbReadRequest {
  log: string;
  from_offset: string;
  reader: string;
  from: PbFromMode;
}
export interface PbSegmentLocation {
  key: string;
  first_offset: string;
  end_offset: string;
  size: string;
  sha256: string;
}
export interface PbReadEvent {
  event?: 'header' | 'segments' | 'entries';
  header?: {
    protocol_version: number;
    segment_format_version: number;
    schema: Uint8Array;
    from_offset: string;
  };
  segments?: { from_offset: string; to_offset: string; segments: PbSegmentLocation[] };
  entries?: { first_offset: string; entries: Uint8Array[] };
}
export interface PbCommitRequest {
  log: string;
  reader: string;
  offset: string;
}

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

let service: grpc.ServiceDefinition | null = null;

/** The LogService definition, loaded from the package's `.proto` on first use. */
export function logServiceDefinition(): grpc.ServiceDefinition {
  if (service === null) {
    const file = fileURLToPath(new URL('../protos/dozer/queue/v1/log.proto', import.meta.url));
    const def = protoLoader.loadSync(file, LOADER_OPTIONS);
    service = def['dozer.queue.v1.LogService'] as grpc.ServiceDefinition;
  }
  return service;
}

export function segmentToPb(s: SegmentRef): PbSegmentLocation {
  return {
    key: s.key,
    first_offset: s.first.toString(),
    end_offset: s.end.toString(),
    size: String(s.bytes),
    sha256: s.sha256,
  };
}

/** Parses an unsigned 64-bit decimal string from the wire. */
export function u64(value: string | undefined, what: string): bigint {
  if (value === undefined || !/^\d{1,20}$/.test(value)) {
    throw new DozerError(
      'INTERNAL',
      `log protocol: ${what} is not an unsigned 64-bit integer: ${String(value)}`,
    );
  }
  return BigInt(value);
}

export function segmentFromPb(s: PbSegmentLocation): SegmentRef {
  const bytes = Number(u64(s.size, 'segment size'));
  if (typeof s.key !== 'string' || s.key === '' || !/^[0-9a-f]{64}$/.test(s.sha256)) {
    throw new DozerError('INTERNAL', `log protocol: malformed segment location ${JSON.stringify(s)}`);
  }
  return {
    key: s.key,
    first: u64(s.first_offset, 'segment first_offset'),
    end: u64(s.end_offset, 'segment end_offset'),
    bytes,
    sha256: s.sha256,
  };
}

/** gRPC status per error code: what the caller can fix is INVALID_ARGUMENT / NOT_FOUND, a store outage UNAVAILABLE. */
const STATUS_BY_CODE: { readonly [code: string]: grpc.status } = {
  CONFIG: grpc.status.FAILED_PRECONDITION,
  TYPE: grpc.status.INVALID_ARGUMENT,
  INVALID_QUERY: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  OBJECT_STORE: grpc.status.UNAVAILABLE,
  CODEC: grpc.status.DATA_LOSS,
};

/** The error a handler reports: status by code, the message, and the Dozer code in `dozer-code` metadata. */
export function toServiceError(e: unknown): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  if (isDozerError(e)) {
    metadata.set('dozer-code', e.code);
    if (e.retryable) metadata.set('dozer-retryable', '1');
    return { code: STATUS_BY_CODE[e.code] ?? grpc.status.INTERNAL, details: e.message, metadata };
  }
  metadata.set('dozer-code', 'INTERNAL');
  return {
    code: grpc.status.INTERNAL,
    details: `internal error: ${e instanceof Error ? e.message : String(e)}`,
    metadata,
  };
}

/** An error the log server reported, or a failed call; `grpcCode` is the gRPC status. */
export class RemoteLogError extends DozerError {
  override name = 'RemoteLogError';
  constructor(
    code: ErrorCode,
    message: string,
    readonly grpcCode: number,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(code, message, options);
  }
}

/** Turns a grpc-js call error into a {@link RemoteLogError} carrying the server's Dozer code. */
export function fromServiceError(e: unknown, address: string, what: string): DozerError {
  if (isDozerError(e)) return e;
  const se = e as Partial<grpc.ServiceError>;
  const code = typeof se.code === 'number' ? se.code : grpc.status.UNKNOWN;
  const dozerCode = se.metadata?.get('dozer-code')[0];
  const transport = code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
  const retryable = se.metadata?.get('dozer-retryable')[0] === '1' || transport;
  const detail = se.details ?? (e instanceof Error ? e.message : String(e));
  return new RemoteLogError(
    (typeof dozerCode === 'string' ? dozerCode : 'INTERNAL') as ErrorCode,
    `log server ${address}: ${what}: ${detail}`,
    code,
    { cause: e, retryable },
  );
}
