/**
 * Dozer binary codec, format version 1.
 *
 * A compact, schema-driven encoding of schemas, op batches and barriers,
 * used between worker threads (as transferable ArrayBuffers) and over gRPC.
 * The reader must hold the same schema as the writer: values carry no type
 * tags, and a batch records a fingerprint of the schema's layout so that a
 * mismatch is caught instead of decoded as garbage.
 *
 * All multi-byte fixed-width numbers are little-endian.
 * `varint` = unsigned LEB128 (7 bits a byte, low bits first, high bit set on
 * every byte but the last). `zigzag` maps a signed integer n to 2n (n ≥ 0)
 * or -2n-1 (n < 0) before writing it as an (arbitrarily long) varint.
 * `str` = varint byte length + UTF-8 bytes.
 *
 * Every message starts with a 4-byte header:
 *
 *   offset 0  u8  0x44 'D'   magic
 *   offset 1  u8  0x5A 'Z'   magic
 *   offset 2  u8  0x01       format version
 *   offset 3  u8  kind       1 = schema, 2 = batch, 3 = barrier
 *
 * Schema (kind 1):
 *   varint field count, then per field:
 *     str name · u8 type tag (table below) · u8 flags (bit 0 nullable,
 *     bit 1 precision follows, bit 2 scale follows) · [varint precision]
 *     · [varint scale]
 *   varint primary key length, then a varint field position per key field.
 *
 * Batch (kind 2):
 *   u32 schema fingerprint: FNV-1a 32 over the field count (u32) and one
 *       byte per field: type tag | 0x80 when nullable
 *   str table
 *   u8 0 (no position) | u8 1 + str position
 *   varint op count, then per op:
 *     u8 op tag: 1 insert (new row) · 2 delete (old row) · 3 update (old row, new row)
 *   A row is a null bitmap of ceil(N/8) bytes, N = number of nullable fields
 *   (bit k of byte k>>3, counting nullable fields in schema order, set when
 *   that field is NULL; absent when N = 0), followed by every non-NULL value
 *   in field order, encoded by type:
 *
 *   tag type       bytes
 *    1  int        i64 two's complement
 *    2  uint       u64
 *    3  float      f64 IEEE 754 (NaN, -0, ±Infinity kept)
 *    4  boolean    u8 0 | 1
 *    5  string     str
 *    6  text       str
 *    7  binary     varint length + bytes
 *    8  decimal    varint scale + zigzag unscaled value (any size)
 *    9  timestamp  i64 microseconds since 1970-01-01T00:00:00Z
 *   10  date       i32 days since 1970-01-01
 *   11  json       str (JSON text)
 *   12  duration   i32 months · i32 days · i64 microseconds
 *   13  point      f64 x · f64 y
 *
 * Barrier (kind 3):
 *   u64 epoch
 *
 * A batch message is also a valid stream message (kind 2), so a log of
 * stream messages is a sequence of kind 2 and kind 3 messages.
 */
import { CodecError, TypeMismatchError } from './errors.js';
import { type FieldType, INT64_MAX, INT64_MIN, UINT64_MAX } from './field-type.js';
import type { OpBatch, Operation, Row, StreamMessage } from './operation.js';
import type { FieldDefinition, Schema } from './schema.js';
import { DateValue, Decimal, Duration, Json, type JsonValue, Point, Timestamp, type Value } from './value.js';

/** The codec format version this build writes and reads. */
export const CODEC_FORMAT_VERSION = 1;

const MAGIC_0 = 0x44;
const MAGIC_1 = 0x5a;
const HEADER_SIZE = 4;

/** The kinds of top-level message, as written in header byte 3. */
export const CodecMessageKind = {
  Schema: 1,
  Batch: 2,
  Barrier: 3,
} as const;
export type CodecMessageKind = (typeof CodecMessageKind)[keyof typeof CodecMessageKind];

const KIND_NAMES: { readonly [k: number]: string } = { 1: 'schema', 2: 'batch', 3: 'barrier' };

// Wire tags are fixed by format version 1; they must never be renumbered.
const TYPE_TAG: { readonly [T in FieldType]: number } = {
  int: 1,
  uint: 2,
  float: 3,
  boolean: 4,
  string: 5,
  text: 6,
  binary: 7,
  decimal: 8,
  timestamp: 9,
  date: 10,
  json: 11,
  duration: 12,
  point: 13,
};
const TAG_TYPE: readonly (FieldType | undefined)[] = (() => {
  const out: (FieldType | undefined)[] = [];
  for (const [type, tag] of Object.entries(TYPE_TAG)) out[tag] = type as FieldType;
  return out;
})();

const OP_INSERT = 1;
const OP_DELETE = 2;
const OP_UPDATE = 3;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const MAX_DECIMAL_SCALE = 76;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------
// Writer

class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** A copy of what was written, owning its ArrayBuffer exactly (so it can be transferred). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  i32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, v, true);
    this.pos += 4;
  }

  i64(v: bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.pos, v, true);
    this.pos += 8;
  }

  u64(v: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.pos, v, true);
    this.pos += 8;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** Unsigned varint of a non-negative safe integer. */
  varint(v: number): void {
    this.ensure(8);
    const buf = this.buf;
    let pos = this.pos;
    while (v >= 0x80) {
      buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /** Zigzag varint of an arbitrary-size signed integer. */
  zigzag(v: bigint): void {
    let z = v >= 0n ? v << 1n : (-v << 1n) - 1n;
    if (z <= 0x1f_ffff_ffff_ffffn) {
      this.varint(Number(z));
      return;
    }
    while (z >= 0x80n) {
      this.u8(Number(z & 0x7fn) | 0x80);
      z >>= 7n;
    }
    this.u8(Number(z));
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    const n = s.length;
    // UTF-8 needs at most 3 bytes per UTF-16 unit, so up to 42 units the
    // length fits one varint byte and can be written after the text.
    if (n <= 42) {
      this.ensure(1 + 3 * n);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      const len = i === n ? n : utf8Encoder.encodeInto(s, buf.subarray(start)).written;
      buf[this.pos] = len;
      this.pos = start + len;
      return;
    }
    const max = 3 * n;
    const reserved = varintSize(max);
    this.ensure(reserved + max);
    const written = utf8Encoder.encodeInto(s, this.buf.subarray(this.pos + reserved)).written;
    const actual = varintSize(written);
    if (actual < reserved) {
      this.buf.copyWithin(this.pos + actual, this.pos + reserved, this.pos + reserved + written);
    }
    this.varint(written);
    this.pos += written;
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

// One writer is reused across calls (encoding is synchronous), so steady-state
// encoding allocates only the returned copy.
const SCRATCH_INITIAL = 64 * 1024;
const SCRATCH_KEEP_MAX = 16 * 1024 * 1024;
let scratch: Writer | null = null;

function takeWriter(): Writer {
  const w = scratch ?? new Writer(SCRATCH_INITIAL);
  scratch = null;
  w.pos = 0;
  return w;
}

function releaseWriter(w: Writer): void {
  if (w.buf.length <= SCRATCH_KEEP_MAX) scratch = w;
}

function encodeWith(fill: (w: Writer) => void): Uint8Array {
  const w = takeWriter();
  try {
    fill(w);
    return w.finish();
  } finally {
    releaseWriter(w);
  }
}

function writeHeader(w: Writer, kind: CodecMessageKind): void {
  w.ensure(HEADER_SIZE);
  w.buf[0] = MAGIC_0;
  w.buf[1] = MAGIC_1;
  w.buf[2] = CODEC_FORMAT_VERSION;
  w.buf[3] = kind;
  w.pos = HEADER_SIZE;
}

// ---------------------------------------------------------------------------
// Reader

class Reader {
  readonly view: DataView;
  pos = 0;
  readonly end: number;
  /** What is being read, for error messages. */
  what = 'header';
  /** Index of the op being read, or -1. */
  op = -1;

  constructor(
    readonly bytes: Uint8Array,
    readonly message: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.end = bytes.length;
  }

  fail(detail: string, at = this.pos): CodecError {
    const op = this.op >= 0 ? ` of op #${this.op}` : '';
    return new CodecError(
      `cannot decode ${this.message}: ${detail} at offset ${at} (reading ${this.what}${op}; input is ${this.end} bytes)`,
    );
  }

  need(n: number, unit: string): void {
    if (this.pos + n > this.end) {
      throw this.fail(
        `truncated input: expected ${n} bytes (${unit}) but only ${this.end - this.pos} remain`,
      );
    }
  }

  u8(): number {
    this.need(1, 'u8');
    return this.bytes[this.pos++]!;
  }

  u32(): number {
    this.need(4, 'u32');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4, 'i32');
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i64(): bigint {
    this.need(8, 'i64');
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  u64(): bigint {
    this.need(8, 'u64');
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  f64(): number {
    this.need(8, 'f64');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** An unsigned varint that must fit in a safe integer (lengths, counts). */
  varint(): number {
    const start = this.pos;
    const bytes = this.bytes;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) {
        throw this.fail('truncated input: varint runs past the end', start);
      }
      const b = bytes[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
    throw this.fail('varint longer than 8 bytes (expected a length or count below 2^53)', start);
  }

  /** A zigzag varint of any size. */
  zigzag(): bigint {
    const start = this.pos;
    const bytes = this.bytes;
    // Up to 7 bytes (49 bits) accumulate exactly in a double.
    let small = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw this.fail('truncated input: varint runs past the end', start);
      const b = bytes[this.pos++]!;
      small += (b & 0x7f) * mul;
      if (b < 0x80) {
        const half = Math.floor(small / 2);
        return BigInt(small % 2 === 0 ? half : -half - 1);
      }
      mul *= 0x80;
    }
    let z = BigInt(small);
    let shift = 49n;
    for (;;) {
      if (this.pos >= this.end) throw this.fail('truncated input: varint runs past the end', start);
      const b = bytes[this.pos++]!;
      z |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7n;
    }
    return (z >> 1n) ^ -(z & 1n);
  }

  string(): string {
    const len = this.varint();
    this.need(len, 'UTF-8 text');
    const start = this.pos;
    const bytes = this.bytes;
    this.pos += len;
    if (len <= 16) {
      let s = '';
      let i = start;
      for (; i < start + len; i++) {
        const b = bytes[i]!;
        if (b >= 0x80) break;
        s += String.fromCharCode(b);
      }
      if (i === start + len) return s;
    }
    try {
      return utf8Decoder.decode(bytes.subarray(start, start + len));
    } catch {
      throw this.fail(`invalid UTF-8 in a ${len}-byte string`, start);
    }
  }

  bytesField(): Uint8Array {
    const len = this.varint();
    this.need(len, 'binary data');
    // A copy, so decoded rows never alias (or pin) the message buffer.
    const out = this.bytes.slice(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

function readHeader(r: Reader, accept: readonly CodecMessageKind[]): CodecMessageKind {
  if (r.end < HEADER_SIZE) {
    throw r.fail(
      `truncated input: expected a ${HEADER_SIZE}-byte header but only ${r.end} bytes were given`,
      0,
    );
  }
  const b = r.bytes;
  if (b[0] !== MAGIC_0 || b[1] !== MAGIC_1) {
    throw r.fail(
      `not a Dozer binary message: expected magic bytes 0x44 0x5a ("DZ") but got ${hex(b[0]!)} ${hex(b[1]!)}`,
      0,
    );
  }
  if (b[2] !== CODEC_FORMAT_VERSION) {
    throw r.fail(
      `unsupported format version ${b[2]} (this build of @dozer/core reads version ${CODEC_FORMAT_VERSION}; ` +
        'upgrade the reader or downgrade the writer so both use the same version)',
      2,
    );
  }
  const kind = b[3]!;
  if (!(accept as readonly number[]).includes(kind)) {
    const expected = accept.map((k) => `${k} (${KIND_NAMES[k]})`).join(' or ');
    const got = KIND_NAMES[kind] === undefined ? 'an unknown kind' : `a ${KIND_NAMES[kind]}`;
    throw r.fail(`bad message kind ${kind}: expected ${expected}, got ${got}`, 3);
  }
  r.pos = HEADER_SIZE;
  return kind as CodecMessageKind;
}

function expectEnd(r: Reader): void {
  if (r.pos !== r.end) {
    r.what = 'end of message';
    r.op = -1;
    throw r.fail(`${r.end - r.pos} unexpected trailing bytes after a complete message`);
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------
// Per-schema layout, computed once per schema object

const T_INT = 1;
const T_UINT = 2;
const T_FLOAT = 3;
const T_BOOLEAN = 4;
const T_STRING = 5;
const T_TEXT = 6;
const T_BINARY = 7;
const T_DECIMAL = 8;
const T_TIMESTAMP = 9;
const T_DATE = 10;
const T_JSON = 11;
const T_DURATION = 12;
const T_POINT = 13;

interface Layout {
  readonly fields: readonly FieldDefinition[];
  readonly tags: Uint8Array;
  /** Bit index in the null bitmap for nullable fields, -1 for the others. */
  readonly nullBit: Int32Array;
  readonly bitmapBytes: number;
  readonly fingerprint: number;
  /** `field "name" (type)`, for error messages. */
  readonly describe: readonly string[];
}

const layouts = new WeakMap<Schema, Layout>();

function layoutOf(schema: Schema): Layout {
  let layout = layouts.get(schema);
  if (layout === undefined) {
    layout = computeLayout(schema);
    layouts.set(schema, layout);
  }
  return layout;
}

function computeLayout(schema: Schema): Layout {
  const n = schema.fields.length;
  const tags = new Uint8Array(n);
  const nullBit = new Int32Array(n);
  let nullable = 0;
  // FNV-1a, 32 bit
  let h = 0x811c9dc5;
  const mix = (byte: number) => {
    h = Math.imul(h ^ byte, 0x01000193);
  };
  for (let k = 0; k < 4; k++) mix((n >>> (8 * k)) & 0xff);
  const describe: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = schema.fields[i]!;
    const tag = TYPE_TAG[f.type];
    if (tag === undefined) {
      throw new TypeMismatchError(
        `field "${f.name}" has unknown type "${String(f.type)}"; the codec cannot encode it`,
      );
    }
    tags[i] = tag;
    nullBit[i] = f.nullable ? nullable++ : -1;
    mix(tag | (f.nullable ? 0x80 : 0));
    describe.push(`field "${f.name}" (${f.type}${f.nullable ? '' : ' not null'})`);
  }
  return {
    fields: schema.fields,
    tags,
    nullBit,
    bitmapBytes: (nullable + 7) >> 3,
    fingerprint: h >>> 0,
    describe,
  };
}

function layoutSummary(schema: Schema): string {
  return schema.fields.map((f) => `${f.name} ${f.type}${f.nullable ? '?' : ''}`).join(', ');
}

// ---------------------------------------------------------------------------
// Encoding rows

/** Where a row sits in a batch, for error messages; built only when one is thrown. */
interface RowSite {
  table: string;
  op: number;
  role: string;
}

function siteText(site: RowSite): string {
  return `op #${site.op} (${site.role}) of table "${site.table}"`;
}

function writeRow(w: Writer, layout: Layout, row: Row, site: RowSite): void {
  const n = layout.tags.length;
  if (!Array.isArray(row) || row.length !== n) {
    throw new TypeMismatchError(
      `cannot encode ${siteText(site)}: the row has ${Array.isArray(row) ? row.length : 'no'} values but the schema has ${n} fields; ` +
        'build rows with one value per schema field, in field order',
    );
  }
  const bitmapAt = w.pos;
  const bitmapBytes = layout.bitmapBytes;
  if (bitmapBytes > 0) {
    w.ensure(bitmapBytes);
    w.buf.fill(0, bitmapAt, bitmapAt + bitmapBytes);
    w.pos += bitmapBytes;
  }
  for (let i = 0; i < n; i++) {
    const v = row[i];
    if (v === null) {
      const bit = layout.nullBit[i]!;
      if (bit < 0) {
        throw new TypeMismatchError(
          `cannot encode ${siteText(site)}: ${layout.describe[i]} is not nullable but the value is NULL; ` +
            'give it a value or declare the field nullable',
        );
      }
      w.buf[bitmapAt + (bit >> 3)]! |= 1 << (bit & 7);
      continue;
    }
    writeValue(w, layout, i, v, site);
  }
}

function writeValue(w: Writer, layout: Layout, i: number, v: Value | undefined, site: RowSite): void {
  switch (layout.tags[i]) {
    case T_INT:
      if (typeof v !== 'bigint' || v < INT64_MIN || v > INT64_MAX) {
        throw mismatch(layout, i, v, 'a bigint in -2^63..2^63-1', site);
      }
      w.i64(v);
      return;
    case T_UINT:
      if (typeof v !== 'bigint' || v < 0n || v > UINT64_MAX) {
        throw mismatch(layout, i, v, 'a bigint in 0..2^64-1', site);
      }
      w.u64(v);
      return;
    case T_FLOAT:
      if (typeof v !== 'number') throw mismatch(layout, i, v, 'a number', site);
      w.f64(v);
      return;
    case T_BOOLEAN:
      if (typeof v !== 'boolean') throw mismatch(layout, i, v, 'a boolean', site);
      w.u8(v ? 1 : 0);
      return;
    case T_STRING:
    case T_TEXT:
      if (typeof v !== 'string') throw mismatch(layout, i, v, 'a string', site);
      w.string(v);
      return;
    case T_BINARY:
      if (!(v instanceof Uint8Array)) throw mismatch(layout, i, v, 'a Uint8Array', site);
      w.bytes(v);
      return;
    case T_DECIMAL:
      if (!(v instanceof Decimal)) throw mismatch(layout, i, v, 'a Decimal', site);
      w.varint(v.scale);
      w.zigzag(v.unscaled);
      return;
    case T_TIMESTAMP:
      if (!(v instanceof Timestamp) || v.micros < INT64_MIN || v.micros > INT64_MAX) {
        throw mismatch(layout, i, v, 'a Timestamp whose microseconds fit in 64 bits', site);
      }
      w.i64(v.micros);
      return;
    case T_DATE:
      if (!(v instanceof DateValue) || v.days < INT32_MIN || v.days > INT32_MAX) {
        throw mismatch(layout, i, v, 'a DateValue whose day number fits in 32 bits', site);
      }
      w.i32(v.days);
      return;
    case T_JSON: {
      let text: string | undefined;
      try {
        text = v instanceof Json ? JSON.stringify(v.value) : undefined;
      } catch {
        // a bigint or a cycle inside the document
      }
      if (text === undefined) throw mismatch(layout, i, v, 'a Json holding a JSON value', site);
      w.string(text);
      return;
    }
    case T_DURATION:
      if (
        !(v instanceof Duration) ||
        v.months < INT32_MIN ||
        v.months > INT32_MAX ||
        v.days < INT32_MIN ||
        v.days > INT32_MAX ||
        v.micros < INT64_MIN ||
        v.micros > INT64_MAX
      ) {
        throw mismatch(layout, i, v, 'a Duration with 32-bit months and days and 64-bit microseconds', site);
      }
      w.i32(v.months);
      w.i32(v.days);
      w.i64(v.micros);
      return;
    case T_POINT:
      if (!(v instanceof Point)) throw mismatch(layout, i, v, 'a Point', site);
      w.f64(v.x);
      w.f64(v.y);
      return;
  }
}

function mismatch(
  layout: Layout,
  i: number,
  v: Value | undefined,
  expected: string,
  site: RowSite,
): TypeMismatchError {
  return new TypeMismatchError(
    `cannot encode ${siteText(site)}: ${layout.describe[i]} expects ${expected}, got ${describeValue(v)}`,
  );
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined (a missing value)';
  if (typeof v === 'bigint') return `the bigint ${v}`;
  if (typeof v === 'number') return `the number ${Object.is(v, -0) ? '-0' : v}`;
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)})`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (v instanceof Timestamp) return `the timestamp ${v.micros} µs`;
  if (v instanceof DateValue) return `the date with day number ${v.days}`;
  if (v instanceof Duration) return `the duration ${v.months} months, ${v.days} days, ${v.micros} µs`;
  if (typeof v === 'object' && v !== null) return `a ${v.constructor?.name ?? 'object'}`;
  return typeof v;
}

// ---------------------------------------------------------------------------
// Decoding rows

function readRow(r: Reader, layout: Layout): Row {
  const n = layout.tags.length;
  const row: Value[] = new Array(n);
  const bitmapAt = r.pos;
  if (layout.bitmapBytes > 0) {
    r.what = 'null bitmap';
    r.need(layout.bitmapBytes, 'null bitmap');
    r.pos += layout.bitmapBytes;
  }
  const bytes = r.bytes;
  for (let i = 0; i < n; i++) {
    const bit = layout.nullBit[i]!;
    if (bit >= 0 && (bytes[bitmapAt + (bit >> 3)]! & (1 << (bit & 7))) !== 0) {
      row[i] = null;
      continue;
    }
    r.what = layout.describe[i]!;
    row[i] = readValue(r, layout.tags[i]!);
  }
  return row;
}

function readValue(r: Reader, tag: number): Value {
  switch (tag) {
    case T_INT:
      return r.i64();
    case T_UINT:
      return r.u64();
    case T_FLOAT:
      return r.f64();
    case T_BOOLEAN: {
      const b = r.u8();
      if (b > 1) throw r.fail(`bad boolean byte ${b} (expected 0 or 1)`, r.pos - 1);
      return b === 1;
    }
    case T_STRING:
    case T_TEXT:
      return r.string();
    case T_BINARY:
      return r.bytesField();
    case T_DECIMAL: {
      const at = r.pos;
      const scale = r.varint();
      if (scale > MAX_DECIMAL_SCALE) {
        throw r.fail(`bad decimal scale ${scale} (expected 0..${MAX_DECIMAL_SCALE})`, at);
      }
      return new Decimal(r.zigzag(), scale);
    }
    case T_TIMESTAMP:
      return new Timestamp(r.i64());
    case T_DATE:
      return new DateValue(r.i32());
    case T_JSON: {
      const at = r.pos;
      const text = r.string();
      try {
        return new Json(JSON.parse(text) as JsonValue);
      } catch {
        throw r.fail(`invalid JSON text (${text.length} characters)`, at);
      }
    }
    case T_DURATION: {
      const months = r.i32();
      const days = r.i32();
      return new Duration(months, days, r.i64());
    }
    case T_POINT: {
      const x = r.f64();
      return new Point(x, r.f64());
    }
    default:
      throw r.fail(`internal: no decoder for type tag ${tag}`);
  }
}

// ---------------------------------------------------------------------------
// Batches and stream messages

function writeBatch(w: Writer, schema: Schema, batch: OpBatch): void {
  const layout = layoutOf(schema);
  writeHeader(w, CodecMessageKind.Batch);
  w.u32(layout.fingerprint);
  w.string(batch.table);
  if (batch.position === null) w.u8(0);
  else {
    w.u8(1);
    w.string(batch.position);
  }
  const ops = batch.ops;
  w.varint(ops.length);
  const site: RowSite = { table: batch.table, op: 0, role: '' };
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k]!;
    site.op = k;
    switch (op.kind) {
      case 'insert':
        w.u8(OP_INSERT);
        site.role = 'insert, new row';
        writeRow(w, layout, op.new, site);
        break;
      case 'delete':
        w.u8(OP_DELETE);
        site.role = 'delete, old row';
        writeRow(w, layout, op.old, site);
        break;
      case 'update':
        w.u8(OP_UPDATE);
        site.role = 'update, old row';
        writeRow(w, layout, op.old, site);
        site.role = 'update, new row';
        writeRow(w, layout, op.new, site);
        break;
      default:
        throw new TypeMismatchError(
          `cannot encode op #${k} of table "${batch.table}": unknown op kind ${JSON.stringify((op as { kind: unknown }).kind)} ` +
            '(expected insert, delete or update)',
        );
    }
  }
}

function readBatchBody(r: Reader, schema: Schema): OpBatch {
  const layout = layoutOf(schema);
  r.what = 'schema fingerprint';
  const at = r.pos;
  const fingerprint = r.u32();
  if (fingerprint !== layout.fingerprint) {
    throw r.fail(
      `schema mismatch: the batch was encoded for a schema with fingerprint ${fingerprint.toString(16)}, ` +
        `but the schema given has fingerprint ${layout.fingerprint.toString(16)} (${layoutSummary(schema)}); ` +
        'decode with the same field types, nullability and order the writer used',
      at,
    );
  }
  r.what = 'table name';
  const table = r.string();
  r.what = 'source position';
  const flagAt = r.pos;
  const flag = r.u8();
  let position: string | null;
  if (flag === 0) position = null;
  else if (flag === 1) position = r.string();
  else throw r.fail(`bad position tag ${flag} (expected 0 = none or 1 = present)`, flagAt);
  r.what = 'op count';
  const count = r.varint();
  // Every op takes at least one byte, so a larger count is corrupt; checking
  // here avoids allocating a huge array for it.
  if (count > r.end - r.pos) {
    throw r.fail(
      `truncated input: op count ${count} needs at least ${count} more bytes but only ${r.end - r.pos} remain`,
    );
  }
  const ops: Operation[] = new Array(count);
  for (let k = 0; k < count; k++) {
    r.op = k;
    r.what = 'op tag';
    const tagAt = r.pos;
    const tag = r.u8();
    if (tag === OP_INSERT) ops[k] = { kind: 'insert', new: readRow(r, layout) };
    else if (tag === OP_DELETE) ops[k] = { kind: 'delete', old: readRow(r, layout) };
    else if (tag === OP_UPDATE) {
      const old = readRow(r, layout);
      ops[k] = { kind: 'update', old, new: readRow(r, layout) };
    } else throw r.fail(`bad op tag ${tag} (expected 1 = insert, 2 = delete, 3 = update)`, tagAt);
  }
  r.op = -1;
  return { table, ops, position };
}

/**
 * Encodes a batch of operations on a table with schema `schema`. The result
 * owns its ArrayBuffer exactly, so it can be transferred to a worker.
 * Throws TypeMismatchError (naming the op and field) when a value does not
 * fit its field.
 */
/**
 * Encodes one row of `schema` as rows are laid out inside a batch (null
 * bitmap, then the values), with no header: for state that keeps rows by
 * key, where the schema is known from elsewhere. Throws TypeMismatchError as
 * {@link encodeBatch}.
 */
export function encodeRow(schema: Schema, row: Row): Uint8Array {
  return encodeWith((w) => writeRow(w, layoutOf(schema), row, { table: '(row)', op: 0, role: 'row' }));
}

/** Decodes a row written by {@link encodeRow} with the same schema. Throws CodecError on bad input. */
export function decodeRow(schema: Schema, bytes: Uint8Array): Row {
  const r = new Reader(bytes, 'row');
  const row = readRow(r, layoutOf(schema));
  expectEnd(r);
  return row;
}

export function encodeBatch(schema: Schema, batch: OpBatch): Uint8Array {
  return encodeWith((w) => writeBatch(w, schema, batch));
}

/**
 * Decodes a batch written by {@link encodeBatch} with the same schema.
 * Throws CodecError (with the offset and what was expected) on bad input.
 */
export function decodeBatch(schema: Schema, bytes: Uint8Array): OpBatch {
  const r = new Reader(bytes, 'batch');
  readHeader(r, [CodecMessageKind.Batch]);
  const batch = readBatchBody(r, schema);
  expectEnd(r);
  return batch;
}

/** Encodes a stream message: a batch (as {@link encodeBatch}) or a barrier. */
export function encodeStreamMessage(schema: Schema, message: StreamMessage): Uint8Array {
  if (message.kind === 'batch') return encodeBatch(schema, message.batch);
  if (message.kind !== 'barrier') {
    throw new TypeMismatchError(
      `cannot encode stream message: unknown kind ${JSON.stringify((message as { kind: unknown }).kind)} (expected batch or barrier)`,
    );
  }
  const epoch = message.epoch;
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch > UINT64_MAX) {
    throw new TypeMismatchError(
      `cannot encode barrier: epoch must be a bigint in 0..2^64-1, got ${describeValue(epoch)}`,
    );
  }
  return encodeWith((w) => {
    writeHeader(w, CodecMessageKind.Barrier);
    w.u64(epoch);
  });
}

/** Decodes a message written by {@link encodeStreamMessage} (or {@link encodeBatch}). */
export function decodeStreamMessage(schema: Schema, bytes: Uint8Array): StreamMessage {
  const r = new Reader(bytes, 'stream message');
  const kind = readHeader(r, [CodecMessageKind.Batch, CodecMessageKind.Barrier]);
  let message: StreamMessage;
  if (kind === CodecMessageKind.Barrier) {
    r.what = 'barrier epoch';
    message = { kind: 'barrier', epoch: r.u64() };
  } else {
    message = { kind: 'batch', batch: readBatchBody(r, schema) };
  }
  expectEnd(r);
  return message;
}

/**
 * The kind of the encoded stream message `bytes`, read from its header
 * only (the body is not checked). Throws CodecError when the header is not
 * a batch or barrier of this codec version.
 */
export function streamMessageKind(bytes: Uint8Array): StreamMessage['kind'] {
  const kind = readHeader(new Reader(bytes, 'stream message'), [
    CodecMessageKind.Batch,
    CodecMessageKind.Barrier,
  ]);
  return kind === CodecMessageKind.Barrier ? 'barrier' : 'batch';
}

/** Encodes a schema: field names, types, nullability, decimal precision/scale and the primary key. */
export function encodeSchema(schema: Schema): Uint8Array {
  return encodeWith((w) => {
    writeHeader(w, CodecMessageKind.Schema);
    w.varint(schema.fields.length);
    for (const f of schema.fields) {
      const tag = TYPE_TAG[f.type];
      if (tag === undefined) {
        throw new TypeMismatchError(
          `cannot encode schema: field "${f.name}" has unknown type "${String(f.type)}"`,
        );
      }
      w.string(f.name);
      w.u8(tag);
      w.u8((f.nullable ? 1 : 0) | (f.precision !== undefined ? 2 : 0) | (f.scale !== undefined ? 4 : 0));
      if (f.precision !== undefined) w.varint(checkedSmallInt(f.precision, f.name, 'precision'));
      if (f.scale !== undefined) w.varint(checkedSmallInt(f.scale, f.name, 'scale'));
    }
    w.varint(schema.primaryKey.length);
    for (const p of schema.primaryKey) {
      if (!Number.isInteger(p) || p < 0 || p >= schema.fields.length) {
        throw new TypeMismatchError(
          `cannot encode schema: primary key position ${p} is not a field position (0..${schema.fields.length - 1})`,
        );
      }
      w.varint(p);
    }
  });
}

function checkedSmallInt(v: number, field: string, what: string): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new TypeMismatchError(
      `cannot encode schema: field "${field}" has ${what} ${v}; expected a non-negative integer`,
    );
  }
  return v;
}

/** Decodes a schema written by {@link encodeSchema}. */
export function decodeSchema(bytes: Uint8Array): Schema {
  const r = new Reader(bytes, 'schema');
  readHeader(r, [CodecMessageKind.Schema]);
  r.what = 'field count';
  const count = r.varint();
  if (count > r.end - r.pos) {
    throw r.fail(
      `truncated input: field count ${count} needs at least ${count} more bytes but only ${r.end - r.pos} remain`,
    );
  }
  const fields: FieldDefinition[] = [];
  const names = new Set<string>();
  for (let i = 0; i < count; i++) {
    r.what = `name of field #${i}`;
    const nameAt = r.pos;
    const name = r.string();
    if (names.has(name)) throw r.fail(`duplicate field name "${name}"`, nameAt);
    names.add(name);
    r.what = `type of field "${name}"`;
    const tagAt = r.pos;
    const tag = r.u8();
    const type = TAG_TYPE[tag];
    if (type === undefined) throw r.fail(`bad type tag ${tag} (expected 1..${TAG_TYPE.length - 1})`, tagAt);
    r.what = `flags of field "${name}"`;
    const flagsAt = r.pos;
    const flags = r.u8();
    if (flags > 7) throw r.fail(`bad field flags ${hex(flags)} (expected only bits 0..2)`, flagsAt);
    r.what = `precision/scale of field "${name}"`;
    const precision = flags & 2 ? r.varint() : undefined;
    const scale = flags & 4 ? r.varint() : undefined;
    fields.push({
      name,
      type,
      nullable: (flags & 1) !== 0,
      ...(precision === undefined ? {} : { precision }),
      ...(scale === undefined ? {} : { scale }),
    });
  }
  r.what = 'primary key';
  const pkLen = r.varint();
  if (pkLen > count) throw r.fail(`primary key has ${pkLen} fields but the schema only ${count}`);
  const primaryKey: number[] = [];
  for (let k = 0; k < pkLen; k++) {
    const at = r.pos;
    const p = r.varint();
    if (p >= count) throw r.fail(`primary key position ${p} is not a field position (0..${count - 1})`, at);
    if (primaryKey.includes(p)) throw r.fail(`primary key position ${p} appears twice`, at);
    primaryKey.push(p);
  }
  expectEnd(r);
  return { fields, primaryKey };
}
