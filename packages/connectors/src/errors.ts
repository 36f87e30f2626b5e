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
