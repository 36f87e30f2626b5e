import {
  DateValue,
  Decimal,
  Duration,
  type FieldDefinition,
  type FieldType,
  INT64_MAX,
  INT64_MIN,
  Json,
  type JsonValue,
  Point,
  Timestamp,
  TypeMismatchError,
  UINT64_MAX,
  type Value,
  valueFromJson,
} from '@dozer/core';

/** A value that does not fit its column; the reader reports it with the file and line. */
export class RowError extends Error {
  override name = 'RowError';
}

/** Converts one CSV field (`null` = an unquoted empty field) to a value of `field`. */
export type TextConverter = (text: string | null) => Value;
/** Converts one value read from JSON or Parquet to a value of `field`. */
export type NativeConverter = (v: unknown) => Value;

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL_FLOATS: Readonly<Record<string, number>> = {
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  '+inf': Number.POSITIVE_INFINITY,
  '-inf': Number.NEGATIVE_INFINITY,
  infinity: Number.POSITIVE_INFINITY,
  '+infinity': Number.POSITIVE_INFINITY,
  '-infinity': Number.NEGATIVE_INFINITY,
};
const TRUE = new Set(['true', 't', 'yes', 'y', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0']);
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP_RE =
  /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

function quoted(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** The text form of `field`'s values in CSV files. */
export function textConverter(field: FieldDefinition): TextConverter {
  const { name, type, nullable } = field;
  const bad = (s: string, expected: string) =>
    new RowError(`column "${name}" (${type}): expected ${expected}, got ${quoted(s)}`);
  const parse = textParser(type, bad);
  return (s) => {
    if (s === null) {
      if (nullable) return null;
      // A non-nullable string column reads an empty field as the empty string.
      if (type === 'string' || type === 'text') return '';
      throw new RowError(`column "${name}" (${type}) is not nullable but the field is empty`);
    }
    return parse(s);
  };
}

function textParser(type: FieldType, bad: (s: string, expected: string) => RowError): (s: string) => Value {
  switch (type) {
    case 'int':
    case 'uint': {
      const [lo, hi] = type === 'int' ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
      const unsigned = type === 'uint';
      return (s) => {
        const small = smallInt(s);
        if (small !== null && !(unsigned && small < 0)) return BigInt(small);
        if (!INT_RE.test(s)) throw bad(s, 'an integer');
        const v = BigInt(s);
        if (v < lo || v > hi) throw bad(s, `an integer in ${lo}..${hi}`);
        return v;
      };
    }
    case 'float':
      return (s) => {
        if (FLOAT_RE.test(s)) return Number(s);
        const special = SPECIAL_FLOATS[s.toLowerCase()];
        if (special !== undefined) return special;
        throw bad(s, 'a number');
      };
    case 'boolean':
      return (s) => {
        if (s === 'true') return true;
        if (s === 'false') return false;
        const l = s.toLowerCase();
        if (TRUE.has(l)) return true;
        if (FALSE.has(l)) return false;
        throw bad(s, 'true or false');
      };
    case 'string':
    case 'text':
      return (s) => s;
    case 'json':
      return (s) => {
        try {
          return new Json(JSON.parse(s) as JsonValue);
        } catch {
          throw bad(s, 'a JSON document');
        }
      };
    default: {
      const parsers: Record<string, (s: string) => Value> = {
        decimal: Decimal.parse,
        timestamp: Timestamp.parse,
        date: (s) => fastDate(s) ?? DateValue.parse(s),
        duration: Duration.parse,
        point: Point.parse,
        binary: (s) => {
          if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new RangeError('');
          return new Uint8Array(Buffer.from(s, 'base64'));
        },
      };
      const expected: Record<string, string> = {
        decimal: 'a decimal number',
        timestamp: 'an RFC 3339 timestamp such as 2024-01-31T12:00:00Z',
        date: 'a YYYY-MM-DD date',
        duration: 'an ISO 8601 duration such as PT5M',
        point: 'a point such as (1.5,2)',
        binary: 'base64',
      };
      const p = parsers[type]!;
      return (s) => {
        try {
          return p(s);
        } catch {
          throw bad(s, expected[type]!);
        }
      };
    }
  }
}

/**
 * The value of a plain decimal integer of at most 15 digits (optionally
 * signed), or null for anything else; cheaper than a regex and BigInt(string).
 */
function smallInt(s: string): number | null {
  const n = s.length;
  if (n === 0 || n > 16) return null;
  let i = 0;
  let neg = false;
  const c0 = s.charCodeAt(0);
  if (c0 === 45 || c0 === 43) {
    neg = c0 === 45;
    i = 1;
    if (n === 1) return null;
  } else if (n > 15) return null;
  let v = 0;
  for (; i < n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
  }
  return neg ? -v : v;
}

/** `YYYY-MM-DD` read without a regex; null when `s` has another shape (the slow parser decides). */
function fastDate(s: string): DateValue | null {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return null;
  let y = 0;
  let m = 0;
  let d = 0;
  for (let i = 0; i < 10; i++) {
    if (i === 4 || i === 7) continue;
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return null;
    if (i < 4) y = y * 10 + c;
    else if (i < 7) m = m * 10 + c;
    else d = d * 10 + c;
  }
  if (m < 1 || m > 12 || d < 1 || d > 28) return null;
  // Days from civil (Howard Hinnant's algorithm); days 29-31 take the checked slow path.
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return new DateValue(era * 146097 + doe - 719468);
}

/**
 * Converts values as JSON.parse or the Parquet reader give them (numbers,
 * bigints, strings, booleans, Timestamp/DateValue/Decimal/Json objects,
 * byte arrays, plain objects) to `field`'s type. Values already of the
 * type pass through; the rest go through `valueFromJson`'s rules.
 */
export function nativeConverter(field: FieldDefinition): NativeConverter {
  const { type, nullable, name } = field;
  return (v) => {
    if (v === null || v === undefined) {
      if (nullable) return null;
      if (type === 'json' && v === null) return new Json(null);
      throw new RowError(
        `column "${name}" (${type}) is not nullable but the value is ${v === null ? 'null' : 'missing'}`,
      );
    }
    try {
      switch (type) {
        case 'int':
        case 'uint':
          if (typeof v === 'bigint') {
            const [lo, hi] = type === 'int' ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
            if (v >= lo && v <= hi) return v;
          }
          break;
        case 'float':
          if (typeof v === 'number') return v;
          if (typeof v === 'bigint') return Number(v);
          break;
        case 'string':
        case 'text':
          if (typeof v === 'string') return v;
          break;
        case 'binary':
          if (v instanceof Uint8Array) return v;
          break;
        case 'decimal':
          if (v instanceof Decimal) return v;
          if (typeof v === 'bigint') return Decimal.fromBigInt(v);
          break;
        case 'timestamp':
          if (v instanceof Timestamp) return v;
          if (v instanceof DateValue) return v.toTimestamp();
          break;
        case 'date':
          if (v instanceof DateValue) return v;
          break;
        case 'json':
          return v instanceof Json ? v : new Json(toJsonValue(v));
        case 'duration':
          if (v instanceof Duration) return v;
          break;
        case 'point':
          if (v instanceof Point) return v;
          break;
        default:
          break;
      }
      return valueFromJson(field, toJsonValue(v), '');
    } catch (e) {
      if (e instanceof TypeMismatchError) throw new RowError(e.message.replace(/^: /, ''));
      throw new RowError(`column "${name}" (${type}): ${(e as Error).message}`);
    }
  };
}

/** A JSON document for any value the readers produce (bigints as numbers when exact, else strings). */
export function toJsonValue(v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    default:
      break;
  }
  if (v instanceof Json) return v.value;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Timestamp || v instanceof DateValue || v instanceof Decimal || v instanceof Duration)
    return v.toString();
  if (v instanceof Point) return { x: v.x, y: v.y };
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (typeof v === 'object') {
    const out: { [k: string]: JsonValue } = {};
    for (const [k, x] of Object.entries(v as object)) out[k] = toJsonValue(x);
    return out;
  }
  return String(v);
}

/**
 * Infers column types from sample values, keeping the narrowest type every
 * sample fits: int < float; date < timestamp; boolean; json for documents;
 * anything mixed falls back to string (CSV) or json (JSON lines). A column
 * is nullable when a sample is missing or empty.
 */
export class TypeInference {
  private readonly types = new Map<string, FieldType | null>();
  private readonly nullable = new Set<string>();
  private readonly order: string[] = [];
  private seen = 0;

  constructor(private readonly mixed: 'string' | 'json') {}

  /** Declares a column (CSV headers), so that a column with no values still appears. */
  column(name: string): void {
    if (!this.types.has(name)) {
      this.types.set(name, null);
      this.order.push(name);
    }
  }

  /** A CSV field. */
  addText(name: string, s: string | null): void {
    this.column(name);
    if (s === null) {
      this.nullable.add(name);
      return;
    }
    this.merge(name, textType(s));
  }

  /** A JSON object of a JSON lines file. */
  addObject(obj: Record<string, unknown>): void {
    this.seen++;
    for (const [k, v] of Object.entries(obj)) {
      if (!this.types.has(k)) {
        this.column(k);
        // Missing from earlier objects.
        if (this.seen > 1) this.nullable.add(k);
      }
      if (v === null) this.nullable.add(k);
      else this.merge(k, jsonType(v));
    }
    for (const k of this.order) if (!(k in obj)) this.nullable.add(k);
  }

  private merge(name: string, t: FieldType): void {
    const cur = this.types.get(name) ?? null;
    if (cur === null || cur === t) {
      this.types.set(name, t);
      return;
    }
    const pair = new Set([cur, t]);
    const both = (a: FieldType, b: FieldType) => pair.has(a) && pair.has(b);
    if (both('int', 'float')) this.types.set(name, 'float');
    else if (both('date', 'timestamp')) this.types.set(name, 'timestamp');
    else this.types.set(name, this.mixed);
  }

  fields(): FieldDefinition[] {
    return this.order.map((name) => ({
      name,
      type: this.types.get(name) ?? 'string',
      // A column seen only empty is a nullable string.
      nullable: this.nullable.has(name) || this.types.get(name) === null,
    }));
  }
}

function textType(s: string): FieldType {
  if (INT_RE.test(s)) {
    const v = BigInt(s);
    return v >= INT64_MIN && v <= INT64_MAX ? 'int' : 'float';
  }
  if (FLOAT_RE.test(s)) return 'float';
  const l = s.toLowerCase();
  if (l === 'true' || l === 'false') return 'boolean';
  if (DATE_RE.test(s) && isValid(DateValue.parse, s)) return 'date';
  if (TIMESTAMP_RE.test(s) && isValid(Timestamp.parse, s)) return 'timestamp';
  return 'string';
}

function jsonType(v: unknown): FieldType {
  switch (typeof v) {
    case 'number':
      return Number.isInteger(v) && Number.isSafeInteger(v) ? 'int' : 'float';
    case 'boolean':
      return 'boolean';
    case 'string':
      if (DATE_RE.test(v) && isValid(DateValue.parse, v)) return 'date';
      if (TIMESTAMP_RE.test(v) && isValid(Timestamp.parse, v)) return 'timestamp';
      return 'string';
    default:
      return 'json';
  }
}

function isValid(parse: (s: string) => unknown, s: string): boolean {
  try {
    parse(s);
    return true;
  } catch {
    return false;
  }
}
