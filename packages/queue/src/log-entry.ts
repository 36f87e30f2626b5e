import { decodeStreamMessage, type OpBatch, type Schema, type StreamMessage } from '@dozer/core';

/**
 * One entry of a log: its offset and its bytes (a @dozer/core codec stream
 * message). `message` decodes the bytes on first use, so a reader that only
 * forwards entries never pays for decoding.
 */
export class LogEntry {
  #message: StreamMessage | undefined;

  constructor(
    /** Dense, 0-based position in the log. */
    readonly offset: bigint,
    /** The encoded stream message (`encodeStreamMessage` of the log's schema). */
    readonly bytes: Uint8Array,
    /** The log's schema, to decode `bytes`. */
    readonly schema: Schema,
    /** Messages appended in this process by their bytes: the first entry to ask takes its own. */
    private readonly handOver?: WeakMap<Uint8Array, StreamMessage>,
  ) {}

  /** The decoded batch or barrier; throws `CodecError` when the bytes do not decode. */
  get message(): StreamMessage {
    if (this.#message === undefined) {
      const appended = this.handOver?.get(this.bytes);
      if (appended !== undefined) {
        this.handOver!.delete(this.bytes);
        this.#message = appended;
      } else this.#message = decodeStreamMessage(this.schema, this.bytes);
    }
    return this.#message;
  }

  /** The batch, or `null` for a barrier. */
  get batch(): OpBatch | null {
    const m = this.message;
    return m.kind === 'batch' ? m.batch : null;
  }
}
