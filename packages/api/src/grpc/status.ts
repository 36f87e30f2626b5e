import { DozerError, type ErrorCode } from '@dozer/core';
import { type Metadata, type ServiceError, status } from '@grpc/grpc-js';

/** A gRPC status code (`@grpc/grpc-js`'s `status`). */
export type GrpcStatus = (typeof status)[keyof typeof status];

/**
 * The one table from error codes to gRPC status, beside `HTTP_STATUS_BY_CODE`:
 * bad requests are INVALID_ARGUMENT, failures of a source are UNAVAILABLE
 * (retry later), everything the caller cannot fix is INTERNAL.
 */
export const GRPC_STATUS_BY_CODE: { readonly [C in ErrorCode]: GrpcStatus } = {
  CONFIG: status.INTERNAL,
  SCHEMA: status.INTERNAL,
  TYPE: status.INVALID_ARGUMENT,
  SQL: status.INTERNAL,
  EVAL: status.INTERNAL,
  CONNECTOR: status.UNAVAILABLE,
  CODEC: status.INTERNAL,
  STORE: status.INTERNAL,
  INVALID_QUERY: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  OBJECT_STORE: status.UNAVAILABLE,
  INTERNAL: status.INTERNAL,
};

/** The gRPC status for an error thrown while serving a call: INTERNAL for anything not a DozerError. */
export function grpcStatusOf(e: unknown): GrpcStatus {
  if (!(e instanceof DozerError)) return status.INTERNAL;
  return GRPC_STATUS_BY_CODE[e.code] ?? status.INTERNAL;
}

/** The error a grpc-js handler reports: the status of the table, the message as details. */
export function toServiceError(e: unknown, metadata?: Metadata): Partial<ServiceError> {
  const code = grpcStatusOf(e);
  const message = e instanceof Error ? e.message : String(e);
  const details = e instanceof DozerError ? message : `internal error: ${message}`;
  return { code, details, ...(metadata ? { metadata } : {}) };
}
