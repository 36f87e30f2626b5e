import { ALL_FIELD_TYPES, type FieldType, isFieldType } from '@dozer/core';
import type { ConfigIssue } from '../connector.js';
import { compileGlob } from './glob.js';

/** Files in a directory of the machine running the connector. */
export interface LocalStorageConfig {
  readonly kind: 'local';
  /** The directory that table prefixes are relative to. */
  readonly path: string;
}

/** Objects in an S3 bucket, or in an S3-compatible server (MinIO, s3rver, R2). */
export interface S3StorageConfig {
  readonly kind: 's3';
  readonly bucket: string;
  readonly region: string;
  /** For S3-compatible servers: `http://127.0.0.1:9000`. */
  readonly endpoint?: string;
  /** Static credentials; without them the AWS default chain (env, profile, instance role) applies. */
  readonly access_key_id?: string;
  readonly secret_access_key?: string;
  readonly session_token?: string;
  /** `bucket` in the path instead of the host name, as most S3-compatible servers need. */
  readonly force_path_style?: boolean;
}

/** How CSV files are read. */
export interface CsvOptions {
  /** The first line names the columns (default true). */
  readonly header?: boolean;
  /** One character (default `,`). */
  readonly delimiter?: string;
  /** One character (default `"`); inside a quoted field it is escaped by doubling it. */
  readonly quote?: string;
}

/** A declared column. */
export interface ObjectStoreColumnConfig {
  readonly name: string;
  readonly type: FieldType;
  /** Default true: files often have gaps. */
  readonly nullable?: boolean;
  readonly precision?: number;
  readonly scale?: number;
}

/** A declared schema; when absent, the schema is inferred from the first file. */
export interface ObjectStoreSchemaConfig {
  readonly columns: readonly ObjectStoreColumnConfig[];
  readonly primary_key?: readonly string[];
}

/** One table: the files under a prefix that match a pattern, all in one format. */
export interface ObjectStoreTableConfig {
  readonly name: string;
  /** A key prefix (`data/orders/`), as in S3: a plain string, not necessarily a directory. Default "". */
  readonly prefix?: string;
  /** A glob over the rest of the key after the prefix: `*.csv`, `**\/*.jsonl`, `part-?.parquet`, `*.{csv,tsv}`. */
  readonly pattern: string;
  readonly format: 'csv' | 'jsonl' | 'parquet';
  readonly csv?: CsvOptions;
  readonly schema?: ObjectStoreSchemaConfig;
  /** What a malformed row does: stop the source (default) or go to the dead-letter file. */
  readonly on_error?: 'stop' | 'dead_letter';
  /** A local file that malformed rows are appended to as JSON lines; required with `on_error: dead_letter`. */
  readonly dead_letter_path?: string;
  /** How often to look for new files after the snapshot (default 5000); 0 = stop after the snapshot. */
  readonly poll_interval_ms?: number;
  /** Most rows per batch (default 1000). */
  readonly batch_size?: number;
}

/** The `object_store` connector's config. */
export interface ObjectStoreConfig {
  readonly storage: LocalStorageConfig | S3StorageConfig;
  readonly tables: readonly ObjectStoreTableConfig[];
}

export const OBJECT_STORE_DEFAULTS = {
  pollIntervalMs: 5000,
  batchSize: 1000,
  header: true,
  delimiter: ',',
  quote: '"',
} as const;

type Path = readonly (string | number)[];
type Obj = Record<string, unknown>;

const ROOT_KEYS = ['storage', 'tables'];
const LOCAL_KEYS = ['kind', 'path'];
const S3_KEYS = [
  'kind',
  'bucket',
  'region',
  'endpoint',
  'access_key_id',
  'secret_access_key',
  'session_token',
  'force_path_style',
];
const TABLE_KEYS = [
  'name',
  'prefix',
  'pattern',
  'format',
  'csv',
  'schema',
  'on_error',
  'dead_letter_path',
  'poll_interval_ms',
  'batch_size',
];
const CSV_KEYS = ['header', 'delimiter', 'quote'];
const SCHEMA_KEYS = ['columns', 'primary_key'];
const COLUMN_KEYS = ['name', 'type', 'nullable', 'precision', 'scale'];
const FORMATS = ['csv', 'jsonl', 'parquet'];
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
// S3's rules for bucket names: 3-63 lowercase letters, digits, dots and hyphens.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** How a config value is shown in messages: `-5`, `"abc"`, `null`, `an object`. */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

class Issues {
  readonly list: ConfigIssue[] = [];
  add(path: Path, message: string): void {
    this.list.push({ path, message });
  }
  unknownKeys(o: Obj, known: readonly string[], path: Path): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) this.add([...path, k], `unknown option; expected one of: ${known.join(', ')}`);
    }
  }
  str(o: Obj, key: string, path: Path, required: boolean, what = 'a string'): boolean {
    const v = o[key];
    if (v === undefined) {
      if (required) this.add([...path, key], `required: expected ${what}`);
      return false;
    }
    if (typeof v !== 'string' || v === '') {
      this.add([...path, key], `expected ${what}, got ${describe(v)}`);
      return false;
    }
    return true;
  }
  bool(o: Obj, key: string, path: Path): void {
    const v = o[key];
    if (v !== undefined && typeof v !== 'boolean')
      this.add([...path, key], `expected true or false, got ${describe(v)}`);
  }
  int(o: Obj, key: string, path: Path, min: number, what: string): boolean {
    const v = o[key];
    if (v === undefined) return false;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      this.add([...path, key], `expected ${what}, got ${describe(v)}`);
      return false;
    }
    return true;
  }
}

/** Every problem in a raw `object_store` config; empty when it is a valid {@link ObjectStoreConfig}. */
export function validateObjectStoreConfig(raw: unknown): ConfigIssue[] {
  const issues = new Issues();
  if (!isObj(raw)) {
    issues.add([], `expected an object with "storage" and "tables", got ${describe(raw)}`);
    return issues.list;
  }
  issues.unknownKeys(raw, ROOT_KEYS, []);
  validateStorage(raw.storage, issues);
  const tables = raw.tables;
  if (!Array.isArray(tables) || tables.length === 0) {
    issues.add(['tables'], `expected a non-empty list of tables, got ${describe(tables)}`);
    return issues.list;
  }
  const seen = new Map<string, number>();
  tables.forEach((t, i) => {
    const path = ['tables', i];
    if (!isObj(t)) {
      issues.add(path, `expected a table object with name, pattern and format, got ${describe(t)}`);
      return;
    }
    validateTable(t, path, issues);
    if (typeof t.name === 'string') {
      const first = seen.get(t.name);
      if (first !== undefined)
        issues.add([...path, 'name'], `duplicate table name "${t.name}" (also tables[${first}].name)`);
      else seen.set(t.name, i);
    }
  });
  return issues.list;
}

function validateStorage(s: unknown, issues: Issues): void {
  const path = ['storage'];
  if (!isObj(s)) {
    issues.add(path, `expected { kind: local, path } or { kind: s3, bucket, region, … }, got ${describe(s)}`);
    return;
  }
  if (s.kind === 'local') {
    issues.unknownKeys(s, LOCAL_KEYS, path);
    issues.str(s, 'path', path, true, 'a directory path');
    return;
  }
  if (s.kind !== 's3') {
    issues.add([...path, 'kind'], `expected "local" or "s3", got ${describe(s.kind)}`);
    return;
  }
  issues.unknownKeys(s, S3_KEYS, path);
  if (issues.str(s, 'bucket', path, true, 'a bucket name') && !BUCKET.test(s.bucket as string)) {
    issues.add(
      [...path, 'bucket'],
      `expected a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens, got ${describe(s.bucket)}`,
    );
  }
  issues.str(s, 'region', path, true, 'a region such as "us-east-1"');
  if (issues.str(s, 'endpoint', path, false, 'a URL such as "http://127.0.0.1:9000"')) {
    let ok = false;
    try {
      const u = new URL(s.endpoint as string);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok)
      issues.add(
        [...path, 'endpoint'],
        `expected an http(s) URL such as "http://127.0.0.1:9000", got ${describe(s.endpoint)}`,
      );
  }
  const id = issues.str(s, 'access_key_id', path, false);
  const secret = issues.str(s, 'secret_access_key', path, false);
  issues.str(s, 'session_token', path, false);
  if (id !== secret && (s.access_key_id === undefined || s.secret_access_key === undefined)) {
    issues.add(
      [...path, id ? 'secret_access_key' : 'access_key_id'],
      'give both access_key_id and secret_access_key, or neither (to use the AWS default credentials)',
    );
  }
  issues.bool(s, 'force_path_style', path);
}

function validateTable(t: Obj, path: Path, issues: Issues): void {
  issues.unknownKeys(t, TABLE_KEYS, path);
  if (typeof t.name !== 'string' || !IDENT.test(t.name)) {
    issues.add(
      [...path, 'name'],
      `expected a table name of letters, digits and underscores, not starting with a digit, got ${describe(t.name)}`,
    );
  }
  if (t.prefix !== undefined) {
    if (typeof t.prefix !== 'string')
      issues.add([...path, 'prefix'], `expected a string, got ${describe(t.prefix)}`);
    else if (t.prefix.startsWith('/') || t.prefix.split('/').some((s) => s === '..' || s === '.')) {
      issues.add(
        [...path, 'prefix'],
        `expected a key prefix relative to the storage root, without a leading "/", "." or "..", got ${describe(t.prefix)}`,
      );
    }
  }
  if (issues.str(t, 'pattern', path, true, 'a file name pattern such as "*.csv"')) {
    try {
      compileGlob(t.pattern as string);
    } catch (e) {
      issues.add([...path, 'pattern'], (e as Error).message);
    }
  }
  const format = t.format;
  if (typeof format !== 'string' || !FORMATS.includes(format)) {
    issues.add([...path, 'format'], `expected one of: ${FORMATS.join(', ')}, got ${describe(format)}`);
  }
  if (t.csv !== undefined) {
    if (format !== 'csv') issues.add([...path, 'csv'], 'only tables with format: csv take csv options');
    else if (!isObj(t.csv)) issues.add([...path, 'csv'], `expected an object, got ${describe(t.csv)}`);
    else validateCsv(t.csv, [...path, 'csv'], issues);
  }
  if (t.schema !== undefined) validateSchema(t.schema, [...path, 'schema'], issues);
  if (t.on_error !== undefined && t.on_error !== 'stop' && t.on_error !== 'dead_letter') {
    issues.add([...path, 'on_error'], `expected "stop" or "dead_letter", got ${describe(t.on_error)}`);
  }
  if (t.on_error === 'dead_letter') {
    issues.str(t, 'dead_letter_path', path, true, 'a local file path for malformed rows');
  } else if (t.dead_letter_path !== undefined) {
    issues.add(
      [...path, 'dead_letter_path'],
      'dead_letter_path is used only with on_error: dead_letter; add that or remove this',
    );
  }
  issues.int(t, 'poll_interval_ms', path, 0, 'a non-negative number of milliseconds (0 = no polling)');
  issues.int(t, 'batch_size', path, 1, 'a positive integer');
}

function validateCsv(c: Obj, path: Path, issues: Issues): void {
  issues.unknownKeys(c, CSV_KEYS, path);
  issues.bool(c, 'header', path);
  for (const key of ['delimiter', 'quote'] as const) {
    const v = c[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length !== 1 || v === '\n' || v === '\r') {
      issues.add([...path, key], `expected one character (not a line break), got ${describe(v)}`);
    }
  }
  const d = c.delimiter ?? OBJECT_STORE_DEFAULTS.delimiter;
  const q = c.quote ?? OBJECT_STORE_DEFAULTS.quote;
  if (d === q)
    issues.add([...path, 'quote'], `the quote and the delimiter must differ, both are ${describe(d)}`);
}

function validateSchema(s: unknown, path: Path, issues: Issues): void {
  if (!isObj(s)) {
    issues.add(path, `expected { columns: [...], primary_key?: [...] }, got ${describe(s)}`);
    return;
  }
  issues.unknownKeys(s, SCHEMA_KEYS, path);
  if (!Array.isArray(s.columns) || s.columns.length === 0) {
    issues.add([...path, 'columns'], `expected a non-empty list of columns, got ${describe(s.columns)}`);
    return;
  }
  const names = new Map<string, number>();
  s.columns.forEach((c, i) => {
    const cpath = [...path, 'columns', i];
    if (!isObj(c)) {
      issues.add(cpath, `expected a column object with a name and a type, got ${describe(c)}`);
      return;
    }
    issues.unknownKeys(c, COLUMN_KEYS, cpath);
    if (typeof c.name !== 'string' || c.name === '') {
      issues.add([...cpath, 'name'], `expected a column name, got ${describe(c.name)}`);
    } else {
      const first = names.get(c.name);
      if (first !== undefined)
        issues.add([...cpath, 'name'], `duplicate column name "${c.name}" (also columns[${first}].name)`);
      else names.set(c.name, i);
    }
    if (typeof c.type !== 'string' || !isFieldType(c.type)) {
      issues.add(
        [...cpath, 'type'],
        `unknown type ${describe(c.type)}; types are: ${ALL_FIELD_TYPES.join(', ')}`,
      );
    }
    issues.bool(c, 'nullable', cpath);
    for (const k of ['precision', 'scale'] as const) {
      if (c[k] !== undefined && c.type !== 'decimal')
        issues.add([...cpath, k], `only decimal columns take ${k}`);
    }
    const p = issues.int(c, 'precision', cpath, 1, 'a positive integer');
    const sc = issues.int(c, 'scale', cpath, 0, 'an integer 0..76');
    if (sc && (c.scale as number) > 76)
      issues.add([...cpath, 'scale'], `expected an integer 0..76, got ${c.scale}`);
    if (p && sc && (c.scale as number) > (c.precision as number))
      issues.add([...cpath, 'scale'], `scale ${c.scale} is larger than precision ${c.precision}`);
  });
  if (s.primary_key !== undefined) {
    if (!Array.isArray(s.primary_key)) {
      issues.add([...path, 'primary_key'], `expected a list of column names, got ${describe(s.primary_key)}`);
      return;
    }
    s.primary_key.forEach((k, i) => {
      if (typeof k !== 'string' || !names.has(k)) {
        issues.add(
          [...path, 'primary_key', i],
          `expected the name of a declared column (${[...names.keys()].join(', ')}), got ${describe(k)}`,
        );
        return;
      }
      const at = names.get(k)!;
      if ((s.columns as Obj[])[at]?.nullable === true) {
        issues.add(
          [...path, 'columns', at, 'nullable'],
          `column "${k}" is in the primary key, so it cannot be nullable`,
        );
      }
    });
  }
}
