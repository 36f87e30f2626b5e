import { DozerError, type DozerErrorOptions, ErrorCode } from '@dozer/core';

/** The snapshot API was misused or cannot go on: a bad operator id, a snapshot out of order, a failed aligner. Code `INTERNAL` or as given. */
export class SnapshotError extends DozerError {
  override name = 'SnapshotError';
  constructor(message: string, options: DozerErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? ErrorCode.Internal, message, options);
  }
}

/**
 * A checkpoint manifest or state object is not what it must be: bad
 * checksum, wrong magic or version, fields that do not match its reference
 * or its key, a broken delta chain (code `CODEC`). Nothing of it is used.
 */
export class CheckpointCorruptError extends DozerError {
  override name = 'CheckpointCorruptError';
  constructor(
    /** The object key of the damaged object. */
    readonly key: string,
    detail: string,
    options?: DozerErrorOptions,
  ) {
    super(ErrorCode.Codec, `checkpoint object "${key}" is corrupt: ${detail}`, options);
  }
}

/** A state object that a manifest references is not in the object store (code `OBJECT_STORE`). */
export class CheckpointObjectMissingError extends DozerError {
  override name = 'CheckpointObjectMissingError';
  constructor(
    readonly key: string,
    /** The epoch of the manifest that references it. */
    readonly epoch: bigint,
    options?: DozerErrorOptions,
  ) {
    super(
      ErrorCode.ObjectStore,
      `state object "${key}" referenced by checkpoint ${epoch} is missing from the object store ` +
        '(deleted by hand, by a retention that did not see this manifest, or never written)',
      options,
    );
  }
}

/**
 * A barrier arrived out of order on an input of a {@link BarrierAligner}
 * (code `INTERNAL`): its epoch is not above the previous one on that input,
 * or differs from the epoch the other inputs are aligning on.
 */
export class BarrierOrderError extends DozerError {
  override name = 'BarrierOrderError';
  constructor(
    /** The input the barrier came from. */
    readonly input: string,
    readonly epoch: bigint,
    message: string,
  ) {
    super(ErrorCode.Internal, message);
  }
}

/** A checkpoint epoch was aborted: a participant failed or did not answer in time; no manifest was written (retryable). */
export class CheckpointAbortedError extends DozerError {
  override name = 'CheckpointAbortedError';
  constructor(
    readonly epoch: bigint,
    reason: string,
    options?: DozerErrorOptions,
  ) {
    super(ErrorCode.Internal, `checkpoint ${epoch} aborted: ${reason}`, { retryable: true, ...options });
  }
}
