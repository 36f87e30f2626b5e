/**
 * State objects, format version 1.
 *
 * One operator's state at one checkpoint, as one immutable object: a full
 * **base**, a **delta** on top of the previous object of its chain, or an
 * opaque **blob** (a whole snapshot the operator encodes itself, such as
 * `SqlExecutor.snapshot()`). All fixed-width numbers are little-endian.
 *
 *   offset  size  field
 *   0       4     magic "DZST" (0x44 0x5A 0x53 0x54)
 *   4       2     u16 format version = 1
 *   6       1     u8 kind: 1 base, 2 delta, 3 blob
 *   7       1     u8 flags = 0 (reserved; a reader rejects other values)
 *   8       8     u64 epoch: the checkpoint this object was written for
 *   16      8     u64 previous epoch: for a delta, the epoch of the object it
 *                 applies on top of; for a base or blob, equal to epoch
 *   24      8     u64 record count N (0 for a blob)
 *   32      …     body:
 *                   base, delta: N records, each
 *                     u8  op: 1 put, 2 delete (a base has puts only)
 *                     u32 key length K, K bytes of UTF-8 key
 *                     put only: u32 value length V, V bytes of value
 *                   (a key appears at most once in an object)
 *                   blob: the operator's bytes, to the trailer
 *   end-32  32    SHA-256 of every byte before it
 *
 * A chain is one base followed by deltas in epoch order, each delta's
 * previous epoch being the epoch of the object before it. Restoring a chain
 * applies the base, then each delta's puts and deletes in order. The same
 * SHA-256, the byte size, the kind and the epoch are recorded in the
 * manifest's reference to the object, so a reader detects a damaged object
 * and one replaced by another valid object.
 */
import { CheckpointCorruptError } from './errors.js';
import { asBuffer, ByteWriter, hex, sha256 } from './internal/bytes.js';

/** The state object format version this build writes and reads. */
export const STATE_OBJECT_FORMAT_VERSION = 1;

/** The kinds of state object, as constants. */
export const StateObjectKind = {
  /** Every key of a keyed state. */
  Base: 'base',
  /** The keys put and deleted since the previous object of the chain. */
  Delta: 'delta',
  /** Opaque bytes an operator encodes itself; a chain of exactly one. */
  Blob: 'blob',
} as const;
export type StateObjectKind = (typeof StateObjectKind)[keyof typeof StateObjectKind];

const KIND_CODE: Record<StateObjectKind, number> = { base: 1, delta: 2, blob: 3 };
const KIND_OF_CODE: readonly (StateObjectKind | undefined)[] = [undefined, 'base', 'delta', 'blob'];

const MAGIC = [0x44, 0x5a, 0x53, 0x54] as const;
/** Bytes before the body. */
export const STATE_HEADER_BYTES = 32;
/** Bytes of the SHA-256 trailer. */
export const STATE_TRAILER_BYTES = 32;

const OP_PUT = 1;
const OP_DELETE = 2;

/** Where a state object is and what it must hold, as a manifest records it. */
export interface StateObjectRef {
  /** The object key in the checkpoint store's object store. */
  readonly key: string;
  readonly kind: StateObjectKind;
  /** The checkpoint the object was written for. */
  readonly epoch: bigint;
  /** Size of the object in bytes. */
  readonly bytes: number;
  /** SHA-256 of the object without its 32-byte trailer, lowercase hex. */
  readonly sha256: string;
}

/** A state object read back and verified against its {@link StateObjectRef}. */
export interface StateObject {
  readonly ref: StateObjectRef;
  readonly kind: StateObjectKind;
  readonly epoch: bigint;
  /** For a delta, the epoch of the object it applies on top of; else `epoch`. */
  readonly previous: bigint;
  /** Number of records (0 for a blob). */
  readonly count: number;
  /** The body: records of a base or delta, or a blob's bytes (a view, not a copy). */
  readonly body: Uint8Array;
}

/** An encoded, not yet sealed state object: the caller seals it (checksum) and writes it. */
export interface EncodedStateObject {
  readonly kind: StateObjectKind;
  readonly epoch: bigint;
  readonly previous: bigint;
  readonly count: number;
  /** The whole object with room for its trailer, which {@link sealStateObject} fills. */
  readonly file: Uint8Array;
}

/** Starts a base or delta object; records are appended with {@link putRecord} / {@link deleteRecord}. */
export function startStateObject(sizeHint: number): ByteWriter {
  const w = new ByteWriter(STATE_HEADER_BYTES + sizeHint + STATE_TRAILER_BYTES);
  w.ensure(STATE_HEADER_BYTES);
  w.pos = STATE_HEADER_BYTES;
  return w;
}

export function putRecord(w: ByteWriter, key: string, value: Uint8Array): void {
  w.u8(OP_PUT);
  w.lengthPrefixedString(key);
  w.lengthPrefixedBytes(value);
}

export function deleteRecord(w: ByteWriter, key: string): void {
  w.u8(OP_DELETE);
  w.lengthPrefixedString(key);
}

/** Writes the header of a base or delta started with {@link startStateObject}, leaving room for the trailer. */
export function finishStateObject(
  w: ByteWriter,
  kind: StateObjectKind,
  epoch: bigint,
  previous: bigint,
  count: number,
): EncodedStateObject {
  w.ensure(STATE_TRAILER_BYTES);
  w.pos += STATE_TRAILER_BYTES;
  writeHeader(w.buf, kind, epoch, previous, count);
  return { kind, epoch, previous, count, file: w.buf.subarray(0, w.pos) };
}

/** Encodes an opaque snapshot as a blob object. */
export function encodeBlobObject(epoch: bigint, bytes: Uint8Array): EncodedStateObject {
  const file = Buffer.allocUnsafe(STATE_HEADER_BYTES + bytes.length + STATE_TRAILER_BYTES);
  file.set(bytes, STATE_HEADER_BYTES);
  writeHeader(file, 'blob', epoch, epoch, 0);
  return { kind: 'blob', epoch, previous: epoch, count: 0, file };
}

function writeHeader(
  buf: Buffer,
  kind: StateObjectKind,
  epoch: bigint,
  previous: bigint,
  count: number,
): void {
  buf.set(MAGIC, 0);
  buf.writeUInt16LE(STATE_OBJECT_FORMAT_VERSION, 4);
  buf.writeUInt8(KIND_CODE[kind], 6);
  buf.writeUInt8(0, 7);
  buf.writeBigUInt64LE(epoch, 8);
  buf.writeBigUInt64LE(previous, 16);
  buf.writeBigUInt64LE(BigInt(count), 24);
}

/** Fills the SHA-256 trailer of an encoded object; returns the digest as hex. */
export async function sealStateObject(obj: EncodedStateObject): Promise<string> {
  const end = obj.file.length - STATE_TRAILER_BYTES;
  const digest = await sha256(obj.file.subarray(0, end));
  obj.file.set(digest, end);
  return hex(digest);
}

/**
 * Checks a state object against its reference: size, checksum, magic,
 * version, kind and epoch. Throws {@link CheckpointCorruptError} naming what
 * is wrong; nothing of a bad object is returned.
 */
export async function decodeStateObject(ref: StateObjectRef, file: Uint8Array): Promise<StateObject> {
  const bad = (detail: string) => new CheckpointCorruptError(ref.key, detail);
  if (file.length !== ref.bytes) {
    throw bad(`it is ${file.length} bytes but its manifest says ${ref.bytes} (truncated or replaced)`);
  }
  if (file.length < STATE_HEADER_BYTES + STATE_TRAILER_BYTES) {
    throw bad(`${file.length} bytes is shorter than the smallest state object`);
  }
  const bodyEnd = file.length - STATE_TRAILER_BYTES;
  const digest = hex(await sha256(file.subarray(0, bodyEnd)));
  if (digest !== hex(file.subarray(bodyEnd))) {
    throw bad('SHA-256 checksum mismatch (the object was damaged after it was written)');
  }
  if (digest !== ref.sha256) {
    throw bad(
      `SHA-256 ${digest} differs from ${ref.sha256} in its manifest (a different object under this key)`,
    );
  }
  if (file[0] !== MAGIC[0] || file[1] !== MAGIC[1] || file[2] !== MAGIC[2] || file[3] !== MAGIC[3]) {
    throw bad('not a Dozer state object (magic bytes are not "DZST")');
  }
  const buf = asBuffer(file);
  const version = buf.readUInt16LE(4);
  if (version !== STATE_OBJECT_FORMAT_VERSION) {
    throw bad(
      `format version ${version}; this build of @dozer/snapshot reads version ${STATE_OBJECT_FORMAT_VERSION} ` +
        '(upgrade the reader to the writer’s version)',
    );
  }
  const kind = KIND_OF_CODE[buf.readUInt8(6)];
  if (kind === undefined) throw bad(`unknown kind code ${buf.readUInt8(6)}`);
  const flags = buf.readUInt8(7);
  if (flags !== 0) throw bad(`unknown flags 0x${flags.toString(16)}`);
  if (kind !== ref.kind) throw bad(`it is a ${kind} but its manifest says ${ref.kind}`);
  const epoch = buf.readBigUInt64LE(8);
  if (epoch !== ref.epoch) throw bad(`it was written for epoch ${epoch} but its manifest says ${ref.epoch}`);
  const previous = buf.readBigUInt64LE(16);
  if (kind !== 'delta' && previous !== epoch)
    throw bad(`a ${kind} whose previous epoch ${previous} is not its own`);
  if (kind === 'delta' && previous >= epoch) {
    throw bad(`a delta of epoch ${epoch} on top of epoch ${previous}, which is not earlier`);
  }
  const count = buf.readBigUInt64LE(24);
  if (kind === 'blob' && count !== 0n) throw bad(`a blob with record count ${count}`);
  if (count > BigInt(bodyEnd)) throw bad(`record count ${count} cannot fit in ${bodyEnd} bytes`);
  return {
    ref,
    kind,
    epoch,
    previous,
    count: Number(count),
    body: file.subarray(STATE_HEADER_BYTES, bodyEnd),
  };
}

/**
 * Calls `fn` for every record of a verified base or delta, in order: `value`
 * is a view into the object for a put and `null` for a delete. Throws
 * {@link CheckpointCorruptError} if the records do not fill the body exactly.
 * A value view is a plain `Uint8Array` (not a `Buffer`).
 */
export function forEachRecord(obj: StateObject, fn: (key: string, value: Uint8Array | null) => void): void {
  readRecords(obj, { pos: 0, index: 0 }, Number.POSITIVE_INFINITY, fn);
}

/** Where {@link readRecords} stopped: byte position in the body and record index. */
export interface RecordCursor {
  pos: number;
  index: number;
}

/**
 * Reads up to `max` records from `cursor` on (advancing it); returns true
 * once every record was read and the body checked to end there.
 */
export function readRecords(
  obj: StateObject,
  cursor: RecordCursor,
  max: number,
  fn: (key: string, value: Uint8Array | null) => void,
): boolean {
  const bad = (detail: string) => new CheckpointCorruptError(obj.ref.key, detail);
  if (obj.kind === 'blob') throw bad('it is a blob, which has no records');
  const buf = asBuffer(obj.body);
  // Plain views and a DataView: a Buffer per value (subarray) costs twice as much on restore.
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const ab = buf.buffer;
  const at = buf.byteOffset;
  const end = buf.length;
  let pos = cursor.pos;
  let i = cursor.index;
  const stop = Math.min(obj.count, i + max);
  for (; i < stop; i++) {
    if (pos + 5 > end) throw bad(`record ${i} of ${obj.count} starts past the end`);
    const op = buf[pos]!;
    const klen = view.getUint32(pos + 1, true);
    pos += 5;
    if (pos + klen > end) throw bad(`the key of record ${i} (${klen} bytes) runs past the end`);
    const key = buf.toString('utf8', pos, pos + klen);
    pos += klen;
    if (op === OP_PUT) {
      if (pos + 4 > end) throw bad(`the value length of record ${i} runs past the end`);
      const vlen = view.getUint32(pos, true);
      pos += 4;
      if (pos + vlen > end) throw bad(`the value of record ${i} (${vlen} bytes) runs past the end`);
      fn(key, new Uint8Array(ab, at + pos, vlen));
      pos += vlen;
    } else if (op === OP_DELETE) {
      if (obj.kind === 'base') throw bad(`record ${i} is a delete, which a base cannot hold`);
      fn(key, null);
    } else {
      throw bad(`record ${i} has unknown op ${op}`);
    }
  }
  cursor.pos = pos;
  cursor.index = i;
  if (i < obj.count) return false;
  if (pos !== end) throw bad(`${end - pos} unexpected bytes after the last record`);
  return true;
}

/**
 * Checks that verified objects form one chain: a base (or a single blob)
 * first, then deltas each on top of the object before it.
 */
export function checkChain(objects: readonly StateObject[], where: string): void {
  if (objects.length === 0) throw new CheckpointCorruptError(where, 'the state chain is empty');
  const first = objects[0]!;
  if (first.kind === 'delta') {
    throw new CheckpointCorruptError(
      first.ref.key,
      `${where}: the chain starts with a delta instead of a base`,
    );
  }
  if (first.kind === 'blob' && objects.length > 1) {
    throw new CheckpointCorruptError(first.ref.key, `${where}: a blob cannot be followed by deltas`);
  }
  for (let i = 1; i < objects.length; i++) {
    const o = objects[i]!;
    const prior = objects[i - 1]!;
    if (o.kind !== 'delta') {
      throw new CheckpointCorruptError(
        o.ref.key,
        `${where}: object ${i} of the chain is a ${o.kind}, not a delta`,
      );
    }
    if (o.previous !== prior.epoch) {
      throw new CheckpointCorruptError(
        o.ref.key,
        `${where}: this delta applies on top of epoch ${o.previous} but the object before it in the chain is of epoch ${prior.epoch}`,
      );
    }
  }
}
