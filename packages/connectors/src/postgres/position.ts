import { ConnectorError } from '../errors.js';

/**
 * A point in one table's change stream.
 *
 * - `stream`: every change of transactions whose commit record is before
 *   `lsn`, plus the first `count` changes of this table in the transaction
 *   whose commit record is at `lsn`. The end of a transaction is written as
 *   its end LSN with count 0.
 * - `stream` with `rows`: inside the next change, a TRUNCATE delivered as
 *   several batches of deletes: `rows` of them were delivered. It sorts
 *   between `(lsn, count)` and `(lsn, count + 1)`. Only the process that
 *   delivered them can go on from there (its row cache knows which rows are
 *   left); a restart from it ingests the table again.
 * - `snapshot`: `count` rows of the snapshot taken at `lsn` (the slot's
 *   consistent point); it sorts before the stream position `(lsn, 0)`.
 *
 * Text form: `LLLLLLLLLLLLLLLL/CCCCCCCC` (stream), `LLLLLLLLLLLLLLLL/CCCCCCCC+RRRRRRRRRRRR`
 * (stream inside a TRUNCATE) and `LLLLLLLLLLLLLLLL.CCCCCCCCCCCC` (snapshot), upper-case
 * hex, so string order is position order.
 */
export interface PgPosition {
  readonly kind: 'stream' | 'snapshot';
  readonly lsn: bigint;
  readonly count: number;
  /** Stream positions only: the deletes of change `count + 1` (a TRUNCATE) delivered so far. */
  readonly rows?: number;
}

const STREAM = /^([0-9A-F]{16})\/([0-9A-F]{8})(?:\+([0-9A-F]{12}))?$/;
const SNAPSHOT = /^([0-9A-F]{16})\.([0-9A-F]{12})$/;

export function formatPosition(p: PgPosition): string {
  const lsn = p.lsn.toString(16).toUpperCase().padStart(16, '0');
  if (p.kind === 'snapshot') return `${lsn}.${p.count.toString(16).toUpperCase().padStart(12, '0')}`;
  const at = `${lsn}/${p.count.toString(16).toUpperCase().padStart(8, '0')}`;
  return p.rows === undefined ? at : `${at}+${p.rows.toString(16).toUpperCase().padStart(12, '0')}`;
}

export function parsePosition(text: string): PgPosition {
  const s = STREAM.exec(text);
  if (s) {
    const at: PgPosition = { kind: 'stream', lsn: BigInt(`0x${s[1]}`), count: Number.parseInt(s[2]!, 16) };
    return s[3] === undefined ? at : { ...at, rows: Number.parseInt(s[3], 16) };
  }
  const n = SNAPSHOT.exec(text);
  if (n) return { kind: 'snapshot', lsn: BigInt(`0x${n[1]}`), count: Number.parseInt(n[2]!, 16) };
  throw new ConnectorError(
    `"${text}" is not a postgres connector position (expected e.g. "00000000016B3748/00000000", an LSN in 16 hex digits and a change count)`,
  );
}

export function comparePgPositions(a: PgPosition, b: PgPosition): number {
  if (a.lsn !== b.lsn) return a.lsn < b.lsn ? -1 : 1;
  if (a.kind !== b.kind) return a.kind === 'snapshot' ? -1 : 1;
  if (a.count !== b.count) return a.count - b.count;
  return (a.rows ?? -1) - (b.rows ?? -1);
}

/** `16/B374D848` → bigint. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) throw new ConnectorError(`"${text}" is not a Postgres LSN`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** bigint → `16/B374D848`, as Postgres prints LSNs. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The later of two LSNs. */
export function maxLsn(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
