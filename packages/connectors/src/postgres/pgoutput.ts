/**
 * A decoder for the `pgoutput` logical replication messages (protocol
 * version 1, text tuples), as documented in "Logical Replication Message
 * Formats" of the PostgreSQL manual. Column values stay text; the
 * connector decodes them with the column's type.
 */

/** A tuple's column values: text, `null` for SQL NULL, `undefined` for an unchanged TOASTed value. */
export type RawTuple = (string | null | undefined)[];

export interface RelationColumn {
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
  /** Part of the replica identity key. */
  readonly key: boolean;
}

export type PgOutputMessage =
  | { readonly tag: 'begin'; readonly finalLsn: bigint; readonly commitTime: bigint; readonly xid: number }
  | {
      readonly tag: 'commit';
      readonly commitLsn: bigint;
      readonly endLsn: bigint;
      readonly commitTime: bigint;
    }
  | {
      readonly tag: 'relation';
      readonly relid: number;
      readonly schema: string;
      readonly name: string;
      readonly replicaIdentity: string;
      readonly columns: readonly RelationColumn[];
    }
  | { readonly tag: 'insert'; readonly relid: number; readonly new: RawTuple }
  | {
      readonly tag: 'update';
      readonly relid: number;
      /** The old key ('K') or whole old row ('O'), when the server sent one. */
      readonly old: RawTuple | null;
      readonly oldIsKey: boolean;
      readonly new: RawTuple;
    }
  | { readonly tag: 'delete'; readonly relid: number; readonly old: RawTuple; readonly oldIsKey: boolean }
  | { readonly tag: 'truncate'; readonly relids: readonly number[] }
  | { readonly tag: 'other' };

/** Microseconds between 1970-01-01 and 2000-01-01, the Postgres epoch. */
export const PG_EPOCH_MICROS = 946_684_800_000_000n;

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  u8(): number {
    return this.buf[this.pos++]!;
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  cstr(): string {
    const end = this.buf.indexOf(0, this.pos);
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  tuple(): RawTuple {
    const n = this.i16();
    const out: RawTuple = new Array(n);
    for (let i = 0; i < n; i++) {
      const kind = this.u8();
      if (kind === 0x74 /* t */ || kind === 0x62 /* b */) {
        const len = this.i32();
        out[i] = this.buf.toString('utf8', this.pos, this.pos + len);
        this.pos += len;
      } else if (kind === 0x6e /* n */) out[i] = null;
      else if (kind === 0x75 /* u */) out[i] = undefined;
      else throw new Error(`pgoutput: unknown tuple value kind 0x${kind.toString(16)}`);
    }
    return out;
  }
}

/** Decodes one pgoutput message (the payload of an XLogData). */
export function decodePgOutput(buf: Buffer): PgOutputMessage {
  const r = new Reader(buf);
  const tag = r.u8();
  switch (tag) {
    case 0x42 /* B */:
      return { tag: 'begin', finalLsn: r.u64(), commitTime: r.i64(), xid: r.u32() };
    case 0x43 /* C */:
      {
        r.u8();
        return { tag: 'commit', commitLsn: r.u64(), endLsn: r.u64(), commitTime: r.i64() };
      }
    case 0x52 /* R */:
      {
        const relid = r.u32();
        const schema = r.cstr();
        const name = r.cstr();
        const replicaIdentity = String.fromCharCode(r.u8());
        const n = r.i16();
        const columns: RelationColumn[] = [];
        for (let i = 0; i < n; i++) {
          const flags = r.u8();
          columns.push({ key: (flags & 1) === 1, name: r.cstr(), typeOid: r.u32(), typeMod: r.i32() });
        }
        return { tag: 'relation', relid, schema, name, replicaIdentity, columns };
      }
    case 0x49 /* I */:
      {
        const relid = r.u32();
        r.u8(); // 'N'
        return { tag: 'insert', relid, new: r.tuple() };
      }
    case 0x55 /* U */:
      {
        const relid = r.u32();
        let kind = r.u8();
        let old: RawTuple | null = null;
        let oldIsKey = false;
        if (kind === 0x4b /* K */ || kind === 0x4f /* O */) {
          oldIsKey = kind === 0x4b;
          old = r.tuple();
          kind = r.u8();
        }
        return { tag: 'update', relid, old, oldIsKey, new: r.tuple() };
      }
    case 0x44 /* D */:
      {
        const relid = r.u32();
        const kind = r.u8();
        return { tag: 'delete', relid, oldIsKey: kind === 0x4b, old: r.tuple() };
      }
    case 0x54 /* T */:
      {
        const n = r.u32();
        r.u8();
        const relids: number[] = [];
        for (let i = 0; i < n; i++) relids.push(r.u32());
        return { tag: 'truncate', relids };
      }
    default:
      // Origin, type and logical messages carry nothing the connector needs.
      return { tag: 'other' };
  }
}
