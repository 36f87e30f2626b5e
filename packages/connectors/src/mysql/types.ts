import {
  DateValue,
  Decimal,
  Duration,
  type FieldDefinition,
  InternalError,
  Json,
  Timestamp,
  type Value,
} from '@dozer/core';
import { ConnectorError } from '../errors.js';

/** How a column's values are read; several MySQL types share one. */
export type ColumnKind =
  | 'int'
  | 'uint'
  | 'float'
  | 'double'
  | 'decimal'
  | 'bool_bit'
  | 'uint_bit'
  | 'string'
  | 'text'
  | 'binary'
  | 'date'
  | 'datetime'
  | 'timestamp'
  | 'time'
  | 'year'
  | 'json';

/** One column as information_schema describes it. */
export interface ColumnInfo {
  readonly name: string;
  /** DATA_TYPE, lower case: `int`, `varchar`, `longtext`. */
  readonly dataType: string;
  /** COLUMN_TYPE: `int(10) unsigned`, `bit(1)`, `enum('a','b')`. */
  readonly columnType: string;
  readonly nullable: boolean;
  readonly precision: number | null;
  readonly scale: number | null;
  /** MariaDB JSON: a longtext with a `json_valid` check. */
  readonly isJson: boolean;
}

/** A column with its Dozer field and how to read its values. */
export interface MappedColumn {
  readonly name: string;
  /** 0-based position in the table, as the binlog counts columns. */
  readonly ordinal: number;
  readonly kind: ColumnKind;
  readonly field: FieldDefinition;
}

const INTS = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);
const STRINGS = new Set(['char', 'varchar', 'enum', 'set', 'uuid', 'inet4', 'inet6']);
const TEXTS = new Set(['tinytext', 'text', 'mediumtext', 'longtext']);
const BINARIES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']);

/**
 * The Dozer field for a MySQL column (see docs/mysql.md for the table), or
 * null for a type the connector cannot read (spatial types, VECTOR).
 * Temporal columns are always nullable because MySQL's zero dates
 * (`0000-00-00`) have no calendar value and arrive as NULL.
 */
export function mapColumn(c: ColumnInfo, ordinal: number): MappedColumn | null {
  const t = c.dataType.toLowerCase();
  const unsigned = /\bunsigned\b/i.test(c.columnType);
  let kind: ColumnKind;
  if (INTS.has(t)) kind = unsigned ? 'uint' : 'int';
  else if (t === 'decimal' || t === 'numeric') kind = 'decimal';
  else if (t === 'float') kind = 'float';
  else if (t === 'double' || t === 'real' || t === 'double precision') kind = 'double';
  else if (t === 'bit') kind = /^bit\(1\)$/i.test(c.columnType) ? 'bool_bit' : 'uint_bit';
  else if (t === 'json' || (TEXTS.has(t) && c.isJson)) kind = 'json';
  else if (STRINGS.has(t)) kind = 'string';
  else if (TEXTS.has(t)) kind = 'text';
  else if (BINARIES.has(t)) kind = 'binary';
  else if (t === 'date') kind = 'date';
  else if (t === 'datetime') kind = 'datetime';
  else if (t === 'timestamp') kind = 'timestamp';
  else if (t === 'time') kind = 'time';
  else if (t === 'year') kind = 'year';
  else return null;
  const nullable = c.nullable || kind === 'date' || kind === 'datetime' || kind === 'timestamp';
  const type = FIELD_TYPE[kind];
  const field: FieldDefinition =
    kind === 'decimal' && c.precision !== null && c.scale !== null
      ? { name: c.name, type, nullable, precision: c.precision, scale: c.scale }
      : { name: c.name, type, nullable };
  return { name: c.name, ordinal, kind, field };
}

const FIELD_TYPE = {
  int: 'int',
  uint: 'uint',
  float: 'float',
  double: 'float',
  decimal: 'decimal',
  bool_bit: 'boolean',
  uint_bit: 'uint',
  string: 'string',
  text: 'text',
  binary: 'binary',
  date: 'date',
  datetime: 'timestamp',
  timestamp: 'timestamp',
  time: 'duration',
  year: 'int',
  json: 'json',
} as const satisfies Record<ColumnKind, FieldDefinition['type']>;

/**
 * The snapshot's SELECT expression for a column. FLOAT is widened to
 * DOUBLE because the text protocol prints FLOAT with 6 digits only, while
 * the widened double prints the exact float32 value (as the binlog has it).
 */
export function selectExpression(c: MappedColumn): string {
  const q = quoteIdent(c.name);
  return c.kind === 'float' ? `CAST(${q} AS DOUBLE)` : q;
}

/** `name` quoted as a MySQL identifier. */
export function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A value as the text protocol sends it (raw bytes; text columns arrive as UTF-8). */
export function valueFromText(c: MappedColumn, raw: Uint8Array | null): Value {
  if (raw === null) return null;
  if (c.kind === 'binary') return new Uint8Array(raw);
  if (c.kind === 'bool_bit' || c.kind === 'uint_bit') return bitValue(c, raw);
  const s = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  switch (c.kind) {
    case 'int':
    case 'uint':
    case 'year':
      return BigInt(s);
    case 'float':
    case 'double':
      return Number(s);
    case 'string':
    case 'text':
      return s;
    default:
      return fromString(c, s);
  }
}

/**
 * A value as the binlog reader (@vlasky/zongji, configured with
 * dateStrings, jsonStrings and timezone Z) decodes it.
 */
export function valueFromBinlog(c: MappedColumn, v: unknown): Value {
  if (v === null) return null;
  switch (c.kind) {
    case 'int':
    case 'uint':
      return BigInt(v as number | string);
    case 'year':
      // The binlog stores YEAR as years since 1900 and zongji adds 1900 back, so YEAR 0000 arrives as 1900, which YEAR cannot hold.
      return v === 1900 ? 0n : BigInt(v as number);
    case 'float':
    case 'double':
      return v as number;
    case 'bool_bit':
    case 'uint_bit':
      return bitValue(c, v as Uint8Array);
    case 'binary':
      return new Uint8Array(v as Uint8Array);
    case 'string':
    case 'text':
      // An ENUM holding the invalid-value index 0 is '' in queries; zongji finds no label for it.
      if (v === undefined) return '';
      if (typeof v !== 'string') return Buffer.from(v as Uint8Array).toString('utf8');
      return v;
    default:
      return fromString(c, typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('utf8'));
  }
}

function bitValue(c: MappedColumn, raw: Uint8Array): Value {
  let n = 0n;
  for (const b of raw) n = (n << 8n) | BigInt(b);
  return c.kind === 'bool_bit' ? n !== 0n : n;
}

function fromString(c: MappedColumn, s: string): Value {
  switch (c.kind) {
    case 'decimal': {
      const d = Decimal.parse(s);
      return c.field.scale === undefined ? d : d.rescale(c.field.scale);
    }
    case 'date':
      return s.startsWith('0000-00-00') ? null : DateValue.parse(s);
    case 'datetime':
    case 'timestamp':
      return s.startsWith('0000-00-00') ? null : Timestamp.parse(`${s}Z`);
    case 'time':
      return parseTime(s);
    case 'json':
      return Json.parse(s);
    default:
      throw new InternalError(`no string reader for column "${c.name}" of kind ${c.kind}`);
  }
}

/** `-838:59:59.999999` → a duration of that many microseconds. */
export function parseTime(s: string): Duration {
  const m = /^(-)?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(s);
  if (m === null) throw new ConnectorError(`"${s}" is not a MySQL TIME value`);
  const micros =
    ((BigInt(m[2]!) * 60n + BigInt(m[3]!)) * 60n + BigInt(m[4]!)) * 1_000_000n +
    BigInt((m[5] ?? '').padEnd(6, '0'));
  return Duration.fromMicros(m[1] === '-' ? -micros : micros);
}

/** Binlog column type codes (TABLE_MAP) each kind of column may have; anything else means the table was altered. */
const BINLOG_TYPES: Readonly<Record<ColumnKind, readonly number[]>> = {
  int: [1, 2, 3, 8, 9],
  uint: [1, 2, 3, 8, 9],
  float: [4],
  double: [5],
  decimal: [0, 246],
  bool_bit: [16],
  uint_bit: [16],
  // ENUM and SET travel as STRING (254) with their real type in the metadata; 140/141 are MariaDB's compressed columns.
  string: [15, 140, 247, 248, 253, 254],
  text: [140, 141, 249, 250, 251, 252],
  binary: [15, 140, 141, 249, 250, 251, 252, 253, 254],
  date: [10, 14],
  datetime: [12, 18],
  timestamp: [7, 17],
  time: [11, 19],
  year: [13],
  json: [141, 245, 249, 250, 251, 252],
};

/** Whether a binlog column of type `code` can be read as `c`. */
export function binlogTypeFits(c: MappedColumn, code: number): boolean {
  return BINLOG_TYPES[c.kind].includes(code);
}
