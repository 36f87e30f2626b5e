import {
  DateValue,
  Decimal,
  Duration,
  type FieldType,
  Json,
  type JsonValue,
  Point,
  Timestamp,
  type Value,
} from '@dozer/core';

/**
 * What the connector knows of one Postgres type, from `pg_type`: enough to
 * choose the core field type and to decode the type's text form.
 */
export interface PgTypeInfo {
  readonly oid: number;
  readonly name: string;
  /** `pg_type.typtype`: b base, e enum, d domain, c composite, r range, … */
  readonly typtype: string;
  /** The element type of an array type, else 0. */
  readonly elem: number;
  /** The base type of a domain, else 0. */
  readonly base: number;
}

/** Built-in type OIDs the mapping names (fixed in every Postgres release). */
export const PgOid = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  point: 600,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

/** Decodes one column's text form (as Postgres prints it with the connector's session settings). */
export type TextDecoder = (text: string) => Value;

/** The core type of a column and how to decode it. */
export interface ColumnMapping {
  readonly type: FieldType;
  readonly decode: TextDecoder;
}

/**
 * The session settings the connector's connections use, so that every text
 * form has one shape: ISO dates, UTC, postgres-style intervals, hex bytea,
 * shortest-exact floats.
 */
export const SESSION_OPTIONS =
  '-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=postgres -c bytea_output=hex -c extra_float_digits=1 -c client_encoding=UTF8';

/** Looks up a type by OID; undefined when the catalog has not been read for it. */
export type TypeLookup = (oid: number) => PgTypeInfo | undefined;

/**
 * The core type for a Postgres type, and its decoder. Types without an
 * exact core counterpart (inet, money, ranges, …) arrive as their text form
 * in a `string` field, which loses nothing.
 */
export function mapPgType(oid: number, lookup: TypeLookup): ColumnMapping {
  switch (oid) {
    case PgOid.int2:
    case PgOid.int4:
    case PgOid.int8:
      return { type: 'int', decode: decodeInt };
    case PgOid.oid:
      return { type: 'uint', decode: decodeInt };
    case PgOid.numeric:
      return { type: 'decimal', decode: decodeNumeric };
    case PgOid.float4:
    case PgOid.float8:
      return { type: 'float', decode: decodeFloat };
    case PgOid.bool:
      return { type: 'boolean', decode: decodeBool };
    case PgOid.text:
      return { type: 'text', decode: identity };
    case PgOid.varchar:
    case PgOid.bpchar:
    case PgOid.char:
    case PgOid.name:
    case PgOid.uuid:
      return { type: 'string', decode: identity };
    case PgOid.bytea:
      return { type: 'binary', decode: decodeBytea };
    case PgOid.json:
    case PgOid.jsonb:
      return { type: 'json', decode: decodeJson };
    case PgOid.date:
      return { type: 'date', decode: decodeDate };
    case PgOid.time:
      return { type: 'duration', decode: decodeTime };
    case PgOid.timestamp:
    case PgOid.timestamptz:
      return { type: 'timestamp', decode: decodeTimestamp };
    case PgOid.interval:
      return { type: 'duration', decode: decodeInterval };
    case PgOid.point:
      return { type: 'point', decode: (t) => Point.parse(t) };
  }
  const info = lookup(oid);
  if (info !== undefined) {
    if (info.elem !== 0 && info.name.startsWith('_')) {
      const toJson = elementToJson(info.elem, lookup);
      return { type: 'json', decode: (t) => new Json(parseArray(t, toJson)) };
    }
    if (info.typtype === 'd' && info.base !== 0) return mapPgType(info.base, lookup);
  }
  // Enums and every other type: the text form, exactly as Postgres prints it.
  return { type: 'string', decode: identity };
}

const identity = (t: string): string => t;

function decodeInt(t: string): bigint {
  return BigInt(t);
}

const PLAIN_DECIMAL = /^-?\d+(?:\.\d+)?$/;

function decodeNumeric(t: string): Decimal {
  if (PLAIN_DECIMAL.test(t)) {
    const dot = t.indexOf('.');
    return dot < 0
      ? new Decimal(BigInt(t), 0)
      : new Decimal(BigInt(t.slice(0, dot) + t.slice(dot + 1)), t.length - dot - 1);
  }
  if (!/^-?\d/.test(t)) {
    throw new RangeError(`numeric value ${t} has no exact decimal form (only finite numbers do)`);
  }
  return Decimal.parse(t);
}

function decodeFloat(t: string): number {
  if (t === 'NaN') return Number.NaN;
  if (t === 'Infinity') return Number.POSITIVE_INFINITY;
  if (t === '-Infinity') return Number.NEGATIVE_INFINITY;
  return Number(t);
}

function decodeBool(t: string): boolean {
  return t === 't';
}

function decodeBytea(t: string): Uint8Array {
  if (!t.startsWith('\\x')) throw new RangeError('bytea value is not in hex form (bytea_output must be hex)');
  return new Uint8Array(Buffer.from(t.slice(2), 'hex'));
}

function decodeJson(t: string): Json {
  return Json.parse(t);
}

/** `2024-01-31` or `0044-03-15 BC` (year 1 BC is year 0). */
function bcYear(text: string): string {
  if (!text.endsWith(' BC')) return text;
  const body = text.slice(0, -3);
  const dash = body.indexOf('-');
  const year = 1 - Number(body.slice(0, dash));
  const sign = year < 0 ? '-' : '';
  return `${sign}${String(Math.abs(year)).padStart(4, '0')}${body.slice(dash)}`;
}

function noInfinity(t: string, what: string): void {
  if (t === 'infinity' || t === '-infinity') {
    throw new RangeError(`${what} value ${t} has no core equivalent (only finite ${what}s do)`);
  }
}

function decodeDate(t: string): DateValue {
  noInfinity(t, 'date');
  return DateValue.parse(bcYear(t));
}

/** The common shape: a four-digit year, optional fraction, UTC (`+00`) or no zone. */
const FAST_TIMESTAMP = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:\+00)?$/;

function decodeTimestamp(t: string): Timestamp {
  const m = FAST_TIMESTAMP.exec(t);
  if (m !== null && m[1]! >= '1000') {
    const ms = Date.UTC(
      Number(m[1]),
      Number(m[2]) - 1,
      Number(m[3]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
    );
    const frac = m[7];
    return new Timestamp(BigInt(ms) * 1000n + (frac === undefined ? 0n : BigInt(frac.padEnd(6, '0'))));
  }
  noInfinity(t, 'timestamp');
  return Timestamp.parse(bcYear(t));
}

const TIME = /^(\d{2,}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/** `time` as microseconds since midnight (`24:00:00` is a whole day). */
function decodeTime(t: string): Duration {
  const m = TIME.exec(t);
  if (!m) throw new RangeError(`not a time: "${t}"`);
  return Duration.fromMicros(clockMicros(m));
}

function clockMicros(m: RegExpExecArray): bigint {
  const [, h, mi, s, frac = ''] = m;
  return ((BigInt(h!) * 60n + BigInt(mi!)) * 60n + BigInt(s!)) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
}

const INTERVAL_PART = /([+-]?\d+) (years?|mons?|days?)/g;
const INTERVAL_CLOCK = /([+-])?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/** An interval in `IntervalStyle=postgres`: `-1 years +2 mons 3 days -04:05:06.5`. */
function decodeInterval(t: string): Duration {
  let months = 0;
  let days = 0;
  for (const m of t.matchAll(INTERVAL_PART)) {
    const n = Number(m[1]);
    const unit = m[2]!;
    if (unit.startsWith('year')) months += n * 12;
    else if (unit.startsWith('mon')) months += n;
    else days += n;
  }
  let micros = 0n;
  const c = INTERVAL_CLOCK.exec(t);
  if (c) {
    micros = clockMicros([c[0], c[2], c[3], c[4], c[5]] as unknown as RegExpExecArray);
    if (c[1] === '-') micros = -micros;
  } else if (!/\d/.test(t)) throw new RangeError(`not an interval: "${t}"`);
  return new Duration(months, days, micros);
}

/** How one array element's text becomes JSON. */
type ElementToJson = (text: string) => JsonValue;

function elementToJson(elem: number, lookup: TypeLookup): ElementToJson {
  switch (elem) {
    case PgOid.int2:
    case PgOid.int4:
    case PgOid.float4:
    case PgOid.float8:
    case PgOid.oid:
      return (t) => {
        const n = decodeFloat(t);
        // JSON has no NaN or infinities; keep those as their text.
        return Number.isFinite(n) ? n : t;
      };
    case PgOid.int8:
    case PgOid.numeric:
      // A JSON number only when it is exactly that number; larger or finer values stay text.
      return (t) => {
        const n = Number(t);
        return Number.isFinite(n) && String(n) === t ? n : t;
      };
    case PgOid.bool:
      return (t) => t === 't';
    case PgOid.json:
    case PgOid.jsonb:
      return (t) => JSON.parse(t) as JsonValue;
  }
  const info = lookup(elem);
  if (info !== undefined && info.typtype === 'd' && info.base !== 0) return elementToJson(info.base, lookup);
  return (t) => t;
}

/**
 * Parses an array literal (`{1,NULL,"a \"b\""}`, nested `{{1,2},{3,4}}`,
 * optionally prefixed by bounds `[0:1]=`) into nested JSON arrays.
 */
export function parseArray(text: string, element: ElementToJson): JsonValue {
  let i = 0;
  if (text[0] === '[') {
    i = text.indexOf('=') + 1;
  }
  const fail = (): never => {
    throw new RangeError(`not an array literal: "${text.length > 60 ? `${text.slice(0, 60)}…` : text}"`);
  };
  const parseLevel = (): JsonValue[] => {
    if (text[i] !== '{') fail();
    i++;
    const out: JsonValue[] = [];
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      const ch = text[i];
      if (ch === '{') out.push(parseLevel());
      else if (ch === '"') {
        i++;
        let s = '';
        for (;;) {
          const c = text[i++];
          if (c === undefined) fail();
          if (c === '\\') s += text[i++] ?? '';
          else if (c === '"') break;
          else s += c;
        }
        out.push(element(s));
      } else {
        let j = i;
        while (j < text.length && text[j] !== ',' && text[j] !== '}') j++;
        const raw = text.slice(i, j).trim();
        i = j;
        out.push(raw.toUpperCase() === 'NULL' ? null : element(raw));
      }
      const sep = text[i++];
      if (sep === '}') return out;
      if (sep !== ',') fail();
    }
  };
  const result = parseLevel();
  if (i !== text.length) fail();
  return result;
}
