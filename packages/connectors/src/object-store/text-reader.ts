import type { Row } from '@dozer/core';
import type { CsvRecord } from './csv-parser.js';
import { RowError } from './values.js';

/** Where reading a file stands: rows consumed, the next line and byte, or the whole file done. */
export interface Cursor {
  readonly row: number;
  readonly line: number;
  readonly byte: number;
  readonly done: boolean;
}

export const FILE_START: Cursor = { row: 0, line: 1, byte: 0, done: false };

/** A record that could not be read: where it is, why, and its text. */
export interface Malformed {
  readonly line: number;
  readonly message: string;
  readonly raw: string;
}

/**
 * What a reader yields: rows with the cursor just after the last of them,
 * or one malformed record with the cursor just after it. A malformed record
 * always ends the rows chunk before it, so stopping at it loses nothing
 * that came earlier.
 */
export type Chunk =
  | {
      readonly kind: 'rows';
      readonly rows: Row[];
      readonly cursor: Cursor;
      /** The rows of the whole file, where the format records them (Parquet). */
      readonly fileRows?: number;
    }
  | { readonly kind: 'bad'; readonly bad: Malformed; readonly cursor: Cursor };

/** Parses records of a text format (CSV, JSON lines): the {@link CsvParser} contract. */
export interface RecordParser {
  line: number;
  parse(text: string, pos: number, final: boolean, limit: number, out: CsvRecord[]): number;
}

/** Splits bytes into text that ends at line breaks, decoding UTF-8 only across whole characters. */
export async function* textChunks(
  bytes: AsyncIterable<Uint8Array>,
): AsyncGenerator<{ text: string; final: boolean }> {
  let pending: Buffer | null = null;
  for await (const chunk of bytes) {
    const c = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const last = c.lastIndexOf(10);
    if (last < 0) {
      pending = pending === null ? c : Buffer.concat([pending, c]);
      continue;
    }
    let text: string;
    if (pending === null) {
      text = c.toString('utf8', 0, last + 1);
    } else {
      // Only the carried-over partial line and the rest of it are copied together, not the whole chunk.
      const first = c.indexOf(10);
      text = Buffer.concat([pending, c.subarray(0, first + 1)]).toString('utf8');
      if (first < last) text += c.toString('utf8', first + 1, last + 1);
    }
    pending = last + 1 < c.length ? c.subarray(last + 1) : null;
    yield { text, final: false };
  }
  yield { text: pending === null ? '' : pending.toString('utf8'), final: true };
}

/**
 * Reads records from `bytes` (which start at `from.byte`, on line
 * `from.line`) and turns them into rows with `toRow`, in chunks of at
 * most `batchSize` rows, each with the exact cursor after it.
 */
export async function* readRecords(
  bytes: AsyncIterable<Uint8Array>,
  from: Cursor,
  parser: RecordParser,
  toRow: (rec: CsvRecord) => Row,
  batchSize: number,
): AsyncGenerator<Chunk> {
  parser.line = from.line;
  let row = from.row;
  let text = '';
  let pos = 0;
  // Byte offsets are needed only where a chunk ends, so they are measured
  // incrementally from the last mark instead of per record.
  let markChar = 0;
  let markByte = from.byte;
  const byteAt = (at: number): number => {
    if (at > markChar) {
      markByte += Buffer.byteLength(text.slice(markChar, at));
      markChar = at;
    }
    return markByte;
  };
  let rows: Row[] = [];
  const records: CsvRecord[] = [];
  let first = from.byte === 0;
  let lastEnd = 0;
  let lastLine = from.line;
  for await (const piece of textChunks(bytes)) {
    if (pos > 0) {
      const b = byteAt(pos);
      text = text.slice(pos);
      pos = 0;
      markChar = 0;
      markByte = b;
      lastEnd = 0;
    }
    text = text === '' ? piece.text : text + piece.text;
    if (first && text.length > 0) {
      first = false;
      // A UTF-8 byte order mark is not part of the first field.
      if (text.charCodeAt(0) === 0xfeff) pos = 1;
    }
    for (;;) {
      records.length = 0;
      const next = parser.parse(text, pos, piece.final, batchSize - rows.length, records);
      let recStart = pos;
      for (const rec of records) {
        const start = recStart;
        recStart = rec.end;
        if (rec.error === undefined) {
          try {
            rows.push(toRow(rec));
            row++;
            lastEnd = rec.end;
            lastLine = rec.nextLine;
            continue;
          } catch (e) {
            if (!(e instanceof RowError)) throw e;
            yield* flush();
            row++;
            lastEnd = rec.end;
            lastLine = rec.nextLine;
            const raw = text.slice(start, rec.end).replace(/^[\r\n]+|[\r\n]+$/g, '');
            yield { kind: 'bad', bad: { line: rec.line, message: e.message, raw }, cursor: cursor() };
            continue;
          }
        }
        yield* flush();
        row++;
        lastEnd = rec.end;
        lastLine = rec.nextLine;
        yield {
          kind: 'bad',
          bad: { line: rec.line, message: rec.error, raw: rec.raw ?? '' },
          cursor: cursor(),
        };
      }
      pos = next;
      if (rows.length >= batchSize) {
        yield* flush();
        continue;
      }
      if (records.length === 0 || pos >= text.length) break;
    }
  }
  lastLine = parser.line;
  const done = { row, line: lastLine, byte: byteAt(text.length), done: true };
  if (rows.length > 0) {
    const out = rows;
    rows = [];
    yield { kind: 'rows', rows: out, cursor: done };
  }

  function cursor(): Cursor {
    return { row, line: lastLine, byte: byteAt(lastEnd), done: false };
  }
  function* flush(): Generator<Chunk> {
    if (rows.length === 0) return;
    const out = rows;
    rows = [];
    yield { kind: 'rows', rows: out, cursor: cursor() };
  }
}
