import { DozerError, type DozerErrorOptions, ErrorCode } from '@dozer/core';

/** The store failed, or its contents conflict with what was asked (a changed schema, an oversized key). */
export class StoreError extends DozerError {
  override name = 'StoreError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.Store, message, options);
  }
}

/** A query or filter is malformed: the message names the offending path (`$filter.price.$gt`). */
export class InvalidQueryError extends DozerError {
  override name = 'InvalidQueryError';
  constructor(message: string, options?: DozerErrorOptions) {
    super(ErrorCode.InvalidQuery, message, options);
  }
}

/**
 * An operation conflicts with the stored rows and the endpoint's conflict
 * resolution says `panic` (an insert of a taken key, an update or delete of
 * a missing row). The whole batch was rolled back.
 */
export class ConflictError extends StoreError {
  override name = 'ConflictError';
  constructor(
    message: string,
    /** The endpoint. */
    readonly endpoint: string,
    /** The conflicting key, as field name → value text. */
    readonly key: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

/**
 * The changes after the asked version were already pruned from the change
 * feed (code INVALID_QUERY): reload the endpoint's rows and follow the feed
 * from `version()` on.
 */
export class ChangesExpiredError extends DozerError {
  override name = 'ChangesExpiredError';
  constructor(
    message: string,
    /** The smallest `after` that `changesSince` still answers. */
    readonly oldestAfter: bigint,
  ) {
    super(ErrorCode.InvalidQuery, message);
  }
}
