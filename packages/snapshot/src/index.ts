/** Checkpoint manifests, format version 1 (layout in manifest.ts and the README). */

/** Aligned checkpoint barriers for operators with several inputs. */
export {
  type AlignedData,
  type BarrierAligner,
  type BarrierAlignerOptions,
  createBarrierAligner,
} from './barrier-aligner.js';
/** Epochs, acknowledgements, manifest, completion. */
export {
  type CheckpointAck,
  type CheckpointCoordinator,
  type CheckpointCoordinatorOptions,
  type CheckpointOutcome,
  createCheckpointCoordinator,
} from './checkpoint-coordinator.js';
/** Checkpoints in an ObjectStore: state objects first, the manifest last; verified loading with fallback; retention. */
export {
  type CheckpointStore,
  type CheckpointStoreOptions,
  consoleSnapshotLogger,
  createCheckpointStore,
  type LoadedCheckpoint,
  type RejectedCheckpoint,
  type RestoredState,
  type RetentionResult,
  type SnapshotLogger,
} from './checkpoint-store.js';
export {
  BarrierOrderError,
  CheckpointAbortedError,
  CheckpointCorruptError,
  CheckpointObjectMissingError,
  SnapshotError,
} from './errors.js';
/** Incremental keyed operator state: deltas per checkpoint, compaction into new bases. */
export {
  bytesCodec,
  createKeyedState,
  type KeyedState,
  type KeyedStateOptions,
  type PendingStateSnapshot,
  type StateCodec,
  stringCodec,
} from './keyed-state.js';
export {
  type CheckpointManifest,
  decodeManifest,
  encodeManifest,
  MANIFEST_FORMAT_VERSION,
} from './manifest.js';
/** State objects (base, delta, blob), format version 1 (layout in state-object.ts and the README). */
export {
  decodeStateObject,
  type EncodedStateObject,
  encodeBlobObject,
  forEachRecord,
  STATE_OBJECT_FORMAT_VERSION,
  type StateObject,
  StateObjectKind,
  type StateObjectRef,
} from './state-object.js';
