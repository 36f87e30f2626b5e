import { DozerError, type DozerErrorOptions, ErrorCode } from '@dozer/core';

/** The queue was misused or cannot serve a request: a bad log name, a closed queue, a bad config. Code `CONFIG` or as given. */
export class QueueError extends DozerError {
  override name = 'QueueError';
  constructor(message: string, options: DozerErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? ErrorCode.Config, message, options);
  }
}

/** No log of that name in the queue (code `NOT_FOUND`). */
export class LogNotFoundError extends DozerError {
  override name = 'LogNotFoundError';
  constructor(
    readonly log: string,
    known: readonly string[],
  ) {
    super(
      ErrorCode.NotFound,
      `no log named "${log}"; the logs are: ${known.length === 0 ? '(none)' : known.map((k) => `"${k}"`).join(', ')}`,
    );
  }
}

/**
 * An offset outside what the log can serve (code `INVALID_QUERY`): below its
 * retained start (deleted by retention) or past its end.
 */
export class OffsetOutOfRangeError extends DozerError {
  override name = 'OffsetOutOfRangeError';
  constructor(
    message: string,
    /** The first offset the log still holds. */
    readonly start: bigint,
    /** The offset the next append gets. */
    readonly next: bigint,
  ) {
    super(ErrorCode.InvalidQuery, message);
  }
}

/**
 * A segment file is not what its location says: bad checksum, wrong format
 * or version, wrong offsets, truncated (code `CODEC`). Its bytes are never
 * returned as data.
 */
export class SegmentCorruptError extends DozerError {
  override name = 'SegmentCorruptError';
  constructor(
    readonly key: string,
    detail: string,
    options?: DozerErrorOptions,
  ) {
    super(ErrorCode.Codec, `segment "${key}" is corrupt: ${detail}`, options);
  }
}

/** A segment the log's index lists is not in the object store (code `OBJECT_STORE`). */
export class SegmentMissingError extends DozerError {
  override name = 'SegmentMissingError';
  constructor(
    readonly key: string,
    where: string,
    options?: DozerErrorOptions,
  ) {
    super(
      ErrorCode.ObjectStore,
      `segment "${key}" is missing from ${where}: it was deleted (by retention, for a reader that is ` +
        'not registered, or by hand) or the reader uses a different object store than the log',
      options,
    );
  }
}

/** The log protocol broke: the server sent something out of order, or the stream ended (code `INTERNAL` / retryable). */
export class LogProtocolError extends DozerError {
  override name = 'LogProtocolError';
  constructor(message: string, options: DozerErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? ErrorCode.Internal, message, options);
  }
}
