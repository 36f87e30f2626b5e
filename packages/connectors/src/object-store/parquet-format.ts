import {
  DateValue,
  Decimal,
  Duration,
  type FieldDefinition,
  type FieldType,
  Json,
  type JsonValue,
  Timestamp,
} from '@dozer/core';
import {
  type AsyncBuffer,
  type FileMetaData,
  type ParquetParsers,
  parquetMetadataAsync,
  parquetRead,
  parquetSchema,
  type SchemaElement,
} from 'hyparquet';
import { ConnectorError } from '../errors.js';
import type { FileStorage, StoredFile } from './storage.js';
import type { FileFormat } from './text-formats.js';
import { nativeConverter, RowError, toJsonValue } from './values.js';

const textDecoder = new TextDecoder();

// Core values straight from the decoder: exact timestamps (bigint micros) and dates.
const PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (ms: bigint) => new Timestamp(BigInt(ms) * 1000n),
  timestampFromMicroseconds: (us: bigint) => new Timestamp(BigInt(us)),
  timestampFromNanoseconds: (ns: bigint) => {
    const n = BigInt(ns);
    // Floor, so that instants before 1970 round towards the past like positive ones do.
    return new Timestamp(n >= 0n ? n / 1000n : -((-n + 999n) / 1000n));
  },
  dateFromDays: (days: number) => new DateValue(Number(days)),
  jsonFromBytes: (bytes: Uint8Array) => bytes && new Json(JSON.parse(textDecoder.decode(bytes)) as JsonValue),
};

/** How one top-level Parquet column becomes a field, and how its decoded values become values. */
interface ParquetColumn {
  readonly field: FieldDefinition;
  /** From what hyparquet yields (with decimals left raw) to a core value of `field`'s type. */
  readonly decode: (v: unknown) => unknown;
}

function twosComplement(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  const bits = BigInt(bytes.length * 8);
  if (bytes.length > 0 && (bytes[0]! & 0x80) !== 0) v -= 1n << bits;
  return v;
}

const identity = (v: unknown) => v;

/**
 * The columns of a file. Decimal columns are switched to their raw storage
 * (ints or two's complement bytes) in `metadata`, because the reader would
 * otherwise turn them into lossy JavaScript numbers.
 */
function parquetColumns(metadata: FileMetaData): ParquetColumn[] {
  const tree = parquetSchema(metadata);
  return tree.children.map((child): ParquetColumn => {
    const e = child.element;
    const nullable = e.repetition_type !== 'REQUIRED';
    const field = (type: FieldType, extra: Partial<FieldDefinition> = {}): FieldDefinition => ({
      name: e.name,
      type,
      nullable,
      ...extra,
    });
    if (child.children.length > 0 || e.repetition_type === 'REPEATED') {
      return {
        field: field('json'),
        decode: (v) => (v === undefined || v === null ? null : new Json(toJsonValue(v))),
      };
    }
    const ctype = e.converted_type;
    const ltype = e.logical_type;
    if (ctype === 'DECIMAL' || ltype?.type === 'DECIMAL') {
      const scale = e.scale ?? (ltype?.type === 'DECIMAL' ? ltype.scale : 0);
      const precision = e.precision ?? (ltype?.type === 'DECIMAL' ? ltype.precision : undefined);
      rawDecimal(e);
      return {
        field: field('decimal', { scale, ...(precision === undefined ? {} : { precision }) }),
        decode: (v) => {
          if (v === null || v === undefined) return null;
          const unscaled = v instanceof Uint8Array ? twosComplement(v) : BigInt(v as number | bigint);
          return new Decimal(unscaled, scale);
        },
      };
    }
    const timeUnit =
      ctype === 'TIME_MILLIS'
        ? 1000n
        : ctype === 'TIME_MICROS'
          ? 1n
          : ltype?.type === 'TIME'
            ? ltype.unit === 'MILLIS'
              ? 1000n
              : ltype.unit === 'MICROS'
                ? 1n
                : 0n
            : null;
    if (timeUnit !== null) {
      return {
        field: field('duration'),
        decode: (v) =>
          v === null || v === undefined
            ? null
            : Duration.fromMicros(
                timeUnit === 0n ? BigInt(v as bigint) / 1000n : BigInt(v as number | bigint) * timeUnit,
              ),
      };
    }
    if (ctype === 'DATE' || ltype?.type === 'DATE') return { field: field('date'), decode: identity };
    if (
      e.type === 'INT96' ||
      ctype === 'TIMESTAMP_MILLIS' ||
      ctype === 'TIMESTAMP_MICROS' ||
      ltype?.type === 'TIMESTAMP'
    )
      return { field: field('timestamp'), decode: identity };
    if (ctype === 'JSON' || ltype?.type === 'JSON') return { field: field('json'), decode: identity };
    if (ctype === 'UTF8' || ctype === 'ENUM' || ltype?.type === 'STRING' || ltype?.type === 'ENUM') {
      return {
        field: field('string'),
        decode: (v) => (v instanceof Uint8Array ? textDecoder.decode(v) : v),
      };
    }
    if (ltype?.type === 'UUID') return { field: field('string'), decode: identity };
    const unsigned =
      ctype === 'UINT_64' || (ltype?.type === 'INTEGER' && ltype.bitWidth === 64 && !ltype.isSigned);
    switch (e.type) {
      case 'BOOLEAN':
        return { field: field('boolean'), decode: identity };
      case 'INT32':
        return { field: field('int'), decode: (v) => (typeof v === 'number' ? BigInt(v) : v) };
      case 'INT64':
        return { field: field(unsigned ? 'uint' : 'int'), decode: identity };
      case 'FLOAT':
      case 'DOUBLE':
        return { field: field('float'), decode: identity };
      default:
        return { field: field('binary'), decode: identity };
    }
  });
}

function rawDecimal(e: SchemaElement): void {
  const m = e as { converted_type?: unknown; logical_type?: unknown };
  delete m.converted_type;
  delete m.logical_type;
}

function asyncBuffer(storage: FileStorage, file: StoredFile): AsyncBuffer {
  return {
    byteLength: file.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const bytes = await storage.readRange(file, start, end ?? file.size);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

async function open(storage: FileStorage, file: StoredFile) {
  const buffer = asyncBuffer(storage, file);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (e) {
    if (e instanceof ConnectorError) throw e;
    throw new ConnectorError(
      `${storage.label}/${file.key} is not a readable Parquet file: ${(e as Error).message}; remove it or change the table's pattern so it does not match`,
      { cause: e },
    );
  }
  return { buffer, metadata, columns: parquetColumns(metadata) };
}

/** Parquet: the schema is the file's own; rows are read one row group at a time. */
export const parquetFormat: FileFormat = {
  async infer(storage, file) {
    const { columns } = await open(storage, file);
    return columns.map((c) => c.field);
  },

  async *read(storage, file, from, schema, batchSize, signal) {
    const { buffer, metadata, columns } = await open(storage, file);
    const byName = new Map(columns.map((c, i) => [c.field.name, i]));
    const fields = schema.fields;
    const sources = fields.map((f) => {
      const i = byName.get(f.name);
      if (i === undefined) {
        throw new ConnectorError(
          `${storage.label}/${file.key} has no column "${f.name}" (it has: ${columns.map((c) => c.field.name).join(', ')}); every file of the table needs the columns of its schema`,
        );
      }
      return i;
    });
    const names = sources.map((i) => columns[i]!.field.name);
    const decode = sources.map((i) => columns[i]!.decode);
    const convert = fields.map(nativeConverter);
    const fileRows = Number(metadata.num_rows);
    let groupStart = 0;
    for (const group of metadata.row_groups) {
      const groupEnd = groupStart + Number(group.num_rows);
      if (groupEnd <= from.row) {
        groupStart = groupEnd;
        continue;
      }
      if (signal.aborted) return;
      const rowStart = Math.max(groupStart, from.row);
      let decoded: unknown[][] = [];
      try {
        await parquetRead({
          file: buffer,
          metadata,
          columns: names,
          rowStart,
          rowEnd: groupEnd,
          utf8: false,
          parsers: PARSERS,
          onComplete: (rows: unknown[][]) => {
            decoded = rows;
          },
        });
      } catch (e) {
        if (e instanceof ConnectorError) throw e;
        throw new ConnectorError(
          `${storage.label}/${file.key}: cannot read rows ${rowStart}..${groupEnd - 1}: ${(e as Error).message}`,
          { cause: e },
        );
      }
      let rows: unknown[][] = [];
      let row = rowStart;
      const last = groupEnd === fileRows;
      for (const raw of decoded) {
        let converted: unknown[] | null = null;
        let error: RowError | null = null;
        try {
          converted = raw.map((v, i) => convert[i]!(decode[i]!(v)));
        } catch (e) {
          if (!(e instanceof RowError)) throw e;
          error = e;
        }
        row++;
        if (error !== null) {
          if (rows.length > 0) {
            yield {
              kind: 'rows',
              rows: rows as never,
              cursor: { row: row - 1, line: row, byte: 0, done: false },
              fileRows,
            };
            rows = [];
          }
          yield {
            kind: 'bad',
            bad: { line: row, message: error.message, raw: JSON.stringify(toJsonValue(raw)) },
            cursor: { row, line: row + 1, byte: 0, done: false },
          };
          continue;
        }
        rows.push(converted!);
        if (rows.length >= batchSize) {
          yield {
            kind: 'rows',
            rows: rows as never,
            cursor: { row, line: row + 1, byte: 0, done: last && row === groupEnd },
            fileRows,
          };
          rows = [];
        }
      }
      if (rows.length > 0) {
        yield {
          kind: 'rows',
          rows: rows as never,
          cursor: { row, line: row + 1, byte: 0, done: last },
          fileRows,
        };
      }
      groupStart = groupEnd;
    }
  },
};
