import {
  canonicalJson,
  DateValue,
  Decimal,
  Duration,
  type FieldType,
  INT64_MAX,
  INT64_MIN,
  Json,
  Point,
  Timestamp,
  UINT64_MAX,
  type Value,
} from '@dozer/core';
import { StoreError } from '../errors.js';

/**
 * Order-preserving key encoding (format version 1).
 *
 * Every value is encoded so that comparing the bytes (memcmp, shorter
 * first, which is LMDB's default key order) gives the order of
 * `compareValues` from @dozer/core. Each encoded value is self-delimiting
 * and no encoding is a proper prefix of another, so concatenating the
 * encodings of several values gives the lexicographic tuple order.
 *
 * | value     | bytes                                                                  |
 * |-----------|------------------------------------------------------------------------|
 * | NULL      | 0x00 (sorts before everything)                                         |
 * | non-null  | 0x01, then by type:                                                    |
 * | int       | 8 bytes big-endian two's complement with the sign bit flipped          |
 * | uint      | 8 bytes big-endian                                                     |
 * | float     | 8 bytes IEEE 754 big-endian; negatives: all bits inverted, else sign bit set. -0 is written as 0 and every NaN as one NaN, which sorts after +Infinity |
 * | boolean   | 0x00 false, 0x01 true                                                  |
 * | string, text | UTF-8 (lone surrogates become U+FFFD); byte 0x00 escaped as 0x00 0xFF; ends with 0x00 0x00 |
 * | binary    | the bytes, escaped and terminated like strings                         |
 * | decimal   | 0x01 negative, 0x02 zero, 0x03 positive; then for non-zero: the decimal exponent e (value = 0.d1d2… × 10^e) as a sign-flipped int32 and the significant digits (no trailing zeros) as bytes d+1, ending 0x00; negatives have exponent and digits inverted and end 0xFF |
 * | timestamp | micros as int                                                          |
 * | date      | days as float                                                          |
 * | json      | canonical JSON text (keys sorted) as a string                          |
 * | duration  | total micros (a month = 30 days) as a variable-length integer: 0x80+n then n magnitude bytes, or 0x7F-n then n inverted magnitude bytes for negatives. Exact keys (primary keys) append months and days as floats, so that `1 month` and `30 days` stay distinct keys |
 * | point     | x as float, then y as float                                            |
 *
 * Writers write into `target` from `pos` and return the end position. They
 * throw a RangeError when `target` is too small (lmdb-js retries with a
 * larger buffer on RangeError) and a StoreError when a value does not fit
 * its field type.
 */
export type KeyWriter = (v: Value, target: Uint8Array, pos: number) => number;

/** Key format version, stored in each endpoint's metadata. */
export const KEY_FORMAT_VERSION = 1;

const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

function tooSmall(): never {
  throw new RangeError('key buffer too small');
}

function badValue(type: FieldType, v: Value): never {
  const shown =
    typeof v === 'bigint' ? `${v}n` : typeof v === 'object' ? (v?.constructor?.name ?? 'object') : String(v);
  throw new StoreError(`cannot encode ${typeof v} ${shown} as a ${type} key value`);
}

function writeInt(v: bigint, t: Uint8Array, p: number): number {
  if (p + 8 > t.length) tooSmall();
  scratch.setBigInt64(0, v);
  t[p] = scratchBytes[0]! ^ 0x80;
  for (let i = 1; i < 8; i++) t[p + i] = scratchBytes[i]!;
  return p + 8;
}

function writeUint(v: bigint, t: Uint8Array, p: number): number {
  if (p + 8 > t.length) tooSmall();
  scratch.setBigUint64(0, v);
  for (let i = 0; i < 8; i++) t[p + i] = scratchBytes[i]!;
  return p + 8;
}

function writeFloat(x: number, t: Uint8Array, p: number): number {
  if (p + 8 > t.length) tooSmall();
  // -0 and 0 compare equal, and all NaNs are one value: give each one key.
  scratch.setFloat64(0, x === 0 ? 0 : Number.isNaN(x) ? Number.NaN : x);
  if (scratchBytes[0]! & 0x80) {
    for (let i = 0; i < 8; i++) t[p + i] = ~scratchBytes[i]! & 0xff;
  } else {
    t[p] = scratchBytes[0]! | 0x80;
    for (let i = 1; i < 8; i++) t[p + i] = scratchBytes[i]!;
  }
  return p + 8;
}

function writeString(s: string, t: Uint8Array, p: number): number {
  // Worst case 3 bytes per UTF-16 unit (an escaped 0x00 takes 2, a surrogate pair 4 for 2 units).
  if (p + s.length * 3 + 2 > t.length) tooSmall();
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) {
        t[p++] = 0;
        t[p++] = 0xff;
      } else t[p++] = c;
    } else if (c < 0x800) {
      t[p++] = 0xc0 | (c >> 6);
      t[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c < 0xe000) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          t[p++] = 0xf0 | (cp >> 18);
          t[p++] = 0x80 | ((cp >> 12) & 0x3f);
          t[p++] = 0x80 | ((cp >> 6) & 0x3f);
          t[p++] = 0x80 | (cp & 0x3f);
          i++;
          continue;
        }
        c = 0xfffd;
      }
      t[p++] = 0xe0 | (c >> 12);
      t[p++] = 0x80 | ((c >> 6) & 0x3f);
      t[p++] = 0x80 | (c & 0x3f);
    }
  }
  t[p++] = 0;
  t[p++] = 0;
  return p;
}

function writeBytes(b: Uint8Array, t: Uint8Array, p: number): number {
  if (p + b.length * 2 + 2 > t.length) tooSmall();
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    t[p++] = c;
    if (c === 0) t[p++] = 0xff;
  }
  t[p++] = 0;
  t[p++] = 0;
  return p;
}

function writeDecimal(d: Decimal, t: Uint8Array, p: number): number {
  let u = d.unscaled;
  if (u === 0n) {
    if (p + 1 > t.length) tooSmall();
    t[p] = 0x02;
    return p + 1;
  }
  const neg = u < 0n;
  if (neg) u = -u;
  let digits = u.toString();
  let scale = d.scale;
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) end--;
  scale -= digits.length - end;
  digits = digits.slice(0, end);
  const exp = digits.length - scale;
  if (p + 6 + digits.length > t.length) tooSmall();
  t[p++] = neg ? 0x01 : 0x03;
  scratch.setInt32(0, exp);
  const flip = neg ? 0xff : 0;
  t[p++] = scratchBytes[0]! ^ 0x80 ^ flip;
  for (let i = 1; i < 4; i++) t[p++] = scratchBytes[i]! ^ flip;
  for (let i = 0; i < digits.length; i++) t[p++] = (digits.charCodeAt(i) - 47) ^ flip;
  t[p++] = flip;
  return p;
}

function writeVarBigInt(v: bigint, t: Uint8Array, p: number): number {
  const neg = v < 0n;
  let m = neg ? -v : v;
  const bytes: number[] = [];
  while (m > 0n) {
    bytes.push(Number(m & 0xffn));
    m >>= 8n;
  }
  if (bytes.length > 127) throw new StoreError(`integer ${v} is too large for a key`);
  if (p + 1 + bytes.length > t.length) tooSmall();
  t[p++] = neg ? 0x7f - bytes.length : 0x80 + bytes.length;
  for (let i = bytes.length - 1; i >= 0; i--) t[p++] = neg ? ~bytes[i]! & 0xff : bytes[i]!;
  return p;
}

function checkInt64(type: FieldType, v: Value): bigint {
  if (typeof v !== 'bigint' || v < INT64_MIN || v > INT64_MAX) badValue(type, v);
  return v;
}

/** The writer for non-null values of `type`; `exact` keys keep every distinct value distinct (primary keys). */
function valueWriter(type: FieldType, exact: boolean): KeyWriter {
  switch (type) {
    case 'int':
      return (v, t, p) => writeInt(checkInt64(type, v), t, p);
    case 'uint':
      return (v, t, p) => {
        if (typeof v !== 'bigint' || v < 0n || v > UINT64_MAX) badValue(type, v);
        return writeUint(v, t, p);
      };
    case 'float':
      return (v, t, p) => {
        if (typeof v !== 'number') badValue(type, v);
        return writeFloat(v, t, p);
      };
    case 'boolean':
      return (v, t, p) => {
        if (typeof v !== 'boolean') badValue(type, v);
        if (p + 1 > t.length) tooSmall();
        t[p] = v ? 1 : 0;
        return p + 1;
      };
    case 'string':
    case 'text':
      return (v, t, p) => {
        if (typeof v !== 'string') badValue(type, v);
        return writeString(v, t, p);
      };
    case 'binary':
      return (v, t, p) => {
        if (!(v instanceof Uint8Array)) badValue(type, v);
        return writeBytes(v, t, p);
      };
    case 'decimal':
      return (v, t, p) => {
        if (!(v instanceof Decimal)) badValue(type, v);
        return writeDecimal(v, t, p);
      };
    case 'timestamp':
      return (v, t, p) => {
        if (!(v instanceof Timestamp)) badValue(type, v);
        return writeInt(checkInt64(type, v.micros), t, p);
      };
    case 'date':
      return (v, t, p) => {
        if (!(v instanceof DateValue)) badValue(type, v);
        return writeFloat(v.days, t, p);
      };
    case 'json':
      return (v, t, p) => {
        if (!(v instanceof Json)) badValue(type, v);
        return writeString(canonicalJson(v.value), t, p);
      };
    case 'duration':
      return (v, t, p) => {
        if (!(v instanceof Duration)) badValue(type, v);
        p = writeVarBigInt(v.totalMicros(), t, p);
        if (!exact) return p;
        return writeFloat(v.days, t, writeFloat(v.months, t, p));
      };
    case 'point':
      return (v, t, p) => {
        if (!(v instanceof Point)) badValue(type, v);
        return writeFloat(v.y, t, writeFloat(v.x, t, p));
      };
  }
}

/** The key writer of one field type, NULL included. */
export function keyWriter(type: FieldType, exact: boolean): KeyWriter {
  const write = valueWriter(type, exact);
  return (v, t, p) => {
    if (p >= t.length) tooSmall();
    if (v === null) {
      t[p] = 0;
      return p + 1;
    }
    t[p] = 1;
    return write(v, t, p + 1);
  };
}

/** Writes the values at `positions` of a row, in that order, as one key. */
export type TupleWriter = (row: readonly Value[], target: Uint8Array, pos: number) => number;

/**
 * A writer of a tuple key: the values of `row` at `positions` (all of
 * `types`, in order, when `positions` is omitted) are encoded one after
 * another. `types[k]` is the type of the k-th encoded value.
 */
export function tupleWriter(
  types: readonly FieldType[],
  exact: boolean,
  positions?: readonly number[],
): TupleWriter {
  const writers = types.map((t) => keyWriter(t, exact));
  const pos = positions ?? types.map((_, i) => i);
  const n = writers.length;
  if (n === 1) {
    const w = writers[0]!;
    const at = pos[0]!;
    return (row, t, p) => w(row[at] ?? null, t, p);
  }
  return (row, t, p) => {
    for (let k = 0; k < n; k++) p = writers[k]!(row[pos[k]!] ?? null, t, p);
    return p;
  };
}

/**
 * The byte length every non-NULL key value of `type` encodes to (with its 0x01 marker), or
 * undefined when it varies (strings, decimals, ...).
 */
export function fixedKeySize(type: FieldType): number | undefined {
  switch (type) {
    case 'int':
    case 'uint':
    case 'float':
    case 'timestamp':
    case 'date':
      return 9;
    case 'boolean':
      return 2;
    case 'point':
      return 17;
    default:
      return undefined;
  }
}

/** Encodes one value as a standalone key (for tests and range bounds). */
const writerCache = new Map<string, KeyWriter>();

export function encodeKey(type: FieldType, v: Value, exact = false): Uint8Array {
  const cacheKey = exact ? `${type}!` : type;
  let w = writerCache.get(cacheKey);
  if (!w) {
    w = keyWriter(type, exact);
    writerCache.set(cacheKey, w);
  }
  let size = 64;
  for (;;) {
    const buf = new Uint8Array(size);
    try {
      return buf.slice(0, w(v, buf, 0));
    } catch (e) {
      if (!(e instanceof RangeError) || size > 1 << 24) throw e;
      size *= 4;
    }
  }
}

/** `prefix` followed by the key encoding of one value, in one fresh array (for range bounds). */
export function encodeKeyAfter(prefix: Uint8Array, type: FieldType, v: Value): Uint8Array {
  let w = writerCache.get(type);
  if (!w) {
    w = keyWriter(type, false);
    writerCache.set(type, w);
  }
  let buf = boundScratch;
  for (;;) {
    try {
      buf.set(prefix, 0);
      return buf.slice(0, w(v, buf, prefix.length));
    } catch (e) {
      if (!(e instanceof RangeError) || buf.length > 1 << 24) throw e;
      buf = new Uint8Array(buf.length * 4 + prefix.length);
    }
  }
}
const boundScratch = new Uint8Array(4096);

/** memcmp order with the shorter key first, as LMDB orders keys. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** The smallest key greater than every key starting with `prefix`; undefined when there is none. */
export function prefixSuccessor(prefix: Uint8Array): Uint8Array | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  // A copy even when given a Buffer, whose slice() is a view.
  const out = new Uint8Array(prefix.subarray(0, end));
  out[end - 1]!++;
  return out;
}
