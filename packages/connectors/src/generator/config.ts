import {
  ALL_FIELD_TYPES,
  type FieldDefinition,
  type FieldType,
  isFieldType,
  type Schema,
  Timestamp,
  TypeMismatchError,
  valueFromJson,
} from '@dozer/core';
import type { ConfigIssue } from '../connector.js';
import { GENERATOR_KINDS, type GenColumn, type GeneratorSpec, makeValueGen, withNulls } from './columns.js';
import { TEMPLATES } from './templates.js';

/** A column of a table that declares its own columns instead of using a template. */
export interface GeneratorColumnConfig {
  readonly name: string;
  readonly type: FieldType;
  readonly nullable?: boolean;
  /** At most one column per table; it must be int, uint, string or text and gets the row's sequence number. */
  readonly primary_key?: boolean;
  readonly precision?: number;
  readonly scale?: number;
  /** How values are made; a kind name alone for kinds without parameters. Defaults by type. */
  readonly generator?: GeneratorSpec['kind'] | GeneratorSpec;
  /** For nullable columns: the share of NULL values, 0..1 (default 0.1). */
  readonly null_ratio?: number;
}

/** One generated table. */
export interface GeneratorTableConfig {
  readonly name: string;
  /** A built-in template; defaults to the template named like the table when there are no `columns`. */
  readonly template?: string;
  readonly columns?: readonly GeneratorColumnConfig[];
  /** Rows inserted by the snapshot (default 100). */
  readonly rows?: number;
  /** Ops per second after the snapshot; 0 = as fast as the sink takes them. Overrides the top-level rate. */
  readonly rate?: number;
  /** Most ops per batch (default: the top-level batch_size). */
  readonly batch_size?: number;
  /** Share of live ops that update an existing row (default 0.3). */
  readonly update_ratio?: number;
  /** Share of live ops that delete an existing row (default 0.1). */
  readonly delete_ratio?: number;
  /** Stop after this many ops following the snapshot; absent = never stop. */
  readonly max_ops?: number;
}

/** The generator connector's config. */
export interface GeneratorConfig {
  /** Same seed and config give the same ops (default 0). */
  readonly seed?: number;
  /** Default ops per second for every table after its snapshot (default 10; 0 = as fast as possible). */
  readonly rate?: number;
  /** Default most ops per batch (default 100). */
  readonly batch_size?: number;
  readonly tables: readonly GeneratorTableConfig[];
}

export const DEFAULTS = {
  seed: 0,
  rate: 10,
  batchSize: 100,
  rows: 100,
  updateRatio: 0.3,
  deleteRatio: 0.1,
  nullRatio: 0.1,
} as const;

/** A table with every default applied, ready to generate. */
export interface ResolvedTable {
  readonly name: string;
  readonly schema: Schema;
  readonly columns: readonly GenColumn[];
  readonly rows: number;
  readonly rate: number;
  readonly batchSize: number;
  readonly updateRatio: number;
  readonly deleteRatio: number;
  readonly maxOps: number | null;
}

type Path = readonly (string | number)[];
type Obj = Record<string, unknown>;

const ROOT_KEYS = ['seed', 'rate', 'batch_size', 'tables'];
const TABLE_KEYS = [
  'name',
  'template',
  'columns',
  'rows',
  'rate',
  'batch_size',
  'update_ratio',
  'delete_ratio',
  'max_ops',
];
const COLUMN_KEYS = [
  'name',
  'type',
  'nullable',
  'primary_key',
  'precision',
  'scale',
  'generator',
  'null_ratio',
];
const GENERATOR_PARAMS: Readonly<Record<GeneratorSpec['kind'], readonly string[]>> = {
  sequence: ['prefix'],
  range: ['min', 'max'],
  one_of: ['values'],
  name: [],
  email: [],
  city: [],
  words: ['min', 'max'],
  clock: ['start', 'step_seconds'],
};
const KEY_TYPES: readonly string[] = ['int', 'uint', 'string', 'text'];
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How a config value is shown in messages: `-5`, `"abc"`, `null`, `an object`. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const templateList = () => [...TEMPLATES.keys()].join(', ');

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
  /** Checks an optional number; returns whether it is present and valid. */
  num(o: Obj, key: string, path: Path, kind: 'int' | 'nonNegInt' | 'posInt' | 'nonNeg' | 'ratio'): boolean {
    const v = o[key];
    if (v === undefined) return false;
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (kind === 'int'
        ? Number.isSafeInteger(v)
        : kind === 'nonNegInt'
          ? Number.isSafeInteger(v) && v >= 0
          : kind === 'posInt'
            ? Number.isSafeInteger(v) && v > 0
            : kind === 'nonNeg'
              ? v >= 0
              : v >= 0 && v <= 1);
    if (!ok) {
      const expected = {
        int: 'an integer',
        nonNegInt: 'a non-negative integer',
        posInt: 'a positive integer',
        nonNeg: 'a non-negative number',
        ratio: 'a number between 0 and 1',
      }[kind];
      this.add([...path, key], `expected ${expected}, got ${describe(v)}`);
    }
    return ok;
  }
  bool(o: Obj, key: string, path: Path): void {
    const v = o[key];
    if (v !== undefined && typeof v !== 'boolean')
      this.add([...path, key], `expected true or false, got ${describe(v)}`);
  }
}

/** Every problem in a raw generator config; empty when it is a valid {@link GeneratorConfig}. */
export function validateGeneratorConfig(raw: unknown): ConfigIssue[] {
  const issues = new Issues();
  if (!isObj(raw)) {
    issues.add([], `expected an object with a "tables" list, got ${describe(raw)}`);
    return issues.list;
  }
  issues.unknownKeys(raw, ROOT_KEYS, []);
  issues.num(raw, 'seed', [], 'int');
  if (
    raw.rate !== undefined &&
    !(typeof raw.rate === 'number' && Number.isFinite(raw.rate) && raw.rate >= 0)
  ) {
    issues.add(
      ['rate'],
      `expected a non-negative number of ops per second (0 = as fast as possible), got ${describe(raw.rate)}`,
    );
  }
  issues.num(raw, 'batch_size', [], 'posInt');
  const tables = raw.tables;
  if (!Array.isArray(tables) || tables.length === 0) {
    issues.add(['tables'], `expected a non-empty list of tables, got ${describe(tables)}`);
    return issues.list;
  }
  const seen = new Map<string, number>();
  tables.forEach((t, i) => {
    const path = ['tables', i];
    if (!isObj(t)) {
      issues.add(path, `expected a table object with a name, got ${describe(t)}`);
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

function validateTable(t: Obj, path: Path, issues: Issues): void {
  issues.unknownKeys(t, TABLE_KEYS, path);
  if (typeof t.name !== 'string' || !IDENT.test(t.name)) {
    issues.add(
      [...path, 'name'],
      `expected a table name of letters, digits and underscores, not starting with a digit, got ${describe(t.name)}`,
    );
  }
  issues.num(t, 'rows', path, 'nonNegInt');
  if (t.rate !== undefined && !(typeof t.rate === 'number' && Number.isFinite(t.rate) && t.rate >= 0)) {
    issues.add(
      [...path, 'rate'],
      `expected a non-negative number of ops per second (0 = as fast as possible), got ${describe(t.rate)}`,
    );
  }
  issues.num(t, 'batch_size', path, 'posInt');
  issues.num(t, 'max_ops', path, 'nonNegInt');
  const u = issues.num(t, 'update_ratio', path, 'ratio');
  const d = issues.num(t, 'delete_ratio', path, 'ratio');
  const ur = u ? (t.update_ratio as number) : DEFAULTS.updateRatio;
  const dr = d ? (t.delete_ratio as number) : DEFAULTS.deleteRatio;
  if ((u || d) && ur + dr > 1) {
    issues.add(
      [...path, u ? 'update_ratio' : 'delete_ratio'],
      `update_ratio + delete_ratio must be at most 1 (the rest are inserts), got ${ur} + ${dr}`,
    );
  }
  if (t.template !== undefined) {
    if (typeof t.template !== 'string' || !TEMPLATES.has(t.template)) {
      issues.add(
        [...path, 'template'],
        `unknown template ${describe(t.template)}; templates are: ${templateList()}`,
      );
    }
    if (t.columns !== undefined) {
      issues.add([...path, 'columns'], 'give either template or columns, not both');
      return;
    }
  }
  if (t.columns === undefined) {
    if (t.template === undefined && !(typeof t.name === 'string' && TEMPLATES.has(t.name))) {
      issues.add(path, `give a template (one of: ${templateList()}) or a columns list`);
    }
    return;
  }
  if (!Array.isArray(t.columns) || t.columns.length === 0) {
    issues.add([...path, 'columns'], `expected a non-empty list of columns, got ${describe(t.columns)}`);
    return;
  }
  const names = new Map<string, number>();
  let keyAt: number | null = null;
  t.columns.forEach((c, i) => {
    const cpath = [...path, 'columns', i];
    if (!isObj(c)) {
      issues.add(cpath, `expected a column object with a name and a type, got ${describe(c)}`);
      return;
    }
    validateColumn(c, cpath, issues);
    if (typeof c.name === 'string') {
      const first = names.get(c.name);
      if (first !== undefined)
        issues.add([...cpath, 'name'], `duplicate column name "${c.name}" (also columns[${first}].name)`);
      else names.set(c.name, i);
    }
    if (c.primary_key === true) {
      if (keyAt !== null) {
        issues.add(
          [...cpath, 'primary_key'],
          `only one primary key column is supported; columns[${keyAt}] is one already`,
        );
      } else keyAt = i;
    }
  });
}

function validateColumn(c: Obj, path: Path, issues: Issues): void {
  issues.unknownKeys(c, COLUMN_KEYS, path);
  if (typeof c.name !== 'string' || !IDENT.test(c.name)) {
    issues.add(
      [...path, 'name'],
      `expected a column name of letters, digits and underscores, not starting with a digit, got ${describe(c.name)}`,
    );
  }
  issues.bool(c, 'nullable', path);
  issues.bool(c, 'primary_key', path);
  if (typeof c.type !== 'string' || !isFieldType(c.type)) {
    issues.add(
      [...path, 'type'],
      `unknown type ${describe(c.type)}; types are: ${ALL_FIELD_TYPES.join(', ')}`,
    );
    return;
  }
  const type = c.type;
  if (c.primary_key === true) {
    if (!KEY_TYPES.includes(type)) {
      issues.add(
        [...path, 'primary_key'],
        `a primary key column must be one of ${KEY_TYPES.join(', ')}, got ${type}`,
      );
    }
    if (c.nullable === true) issues.add([...path, 'nullable'], 'a primary key column cannot be nullable');
    if (
      c.generator !== undefined &&
      c.generator !== 'sequence' &&
      !(isObj(c.generator) && c.generator.kind === 'sequence')
    ) {
      issues.add(
        [...path, 'generator'],
        'a primary key column is always filled by "sequence"; remove the generator',
      );
    }
  }
  for (const k of ['precision', 'scale'] as const) {
    if (c[k] !== undefined && type !== 'decimal') issues.add([...path, k], `only decimal columns take ${k}`);
  }
  const p = issues.num(c, 'precision', path, 'posInt');
  const s = issues.num(c, 'scale', path, 'nonNegInt');
  if (s && (c.scale as number) > 76)
    issues.add([...path, 'scale'], `expected a scale of at most 76, got ${c.scale}`);
  if (p && s && (c.scale as number) > (c.precision as number)) {
    issues.add([...path, 'scale'], `scale ${c.scale} is larger than precision ${c.precision}`);
  }
  if (c.null_ratio !== undefined) {
    if (c.nullable !== true)
      issues.add([...path, 'null_ratio'], 'only nullable columns take null_ratio; add nullable: true');
    else issues.num(c, 'null_ratio', path, 'ratio');
  }
  if (c.generator !== undefined)
    validateGenerator(c.generator, fieldOf(c, type), [...path, 'generator'], issues);
}

function fieldOf(c: Obj, type: FieldType): FieldDefinition {
  return {
    name: String(c.name),
    type,
    nullable: c.nullable === true,
    ...(typeof c.precision === 'number' ? { precision: c.precision } : {}),
    ...(typeof c.scale === 'number' ? { scale: c.scale } : {}),
  };
}

function validateGenerator(raw: unknown, field: FieldDefinition, path: Path, issues: Issues): void {
  const kinds = Object.keys(GENERATOR_KINDS);
  const g: Obj | null = typeof raw === 'string' ? { kind: raw } : isObj(raw) ? raw : null;
  if (g === null) {
    issues.add(path, `expected a generator name or an object with a kind, got ${describe(raw)}`);
    return;
  }
  const kind = g.kind;
  const kindPath = typeof raw === 'string' ? path : [...path, 'kind'];
  if (typeof kind !== 'string' || !kinds.includes(kind)) {
    issues.add(kindPath, `unknown generator ${describe(kind)}; generators are: ${kinds.join(', ')}`);
    return;
  }
  const k = kind as GeneratorSpec['kind'];
  if (!GENERATOR_KINDS[k].includes(field.type)) {
    issues.add(
      kindPath,
      `generator "${k}" cannot fill a ${field.type} column; it fills: ${GENERATOR_KINDS[k].join(', ')}`,
    );
    return;
  }
  issues.unknownKeys(g, ['kind', ...GENERATOR_PARAMS[k]], path);
  const numParam = (key: string, required: boolean): number | undefined => {
    const v = g[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      issues.add([...path, key], `expected a number, got ${describe(v)}`);
      return undefined;
    }
    return v;
  };
  switch (k) {
    case 'sequence':
      if (g.prefix !== undefined && typeof g.prefix !== 'string') {
        issues.add([...path, 'prefix'], `expected a string, got ${describe(g.prefix)}`);
      }
      if (g.prefix !== undefined && (field.type === 'int' || field.type === 'uint')) {
        issues.add([...path, 'prefix'], 'only string and text sequences take a prefix');
      }
      break;
    case 'range': {
      const min = numParam('min', true);
      const max = numParam('max', true);
      if (min === undefined || max === undefined) break;
      if (min > max) issues.add([...path, 'max'], `expected max ≥ min (${min}), got ${max}`);
      else if ((field.type === 'int' || field.type === 'uint') && Math.ceil(min) > Math.floor(max)) {
        issues.add(path, `no integer lies between min ${min} and max ${max}`);
      } else if (field.type === 'uint' && min < 0) {
        issues.add([...path, 'min'], `a uint column cannot hold negative values, got ${min}`);
      } else if (!Number.isSafeInteger(Math.ceil(min)) || !Number.isSafeInteger(Math.floor(max))) {
        issues.add(path, 'min and max must lie within ±2^53');
      }
      break;
    }
    case 'one_of': {
      if (!Array.isArray(g.values) || g.values.length === 0) {
        issues.add([...path, 'values'], `expected a non-empty list of values, got ${describe(g.values)}`);
        break;
      }
      g.values.forEach((v, i) => {
        try {
          valueFromJson(field, v, '');
        } catch (e) {
          if (!(e instanceof TypeMismatchError)) throw e;
          issues.add([...path, 'values', i], e.message.replace(/^: /, ''));
        }
      });
      break;
    }
    case 'words': {
      const min = numParam('min', false);
      const max = numParam('max', false);
      for (const [key, v] of [
        ['min', min],
        ['max', max],
      ] as const) {
        if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) {
          issues.add([...path, key], `expected a positive integer, got ${v}`);
        }
      }
      if (min !== undefined && max !== undefined && min > max) {
        issues.add([...path, 'max'], `expected max ≥ min (${min}), got ${max}`);
      }
      break;
    }
    case 'clock': {
      if (g.start !== undefined) {
        try {
          if (typeof g.start !== 'string') throw new RangeError('');
          Timestamp.parse(g.start);
        } catch {
          issues.add(
            [...path, 'start'],
            `expected an RFC 3339 timestamp such as "2024-01-01T00:00:00Z", got ${describe(g.start)}`,
          );
        }
      }
      const step = numParam('step_seconds', false);
      if (step !== undefined && !(step > 0 && step * 1e6 >= 1)) {
        issues.add([...path, 'step_seconds'], `expected a positive number of at least 0.000001, got ${step}`);
      }
      break;
    }
    default:
      break;
  }
}

/**
 * Applies the defaults to a config that passed {@link validateGeneratorConfig}.
 * Throws on an invalid config: callers validate first.
 */
export function resolveTables(config: GeneratorConfig): ResolvedTable[] {
  const rate = config.rate ?? DEFAULTS.rate;
  const batchSize = config.batch_size ?? DEFAULTS.batchSize;
  return config.tables.map((t) => {
    const columns =
      t.columns === undefined ? TEMPLATES.get(t.template ?? t.name)!.columns : t.columns.map(resolveColumn);
    const fields = columns.map((c) => c.field);
    const schema: Schema = { fields, primaryKey: columns.flatMap((c, i) => (c.key ? [i] : [])) };
    return {
      name: t.name,
      schema,
      columns,
      rows: t.rows ?? DEFAULTS.rows,
      rate: t.rate ?? rate,
      batchSize: t.batch_size ?? batchSize,
      updateRatio: t.update_ratio ?? DEFAULTS.updateRatio,
      deleteRatio: t.delete_ratio ?? DEFAULTS.deleteRatio,
      maxOps: t.max_ops ?? null,
    };
  });
}

function resolveColumn(c: GeneratorColumnConfig): GenColumn {
  const field = fieldOf(c as unknown as Obj, c.type);
  const key = c.primary_key === true;
  const given: GeneratorSpec | undefined =
    typeof c.generator === 'string' ? ({ kind: c.generator } as GeneratorSpec) : c.generator;
  const spec = key && given === undefined ? { kind: 'sequence' as const } : given;
  let gen = makeValueGen(field, spec);
  if (field.nullable) gen = withNulls(gen, c.null_ratio ?? DEFAULTS.nullRatio);
  return { field, gen, key, mutable: !key, derived: false };
}
