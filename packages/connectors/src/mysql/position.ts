import { ConnectorError } from '../errors.js';

/**
 * A place in the binlog, format version 1:
 *
 * - `mysql-bin.0000000012/000000004711` — an event-group boundary: the
 *   binlog file (base name + sequence number padded to 10 digits) and the
 *   byte offset (padded to 12 digits) where the next transaction starts.
 *   Batches that end a transaction carry the offset just after its commit.
 * - `mysql-bin.0000000012/000000004711/0000000500` — inside the transaction
 *   that starts at that offset, after its first 500 row changes of the
 *   batch's table (large transactions are split into several batches).
 * - either may end in `#<gtid>` (MariaDB `0-1-15`, MySQL `uuid:27`): the
 *   transaction it belongs to, for people reading positions; ignored when
 *   resuming and comparing.
 * - `mysql-bin.0000000012/000000004711!snapshot/000000001000` — after the
 *   first 1000 rows of a table's snapshot taken at that boundary. A
 *   snapshot cannot be resumed part-way.
 *
 * Padding makes string order equal binlog order for the first three forms
 * within one server; `comparePositions` is the authority for all of them.
 */
export interface BinlogPosition {
  /** File name without the sequence number: `mysql-bin`. */
  readonly base: string;
  readonly seq: number;
  readonly offset: number;
  /** Row changes of the table already delivered from the transaction starting at `offset`; 0 at a boundary. */
  readonly skip: number;
  /** Rows already delivered from a snapshot taken at `offset`, or null outside a snapshot. */
  readonly snapshotRows: number | null;
  readonly gtid: string | null;
}

const FORMAT = /^(.+)\.(\d{10})\/(\d{12})(?:\/(\d{10})|!snapshot\/(\d{12}))?(?:#(.*))?$/;

/** Splits a binlog file name such as `mysql-bin.000012` into base and sequence number. */
export function splitBinlogFile(file: string): { base: string; seq: number } {
  const m = /^(.+)\.(\d+)$/.exec(file);
  if (m === null) throw new ConnectorError(`binlog file name "${file}" does not end in .<number>`);
  return { base: m[1]!, seq: Number(m[2]) };
}

/** The server's file name for a position: the sequence number has at least 6 digits. */
export function binlogFileName(p: Pick<BinlogPosition, 'base' | 'seq'>): string {
  return `${p.base}.${String(p.seq).padStart(6, '0')}`;
}

/** A boundary position at `file`/`offset`. */
export function boundary(file: string, offset: number, gtid: string | null = null): BinlogPosition {
  return { ...splitBinlogFile(file), offset, skip: 0, snapshotRows: null, gtid };
}

/** The string form (see {@link BinlogPosition}). */
export function formatPosition(p: BinlogPosition): string {
  let s = `${p.base}.${String(p.seq).padStart(10, '0')}/${String(p.offset).padStart(12, '0')}`;
  if (p.snapshotRows !== null) s += `!snapshot/${String(p.snapshotRows).padStart(12, '0')}`;
  else if (p.skip > 0) s += `/${String(p.skip).padStart(10, '0')}`;
  if (p.gtid !== null && p.gtid !== '') s += `#${p.gtid}`;
  return s;
}

/** Reads a position this connector wrote; throws a ConnectorError naming `where` otherwise. */
export function parsePosition(text: string, where: string): BinlogPosition {
  const m = FORMAT.exec(text);
  if (m === null) {
    throw new ConnectorError(
      `${where}: "${text}" is not a mysql connector position (expected e.g. "mysql-bin.0000000012/000000004711")`,
    );
  }
  return {
    base: m[1]!,
    seq: Number(m[2]),
    offset: Number(m[3]),
    skip: m[4] === undefined ? 0 : Number(m[4]),
    snapshotRows: m[5] === undefined ? null : Number(m[5]),
    gtid: m[6] ?? null,
  };
}

/**
 * Binlog order: by file, offset, then snapshot rows (a snapshot at an
 * offset comes before the changes after it), then rows skipped inside the
 * transaction at that offset.
 */
export function compareBinlogPositions(a: BinlogPosition, b: BinlogPosition): number {
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  if (a.offset !== b.offset) return a.offset < b.offset ? -1 : 1;
  const sa = a.snapshotRows === null ? 1 : 0;
  const sb = b.snapshotRows === null ? 1 : 0;
  if (sa !== sb) return sa - sb;
  if (a.snapshotRows !== null && b.snapshotRows !== null && a.snapshotRows !== b.snapshotRows)
    return a.snapshotRows < b.snapshotRows ? -1 : 1;
  return a.skip === b.skip ? 0 : a.skip < b.skip ? -1 : 1;
}
