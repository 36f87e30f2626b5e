import { DozerError, type ErrorCode } from '@dozer/core';

/**
 * The one table from error codes to HTTP status (and, later, gRPC status).
 * Anything not listed is a server-side failure: 500.
 */
export const HTTP_STATUS_BY_CODE: { readonly [C in ErrorCode]: number } = {
  CONFIG: 500,
  SCHEMA: 500,
  TYPE: 400,
  SQL: 500,
  EVAL: 500,
  CONNECTOR: 503,
  CODEC: 500,
  STORE: 500,
  INVALID_QUERY: 400,
  NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  OBJECT_STORE: 503,
  INTERNAL: 500,
};

/** The HTTP status for an error thrown while serving a request. */
export function httpStatusOf(e: unknown): number {
  return e instanceof DozerError ? HTTP_STATUS_BY_CODE[e.code] : 500;
}

/** A request the API refuses: bad JSON, a bad key, a body too large. */
export class BadRequestError extends DozerError {
  override name = 'BadRequestError';
  constructor(message: string) {
    super('INVALID_QUERY', message);
  }
}

/** A record or endpoint that does not exist. */
export class NotFoundError extends DozerError {
  override name = 'NotFoundError';
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}
