import { DozerError, type DozerErrorOptions, ErrorCode } from '@dozer/core';

/**
 * A connector could not reach, read or follow its source, or a connector
 * plugin could not be loaded. `retryable` tells the engine whether trying
 * again later may succeed (a dropped connection) or not (a missing table, a
 * broken plugin).
 */
export class ConnectorError extends DozerError {
  override name = 'ConnectorError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Connector, message, options);
  }
}

/**
 * A source cannot continue from the position it was asked to resume from
 * (its replication slot is gone, the history since then is lost, or what
 * happened since cannot be replayed exactly), but a fresh start would work:
 * the engine then rebuilds the pipeline from the sources' beginning rather
 * than stopping or serving wrong rows. A connector throws it from `start`
 * (or fails its ingestion with it); it is recognized by its name, so it
 * survives a connector's thread.
 */
export class SourceRebuildError extends ConnectorError {
  override name = 'SourceRebuildError';
}

/** True for a {@link SourceRebuildError}, also one that crossed a thread (by name). */
export function isSourceRebuildError(e: unknown): boolean {
  return e instanceof Error && e.name === 'SourceRebuildError';
}
