/**
 * The index of a log, format version 1: one JSON object per log under
 * `<prefix>/<log key>/index.json`, rewritten (atomically, by the object
 * store's `put`) after offloads (at most every `indexIntervalMs`), commits and retention passes.
 *
 *   {
 *     "format": "dozer-queue-index",
 *     "version": 1,
 *     "log": "orders",                      // the log's name
 *     "schema": "RFoBAQ…",                  // base64 of the codec schema message
 *     "start": "0",                         // first offset still held (decimal string)
 *     "end": "1200",                        // one past the last offloaded offset
 *     "segments": [                         // contiguous, ascending, covering [start, end)
 *       { "key": "queue/orders/segments/00000000000000000000-00000000000000000600.seg",
 *         "first": "0", "end": "600", "bytes": 1048613, "sha256": "9f…" }
 *     ],
 *     "readers": { "processor-1": "640" }   // reader → committed offset (next to read)
 *   }
 *
 * Offsets are decimal strings so that 64-bit values survive JSON.
 */
import { z } from 'zod';
import { SegmentCorruptError } from './errors.js';
import type { SegmentRef } from './segment.js';

export const INDEX_FORMAT_VERSION = 1;

const offset = z.string().regex(/^\d{1,20}$/, 'an offset as a decimal string');

const indexSchema = z.object({
  format: z.literal('dozer-queue-index'),
  version: z.literal(INDEX_FORMAT_VERSION),
  log: z.string().min(1),
  schema: z.string(),
  start: offset,
  end: offset,
  segments: z.array(
    z.object({
      key: z.string().min(1),
      first: offset,
      end: offset,
      bytes: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
  readers: z.record(z.string(), offset),
});

/** What the index holds, in memory. */
export interface LogIndex {
  readonly log: string;
  readonly schemaBytes: Uint8Array;
  readonly start: bigint;
  readonly end: bigint;
  readonly segments: readonly SegmentRef[];
  readonly readers: ReadonlyMap<string, bigint>;
}

export function encodeIndex(index: LogIndex): Uint8Array {
  const json = {
    format: 'dozer-queue-index',
    version: INDEX_FORMAT_VERSION,
    log: index.log,
    schema: Buffer.from(index.schemaBytes).toString('base64'),
    start: index.start.toString(),
    end: index.end.toString(),
    segments: index.segments.map((s) => ({
      key: s.key,
      first: s.first.toString(),
      end: s.end.toString(),
      bytes: s.bytes,
      sha256: s.sha256,
    })),
    readers: Object.fromEntries([...index.readers].map(([k, v]) => [k, v.toString()])),
  };
  return new TextEncoder().encode(`${JSON.stringify(json, null, 1)}\n`);
}

/** Parses and checks an index file; throws `SegmentCorruptError` naming the key and the problem. */
export function decodeIndex(key: string, bytes: Uint8Array): LogIndex {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new SegmentCorruptError(key, `the log index is not valid UTF-8 JSON (${(e as Error).message})`, {
      cause: e,
    });
  }
  const parsed = indexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SegmentCorruptError(
      key,
      `the log index is invalid at ${issue.path.join('.') || '(root)'}: ${issue.message}` +
        (parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more problems)` : ''),
    );
  }
  const v = parsed.data;
  const segments = v.segments.map((s) => ({ ...s, first: BigInt(s.first), end: BigInt(s.end) }));
  const start = BigInt(v.start);
  const end = BigInt(v.end);
  let at = start;
  for (const s of segments) {
    if (s.first !== at || s.end <= s.first) {
      throw new SegmentCorruptError(
        key,
        `the log index lists segment "${s.key}" for offsets ${s.first}..${s.end} where ${at} was expected next`,
      );
    }
    at = s.end;
  }
  if (at !== end) {
    throw new SegmentCorruptError(key, `the log index segments end at ${at} but its end is ${end}`);
  }
  return {
    log: v.log,
    schemaBytes: new Uint8Array(Buffer.from(v.schema, 'base64')),
    start,
    end,
    segments,
    readers: new Map(Object.entries(v.readers).map(([k, o]) => [k, BigInt(o)])),
  };
}
