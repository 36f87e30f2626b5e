export { ALL_FIELD_TYPES, FieldType, INT64_MAX, INT64_MIN, UINT64_MAX, isFieldType } from './field-type.js';
export {
  type JsonValue,
  type Value,
  DateValue,
  Decimal,
  Duration,
  Json,
  Point,
  Timestamp,
  canonicalJson,
  isInt64,
} from './value.js';
export { type FieldDefinition, type Schema, fieldIndex, makeSchema, primaryKeyNames } from './schema.js';
export {
  type Barrier,
  type OpBatch,
  type Operation,
  type Row,
  type SourcePosition,
  type StreamMessage,
  OpKind,
  deleteOp,
  insertOp,
  updateOp,
} from './operation.js';
export {
  type DozerErrorOptions,
  CodecError,
  ConfigError,
  DozerError,
  ErrorCode,
  InternalError,
  SchemaError,
  TypeMismatchError,
  invariant,
  isDozerError,
} from './errors.js';
export { compareBytes, compareRows, compareStrings, compareValues, rowsEqual, valuesEqual } from './compare.js';
export { describeJson, rowToObject, valueFromJson, valueToJson } from './value-json.js';
