/**
 * Segment files, format version 1.
 *
 * A segment holds a run of consecutive log entries, immutable once written.
 * All fixed-width numbers are little-endian.
 *
 *   offset  size  field
 *   0       4     magic "DZSG" (0x44 0x5A 0x53 0x47)
 *   4       2     u16 format version = 1
 *   6       2     u16 flags = 0 (reserved; a reader rejects other values)
 *   8       8     u64 offset of the first entry
 *   16      4     u32 entry count N (≥ 1)
 *   20      4     u32 schema length S
 *   24      S     the log's schema (a @dozer/core codec schema message)
 *   24+S    …     N entries: u32 length L, then L bytes of a @dozer/core codec
 *                 stream message (kind 2 batch or kind 3 barrier)
 *   end-32  32    SHA-256 of every byte before it
 *
 * Entry i has offset `first + i`. The same SHA-256 is recorded in the log's
 * index and in the locations the log protocol hands out, so a reader
 * detects both a damaged file and a file replaced by another valid one.
 */
import { webcrypto } from 'node:crypto';
import { SegmentCorruptError } from './errors.js';

/** The segment format version this build writes and reads. */
export const SEGMENT_FORMAT_VERSION = 1;

const MAGIC = [0x44, 0x5a, 0x53, 0x47] as const;
const HEADER = 24;
const TRAILER = 32;

/** Where a segment is and what it must hold: enough for a reader to fetch and verify it. */
export interface SegmentRef {
  /** The object key in the log's object store. */
  readonly key: string;
  /** Offset of the first entry. */
  readonly first: bigint;
  /** One past the offset of the last entry. */
  readonly end: bigint;
  /** Size of the file in bytes. */
  readonly bytes: number;
  /** SHA-256 of the file without its 32-byte trailer, lowercase hex. */
  readonly sha256: string;
}

/**
 * SHA-256 on the libuv thread pool (WebCrypto), so hashing a segment does
 * not hold up the event loop that is sending or reading other segments.
 */
async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await webcrypto.subtle.digest('SHA-256', bytes));
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Builds a segment file from encoded stream messages whose first has offset `first`. */
export async function encodeSegment(
  schemaBytes: Uint8Array,
  first: bigint,
  entries: readonly Uint8Array[],
): Promise<{ file: Uint8Array; sha256: string }> {
  let size = HEADER + schemaBytes.length + TRAILER;
  for (const e of entries) size += 4 + e.length;
  // Every byte is written below, so the buffer needs no zero-fill.
  const file: Uint8Array = Buffer.allocUnsafeSlow(size);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  file.set(MAGIC, 0);
  view.setUint16(4, SEGMENT_FORMAT_VERSION, true);
  view.setUint16(6, 0, true);
  view.setBigUint64(8, first, true);
  view.setUint32(16, entries.length, true);
  view.setUint32(20, schemaBytes.length, true);
  file.set(schemaBytes, HEADER);
  let pos = HEADER + schemaBytes.length;
  for (const e of entries) {
    view.setUint32(pos, e.length, true);
    file.set(e, pos + 4);
    pos += 4 + e.length;
  }
  const digest = await sha256(file.subarray(0, pos));
  file.set(digest, pos);
  return { file, sha256: hex(digest) };
}

/**
 * Checks a segment file against its location and splits it into its
 * entries (views into `file`, not copies). Throws {@link SegmentCorruptError}
 * naming what is wrong; nothing of a bad file is returned.
 */
export async function decodeSegment(
  ref: SegmentRef,
  file: Uint8Array,
  expectSchema?: Uint8Array,
): Promise<{ first: bigint; entries: Uint8Array[] }> {
  const bad = (detail: string) => new SegmentCorruptError(ref.key, detail);
  if (file.length !== ref.bytes) {
    throw bad(`it is ${file.length} bytes but its location says ${ref.bytes} (truncated or replaced)`);
  }
  if (file.length < HEADER + TRAILER) throw bad(`${file.length} bytes is shorter than the smallest segment`);
  const bodyEnd = file.length - TRAILER;
  const digest = hex(await sha256(file.subarray(0, bodyEnd)));
  const trailer = hex(file.subarray(bodyEnd));
  if (digest !== trailer) throw bad('SHA-256 checksum mismatch (the file was damaged after it was written)');
  if (digest !== ref.sha256) {
    throw bad(
      `SHA-256 ${digest} differs from ${ref.sha256} in its location (a different file under this key)`,
    );
  }
  if (file[0] !== MAGIC[0] || file[1] !== MAGIC[1] || file[2] !== MAGIC[2] || file[3] !== MAGIC[3]) {
    throw bad('not a Dozer segment file (magic bytes are not "DZSG")');
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint16(4, true);
  if (version !== SEGMENT_FORMAT_VERSION) {
    throw bad(
      `format version ${version}; this build of @dozer/queue reads version ${SEGMENT_FORMAT_VERSION} ` +
        '(upgrade the reader to the writer’s version)',
    );
  }
  const flags = view.getUint16(6, true);
  if (flags !== 0) throw bad(`unknown flags 0x${flags.toString(16)}`);
  const first = view.getBigUint64(8, true);
  const count = view.getUint32(16, true);
  if (first !== ref.first || first + BigInt(count) !== ref.end) {
    throw bad(
      `it holds offsets ${first}..${first + BigInt(count)} but its location says ${ref.first}..${ref.end}`,
    );
  }
  const schemaLen = view.getUint32(20, true);
  if (HEADER + schemaLen > bodyEnd) throw bad(`schema length ${schemaLen} runs past the end`);
  if (expectSchema !== undefined && !sameBytes(file.subarray(HEADER, HEADER + schemaLen), expectSchema)) {
    throw bad('it was written for a different schema than the log has');
  }
  const entries: Uint8Array[] = new Array(count);
  let pos = HEADER + schemaLen;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > bodyEnd) throw bad(`entry ${i} of ${count} starts past the end`);
    const len = view.getUint32(pos, true);
    if (pos + 4 + len > bodyEnd) throw bad(`entry ${i} (${len} bytes) runs past the end`);
    entries[i] = file.subarray(pos + 4, pos + 4 + len);
    pos += 4 + len;
  }
  if (pos !== bodyEnd) throw bad(`${bodyEnd - pos} unexpected bytes after the last entry`);
  return { first, entries };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
