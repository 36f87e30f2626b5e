/** Binary codec, format version 1 (wire layout documented in codec.ts and the README). */
export {
  CODEC_FORMAT_VERSION,
  CodecMessageKind,
  decodeBatch,
  decodeRow,
  decodeSchema,
  decodeStreamMessage,
  encodeBatch,
  encodeRow,
  encodeSchema,
  encodeStreamMessage,
  streamMessageKind,
} from './codec.js';
export {
  compareBytes,
  compareRows,
  compareStrings,
  compareValues,
  rowsEqual,
  valuesEqual,
} from './compare.js';
/** The DAG model: nodes with named ports, edges between ports, for planners and executors. */
export {
  createDag,
  type Dag,
  type DagEdge,
  DagError,
  type DagNode,
  type DagNodeSpec,
  type PortRef,
} from './dag.js';
export {
  CodecError,
  ConfigError,
  DozerError,
  type DozerErrorOptions,
  ErrorCode,
  InternalError,
  invariant,
  isDozerError,
  SchemaError,
  TypeMismatchError,
} from './errors.js';
export { ALL_FIELD_TYPES, FieldType, INT64_MAX, INT64_MIN, isFieldType, UINT64_MAX } from './field-type.js';
/** Object storage for queue segments and snapshots, and its local-directory implementation. */
export {
  createLocalObjectStore,
  isObjectNotFound,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreError,
  validateObjectKey,
  validateObjectPrefix,
} from './object-store.js';
export {
  type Barrier,
  deleteOp,
  insertOp,
  type OpBatch,
  type Operation,
  OpKind,
  type Row,
  type SourcePosition,
  type StreamMessage,
  updateOp,
} from './operation.js';
export { processAlive } from './process.js';
/** The micro-node runtime: nodes created in worker threads from a module + args, batches between threads in frames of codec messages. */
export { FRAME_FORMAT_VERSION } from './runtime/frame.js';
export {
  deserializeError,
  type EdgeSource,
  type EdgeTarget,
  type MicroNode,
  type MicroNodeContext,
  MicroNodeError,
  type MicroNodeFactory,
  type MicroNodeSpec,
  type MicroRuntimeSpec,
  type SerializedError,
  serializeError,
} from './runtime/micro-node.js';
export { type MicroRuntime, type MicroRuntimeOptions, startMicroRuntime } from './runtime/runtime.js';
export { spawnModuleWorker } from './runtime/spawn.js';
export { type FieldDefinition, fieldIndex, makeSchema, primaryKeyNames, type Schema } from './schema.js';
export {
  canonicalJson,
  DateValue,
  Decimal,
  Duration,
  formatDecimal,
  formatTimestamp,
  isInt64,
  Json,
  type JsonValue,
  Point,
  Timestamp,
  type Value,
} from './value.js';
export { describeJson, jsonKeepsFieldOrder, rowToObject, valueFromJson, valueToJson } from './value-json.js';
