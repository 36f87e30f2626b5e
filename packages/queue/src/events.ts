import type { ObjectStore, Schema, StreamMessage } from '@dozer/core';
import { isObjectNotFound } from '@dozer/core';
import { LogProtocolError, SegmentMissingError } from './errors.js';
import { LogEntry } from './log-entry.js';
import { decodeSegment, type SegmentRef } from './segment.js';

/**
 * What a log hands a reader, in order: locations of offloaded segments that
 * cover `[from, memory start)`, and runs of in-memory entries. The log
 * protocol's `Read` stream carries exactly these.
 */
export type LogEvent =
  | {
      readonly kind: 'segments';
      readonly from: bigint;
      readonly to: bigint;
      readonly refs: readonly SegmentRef[];
    }
  | { readonly kind: 'entries'; readonly first: bigint; readonly entries: readonly Uint8Array[] };

/** What a merge needs to know about the log it reads. */
export interface MergeContext {
  readonly log: string;
  readonly schema: Schema;
  readonly schemaBytes: Uint8Array;
  /** Where segments are read from. */
  readonly store: ObjectStore;
  /** `the object store s3://bucket`, for messages. */
  readonly storeLabel: string;
  /** Messages appended in this process, to hand to the first reader of their in-memory entry. */
  readonly handOver?: WeakMap<Uint8Array, StreamMessage>;
}

/**
 * Turns log events into entries from `from` on, each offset exactly once:
 * segments are fetched straight from the object store (the next one while
 * the current one is consumed), verified, and cut to the asked range; live
 * entries already seen are skipped; any gap is an error, never silence.
 */
export async function* mergeLogEvents(
  events: AsyncIterable<LogEvent>,
  ctx: MergeContext,
  from: bigint,
): AsyncGenerator<LogEntry> {
  let expected = from;
  const fetchSegment = (ref: SegmentRef) =>
    ctx.store.get(ref.key).then(
      async (file) => decodeSegment(ref, file, ctx.schemaBytes),
      (e: unknown) => {
        if (isObjectNotFound(e)) throw new SegmentMissingError(ref.key, ctx.storeLabel, { cause: e });
        throw e;
      },
    );
  for await (const ev of events) {
    if (ev.kind === 'segments') {
      if (ev.from > expected) throw gap(ctx.log, expected, ev.from, 'segment locations');
      const refs = ev.refs;
      // Fetch one segment ahead; a failed prefetch is reported when its turn comes.
      let next: Promise<{ first: bigint; entries: Uint8Array[] }> | null =
        refs.length > 0 ? fetchSegment(refs[0]!) : null;
      next?.catch(() => {});
      for (let i = 0; i < refs.length; i++) {
        const ref = refs[i]!;
        const current = next!;
        next = i + 1 < refs.length ? fetchSegment(refs[i + 1]!) : null;
        next?.catch(() => {});
        const seg = await current;
        if (ref.first > expected) throw gap(ctx.log, expected, ref.first, `segment "${ref.key}"`);
        for (let k = Number(expected - ref.first); k < seg.entries.length; k++) {
          yield new LogEntry(ref.first + BigInt(k), seg.entries[k]!, ctx.schema);
        }
        if (ref.end > expected) expected = ref.end;
      }
      if (expected < ev.to) throw gap(ctx.log, expected, ev.to, 'the end of the segment locations');
    } else {
      if (ev.first > expected) throw gap(ctx.log, expected, ev.first, 'live entries');
      const entries = ev.entries;
      for (let k = Number(expected - ev.first); k < entries.length; k++) {
        yield new LogEntry(ev.first + BigInt(k), entries[k]!, ctx.schema, ctx.handOver);
      }
      const end = ev.first + BigInt(entries.length);
      if (end > expected) expected = end;
    }
  }
}

function gap(log: string, expected: bigint, got: bigint, what: string): LogProtocolError {
  return new LogProtocolError(
    `log "${log}": expected offset ${expected} next but ${what} start at ${got}; refusing to skip offsets`,
  );
}
