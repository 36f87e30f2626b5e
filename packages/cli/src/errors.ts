import { DozerError, ErrorCode, isDozerError } from '@dozer/core';

/**
 * A role lost the role it reads from (the ingestor or the processor went
 * away mid-stream). Retryable: `dozer process` and `dozer serve` reconnect
 * and rebuild from the start of the upstream logs.
 */
export class UpstreamLostError extends DozerError {
  override name = 'UpstreamLostError';
  constructor(
    /** `the ingestor at 127.0.0.1:50052`. */
    readonly upstream: string,
    /** The log whose read failed. */
    readonly log: string,
    cause: unknown,
  ) {
    super(
      isDozerError(cause) ? cause.code : ErrorCode.Internal,
      `lost ${upstream} while reading log "${log}": ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, retryable: true },
    );
  }
}
