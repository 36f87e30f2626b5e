import type { SourcePosition } from '@dozer/core';
import type { Cursor } from './text-reader.js';

/**
 * A table's position: the key of the file being read and how far into it.
 *
 *   ""                                   nothing read yet
 *   <key> NUL <row>:<line>:<byte>        `row` records of the file consumed; the next
 *                                        one starts on `line` at byte `byte`
 *                                        (15 digits each, zero-padded; Parquet: byte 0)
 *   <key> NUL "~"                        the whole file consumed
 *
 * NUL sorts before every character a key can hold and the numbers are
 * fixed-width, so plain string order is processing order: files by key,
 * then rows within a file, "~" after every row.
 */
export interface FilePosition {
  readonly key: string;
  readonly cursor: Cursor;
}

const WIDTH = 15;
const SEP = '\u0000';
const DONE = '~';
const CURSOR_RE = /^(\d{15}):(\d{15}):(\d{15})$/;

/** The position string of `cursor` in file `key`. */
export function encodePosition(key: string, cursor: Cursor): SourcePosition {
  if (cursor.done) return `${key}${SEP}${DONE}`;
  const pad = (n: number) => String(n).padStart(WIDTH, '0');
  return `${key}${SEP}${pad(cursor.row)}:${pad(cursor.line)}:${pad(cursor.byte)}`;
}

/** Reads a position string; `null` for "" (nothing read); throws a RangeError when it is not one. */
export function decodePosition(p: SourcePosition): FilePosition | null {
  if (p === '') return null;
  const at = p.lastIndexOf(SEP);
  if (at <= 0) throw new RangeError('no file key in it');
  const key = p.slice(0, at);
  const rest = p.slice(at + 1);
  if (rest === DONE) return { key, cursor: { row: 0, line: 0, byte: 0, done: true } };
  const m = CURSOR_RE.exec(rest);
  if (m === null) throw new RangeError('the part after the file key is not row:line:byte');
  return { key, cursor: { row: Number(m[1]), line: Number(m[2]), byte: Number(m[3]), done: false } };
}

/** A position as people read it: `data/a.csv (row 120, line 122)`, `data/a.csv (whole file)`. */
export function describePosition(p: SourcePosition): string {
  const d = decodePosition(p);
  if (d === null) return '(start)';
  return d.cursor.done ? `${d.key} (whole file)` : `${d.key} (row ${d.cursor.row}, line ${d.cursor.line})`;
}
