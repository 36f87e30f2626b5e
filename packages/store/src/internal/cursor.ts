import type { Row, Schema, Value } from '@dozer/core';
import { InvalidQueryError } from '../errors.js';
import type { SortTerm } from './planner.js';
import { RowDecoder, RowEncoder } from './row-codec.js';

/**
 * A paging cursor (format version 1), base64url of:
 * version byte 1 | uint32 BE fingerprint of the order | uint32 BE copy index |
 * uint32 BE length of the values | the values (row encoding of the sort
 * fields, then the primary key fields, all nullable) | the row's key bytes.
 * The copy index tells which copy of a duplicated row (endpoints without a
 * primary key) the page ended at.
 */
export interface Cursor {
  /** Values of the sort fields, then of the primary key fields. */
  readonly values: Row;
  readonly key: Uint8Array;
  readonly copy: number;
}

const VERSION = 1;

/** Encodes and decodes the cursors of one order on one endpoint. */
export class CursorCodec {
  readonly positions: readonly number[];
  private readonly encoder: RowEncoder;
  private readonly decoder: RowDecoder;
  private readonly fingerprint: number;

  constructor(schema: Schema, sort: readonly SortTerm[], primaryKey: readonly number[]) {
    this.positions = [...sort.map((t) => t.pos), ...primaryKey];
    const sub: Schema = {
      fields: this.positions.map((p, i) => ({ ...schema.fields[p]!, name: `c${i}`, nullable: true })),
      primaryKey: [],
    };
    this.encoder = new RowEncoder(sub);
    this.decoder = new RowDecoder(sub);
    const spec = sort.map((t) => `${schema.fields[t.pos]!.name}:${t.dir}`).join(',');
    let h = 0x811c9dc5;
    for (let i = 0; i < spec.length; i++) h = Math.imul(h ^ spec.charCodeAt(i), 0x01000193) >>> 0;
    this.fingerprint = h;
  }

  encode(row: Row, key: Uint8Array, copy: number): string {
    const positions = this.positions;
    const picked = new Array<Value>(positions.length);
    for (let i = 0; i < positions.length; i++) picked[i] = row[positions[i]!] ?? null;
    const values = this.encoder.encode(picked);
    // One buffer for the whole cursor: REST answers a cursor with every page that has a next one.
    const out = Buffer.allocUnsafe(13 + values.length + key.length);
    out[0] = VERSION;
    out.writeUInt32BE(this.fingerprint, 1);
    out.writeUInt32BE(copy, 5);
    out.writeUInt32BE(values.length, 9);
    out.set(values, 13);
    out.set(key, 13 + values.length);
    return out.toString('base64url');
  }

  decode(text: string): Cursor {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) bad('not a cursor (expected base64url text)');
    const buf = Buffer.from(text, 'base64url');
    if (buf.length < 13 || buf[0] !== VERSION) bad('not a cursor of this store');
    if (buf.readUInt32BE(1) !== this.fingerprint) bad('the cursor belongs to a query with another $order_by');
    const copy = buf.readUInt32BE(5);
    const n = buf.readUInt32BE(9);
    if (13 + n > buf.length) bad('the cursor is truncated');
    let values: Row;
    try {
      values = this.decoder.decode(buf.subarray(13, 13 + n));
    } catch {
      return bad('the cursor is damaged');
    }
    return { values, key: new Uint8Array(buf.subarray(13 + n)), copy };
  }
}

/** A refused cursor (a module-level function: decode runs on every page, and avoids a closure). */
function bad(why: string): never {
  throw new InvalidQueryError(
    `$after: ${why}; pass the cursor returned by the previous page of the same query (same $order_by)`,
  );
}
