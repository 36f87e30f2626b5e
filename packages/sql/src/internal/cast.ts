import {
  DateValue,
  Decimal,
  Duration,
  type FieldType,
  INT64_MAX,
  INT64_MIN,
  Json,
  Point,
  Timestamp,
  UINT64_MAX,
  type Value,
} from '@dozer/core';
import { SqlEvalError } from '../errors.js';
import type { SqlType } from './expr.js';

/** Converts one non-null value; throws SqlEvalError naming `where` when it does not fit. */
export type Converter = (v: Value) => Value;

const MICROS_PER_DAY = 86_400_000_000n;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The text form of a value, as `CAST(v AS text)` and `||` produce it. */
export function valueToText(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return formatFloat(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Uint8Array) {
    let s = '\\x';
    for (const b of v) s += HEX[b];
    return s;
  }
  return v.toString();
}

function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return 'Infinity';
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity';
  return String(v);
}

export function checkRange(v: bigint, type: 'int' | 'uint', where: string): bigint {
  if (type === 'int' ? v < INT64_MIN || v > INT64_MAX : v < 0n || v > UINT64_MAX) {
    throw new SqlEvalError(`${type === 'int' ? 'integer' : 'unsigned integer'} out of range: ${v} ${where}`);
  }
  return v;
}

/** Round half to even, as PostgreSQL's rint() does when a float becomes an integer. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function floatToBigInt(v: number, where: string): bigint {
  if (!Number.isFinite(v)) throw new SqlEvalError(`cannot convert ${formatFloat(v)} to an integer ${where}`);
  return BigInt(roundHalfEven(v));
}

function parseOrFail<T>(type: string, text: string, where: string, parse: (s: string) => T): T {
  try {
    return parse(text);
  } catch (e) {
    throw new SqlEvalError(`invalid input for type ${type}: "${text}" ${where}`, { cause: e });
  }
}

const TRUE_WORDS = new Set(['t', 'true', 'y', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['f', 'false', 'n', 'no', 'off', '0']);

/** Parses the text form of a value of `to` (the inverse of {@link valueToText}). */
export function textToValue(text: string, to: FieldType, where: string): Value {
  switch (to) {
    case 'string':
    case 'text':
      return text;
    case 'int':
    case 'uint': {
      const t = text.trim();
      if (!/^[+-]?\d+$/.test(t)) throw new SqlEvalError(`invalid input for type ${to}: "${text}" ${where}`);
      return checkRange(BigInt(t), to, where);
    }
    case 'float': {
      const t = text.trim();
      const special: { [k: string]: number } = {
        nan: Number.NaN,
        infinity: Number.POSITIVE_INFINITY,
        '+infinity': Number.POSITIVE_INFINITY,
        '-infinity': Number.NEGATIVE_INFINITY,
      };
      const s = special[t.toLowerCase()];
      if (s !== undefined) return s;
      const n = Number(t);
      if (t === '' || Number.isNaN(n) || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
        throw new SqlEvalError(`invalid input for type float: "${text}" ${where}`);
      }
      return n;
    }
    case 'decimal':
      return parseOrFail('decimal', text, where, Decimal.parse);
    case 'boolean': {
      const t = text.trim().toLowerCase();
      if (TRUE_WORDS.has(t)) return true;
      if (FALSE_WORDS.has(t)) return false;
      throw new SqlEvalError(`invalid input for type boolean: "${text}" ${where}`);
    }
    case 'binary':
      return textToBytes(text, where);
    case 'timestamp':
      return parseOrFail('timestamp', text, where, Timestamp.parse);
    case 'date':
      return parseOrFail('date', text, where, DateValue.parse);
    case 'json':
      return parseOrFail('json', text, where, Json.parse);
    case 'duration':
      return parseOrFail('interval', text, where, Duration.parse);
    case 'point':
      return parseOrFail('point', text, where, Point.parse);
  }
}

function textToBytes(text: string, where: string): Uint8Array {
  if (!text.startsWith('\\x')) return new TextEncoder().encode(text);
  const hex = text.slice(2);
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new SqlEvalError(`invalid hexadecimal data for type binary: "${text}" ${where}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Decimal scale/precision enforcement for `DECIMAL(p, s)` targets. */
function fitDecimal(
  d: Decimal,
  precision: number | undefined,
  scale: number | undefined,
  where: string,
): Decimal {
  const r = scale === undefined ? d : d.rescale(scale);
  if (precision !== undefined && (r.unscaled < 0n ? -r.unscaled : r.unscaled) >= 10n ** BigInt(precision)) {
    throw new SqlEvalError(
      `numeric field overflow: ${d} does not fit DECIMAL(${precision}, ${scale ?? 0}) ${where}`,
    );
  }
  return r;
}

/**
 * The conversion from `from` to `to` (checked to be allowed by the binder),
 * applied only to non-null values. Conversions that can fail throw
 * SqlEvalError mentioning `where` (the expression and its position).
 */
export function makeConverter(
  from: SqlType,
  to: FieldType,
  where: string,
  precision?: number,
  scale?: number,
): Converter {
  if (to === 'decimal' && (precision !== undefined || scale !== undefined)) {
    const inner = from === 'decimal' ? (v: Value) => v : makeConverter(from, 'decimal', where);
    return (v) => fitDecimal(inner(v) as Decimal, precision, scale, where);
  }
  if (from === to || from === 'null') return (v) => v;
  if (to === 'string' || to === 'text') return valueToText;
  if (from === 'string' || from === 'text') return (v) => textToValue(v as string, to, where);
  switch (`${from}>${to}`) {
    case 'int>uint':
      return (v) => checkRange(v as bigint, 'uint', where);
    case 'uint>int':
      return (v) => checkRange(v as bigint, 'int', where);
    case 'int>float':
    case 'uint>float':
      return (v) => Number(v as bigint);
    case 'int>decimal':
    case 'uint>decimal':
      return (v) => Decimal.fromBigInt(v as bigint);
    case 'float>int':
    case 'float>uint':
      return (v) => checkRange(floatToBigInt(v as number, where), to as 'int' | 'uint', where);
    case 'float>decimal':
      return (v) => {
        if (!Number.isFinite(v as number)) {
          throw new SqlEvalError(`cannot convert ${formatFloat(v as number)} to a decimal ${where}`);
        }
        return Decimal.fromNumber(v as number);
      };
    case 'decimal>float':
      return (v) => (v as Decimal).toNumber();
    case 'decimal>int':
    case 'decimal>uint':
      return (v) => checkRange((v as Decimal).rescale(0).unscaled, to as 'int' | 'uint', where);
    case 'int>boolean':
    case 'uint>boolean':
      return (v) => v !== 0n;
    case 'boolean>int':
    case 'boolean>uint':
      return (v) => (v ? 1n : 0n);
    case 'date>timestamp':
      return (v) => (v as DateValue).toTimestamp();
    case 'timestamp>date':
      return (v) => {
        const micros = (v as Timestamp).micros;
        const days = micros / MICROS_PER_DAY - (micros % MICROS_PER_DAY < 0n ? 1n : 0n);
        return new DateValue(Number(days));
      };
  }
  throw new SqlEvalError(`no conversion from ${from} to ${to} ${where}`);
}
