import { DateValue, Decimal, Json, type JsonValue, Timestamp, type Value } from '@dozer/core';
import { SqlEvalError } from '../errors.js';
import type { Evaluator, Expr, SqlType } from './expr.js';
import type { BindContext, FunctionDef } from './functions.js';
import { isText } from './type-rules.js';

const MICROS_PER_MS = 1000n;
const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Micros since the epoch of a timestamp or a date (midnight UTC). */
function micros(v: Value): bigint {
  return v instanceof DateValue ? BigInt(v.days) * MICROS_PER_DAY : (v as Timestamp).micros;
}

/** The UTC calendar fields of a time in micros. */
function fields(us: bigint): { date: Date; micro: bigint } {
  const ms = floorDiv(us, MICROS_PER_MS);
  return { date: new Date(Number(ms)), micro: us - ms * MICROS_PER_MS };
}

function fromUtc(year: number, month: number, day: number): bigint {
  return BigInt(Date.UTC(year, month, day)) * MICROS_PER_MS;
}

const EXTRACT_FIELDS = [
  'year',
  'quarter',
  'month',
  'week',
  'day',
  'dow',
  'isodow',
  'doy',
  'hour',
  'minute',
  'second',
  'millisecond',
  'microsecond',
  'epoch',
] as const;

function extract(field: string, us: bigint, where: string): Value {
  const { date: d, micro } = fields(us);
  const msOfSecond = BigInt(d.getUTCMilliseconds());
  switch (field) {
    case 'year':
      return BigInt(d.getUTCFullYear());
    case 'quarter':
      return BigInt(Math.floor(d.getUTCMonth() / 3) + 1);
    case 'month':
      return BigInt(d.getUTCMonth() + 1);
    case 'day':
      return BigInt(d.getUTCDate());
    case 'dow':
      return BigInt(d.getUTCDay());
    case 'isodow':
      return BigInt(d.getUTCDay() === 0 ? 7 : d.getUTCDay());
    case 'doy': {
      const start = Date.UTC(d.getUTCFullYear(), 0, 1);
      return BigInt(Math.floor((d.getTime() - start) / 86_400_000) + 1);
    }
    case 'week': {
      // ISO 8601 week number: the week with the year's first Thursday is week 1.
      const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
      const dayNum = t.getUTCDay() || 7;
      t.setUTCDate(t.getUTCDate() + 4 - dayNum);
      const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
      return BigInt(Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7));
    }
    case 'hour':
      return BigInt(d.getUTCHours());
    case 'minute':
      return BigInt(d.getUTCMinutes());
    case 'second':
      return BigInt(d.getUTCSeconds());
    case 'millisecond':
      return BigInt(d.getUTCSeconds()) * 1000n + msOfSecond;
    case 'microsecond':
      return (BigInt(d.getUTCSeconds()) * 1000n + msOfSecond) * 1000n + micro;
    case 'epoch':
      return new Decimal(us, 6);
    default:
      throw new SqlEvalError(`unknown EXTRACT field ${field} ${where}`);
  }
}

const TRUNC_UNITS = [
  'microseconds',
  'milliseconds',
  'second',
  'minute',
  'hour',
  'day',
  'week',
  'month',
  'quarter',
  'year',
  'decade',
  'century',
] as const;

function truncate(unit: string, us: bigint): bigint {
  const fixed: { [u: string]: bigint } = {
    microseconds: 1n,
    milliseconds: MICROS_PER_MS,
    second: MICROS_PER_SECOND,
    minute: 60n * MICROS_PER_SECOND,
    hour: 3600n * MICROS_PER_SECOND,
    day: MICROS_PER_DAY,
  };
  const step = fixed[unit];
  if (step !== undefined) return floorDiv(us, step) * step;
  const { date: d } = fields(us);
  const y = d.getUTCFullYear();
  switch (unit) {
    case 'week': {
      // Weeks start on Monday, as in PostgreSQL.
      const day = floorDiv(us, MICROS_PER_DAY);
      const dow = Number((((day + 3n) % 7n) + 7n) % 7n); // 1970-01-01 was a Thursday: Monday = 0
      return (day - BigInt(dow)) * MICROS_PER_DAY;
    }
    case 'month':
      return fromUtc(y, d.getUTCMonth(), 1);
    case 'quarter':
      return fromUtc(y, Math.floor(d.getUTCMonth() / 3) * 3, 1);
    case 'year':
      return fromUtc(y, 0, 1);
    case 'decade':
      return fromUtc(Math.floor(y / 10) * 10, 0, 1);
    default:
      return fromUtc(Math.floor((y - 1) / 100) * 100 + 1, 0, 1);
  }
}

/** A constant text argument (a field or unit name), lower-cased, or a bind failure. */
function constantName(
  cx: BindContext,
  e: Expr,
  what: string,
  allowed: readonly string[],
  usage: string,
): string {
  if (e.kind !== 'literal' || typeof e.value !== 'string')
    cx.fail(`${what} must be a constant string`, usage);
  const name = (e.value as string).toLowerCase();
  const norm = unitAliases[name] ?? name;
  if (!allowed.includes(norm))
    cx.fail(`unknown ${what} '${e.value as string}'`, `one of: ${allowed.join(', ')}`);
  return norm;
}

const unitAliases: { readonly [k: string]: string } = {
  years: 'year',
  months: 'month',
  days: 'day',
  hours: 'hour',
  minutes: 'minute',
  seconds: 'second',
  weeks: 'week',
  microsecond: 'microseconds',
  millisecond: 'milliseconds',
  us: 'microseconds',
  ms: 'milliseconds',
};

const isTime = (t: SqlType): boolean => t === 'timestamp' || t === 'date';

function timeArg(cx: BindContext, e: Expr, sig: string): void {
  if (e.type !== 'null' && !isTime(e.type))
    cx.fail(`${sig.split('(')[0]} expects a timestamp or date, got ${e.type}`, `usage: ${sig}`);
}

/** A JSON path of `$.a.b[0]["c d"]` form, as keys and indexes. */
function parsePath(path: string, where: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re =
    /\.([A-Za-z_$][\w$]*)|\.?\[\s*(\d+)\s*\]|\.?\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\.?\[\s*'([^']*)'\s*\]/y;
  if (!path.startsWith('$')) throw new SqlEvalError(`JSON path must start with $, got '${path}' ${where}`);
  re.lastIndex = 1;
  while (re.lastIndex < path.length) {
    const at = re.lastIndex;
    const m = re.exec(path);
    if (m === null) throw new SqlEvalError(`invalid JSON path '${path}' at character ${at + 1} ${where}`);
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(JSON.parse(`"${m[3]}"`) as string);
    else out.push(m[4]!);
  }
  return out;
}

function step(v: JsonValue | undefined, k: string | number): JsonValue | undefined {
  if (v === null || v === undefined || typeof v !== 'object') return undefined;
  if (Array.isArray(v)) return typeof k === 'number' ? v[k < 0 ? v.length + k : k] : undefined;
  return typeof k === 'string' ? (Object.hasOwn(v, k) ? v[k] : undefined) : undefined;
}

function follow(j: Json, path: readonly (string | number)[]): JsonValue | undefined {
  let v: JsonValue | undefined = j.value;
  for (const k of path) {
    v = step(v, k);
    if (v === undefined) return undefined;
  }
  return v;
}

/** The text of a JSON scalar as `->>` and JSON_VALUE give it; NULL for JSON null. */
function scalarText(v: JsonValue): string | null {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function jsonArg(cx: BindContext, e: Expr, name: string, sig: string): void {
  if (e.type !== 'null' && e.type !== 'json') cx.fail(`${name} expects json, got ${e.type}`, `usage: ${sig}`);
}

function jsonPathFn(name: 'json_value' | 'json_query'): FunctionDef {
  const sig = `${name}(json, '$.path')`;
  return {
    signature: sig,
    minArgs: 2,
    maxArgs: 2,
    bind(args, cx) {
      jsonArg(cx, args[0]!, name, sig);
      if (args[1]!.type !== 'null' && !isText(args[1]!.type))
        cx.fail(`${name} expects a string path`, `usage: ${sig}`);
      return { type: name === 'json_value' ? 'string' : 'json', nullable: true, args };
    },
    compile([j, p], bound, where) {
      const pathExpr = bound[1]!;
      const constant =
        pathExpr.kind === 'literal' && typeof pathExpr.value === 'string'
          ? parsePath(pathExpr.value, where)
          : null;
      return (row) => {
        const doc = j!(row);
        if (doc === null) return null;
        let path = constant;
        if (path === null) {
          const text = p!(row);
          if (text === null) return null;
          path = parsePath(text as string, where);
        }
        const v = follow(doc as Json, path);
        if (v === undefined) return null;
        if (name === 'json_query') return new Json(v);
        // JSON_VALUE gives scalars only, as in the SQL standard (NULL ON ERROR).
        return typeof v === 'object' && v !== null ? null : scalarText(v);
      };
    },
  };
}

function arrowFn(text: boolean): FunctionDef {
  const op = text ? '->>' : '->';
  const sig = `json ${op} key_or_index`;
  return {
    signature: sig,
    minArgs: 2,
    maxArgs: 2,
    bind(args, cx) {
      jsonArg(cx, args[0]!, op, sig);
      const k = args[1]!.type;
      if (k !== 'null' && !isText(k) && k !== 'int' && k !== 'uint')
        cx.fail(`${op} expects a string key or an integer index, got ${k}`, `usage: ${sig}`);
      return { type: text ? 'string' : 'json', nullable: true, args };
    },
    compile([j, key]): Evaluator {
      return (row) => {
        const doc = j!(row);
        const k = key!(row);
        if (doc === null || k === null) return null;
        const v = step((doc as Json).value, typeof k === 'bigint' ? Number(k) : (k as string));
        if (v === undefined) return null;
        return text ? scalarText(v) : new Json(v);
      };
    },
  };
}

/**
 * The time and JSON functions: EXTRACT / date_part, date_trunc, now, and
 * JSON_VALUE, JSON_QUERY, `->`, `->>`. (NOW() is bound as a constant: the
 * time the SQL was compiled.)
 */
export function timeJsonFunctions(): { readonly [name: string]: FunctionDef } {
  const extractDef: FunctionDef = {
    signature: "extract(field FROM timestamp) or date_part('field', timestamp)",
    minArgs: 2,
    maxArgs: 2,
    bind(args, cx) {
      constantName(cx, args[0]!, 'EXTRACT field', EXTRACT_FIELDS, `usage: ${this.signature}`);
      timeArg(cx, args[1]!, this.signature);
      const field = ((args[0] as { value: string }).value ?? '').toLowerCase();
      return { type: field === 'epoch' ? 'decimal' : 'int', nullable: args[1]!.nullable, args };
    },
    compile([, t], bound, where) {
      const field =
        unitAliases[String((bound[0] as { value: string }).value).toLowerCase()] ??
        String((bound[0] as { value: string }).value).toLowerCase();
      return (row) => {
        const v = t!(row);
        return v === null ? null : extract(field, micros(v), where);
      };
    },
  };
  return {
    extract: extractDef,
    date_part: extractDef,
    date_trunc: {
      signature: "date_trunc('unit', timestamp)",
      minArgs: 2,
      maxArgs: 2,
      bind(args, cx) {
        constantName(cx, args[0]!, 'date_trunc unit', TRUNC_UNITS, `usage: ${this.signature}`);
        timeArg(cx, args[1]!, this.signature);
        return { type: 'timestamp', nullable: args[1]!.nullable, args };
      },
      compile([, t], bound) {
        const raw = String((bound[0] as { value: string }).value).toLowerCase();
        const unit = unitAliases[raw] ?? raw;
        return (row) => {
          const v = t!(row);
          return v === null ? null : new Timestamp(truncate(unit, micros(v)));
        };
      },
    },
    json_value: jsonPathFn('json_value'),
    json_query: jsonPathFn('json_query'),
    '->': arrowFn(false),
    '->>': arrowFn(true),
  };
}
