import type { ConfigIssue, TableInfo } from '@dozer/connectors';
import { ALL_FIELD_TYPES, type FieldDefinition, type FieldType, isFieldType, makeSchema } from '@dozer/core';

/** A column of a changelog table. */
export interface ChangelogColumnConfig {
  readonly name: string;
  /** A Dozer field type: int, uint, float, boolean, string, text, binary, decimal, timestamp, date, json, duration, point. */
  readonly type: FieldType;
  /** Whether the column may be NULL (default false). */
  readonly nullable?: boolean;
  /** For decimals: total digits. */
  readonly precision?: number;
  /** For decimals: digits after the point. */
  readonly scale?: number;
}

/** A table whose records the changelog carries. */
export interface ChangelogTableConfig {
  /** The `table` value of its records. */
  readonly name: string;
  readonly columns: readonly ChangelogColumnConfig[];
  /** The columns that identify a row; updates and deletes find rows by them. */
  readonly primary_key: readonly string[];
}

/** The config of the changelog connector. */
export interface ChangelogConfig {
  /** The changelog file, absolute or relative to the directory Dozer runs in. */
  readonly path: string;
  readonly tables: readonly ChangelogTableConfig[];
  /** How often to look for appended lines, in milliseconds (default 250). */
  readonly poll_interval_ms?: number;
  /** Most ops per batch (default 1000). */
  readonly batch_size?: number;
}

/** Defaults of the optional settings. */
export const DEFAULTS = { pollIntervalMs: 250, batchSize: 1000 } as const;

const ROOT_KEYS = ['path', 'tables', 'poll_interval_ms', 'batch_size'];
const TABLE_KEYS = ['name', 'columns', 'primary_key'];
const COLUMN_KEYS = ['name', 'type', 'nullable', 'precision', 'scale'];

type Path = (string | number)[];
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `"abc"`, `-5`, `a list`, `an object`, `nothing`: what a config value was. */
function got(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

/** Every problem of a raw changelog config, with paths relative to it; [] when it is a valid {@link ChangelogConfig}. */
export function validateChangelogConfig(raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: Path, message: string) => issues.push({ path, message });
  if (!isObj(raw)) {
    add([], `expected an object with "path" and "tables", got ${raw === null ? 'null' : got(raw)}`);
    return issues;
  }
  unknownKeys(raw, ROOT_KEYS, [], add);
  if (typeof raw.path !== 'string' || raw.path.trim() === '')
    add(['path'], `expected the path of the changelog file, got ${got(raw.path)}`);
  integerIn(raw.poll_interval_ms, 10, 60_000, ['poll_interval_ms'], add);
  integerIn(raw.batch_size, 1, 100_000, ['batch_size'], add);
  if (!Array.isArray(raw.tables) || raw.tables.length === 0) {
    add(['tables'], `expected a non-empty list of tables, got ${got(raw.tables)}`);
    return issues;
  }
  const names = new Set<string>();
  raw.tables.forEach((t: unknown, i) => {
    const at: Path = ['tables', i];
    if (!isObj(t)) {
      add(at, `expected a table object with name, columns and primary_key, got ${got(t)}`);
      return;
    }
    unknownKeys(t, TABLE_KEYS, at, add);
    if (typeof t.name !== 'string' || t.name === '')
      add([...at, 'name'], `expected a table name, got ${got(t.name)}`);
    else if (names.has(t.name)) add([...at, 'name'], `table "${t.name}" is listed twice`);
    else names.add(t.name);
    const columns = validateColumns(t.columns, [...at, 'columns'], add);
    if (!Array.isArray(t.primary_key) || t.primary_key.length === 0) {
      add(
        [...at, 'primary_key'],
        `expected a non-empty list of column names (updates and deletes find rows by them), got ${got(t.primary_key)}`,
      );
    } else if (columns !== null) {
      const seen = new Set<string>();
      t.primary_key.forEach((k: unknown, j) => {
        const kat = [...at, 'primary_key', j];
        if (typeof k !== 'string' || !columns.includes(k))
          add(kat, `expected one of the table's columns (${columns.join(', ')}), got ${got(k)}`);
        else if (seen.has(k)) add(kat, `column "${k}" is listed twice`);
        else seen.add(k);
      });
    }
  });
  return issues;
}

/** The column names when the list is well-formed enough to check the primary key against, else null. */
function validateColumns(raw: unknown, at: Path, add: (p: Path, m: string) => void): string[] | null {
  if (!Array.isArray(raw) || raw.length === 0) {
    add(at, `expected a non-empty list of columns, got ${got(raw)}`);
    return null;
  }
  const names: string[] = [];
  raw.forEach((c: unknown, i) => {
    const cat = [...at, i];
    if (!isObj(c)) {
      add(cat, `expected a column object with name and type, got ${got(c)}`);
      return;
    }
    unknownKeys(c, COLUMN_KEYS, cat, add);
    if (typeof c.name !== 'string' || c.name === '')
      add([...cat, 'name'], `expected a column name, got ${got(c.name)}`);
    else if (names.includes(c.name)) add([...cat, 'name'], `column "${c.name}" is listed twice`);
    else names.push(c.name);
    if (typeof c.type !== 'string' || !isFieldType(c.type))
      add([...cat, 'type'], `expected one of ${ALL_FIELD_TYPES.join(', ')}, got ${got(c.type)}`);
    if (c.nullable !== undefined && typeof c.nullable !== 'boolean')
      add([...cat, 'nullable'], `expected true or false, got ${got(c.nullable)}`);
    for (const k of ['precision', 'scale'] as const) {
      if (c[k] === undefined) continue;
      if (c.type !== 'decimal') add([...cat, k], `only decimal columns have a ${k}`);
      else integerIn(c[k], k === 'precision' ? 1 : 0, 76, [...cat, k], add);
    }
    if (
      typeof c.precision === 'number' &&
      typeof c.scale === 'number' &&
      Number.isInteger(c.precision) &&
      c.scale > c.precision
    )
      add([...cat, 'scale'], `expected at most the precision (${c.precision}), got ${c.scale}`);
  });
  return names;
}

function integerIn(v: unknown, min: number, max: number, at: Path, add: (p: Path, m: string) => void): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    add(at, `expected an integer ${min}..${max}, got ${got(v)}`);
}

function unknownKeys(o: Obj, known: readonly string[], at: Path, add: (p: Path, m: string) => void): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) add([...at, k], `unknown key; expected one of: ${known.join(', ')}`);
  }
}

/** The tables of a valid config with their Dozer schemas, in config order. */
export function tablesOf(config: ChangelogConfig): TableInfo[] {
  return config.tables.map((t) => {
    const fields: FieldDefinition[] = t.columns.map((c) => ({
      name: c.name,
      type: c.type,
      nullable: c.nullable ?? false,
      ...(c.precision === undefined ? {} : { precision: c.precision }),
      ...(c.scale === undefined ? {} : { scale: c.scale }),
    }));
    return { name: t.name, schema: makeSchema(fields, t.primary_key) };
  });
}
