import { randomBytes } from 'node:crypto';
import { isObjectNotFound, type ObjectStore, validateObjectKey } from '@dozer/core';
import { CheckpointCorruptError, CheckpointObjectMissingError, SnapshotError } from './errors.js';
import { checkEpoch, epochDigits, escapeKeySegment } from './internal/bytes.js';
import { mapLimit } from './internal/map-limit.js';
import { type CheckpointManifest, decodeManifest, encodeManifest } from './manifest.js';
import {
  checkChain,
  decodeStateObject,
  type EncodedStateObject,
  encodeBlobObject,
  type StateObject,
  type StateObjectRef,
  sealStateObject,
} from './state-object.js';

/** Where the snapshot package reports what it skipped or could not do. */
export interface SnapshotLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** A {@link SnapshotLogger} that writes to `console.warn`. */
export const consoleSnapshotLogger: SnapshotLogger = {
  warn(message, fields) {
    if (fields === undefined) console.warn(message);
    else console.warn(message, fields);
  },
};

export interface CheckpointStoreOptions {
  /** Where manifests and state objects live (a local directory, S3, …). */
  readonly store: ObjectStore;
  /** Key prefix of everything this store writes; default `checkpoints`. */
  readonly prefix?: string;
  /** Receives a line for every checkpoint {@link CheckpointStore.loadLatest} rejects; default `console.warn`. */
  readonly logger?: SnapshotLogger;
  /** Most object reads, writes or deletes in flight at once; default 8. */
  readonly concurrency?: number;
}

/** A checkpoint that {@link CheckpointStore.loadLatest} or {@link CheckpointStore.retain} could not use, and why. */
export interface RejectedCheckpoint {
  readonly epoch: bigint;
  /** The manifest's key. */
  readonly key: string;
  readonly error: Error;
}

/** One operator's verified state from a loaded checkpoint: its chain of references and the objects, in order. */
export interface RestoredState {
  readonly operatorId: string;
  readonly refs: readonly StateObjectRef[];
  readonly objects: readonly StateObject[];
}

/** A complete checkpoint, read back with every object it references verified. */
export interface LoadedCheckpoint {
  readonly manifest: CheckpointManifest;
  /** Newer checkpoints that were skipped because they were corrupt or incomplete (newest first). */
  readonly rejected: readonly RejectedCheckpoint[];
  /** The state of one operator. @throws SnapshotError if the checkpoint holds none for it. */
  state(operatorId: string): RestoredState;
  /** The bytes of an operator whose state is one blob. @throws SnapshotError otherwise. */
  blob(operatorId: string): Uint8Array;
}

/** What {@link CheckpointStore.retain} kept and deleted. */
export interface RetentionResult {
  /** Epochs of the complete checkpoints kept, newest first. */
  readonly kept: readonly bigint[];
  readonly deletedManifests: readonly string[];
  readonly deletedObjects: readonly string[];
  /** Manifests that were not counted as complete, and why. */
  readonly incomplete: readonly RejectedCheckpoint[];
}

/**
 * Checkpoints in an {@link ObjectStore}, under one prefix:
 *
 * - `<prefix>/manifests/<epoch, 20 digits>.manifest` — one per complete checkpoint
 * - `<prefix>/state/<operator id, escaped>/<epoch, 20 digits>-<8 hex>.<base|delta|blob>` — state objects
 *
 * State objects are written first, each under a key of its own, and the
 * manifest last: a crash at any moment leaves the checkpoint complete or
 * absent (objects without a manifest are never read, and retention deletes
 * them once a later checkpoint completes).
 */
export interface CheckpointStore {
  readonly prefix: string;
  /**
   * Seals (checksums) and writes one state object of `operatorId`; returns
   * its reference for the manifest. `keyEpoch` (default: the object's epoch,
   * never below it) is the epoch in its key, which retention reads: an
   * object is safe from retention until a checkpoint of that epoch or later
   * is kept. A compacted base holds the state of an older epoch but is first
   * referenced by the checkpoint it is written for.
   */
  writeState(
    operatorId: string,
    object: EncodedStateObject,
    options?: { readonly keyEpoch?: bigint },
  ): Promise<StateObjectRef>;
  /** Reads and verifies the objects of one operator's chain (as `load` does for a whole checkpoint). */
  readChain(operatorId: string, refs: readonly StateObjectRef[]): Promise<StateObject[]>;
  /** Writes an opaque snapshot (e.g. `SqlExecutor.snapshot()`) as a blob; returns the one-object chain. */
  writeBlob(operatorId: string, epoch: bigint, bytes: Uint8Array): Promise<readonly StateObjectRef[]>;
  /**
   * Writes the manifest, which completes the checkpoint. Call it only after
   * every object it references is written. @throws SnapshotError if a
   * manifest of that epoch exists already (epochs are never reused).
   */
  commit(manifest: CheckpointManifest): Promise<void>;
  /** Epochs that have a manifest object, ascending, without verifying them. */
  list(): Promise<bigint[]>;
  /**
   * Reads the checkpoint of `epoch` and verifies its manifest and every
   * object it references. @throws CheckpointCorruptError,
   * CheckpointObjectMissingError, or SnapshotError when there is no manifest.
   */
  load(epoch: bigint): Promise<LoadedCheckpoint>;
  /**
   * The newest checkpoint that verifies completely, or `undefined` when
   * there is none. Each newer one that does not verify is reported through
   * the logger and listed in {@link LoadedCheckpoint.rejected}.
   */
  loadLatest(): Promise<LoadedCheckpoint | undefined>;
  /**
   * Keeps the `keep` newest complete checkpoints (manifest verifies, every
   * referenced object exists; with `verify: 'full'` every object is also
   * read and checksummed) and deletes: older manifests, and state objects
   * no kept checkpoint references whose epoch is not after the newest kept
   * one (later objects may belong to a checkpoint being written). Deletes
   * nothing when no checkpoint is complete.
   */
  retain(keep: number, options?: { verify?: 'exists' | 'full' }): Promise<RetentionResult>;
}

const MANIFEST_RE = /^(\d{20})\.manifest$/;
const STATE_RE = /\/(\d{20})-[0-9a-f]{8}\.(base|delta|blob)$/;

/** Opens the checkpoints under `options.prefix` of `options.store`. */
export function createCheckpointStore(options: CheckpointStoreOptions): CheckpointStore {
  const store = options.store;
  const prefix = options.prefix ?? 'checkpoints';
  try {
    validateObjectKey(prefix);
  } catch (e) {
    throw new SnapshotError(`createCheckpointStore: bad prefix: ${(e as Error).message}`, { cause: e });
  }
  const logger = options.logger ?? consoleSnapshotLogger;
  const concurrency = options.concurrency ?? 8;
  const manifestDir = `${prefix}/manifests/`;
  const stateDir = `${prefix}/state/`;
  const manifestKey = (epoch: bigint) => `${manifestDir}${epochDigits(epoch)}.manifest`;
  // Commits and retention of this process run one at a time.
  let lock: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(fn, fn);
    lock = run.catch(() => {});
    return run;
  };

  async function writeState(
    operatorId: string,
    object: EncodedStateObject,
    opts: { readonly keyEpoch?: bigint } = {},
  ): Promise<StateObjectRef> {
    checkEpoch(object.epoch, `writeState of operator "${operatorId}"`);
    const keyEpoch = opts.keyEpoch ?? object.epoch;
    checkEpoch(keyEpoch, `writeState of operator "${operatorId}": keyEpoch`);
    if (keyEpoch < object.epoch) {
      throw new SnapshotError(
        `writeState of operator "${operatorId}": keyEpoch ${keyEpoch} is below the object's epoch ${object.epoch}`,
      );
    }
    const key = `${stateDir}${escapeKeySegment(operatorId)}/${epochDigits(keyEpoch)}-${randomBytes(4).toString('hex')}.${object.kind}`;
    const sha256 = await sealStateObject(object);
    await store.put(key, object.file);
    return { key, kind: object.kind, epoch: object.epoch, bytes: object.file.length, sha256 };
  }

  async function list(): Promise<bigint[]> {
    const epochs: bigint[] = [];
    for (const key of await store.list(manifestDir)) {
      const m = MANIFEST_RE.exec(key.slice(manifestDir.length));
      if (m !== null) epochs.push(BigInt(m[1]!));
    }
    return epochs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async function readManifest(epoch: bigint): Promise<CheckpointManifest> {
    const key = manifestKey(epoch);
    let bytes: Uint8Array;
    try {
      bytes = await store.get(key);
    } catch (e) {
      if (isObjectNotFound(e)) {
        throw new SnapshotError(`there is no checkpoint ${epoch}: no manifest "${key}"`, {
          code: 'NOT_FOUND',
        });
      }
      throw e;
    }
    return decodeManifest(key, bytes, epoch);
  }

  async function readObject(ref: StateObjectRef, epoch: bigint): Promise<StateObject> {
    let bytes: Uint8Array;
    try {
      bytes = await store.get(ref.key);
    } catch (e) {
      if (isObjectNotFound(e)) throw new CheckpointObjectMissingError(ref.key, epoch, { cause: e });
      throw e;
    }
    return decodeStateObject(ref, bytes);
  }

  async function load(
    epoch: bigint,
    rejected: readonly RejectedCheckpoint[] = [],
  ): Promise<LoadedCheckpoint> {
    const manifest = await readManifest(epoch);
    const jobs: { operatorId: string; ref: StateObjectRef }[] = [];
    for (const [operatorId, refs] of manifest.operators)
      for (const ref of refs) jobs.push({ operatorId, ref });
    const objects = await mapLimit(jobs, concurrency, ({ ref }) => readObject(ref, epoch));
    const states = new Map<string, RestoredState>();
    let i = 0;
    for (const [operatorId, refs] of manifest.operators) {
      const chain = objects.slice(i, i + refs.length);
      i += refs.length;
      checkChain(chain, `the state chain of operator "${operatorId}" in checkpoint ${epoch}`);
      states.set(operatorId, { operatorId, refs, objects: chain });
    }
    const stateOf = (operatorId: string): RestoredState => {
      const s = states.get(operatorId);
      if (s === undefined) {
        throw new SnapshotError(
          `checkpoint ${epoch} holds no state for operator "${operatorId}"; it holds: ${
            [...states.keys()].map((k) => `"${k}"`).join(', ') || '(none)'
          }`,
          { code: 'NOT_FOUND' },
        );
      }
      return s;
    };
    return {
      manifest,
      rejected,
      state: stateOf,
      blob(operatorId) {
        const s = stateOf(operatorId);
        if (s.objects.length !== 1 || s.objects[0]!.kind !== 'blob') {
          throw new SnapshotError(
            `checkpoint ${epoch}: the state of operator "${operatorId}" is a ${s.objects[0]!.kind} chain, not a blob`,
          );
        }
        return s.objects[0]!.body;
      },
    };
  }

  /** True for errors that mean "this checkpoint is bad", as opposed to "the store failed". */
  const isDefinite = (e: unknown) =>
    e instanceof CheckpointCorruptError ||
    e instanceof CheckpointObjectMissingError ||
    (e instanceof SnapshotError && e.code === 'NOT_FOUND');

  return {
    prefix,
    writeState,

    async readChain(operatorId, refs) {
      const last = refs.at(-1);
      if (last === undefined)
        throw new SnapshotError(`readChain of operator "${operatorId}": the chain is empty`);
      const objects = await mapLimit(refs, concurrency, (ref) => readObject(ref, last.epoch));
      checkChain(objects, `the state chain of operator "${operatorId}"`);
      return objects;
    },

    async writeBlob(operatorId, epoch, bytes) {
      checkEpoch(epoch, `writeBlob of operator "${operatorId}"`);
      return [await writeState(operatorId, encodeBlobObject(epoch, bytes))];
    },

    commit(manifest) {
      return serial(async () => {
        const bytes = await encodeManifest(manifest);
        const key = manifestKey(manifest.epoch);
        if (await store.exists(key)) {
          throw new SnapshotError(
            `cannot commit checkpoint ${manifest.epoch}: its manifest "${key}" exists already; epochs are never ` +
              'reused (start the coordinator after the newest epoch the store lists)',
          );
        }
        await store.put(key, bytes);
      });
    },

    list,

    load: (epoch) => load(epoch),

    async loadLatest() {
      const epochs = await list();
      const rejected: RejectedCheckpoint[] = [];
      for (let i = epochs.length - 1; i >= 0; i--) {
        const epoch = epochs[i]!;
        try {
          return await load(epoch, rejected);
        } catch (e) {
          if (!isDefinite(e)) throw e;
          const r = { epoch, key: manifestKey(epoch), error: e as Error };
          rejected.push(r);
          const older = i > 0 ? `falling back to checkpoint ${epochs[i - 1]}` : 'no older checkpoint is left';
          logger.warn(`checkpoint ${epoch} rejected: ${(e as Error).message}; ${older}`, {
            epoch: epoch.toString(),
            manifest: r.key,
          });
        }
      }
      return undefined;
    },

    retain(keep, opts = {}) {
      if (!Number.isSafeInteger(keep) || keep < 1) {
        throw new SnapshotError(`retain: keep must be an integer of at least 1, got ${keep}`, {
          code: 'CONFIG',
        });
      }
      const verify = opts.verify ?? 'exists';
      return serial(async () => {
        const epochs = await list();
        const kept: CheckpointManifest[] = [];
        const incomplete: RejectedCheckpoint[] = [];
        for (let i = epochs.length - 1; i >= 0 && kept.length < keep; i--) {
          const epoch = epochs[i]!;
          try {
            if (verify === 'full') {
              kept.push((await load(epoch)).manifest);
              continue;
            }
            const m = await readManifest(epoch);
            const refs = [...m.operators.values()].flat();
            const present = await mapLimit(refs, concurrency, (r) => store.exists(r.key));
            const missing = present.indexOf(false);
            if (missing >= 0) throw new CheckpointObjectMissingError(refs[missing]!.key, epoch);
            kept.push(m);
          } catch (e) {
            if (!isDefinite(e)) throw e;
            incomplete.push({ epoch, key: manifestKey(epoch), error: e as Error });
          }
        }
        if (kept.length === 0) return { kept: [], deletedManifests: [], deletedObjects: [], incomplete };
        const newest = kept[0]!.epoch;
        const keptEpochs = new Set(kept.map((m) => m.epoch));
        const deletedManifests = epochs
          .filter((e) => e < newest && !keptEpochs.has(e))
          .map((e) => manifestKey(e));
        const needed = new Set<string>();
        for (const m of kept)
          for (const refs of m.operators.values()) for (const r of refs) needed.add(r.key);
        const deletedObjects = (await store.list(stateDir)).filter((key) => {
          const m = STATE_RE.exec(key);
          return m !== null && BigInt(m[1]!) <= newest && !needed.has(key);
        });
        // Manifests first: a manifest must never outlive an object it references.
        await mapLimit(deletedManifests, concurrency, (k) => store.delete(k));
        await mapLimit(deletedObjects, concurrency, (k) => store.delete(k));
        return { kept: kept.map((m) => m.epoch), deletedManifests, deletedObjects, incomplete };
      });
    },
  };
}
