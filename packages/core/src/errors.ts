/**
 * The one closed table of error codes. Every error any package throws at a
 * user carries one of these; `@dozer/api` maps them to HTTP and gRPC status.
 */
export const ErrorCode = {
  /** dozer.yaml is missing, unreadable, not YAML, or fails validation. */
  Config: 'CONFIG',
  /** A schema is inconsistent (duplicate field, unknown key field). */
  Schema: 'SCHEMA',
  /** A value does not fit its field type. */
  Type: 'TYPE',
  /** SQL that does not parse, or that names unknown tables, columns or functions. */
  Sql: 'SQL',
  /** A runtime failure while evaluating an expression (overflow, division by zero). */
  Eval: 'EVAL',
  /** A connector could not reach or read its source. */
  Connector: 'CONNECTOR',
  /** Binary data that does not decode (truncated, wrong version, bad tag). */
  Codec: 'CODEC',
  /** The store failed, or an operation conflicts with its contents. */
  Store: 'STORE',
  /** A query or API request is malformed. */
  InvalidQuery: 'INVALID_QUERY',
  /** A requested record or endpoint does not exist. */
  NotFound: 'NOT_FOUND',
  /** Missing or bad credentials. */
  Unauthenticated: 'UNAUTHENTICATED',
  /** Valid credentials that do not grant the request. */
  PermissionDenied: 'PERMISSION_DENIED',
  /** The object store failed. */
  ObjectStore: 'OBJECT_STORE',
  /** A bug: an invariant did not hold. */
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface DozerErrorOptions {
  readonly cause?: unknown;
  /** True when trying again later may succeed (a dropped connection, a busy server). */
  readonly retryable?: boolean;
}

/** Base of every error Dozer throws on purpose. */
export class DozerError extends Error {
  override name = 'DozerError';
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: DozerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** True for any {@link DozerError}, also across module copies. */
export function isDozerError(e: unknown): e is DozerError {
  return (
    e instanceof DozerError ||
    (e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && 'retryable' in e)
  );
}

export class ConfigError extends DozerError {
  override name = 'ConfigError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Config, message, options);
  }
}

export class SchemaError extends DozerError {
  override name = 'SchemaError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Schema, message, options);
  }
}

export class TypeMismatchError extends DozerError {
  override name = 'TypeMismatchError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Type, message, options);
  }
}

export class CodecError extends DozerError {
  override name = 'CodecError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Codec, message, options);
  }
}

export class InternalError extends DozerError {
  override name = 'InternalError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Internal, message, options);
  }
}

/** Throws an {@link InternalError} when `cond` is false. */
export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InternalError(`invariant failed: ${message}`);
}
