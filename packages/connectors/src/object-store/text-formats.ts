import type { FieldDefinition, Row, Schema } from '@dozer/core';
import { ConnectorError } from '../errors.js';
import { CsvParser, type CsvRecord } from './csv-parser.js';
import type { FileStorage, StoredFile } from './storage.js';
import {
  type Chunk,
  type Cursor,
  FILE_START,
  type RecordParser,
  readRecords,
  textChunks,
} from './text-reader.js';
import { nativeConverter, RowError, TypeInference, textConverter } from './values.js';

/** How many records schema inference looks at, from the start of the first file. */
export const INFER_ROWS = 10_000;

/** Reads one file format: infers a schema from a file, reads rows of a schema from a cursor. */
export interface FileFormat {
  infer(storage: FileStorage, file: StoredFile, signal: AbortSignal): Promise<FieldDefinition[]>;
  read(
    storage: FileStorage,
    file: StoredFile,
    from: Cursor,
    schema: Schema,
    batchSize: number,
    signal: AbortSignal,
  ): AsyncGenerator<Chunk>;
}

/** CSV options with their defaults applied. */
export interface CsvSettings {
  readonly header: boolean;
  readonly delimiter: string;
  readonly quote: string;
}

const where = (storage: FileStorage, file: StoredFile) => `${storage.label}/${file.key}`;

/** CSV: columns by header name (or by position without a header). */
export function csvFormat(settings: CsvSettings): FileFormat {
  const newParser = () => new CsvParser({ delimiter: settings.delimiter, quote: settings.quote });

  /** The header's names and the cursor after it; null for an empty file. */
  async function readHeader(
    storage: FileStorage,
    file: StoredFile,
    signal: AbortSignal,
  ): Promise<{ names: string[]; after: Cursor } | null> {
    const parser = newParser();
    let text = '';
    for await (const piece of textChunks(storage.read(file, 0, signal))) {
      text += piece.text;
      const pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
      const recs: CsvRecord[] = [];
      parser.line = 1;
      parser.parse(text, pos, piece.final, 1, recs);
      const h = recs[0];
      if (h === undefined) continue;
      if (h.error !== undefined) {
        throw new ConnectorError(`${where(storage, file)}:${h.line}: cannot read the CSV header: ${h.error}`);
      }
      return {
        names: h.fields.map((f, i) => (f === null || f === '' ? `column_${i + 1}` : f.trim())),
        after: { row: 0, line: h.nextLine, byte: Buffer.byteLength(text.slice(0, h.end)), done: false },
      };
    }
    return null;
  }

  return {
    async infer(storage, file, signal) {
      const inference = new TypeInference('string');
      let names: string[] | null = null;
      let from = FILE_START;
      if (settings.header) {
        const h = await readHeader(storage, file, signal);
        if (h === null) return [];
        names = h.names;
        from = h.after;
        for (const n of names) inference.column(n);
      }
      const parser = newParser();
      let count = 0;
      // Sampling parses records directly: a malformed one is skipped here and reported when read.
      const sample = readRecords(
        storage.read(file, from.byte, signal),
        from,
        parser,
        (rec) => {
          if (names === null) names = rec.fields.map((_, i) => `column_${i + 1}`);
          if (rec.fields.length !== names.length) throw new RowError('width');
          names.forEach((n, i) => {
            inference.addText(n, rec.fields[i] ?? null);
          });
          return [];
        },
        256,
      );
      for await (const chunk of sample) {
        if (chunk.kind === 'rows') count += chunk.rows.length;
        if (count >= INFER_ROWS) break;
      }
      if (names === null) return [];
      return inference.fields();
    },

    async *read(storage, file, from, schema, batchSize, signal) {
      const fields = schema.fields;
      let positions: number[];
      let width: number;
      let start = from;
      if (settings.header) {
        const h = await readHeader(storage, file, signal);
        if (h === null) return;
        positions = fields.map((f) => {
          const i = h.names.indexOf(f.name);
          if (i < 0) {
            throw new ConnectorError(
              `${where(storage, file)}: the CSV header has no column "${f.name}" (it has: ${h.names.join(', ')}); every file of the table needs the columns of its schema`,
            );
          }
          return i;
        });
        width = h.names.length;
        if (from.byte === 0) start = h.after;
      } else {
        positions = fields.map((_, i) => i);
        width = fields.length;
      }
      const convert = fields.map(textConverter);
      const n = fields.length;
      const toRow = (rec: CsvRecord): Row => {
        const f = rec.fields;
        if (f.length !== width) throw new RowError(`expected ${width} fields, got ${f.length}`);
        const row = new Array(n);
        for (let i = 0; i < n; i++) row[i] = convert[i]!(f[positions[i]!] ?? null);
        return row;
      };
      yield* readRecords(storage.read(file, start.byte, signal), start, newParser(), toRow, batchSize);
    },
  };
}

/** JSON lines: one JSON object per line; blank lines are skipped. */
class JsonlParser implements RecordParser {
  line = 1;
  parse(text: string, pos: number, final: boolean, limit: number, out: CsvRecord[]): number {
    const n = text.length;
    let produced = 0;
    while (produced < limit && pos < n) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0) {
        if (!final) break;
        nl = n;
      }
      const body = text.slice(pos, nl).trim();
      if (body !== '') {
        out.push({ fields: [body], line: this.line, end: Math.min(nl + 1, n), nextLine: this.line + 1 });
        produced++;
      }
      this.line++;
      pos = nl + 1;
    }
    return Math.min(pos, n);
  }
}

function parseObject(rec: CsvRecord): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(rec.fields[0]!);
  } catch (e) {
    throw new RowError(`not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new RowError(`expected a JSON object, got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

/** JSON lines: fields by key; keys not in the schema are ignored. */
export const jsonlFormat: FileFormat = {
  async infer(storage, file, signal) {
    const inference = new TypeInference('json');
    let count = 0;
    const sample = readRecords(
      storage.read(file, 0, signal),
      FILE_START,
      new JsonlParser(),
      (rec) => {
        inference.addObject(parseObject(rec));
        return [];
      },
      256,
    );
    for await (const chunk of sample) {
      if (chunk.kind === 'rows') count += chunk.rows.length;
      if (count >= INFER_ROWS) break;
    }
    return inference.fields();
  },

  async *read(storage, file, from, schema, batchSize, signal) {
    const fields = schema.fields;
    const convert = fields.map(nativeConverter);
    const names = fields.map((f) => f.name);
    const toRow = (rec: CsvRecord): Row => {
      const obj = parseObject(rec);
      const row = new Array(names.length);
      for (let i = 0; i < names.length; i++) row[i] = convert[i]!(obj[names[i]!]);
      return row;
    };
    yield* readRecords(storage.read(file, from.byte, signal), from, new JsonlParser(), toRow, batchSize);
  },
};
