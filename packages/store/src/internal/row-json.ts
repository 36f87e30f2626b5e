import {
  DateValue,
  type FieldType,
  formatDecimal,
  formatTimestamp,
  jsonKeepsFieldOrder,
  rowToObject,
  type Schema,
} from '@dozer/core';
import type { RowDecoder } from './row-codec.js';

/**
 * Writes stored rows (the row encoding of row-codec.ts) as JSON text, exactly
 * as `JSON.stringify(rowToObject(schema, row))` would write the decoded row,
 * without decoding it: no bigint, Decimal or Timestamp is made for a value
 * that only becomes text. Schemas with duration or point fields, or with
 * field names an object would reorder or merge, decode the row instead.
 */
export class RowJsonWriter {
  private readonly prefixes: readonly string[];
  private readonly types: readonly FieldType[];
  private readonly direct: boolean;
  private lastBuf: Uint8Array | undefined;
  private dv: DataView = new DataView(new ArrayBuffer(0));

  constructor(
    private readonly schema: Schema,
    private readonly decoder: RowDecoder,
  ) {
    const names = schema.fields.map((f) => f.name);
    this.types = schema.fields.map((f) => f.type);
    this.prefixes = names.map((n, i) => `${i === 0 ? '{' : ','}${JSON.stringify(n)}:`);
    this.direct =
      names.length > 0 &&
      jsonKeepsFieldOrder(names) &&
      !this.types.some((t) => t === 'duration' || t === 'point');
  }

  /** The row stored in `buf` from byte `start` on, as JSON text. */
  write(buf: Buffer, start: number): string {
    if (!this.direct) return JSON.stringify(rowToObject(this.schema, this.decoder.decode(buf, start)));
    if (buf !== this.lastBuf || buf.byteLength > this.dv.byteLength) {
      this.lastBuf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const dv = this.dv;
    const types = this.types;
    const prefixes = this.prefixes;
    let s = '';
    let p = start;
    for (let i = 0; i < types.length; i++) {
      s += prefixes[i]!;
      if (buf[p++] === 0) {
        s += 'null';
        continue;
      }
      switch (types[i]!) {
        case 'int':
          s += `"${int64At(dv, p)}"`;
          p += 8;
          break;
        case 'uint':
          s += `"${uint64Text(dv, p)}"`;
          p += 8;
          break;
        case 'float': {
          const x = dv.getFloat64(p, true);
          s += Number.isFinite(x) ? JSON.stringify(x) : `"${x}"`;
          p += 8;
          break;
        }
        case 'boolean':
          s += buf[p++] === 1 ? 'true' : 'false';
          break;
        case 'string':
        case 'text': {
          const len = dv.getUint32(p, true);
          s += JSON.stringify(buf.toString('utf8', p + 4, p + 4 + len));
          p += 4 + len;
          break;
        }
        case 'json': {
          // Stored as JSON.stringify of the document, which is what the row's JSON holds.
          const len = dv.getUint32(p, true);
          s += buf.toString('utf8', p + 4, p + 4 + len);
          p += 4 + len;
          break;
        }
        case 'binary': {
          const len = dv.getUint32(p, true);
          s += `"${buf.toString('base64', p + 4, p + 4 + len)}"`;
          p += 4 + len;
          break;
        }
        case 'decimal': {
          const scale = buf[p]!;
          const len = dv.getUint32(p + 1, true);
          s += `"${formatDecimal(buf.toString('latin1', p + 5, p + 5 + len), scale)}"`;
          p += 5 + len;
          break;
        }
        case 'timestamp':
          s += `"${formatTimestamp(int64At(dv, p))}"`;
          p += 8;
          break;
        case 'date':
          s += `"${new DateValue(dv.getFloat64(p, true)).toString()}"`;
          p += 8;
          break;
        default:
          // duration and point rows are decoded (see `direct`).
          throw new Error(`internal: no JSON writer for ${types[i]} values`);
      }
    }
    return `${s}}`;
  }
}

/** The little-endian int64 at `p`: a number when exact (|v| <= 2^53), else a bigint; both print the same digits. */
function int64At(dv: DataView, p: number): number | bigint {
  const hi = dv.getInt32(p + 4, true);
  return hi >= -0x200000 && hi < 0x200000 ? hi * 4294967296 + dv.getUint32(p, true) : dv.getBigInt64(p, true);
}

function uint64Text(dv: DataView, p: number): string {
  const hi = dv.getUint32(p + 4, true);
  return hi < 0x200000
    ? String(hi * 4294967296 + dv.getUint32(p, true))
    : dv.getBigUint64(p, true).toString();
}
