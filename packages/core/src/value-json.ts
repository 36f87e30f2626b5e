import { TypeMismatchError } from './errors.js';
import { INT64_MAX, INT64_MIN, UINT64_MAX } from './field-type.js';
import type { Row } from './operation.js';
import type { FieldDefinition, Schema } from './schema.js';
import { DateValue, Decimal, Duration, Json, type JsonValue, Point, Timestamp, type Value } from './value.js';

/**
 * The JSON form of a value, as REST answers carry it. It follows the proto3
 * JSON mapping so that nothing is lost in a JavaScript client:
 * int and uint as decimal strings (exact past 2^53), float as a number
 * (`"NaN"`, `"Infinity"`, `"-Infinity"` as strings), decimal as a string,
 * timestamp as RFC 3339 UTC with six fractional digits, date as
 * `YYYY-MM-DD`, binary as base64, json as the document itself, duration as
 * ISO 8601, point as `{x, y}`, NULL as `null`.
 */
export function valueToJson(field: FieldDefinition, v: Value): JsonValue {
  if (v === null) return null;
  switch (field.type) {
    case 'int':
    case 'uint':
      return (v as bigint).toString();
    case 'float':
      return floatToJson(v as number);
    case 'boolean':
    case 'string':
    case 'text':
      return v as boolean | string;
    case 'binary':
      return Buffer.from(v as Uint8Array).toString('base64');
    case 'json':
      return (v as Json).value;
    case 'point':
      return { x: floatToJson((v as Point).x), y: floatToJson((v as Point).y) };
    default:
      return String(v);
  }
}

/**
 * Whether a JSON object of these field names keeps them as given, in order:
 * no canonical array index (objects list those first, "0", "17"), no
 * `__proto__`, no name twice. Writers that build a row's JSON text directly
 * match {@link rowToObject} only then.
 */
export function jsonKeepsFieldOrder(names: readonly string[]): boolean {
  if (new Set(names).size !== names.length) return false;
  return !names.some((n) => n === '__proto__' || (/^(?:0|[1-9]\d*)$/.test(n) && Number(n) < 4294967295));
}

/** A row as a JSON object keyed by field name. */
export function rowToObject(schema: Schema, row: Row): { [name: string]: JsonValue } {
  const out: { [name: string]: JsonValue } = {};
  const fields = schema.fields;
  for (let i = 0; i < fields.length; i++) out[fields[i]!.name] = valueToJson(fields[i]!, row[i] ?? null);
  return out;
}

/**
 * Converts JSON (from a request body, a JSON lines file, a config) into a
 * value of `field`'s type. Accepts the forms {@link valueToJson} writes and
 * the obvious looser ones (a number for an int or decimal, a timestamp
 * string with an offset). `path` names where the JSON came from, for the
 * error message.
 */
export function valueFromJson(field: FieldDefinition, json: unknown, path: string): Value {
  if (json === null || json === undefined) {
    // In JSON, SQL NULL and a json document that is `null` look alike: a
    // nullable field reads it as SQL NULL.
    if (field.nullable) return null;
    if (field.type === 'json' && json === null) return new Json(null);
    throw mismatch(field, json, path, 'a value (the field is not nullable)');
  }
  try {
    switch (field.type) {
      case 'int':
      case 'uint': {
        let v: bigint;
        if (typeof json === 'number' && Number.isInteger(json)) {
          if (!Number.isSafeInteger(json)) {
            throw mismatch(field, json, path, 'an integer within ±2^53, or a string for larger values');
          }
          v = BigInt(json);
        } else if (typeof json === 'bigint') v = json;
        else if (typeof json === 'string' && /^\s*[+-]?\d+\s*$/.test(json)) v = BigInt(json.trim());
        else throw mismatch(field, json, path, 'an integer or a string of digits');
        const [lo, hi] = field.type === 'int' ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
        if (v < lo || v > hi) throw mismatch(field, json, path, `an integer in ${lo}..${hi}`);
        return v;
      }
      case 'float': {
        const f = floatFromJson(json);
        if (f !== undefined) return f;
        throw mismatch(field, json, path, 'a number');
      }
      case 'boolean':
        if (typeof json === 'boolean') return json;
        throw mismatch(field, json, path, 'true or false');
      case 'string':
      case 'text':
        if (typeof json === 'string') return json;
        throw mismatch(field, json, path, 'a string');
      case 'binary':
        if (typeof json === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(json))
          return new Uint8Array(Buffer.from(json, 'base64'));
        throw mismatch(field, json, path, 'a base64 string');
      case 'decimal':
        if (typeof json === 'number' && Number.isFinite(json)) return Decimal.fromNumber(json);
        if (typeof json === 'string') return Decimal.parse(json);
        throw mismatch(field, json, path, 'a number or a numeric string');
      case 'timestamp':
        if (typeof json === 'string') return Timestamp.parse(json);
        throw mismatch(field, json, path, 'an RFC 3339 timestamp string');
      case 'date':
        if (typeof json === 'string') return DateValue.parse(json);
        throw mismatch(field, json, path, 'a YYYY-MM-DD string');
      case 'json':
        return new Json(json as JsonValue);
      case 'duration':
        if (typeof json === 'string') return Duration.parse(json);
        throw mismatch(field, json, path, 'an ISO 8601 duration string such as "PT5M"');
      case 'point':
        if (typeof json === 'object' && !Array.isArray(json)) {
          const { x, y } = json as { x?: unknown; y?: unknown };
          const fx = floatFromJson(x);
          const fy = floatFromJson(y);
          if (fx !== undefined && fy !== undefined) return new Point(fx, fy);
        }
        if (typeof json === 'string') return Point.parse(json);
        throw mismatch(field, json, path, 'an object {"x": number, "y": number}');
    }
  } catch (e) {
    if (e instanceof TypeMismatchError) throw e;
    throw new TypeMismatchError(`${path}: ${(e as Error).message} for ${field.type} field "${field.name}"`, {
      cause: e,
    });
  }
}

function floatToJson(n: number): JsonValue {
  return Number.isFinite(n) ? n : String(n);
}

function floatFromJson(json: unknown): number | undefined {
  if (typeof json === 'number') return json;
  if (typeof json !== 'string') return undefined;
  if (json === 'NaN') return Number.NaN;
  const n = json.trim() === '' ? Number.NaN : Number(json);
  return Number.isNaN(n) ? undefined : n;
}

function mismatch(field: FieldDefinition, json: unknown, path: string, expected: string): TypeMismatchError {
  return new TypeMismatchError(
    `${path}: expected ${expected} for ${field.type} field "${field.name}", got ${describeJson(json)}`,
  );
}

/** A short description of a JSON value for error messages: `string "abc"`, `number 5`, `object`. */
export function describeJson(json: unknown): string {
  if (json === null) return 'null';
  if (json === undefined) return 'nothing';
  if (Array.isArray(json)) return 'an array';
  switch (typeof json) {
    case 'string':
      return `string ${JSON.stringify(json.length > 40 ? `${json.slice(0, 40)}…` : json)}`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof json} ${String(json)}`;
    default:
      return typeof json;
  }
}
