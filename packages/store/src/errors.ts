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
