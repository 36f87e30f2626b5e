import {
  DateValue,
  Decimal,
  Duration,
  type FieldDefinition,
  INT64_MAX,
  INT64_MIN,
  Json,
  Point,
  type Row,
  type Schema,
  Timestamp,
  UINT64_MAX,
  type Value,
} from '@dozer/core';

/**
 * Why `value` cannot be stored in `field`, or `null` when it fits: the
 * JavaScript shape its type requires (`int` → a bigint in the signed 64-bit
 * range, `decimal` → a `Decimal` within the declared precision and scale,
 * …) and NULL only in nullable fields.
 */
export function valueProblem(field: FieldDefinition, value: Value | undefined): string | null {
  if (value === undefined) return 'is missing (the row is shorter than the schema)';
  if (value === null) return field.nullable ? null : 'is NULL but the field is not nullable';
  switch (field.type) {
    case 'int':
      if (typeof value !== 'bigint') return expected('a bigint', value);
      return value < INT64_MIN || value > INT64_MAX ? `${value} is outside the signed 64-bit range` : null;
    case 'uint':
      if (typeof value !== 'bigint') return expected('a bigint', value);
      return value < 0n || value > UINT64_MAX ? `${value} is outside the unsigned 64-bit range` : null;
    case 'float':
      return typeof value === 'number' ? null : expected('a number', value);
    case 'boolean':
      return typeof value === 'boolean' ? null : expected('a boolean', value);
    case 'string':
    case 'text':
      return typeof value === 'string' ? null : expected('a string', value);
    case 'binary':
      return value instanceof Uint8Array ? null : expected('a Uint8Array', value);
    case 'decimal':
      return value instanceof Decimal ? decimalProblem(field, value) : expected('a Decimal', value);
    case 'timestamp':
      if (!(value instanceof Timestamp)) return expected('a Timestamp', value);
      return typeof value.micros === 'bigint' ? null : 'is a Timestamp whose micros are not a bigint';
    case 'date':
      if (!(value instanceof DateValue)) return expected('a DateValue', value);
      return Number.isSafeInteger(value.days) ? null : 'is a DateValue whose days are not an integer';
    case 'json':
      if (!(value instanceof Json)) return expected('a Json', value);
      return jsonProblem(value.value, '');
    case 'duration':
      if (!(value instanceof Duration)) return expected('a Duration', value);
      return typeof value.micros === 'bigint' ? null : 'is a Duration whose micros are not a bigint';
    case 'point':
      if (!(value instanceof Point)) return expected('a Point', value);
      return typeof value.x === 'number' && typeof value.y === 'number'
        ? null
        : 'is a Point whose coordinates are not numbers';
    default:
      return `has a field type "${String((field as { type: unknown }).type)}" that @dozer/core does not define`;
  }
}

/**
 * Every problem of `row` against `schema`, as `field "name": problem`
 * lines; empty when the row fits (one value per field, each of its type).
 */
export function rowProblems(schema: Schema, row: Row): string[] {
  const out: string[] = [];
  if (!Array.isArray(row)) return [`is ${describeValue(row as unknown as Value)}, not an array of values`];
  if (row.length !== schema.fields.length)
    out.push(`has ${row.length} values but the schema has ${schema.fields.length} fields`);
  schema.fields.forEach((f, i) => {
    const p = valueProblem(f, row[i]);
    if (p !== null) out.push(`field "${f.name}" (${f.type}${f.nullable ? ', nullable' : ''}) ${p}`);
  });
  return out;
}

function decimalProblem(field: FieldDefinition, d: Decimal): string | null {
  if (field.scale !== undefined && d.scale > field.scale)
    return `${d} has ${d.scale} digits after the point but the field's scale is ${field.scale}`;
  if (field.precision !== undefined) {
    const digits = (d.unscaled < 0n ? -d.unscaled : d.unscaled).toString().length;
    const intDigits = Math.max(0, digits - d.scale);
    const allowed = field.precision - (field.scale ?? 0);
    if (d.unscaled !== 0n && intDigits > allowed)
      return `${d} has ${intDigits} digits before the point but decimal(${field.precision}, ${field.scale ?? 0}) allows ${allowed}`;
  }
  return null;
}

function jsonProblem(v: unknown, at: string): string | null {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return null;
  if (typeof v === 'number')
    return Number.isFinite(v) ? null : `is a Json holding ${v} at ${at || '(root)'}, which JSON cannot carry`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = jsonProblem(v[i], `${at}[${i}]`);
      if (p !== null) return p;
    }
    return null;
  }
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) {
      const p = jsonProblem(x, `${at}.${k}`);
      if (p !== null) return p;
    }
    return null;
  }
  return `is a Json holding ${describeValue(v as Value)} at ${at || '(root)'}, which is not a JSON value`;
}

function expected(what: string, value: Value): string {
  const ctor = typeof value === 'object' && value !== null ? value.constructor?.name : undefined;
  // Two copies of @dozer/core (say, a plugin pinned to another version) make
  // instanceof fail for values that look right; say so rather than confuse.
  const twin =
    ctor !== undefined && `a ${ctor}` === what
      ? ' from another copy of @dozer/core (the plugin and the engine must share one @dozer/core; dedupe your dependencies)'
      : '';
  return `is ${describeValue(value)}${twin}, expected ${what}`;
}

function describeValue(v: Value): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'bigint':
      return `the bigint ${v}`;
    case 'number':
      return `the number ${v}`;
    case 'string':
      return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
    case 'boolean':
      return `the boolean ${v}`;
    case 'object': {
      const name = v.constructor?.name;
      return name === undefined || name === 'Object' ? 'a plain object' : `a ${name}`;
    }
    default:
      return `a ${typeof v}`;
  }
}
