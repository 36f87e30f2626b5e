import {
  DateValue,
  Decimal,
  Duration,
  type FieldType,
  INT64_MAX,
  INT64_MIN,
  Json,
  type JsonValue,
  Point,
  type Row,
  type Schema,
  Timestamp,
  UINT64_MAX,
  type Value,
} from '@dozer/core';
import { StoreError } from '../errors.js';

/**
 * Row value encoding (format version 1): exact, so every value comes back
 * as the same class and value (a decimal keeps its scale, a float keeps -0
 * and NaN, a json document keeps its key order).
 *
 * For each schema field in order: one byte 0 (NULL) or 1, then for non-NULL
 * values (little-endian):
 * int: int64; uint: uint64; float: float64; boolean: one byte;
 * string, text, json (JSON text): uint32 byte length + UTF-8;
 * binary: uint32 length + bytes; decimal: scale byte + uint32 length + the
 * unscaled integer in ASCII decimal; timestamp: int64 micros; date: float64
 * days; duration: float64 months, float64 days, int64 micros; point: two
 * float64.
 */
export const ROW_FORMAT_VERSION = 1;

const Uint8ArraySlice = Uint8Array.prototype.slice;

/** Encodes rows of one schema into fresh buffers, reusing one growable scratch buffer. */
export class RowEncoder {
  private buf = Buffer.allocUnsafe(256);
  private dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private pos = 0;
  private readonly types: readonly FieldType[];
  private readonly names: readonly string[];
  private readonly nullable: readonly boolean[];

  constructor(schema: Schema) {
    this.types = schema.fields.map((f) => f.type);
    this.names = schema.fields.map((f) => f.name);
    this.nullable = schema.fields.map((f) => f.nullable);
  }

  /** The encoded row, after `prefix` bytes left for the caller (zeroed). */
  encode(row: Row, prefix = 0): Buffer {
    const types = this.types;
    if (row.length !== types.length) {
      throw new StoreError(
        `row has ${row.length} values but the schema has ${types.length} fields (${this.names.join(', ')})`,
      );
    }
    this.pos = 0;
    this.ensure(prefix);
    this.buf.fill(0, 0, prefix);
    this.pos = prefix;
    for (let i = 0; i < types.length; i++) {
      const v = row[i] ?? null;
      this.ensure(1);
      if (v === null) {
        if (!this.nullable[i]) {
          throw new StoreError(`field "${this.names[i]}" is not nullable but the row holds NULL there`);
        }
        this.buf[this.pos++] = 0;
        continue;
      }
      this.buf[this.pos++] = 1;
      this.writeValue(i, types[i]!, v);
    }
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  private bad(i: number, type: FieldType, v: Value, expected: string): never {
    const shown = typeof v === 'object' ? (v?.constructor?.name ?? 'object') : `${typeof v} ${String(v)}`;
    throw new StoreError(`field "${this.names[i]}" (${type}) expects ${expected}, got ${shown}`);
  }

  private int64(i: number, type: FieldType, v: bigint): void {
    if (v < INT64_MIN || v > INT64_MAX) this.bad(i, type, v, 'a value within the signed 64-bit range');
    this.ensure(8);
    this.dv.setBigInt64(this.pos, v, true);
    this.pos += 8;
  }

  private f64(x: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.pos, x, true);
    this.pos += 8;
  }

  private bytes(b: Uint8Array): void {
    this.ensure(4 + b.length);
    this.dv.setUint32(this.pos, b.length, true);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.length;
  }

  private text(s: string): void {
    // Worst case 3 bytes per UTF-16 unit; the length is written after the text.
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.dv.setUint32(this.pos, n, true);
    this.pos += 4 + n;
  }

  private writeValue(i: number, type: FieldType, v: Value): void {
    switch (type) {
      case 'int':
        if (typeof v !== 'bigint') this.bad(i, type, v, 'a bigint');
        this.int64(i, type, v);
        return;
      case 'uint':
        if (typeof v !== 'bigint' || v < 0n || v > UINT64_MAX) this.bad(i, type, v, 'a bigint in 0..2^64-1');
        this.ensure(8);
        this.dv.setBigUint64(this.pos, v, true);
        this.pos += 8;
        return;
      case 'float':
        if (typeof v !== 'number') this.bad(i, type, v, 'a number');
        this.f64(v);
        return;
      case 'boolean':
        if (typeof v !== 'boolean') this.bad(i, type, v, 'a boolean');
        this.ensure(1);
        this.buf[this.pos++] = v ? 1 : 0;
        return;
      case 'string':
      case 'text':
        if (typeof v !== 'string') this.bad(i, type, v, 'a string');
        this.text(v);
        return;
      case 'binary':
        if (!(v instanceof Uint8Array)) this.bad(i, type, v, 'a Uint8Array');
        this.bytes(v);
        return;
      case 'decimal':
        if (!(v instanceof Decimal)) this.bad(i, type, v, 'a Decimal');
        this.ensure(1);
        this.buf[this.pos++] = v.scale;
        // ASCII digits: the same bytes as the UTF-8 of the text, written without an array between.
        this.text(v.unscaled.toString());
        return;
      case 'timestamp':
        if (!(v instanceof Timestamp)) this.bad(i, type, v, 'a Timestamp');
        this.int64(i, type, v.micros);
        return;
      case 'date':
        if (!(v instanceof DateValue)) this.bad(i, type, v, 'a DateValue');
        this.f64(v.days);
        return;
      case 'json':
        if (!(v instanceof Json)) this.bad(i, type, v, 'a Json');
        this.text(JSON.stringify(v.value));
        return;
      case 'duration':
        if (!(v instanceof Duration)) this.bad(i, type, v, 'a Duration');
        this.f64(v.months);
        this.f64(v.days);
        this.int64(i, type, v.micros);
        return;
      case 'point':
        if (!(v instanceof Point)) this.bad(i, type, v, 'a Point');
        this.f64(v.x);
        this.f64(v.y);
        return;
    }
  }
}

/**
 * Decodes rows of one schema. Holds on to the DataView of the last buffer
 * it saw: lmdb-js hands back the same reusable buffer for every fast get,
 * so the hot path allocates only the row and its values.
 */
export class RowDecoder {
  private lastBuf: Uint8Array | undefined;
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private readonly types: readonly FieldType[];

  constructor(schema: Schema) {
    this.types = schema.fields.map((f) => f.type);
  }

  decode(buf: Uint8Array, start = 0): Row {
    if (buf !== this.lastBuf || buf.byteLength > this.dv.byteLength) {
      this.lastBuf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const dv = this.dv;
    const types = this.types;
    const n = types.length;
    const row = new Array<Value>(n);
    let p = start;
    for (let i = 0; i < n; i++) {
      if (buf[p++] === 0) {
        row[i] = null;
        continue;
      }
      switch (types[i]!) {
        case 'int':
          row[i] = dv.getBigInt64(p, true);
          p += 8;
          break;
        case 'uint':
          row[i] = dv.getBigUint64(p, true);
          p += 8;
          break;
        case 'float':
          row[i] = dv.getFloat64(p, true);
          p += 8;
          break;
        case 'boolean':
          row[i] = buf[p++] === 1;
          break;
        case 'string':
        case 'text': {
          const len = dv.getUint32(p, true);
          row[i] = utf8(buf, p + 4, p + 4 + len);
          p += 4 + len;
          break;
        }
        case 'binary': {
          const len = dv.getUint32(p, true);
          // A copy (Buffer#slice would be a view): lmdb-js reuses the buffer rows are read into.
          row[i] = Uint8ArraySlice.call(buf, p + 4, p + 4 + len);
          p += 4 + len;
          break;
        }
        case 'decimal': {
          const scale = buf[p]!;
          const len = dv.getUint32(p + 1, true);
          row[i] = new Decimal(BigInt(utf8(buf, p + 5, p + 5 + len)), scale);
          p += 5 + len;
          break;
        }
        case 'timestamp':
          row[i] = new Timestamp(dv.getBigInt64(p, true));
          p += 8;
          break;
        case 'date':
          row[i] = new DateValue(dv.getFloat64(p, true));
          p += 8;
          break;
        case 'json': {
          const len = dv.getUint32(p, true);
          row[i] = new Json(JSON.parse(utf8(buf, p + 4, p + 4 + len)) as JsonValue);
          p += 4 + len;
          break;
        }
        case 'duration':
          row[i] = new Duration(
            dv.getFloat64(p, true),
            dv.getFloat64(p + 8, true),
            dv.getBigInt64(p + 16, true),
          );
          p += 24;
          break;
        case 'point':
          row[i] = new Point(dv.getFloat64(p, true), dv.getFloat64(p + 8, true));
          p += 16;
          break;
      }
    }
    return row;
  }
}

// Short ASCII strings are the common case in keys and rows; building them
// by char code avoids the cost of a native call.
function utf8(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 24) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return asBuffer(buf).toString('utf8', start, end);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return asBuffer(buf).toString('utf8', start, end);
}

function asBuffer(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}
