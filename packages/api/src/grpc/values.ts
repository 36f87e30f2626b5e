import {
  canonicalJson,
  type DateValue,
  Decimal,
  Duration,
  type FieldDefinition,
  type FieldType,
  Json,
  type JsonValue,
  Point,
  type Row,
  type Schema,
  Timestamp,
  TypeMismatchError,
  type Value,
  valueFromJson,
} from '@dozer/core';
import type {
  Decimal as PbDecimal,
  Duration as PbDuration,
  FieldDefinition as PbFieldDefinition,
  Point as PbPoint,
  Record as PbRecord,
  Value as PbValue,
} from './generated/dozer/types.gen.js';
import type { Timestamp as PbTimestamp } from './generated/google/protobuf/timestamp.gen.js';

// Objects here have the shape @grpc/proto-loader reads and writes with
// LOADER_OPTIONS: 64-bit integers as decimal strings (exact both ways),
// bytes as Uint8Array, absent fields for NULL.

const MICROS_PER_SECOND = 1_000_000n;

/** A core timestamp as google.protobuf.Timestamp: whole seconds (floor) and non-negative nanos. */
export function timestampToProto(t: Timestamp): PbTimestamp {
  let seconds = t.micros / MICROS_PER_SECOND;
  let micros = t.micros % MICROS_PER_SECOND;
  if (micros < 0n) {
    seconds -= 1n;
    micros += MICROS_PER_SECOND;
  }
  return { seconds: seconds.toString(), nanos: Number(micros) * 1000 };
}

/** google.protobuf.Timestamp back to microseconds; nanos below a microsecond do not fit a core timestamp. */
export function timestampFromProto(ts: PbTimestamp, path: string): Timestamp {
  const nanos = ts.nanos ?? 0;
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999 || nanos % 1000 !== 0) {
    throw new TypeMismatchError(
      `${path}: nanos must be a multiple of 1000 in 0..999999000 (timestamps have microsecond precision), got ${nanos}`,
    );
  }
  return new Timestamp(BigInt(ts.seconds ?? '0') * MICROS_PER_SECOND + BigInt(nanos / 1000));
}

function decimalToProto(d: Decimal): PbDecimal {
  return { unscaled: d.unscaled.toString(), scale: d.scale };
}

function decimalFromProto(d: PbDecimal, path: string): Decimal {
  const unscaled = d.unscaled ?? '0';
  if (!/^-?\d+$/.test(unscaled)) {
    throw new TypeMismatchError(
      `${path}.unscaled must be a base-10 integer such as "-1250", got "${unscaled}"`,
    );
  }
  try {
    return new Decimal(BigInt(unscaled), d.scale ?? 0);
  } catch (e) {
    throw new TypeMismatchError(`${path}: ${(e as Error).message}`, { cause: e });
  }
}

function durationToProto(d: Duration): PbDuration {
  return { months: d.months, days: d.days, micros: d.micros.toString() };
}

function pointToProto(p: Point): PbPoint {
  return { x: p.x, y: p.y };
}

/**
 * The protobuf form of a non-NULL value of a field type, as carried both by
 * the generic `dozer.types.Value` and by the typed record fields of the
 * generated services (see `types.proto` for the mapping).
 */
export function scalarToProto(field: FieldDefinition, v: Exclude<Value, null>): unknown {
  switch (field.type) {
    case 'int':
    case 'uint':
      return (v as bigint).toString();
    case 'float':
    case 'boolean':
    case 'string':
    case 'text':
    case 'binary':
      return v;
    case 'decimal':
      return decimalToProto(v as Decimal);
    case 'timestamp':
      return timestampToProto(v as Timestamp);
    case 'date':
      return (v as DateValue).toString();
    case 'json':
      return canonicalJson((v as Json).value);
    case 'duration':
      return durationToProto(v as Duration);
    case 'point':
      return pointToProto(v as Point);
  }
}

/** Reads the protobuf form of a non-NULL value back (the inverse of {@link scalarToProto}). */
export function scalarFromProto(field: FieldDefinition, pb: unknown, path: string): Value {
  switch (field.type) {
    case 'int':
    case 'uint':
    case 'float':
    case 'boolean':
    case 'string':
    case 'text':
    case 'date':
      // The JSON reader checks ranges and forms (int64 bounds, dates) with the same messages REST gives.
      return valueFromJson({ ...field, nullable: false }, pb, path);
    case 'binary':
      return new Uint8Array(pb as Uint8Array);
    case 'decimal':
      return decimalFromProto(pb as PbDecimal, path);
    case 'timestamp':
      return timestampFromProto(pb as PbTimestamp, path);
    case 'json': {
      try {
        return new Json(JSON.parse(pb as string) as JsonValue);
      } catch (e) {
        throw new TypeMismatchError(`${path} must be JSON text: ${(e as Error).message}`, { cause: e });
      }
    }
    case 'duration': {
      const d = pb as PbDuration;
      return new Duration(d.months ?? 0, d.days ?? 0, BigInt(d.micros ?? '0'));
    }
    case 'point': {
      const p = pb as PbPoint;
      return new Point(p.x ?? 0, p.y ?? 0);
    }
  }
}

/** The member of the `dozer.types.Value` oneof that carries each field type. */
export const VALUE_MEMBER_BY_TYPE: { readonly [T in FieldType]: keyof PbValue } = {
  int: 'int_value',
  uint: 'uint_value',
  float: 'float_value',
  boolean: 'bool_value',
  string: 'string_value',
  text: 'string_value',
  binary: 'bytes_value',
  decimal: 'decimal_value',
  timestamp: 'timestamp_value',
  date: 'date_value',
  json: 'json_value',
  duration: 'duration_value',
  point: 'point_value',
};

/** A value as `dozer.types.Value`; NULL sets no member. */
export function valueToProto(field: FieldDefinition, v: Value): PbValue {
  if (v === null) return {};
  return { [VALUE_MEMBER_BY_TYPE[field.type]]: scalarToProto(field, v) };
}

/** A `dozer.types.Value` back to a core value of the field's type. */
export function valueFromProto(field: FieldDefinition, pb: PbValue, path: string): Value {
  const member = VALUE_MEMBER_BY_TYPE[field.type];
  const present = Object.keys(pb).filter((k) => k !== 'value' && pb[k as keyof PbValue] !== undefined);
  if (present.length === 0) {
    if (!field.nullable) throw new TypeMismatchError(`${path}: field "${field.name}" is not nullable`);
    return null;
  }
  if (present.length > 1 || present[0] !== member) {
    throw new TypeMismatchError(
      `${path}: a ${field.type} field "${field.name}" is carried in ${member}, got ${present.join(', ')}`,
    );
  }
  return scalarFromProto(field, pb[member], path);
}

/** A row as `dozer.types.Record`. */
export function rowToProto(schema: Schema, row: Row): PbRecord {
  const values = new Array<PbValue>(row.length);
  for (let i = 0; i < row.length; i++) values[i] = valueToProto(schema.fields[i]!, row[i] ?? null);
  return { values };
}

/** A `dozer.types.Record` back to a row of the schema. */
export function rowFromProto(schema: Schema, record: PbRecord, path: string): Row {
  const values = record.values ?? [];
  if (values.length !== schema.fields.length) {
    throw new TypeMismatchError(
      `${path} has ${values.length} values but the schema has ${schema.fields.length} fields`,
    );
  }
  return values.map((v, i) => valueFromProto(schema.fields[i]!, v, `${path}.values[${i}]`));
}

/** The fields of a schema as `dozer.types.FieldDefinition`s. */
export function fieldsToProto(schema: Schema): PbFieldDefinition[] {
  return schema.fields.map((f) => ({
    name: f.name,
    type: f.type,
    nullable: f.nullable,
    ...(f.precision === undefined ? {} : { precision: f.precision }),
    ...(f.scale === undefined ? {} : { scale: f.scale }),
  }));
}
