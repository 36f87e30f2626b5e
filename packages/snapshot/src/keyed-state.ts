import type { CheckpointStore, RestoredState } from './checkpoint-store.js';
import { SnapshotError } from './errors.js';
import type { ByteWriter } from './internal/bytes.js';
import { checkEpoch } from './internal/bytes.js';
import { compactChain } from './internal/compact.js';
import {
  checkChain,
  deleteRecord,
  type EncodedStateObject,
  finishStateObject,
  forEachRecord,
  putRecord,
  type StateObjectRef,
  startStateObject,
} from './state-object.js';

/** How a {@link KeyedState} turns its values into bytes and back. */
export interface StateCodec<V> {
  encode(value: V): Uint8Array;
  /** `bytes` is a view into a larger buffer; copy what must outlive the call. */
  decode(bytes: Uint8Array): V;
}

/** Values that are bytes already (copied on decode, so they do not pin the object they came from). */
export const bytesCodec: StateCodec<Uint8Array> = {
  encode: (v) => v,
  decode: (b) => new Uint8Array(b),
};

/** Values that are strings, as UTF-8. */
export const stringCodec: StateCodec<string> = {
  encode: (v) => Buffer.from(v, 'utf8'),
  decode: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'),
};

export interface KeyedStateOptions<V> {
  readonly codec: StateCodec<V>;
  /** Write a new base instead of a delta once the chain holds this many deltas; default 32. */
  readonly maxDeltas?: number;
  /**
   * Write a new base instead of a delta once the chain's deltas (the new one
   * included) would exceed this fraction of the base's bytes; default 0.5.
   * Restore reads at most base × (1 + fraction) bytes.
   */
  readonly maxDeltaRatio?: number;
  /**
   * When the chain is due for compaction (see `maxDeltas`, `maxDeltaRatio`):
   * `barrier` (default) encodes a base from the live state at the next
   * snapshot, which costs time proportional to the whole state at the
   * barrier; `background` keeps writing deltas and sets
   * {@link KeyedState.compactionDue}: the caller then runs
   * {@link KeyedState.compact}, off the barrier path.
   */
  readonly compaction?: 'barrier' | 'background';
}

/**
 * A snapshot taken at a barrier (its bytes are encoded already, so the
 * state may change right away) that still has to be written.
 */
export interface PendingStateSnapshot {
  readonly epoch: bigint;
  /**
   * `base` when the whole state is shipped (first snapshot, after `clear`,
   * or compaction), `delta` for the changes only, `none` when nothing
   * changed: no object is written and the previous chain stands for this
   * epoch too.
   */
  readonly kind: 'base' | 'delta' | 'none';
  /** Keys written (base) or put and deleted (delta). */
  readonly records: number;
  /** Size of the object to write. */
  readonly bytes: number;
  /**
   * Writes the object and returns the operator's chain for the manifest.
   * If the write fails, the changes it carried are shipped by the next
   * snapshot instead; the state stays consistent.
   */
  write(store: CheckpointStore, operatorId: string): Promise<readonly StateObjectRef[]>;
}

/**
 * Keyed operator state (string keys, values of type `V`) in memory, which
 * tracks the keys put and deleted since the last snapshot so that a
 * checkpoint ships only a delta on top of the previous one, compacted into
 * a new base when the chain grows long (see {@link KeyedStateOptions}).
 *
 * It has the shape of the SQL operators' `StateStore<string, V>` (get,
 * put, delete, entries, size, clear). A value changed in place must be
 * announced with {@link KeyedState.touch} (or put again), or the next delta
 * misses it.
 */
export interface KeyedState<V> {
  get(key: string): V | undefined;
  has(key: string): boolean;
  put(key: string, value: V): void;
  delete(key: string): void;
  /** Marks a key whose value was changed in place as changed. A key with no value is shipped as deleted. */
  touch(key: string): void;
  entries(): IterableIterator<[string, V]>;
  readonly size: number;
  /** Removes every key; the next snapshot is a base. */
  clear(): void;
  /** Keys changed since the last snapshot (what the next delta would hold, at least). */
  readonly changedKeys: number;
  /** The chain of the last snapshot whose write completed (or of the restored checkpoint). */
  readonly chain: readonly StateObjectRef[];
  /** True when the chain has `maxDeltas` deltas or its deltas exceed `maxDeltaRatio` of its base. */
  readonly compactionDue: boolean;
  /**
   * Reads the current chain back from `store`, merges it into one base in
   * the background (from the stored bytes, yielding to the event loop), and
   * keeps it for the next snapshot, which writes it (under its own epoch, so
   * retention keeps it) and chains its delta to it. Resolves false when the
   * chain is a single object already. The live state is not touched, so
   * the operator keeps processing meanwhile.
   */
  compact(store: CheckpointStore, operatorId: string): Promise<boolean>;
  /**
   * Encodes the changes since the last completed snapshot (or everything,
   * as a base), for the checkpoint of `epoch`. Call it at the barrier;
   * write the result with {@link PendingStateSnapshot.write}.
   * `{ base: true }` forces a base (a full snapshot), e.g. to compact
   * before a planned restart.
   * @throws SnapshotError when `epoch` is not above the last snapshot's.
   */
  snapshot(epoch: bigint, options?: { readonly base?: boolean }): PendingStateSnapshot;
  /**
   * Replaces the contents with a verified chain read from a checkpoint;
   * later snapshots continue that chain. Values are decoded when first read
   * (`get`, `entries`), so a codec error surfaces there.
   */
  restore(state: RestoredState): void;
}

interface Pending {
  readonly epoch: bigint;
  readonly base: boolean;
  /** The keys this snapshot took out of the dirty set. */
  readonly keys: Set<string>;
}

/**
 * A value restored from a checkpoint and not decoded yet: restore keeps the
 * stored bytes, and a value is decoded when it is first read (a restart
 * with millions of keys serves again without decoding them all), or written
 * back as it is by a base that finds it untouched.
 */
class Undecoded {
  constructor(readonly bytes: Uint8Array) {}
}

/** Creates an empty {@link KeyedState}. */
export function createKeyedState<V>(options: KeyedStateOptions<V>): KeyedState<V> {
  const codec = options.codec;
  const maxDeltas = options.maxDeltas ?? 32;
  const maxDeltaRatio = options.maxDeltaRatio ?? 0.5;
  const background = options.compaction === 'background';
  if (!Number.isSafeInteger(maxDeltas) || maxDeltas < 0) {
    throw new SnapshotError(`createKeyedState: maxDeltas must be an integer ≥ 0, got ${maxDeltas}`, {
      code: 'CONFIG',
    });
  }
  if (!(maxDeltaRatio >= 0)) {
    throw new SnapshotError(`createKeyedState: maxDeltaRatio must be a number ≥ 0, got ${maxDeltaRatio}`, {
      code: 'CONFIG',
    });
  }

  const map = new Map<string, V | Undecoded>();
  /** The value of `key` as stored in `map`, decoded (and kept decoded) if it was not yet. */
  const decoded = (key: string, v: V | Undecoded): V => {
    if (!(v instanceof Undecoded)) return v;
    const value = codec.decode(v.bytes);
    map.set(key, value);
    return value;
  };
  const bytesOf = (v: V | Undecoded): Uint8Array => (v instanceof Undecoded ? v.bytes : codec.encode(v));
  let dirty = new Set<string>();
  /** Set by `clear` (deleted keys are not tracked one by one) until a base is written. */
  let needsBase = true;
  let chain: readonly StateObjectRef[] = [];
  let chainEpoch: bigint | undefined;
  let lastSnapshotEpoch: bigint | undefined;
  let pendings: Pending[] = [];
  /** A compacted base of `replaces` (a prefix of the chain), for the next snapshot to write. */
  let offer:
    | { readonly object: EncodedStateObject; readonly replaces: readonly StateObjectRef[] }
    | undefined;

  const deltaBytesOf = (c: readonly StateObjectRef[]) => {
    let n = 0;
    for (let i = 1; i < c.length; i++) n += c[i]!.bytes;
    return n;
  };
  const isPrefix = (p: readonly StateObjectRef[], of: readonly StateObjectRef[]) =>
    p.length <= of.length && p.every((r, i) => r.key === of[i]!.key);

  function encodeBase(epoch: bigint): EncodedStateObject {
    const w = startStateObject(map.size * 32);
    for (const [key, value] of map) putRecord(w, key, bytesOf(value));
    return finishStateObject(w, 'base', epoch, epoch, map.size);
  }

  function encodeDelta(
    epoch: bigint,
    previous: bigint,
    keys: Iterable<string>,
    count: number,
  ): EncodedStateObject {
    const w: ByteWriter = startStateObject(count * 32);
    let n = 0;
    for (const key of keys) {
      const value = map.get(key);
      if (value === undefined && !map.has(key)) deleteRecord(w, key);
      else putRecord(w, key, bytesOf(value as V | Undecoded));
      n++;
    }
    return finishStateObject(w, 'delta', epoch, previous, n);
  }

  function complete(
    p: Pending,
    ref: StateObjectRef,
    prefix: readonly StateObjectRef[],
  ): readonly StateObjectRef[] {
    const next = p.base ? [ref] : [...prefix, ref];
    if (chainEpoch === undefined || p.epoch > chainEpoch) {
      chain = next;
      chainEpoch = p.epoch;
      // Older pending snapshots are covered: this one carried their keys too.
      pendings = pendings.filter((q) => q.epoch > p.epoch);
    }
    return next;
  }

  function fail(p: Pending): void {
    const i = pendings.indexOf(p);
    if (i < 0) return; // superseded by a later snapshot that completed
    pendings.splice(i, 1);
    for (const k of p.keys) dirty.add(k);
    if (p.base) needsBase = true;
  }

  return {
    get(key) {
      const v = map.get(key);
      return v === undefined ? undefined : decoded(key, v);
    },
    has: (key) => map.has(key),
    put(key, value) {
      map.set(key, value);
      dirty.add(key);
    },
    delete(key) {
      if (map.delete(key)) dirty.add(key);
    },
    touch(key) {
      dirty.add(key);
    },
    *entries() {
      for (const [key, v] of map) yield [key, decoded(key, v)];
    },
    get size() {
      return map.size;
    },
    clear() {
      map.clear();
      dirty.clear();
      needsBase = true;
    },
    get changedKeys() {
      return dirty.size;
    },
    get chain() {
      return chain;
    },
    get compactionDue() {
      return chain.length - 1 >= maxDeltas || deltaBytesOf(chain) > maxDeltaRatio * (chain[0]?.bytes ?? 0);
    },

    async compact(store, operatorId) {
      const replaces = chain;
      if (replaces.length < 2) return false;
      const object = await compactChain(await store.readChain(operatorId, replaces));
      // The chain may have been replaced meanwhile (a base was written, a restore): then this is stale.
      if (!isPrefix(replaces, chain)) return false;
      offer = { object, replaces };
      return true;
    },

    snapshot(epoch, snapshotOptions = {}) {
      const forceBase = snapshotOptions.base === true;
      checkEpoch(epoch, 'KeyedState.snapshot');
      if (lastSnapshotEpoch !== undefined && epoch <= lastSnapshotEpoch) {
        throw new SnapshotError(
          `KeyedState.snapshot: epoch ${epoch} is not above the previous snapshot's ${lastSnapshotEpoch}; epochs must increase`,
        );
      }
      // A compacted base ready for this chain replaces its prefix.
      const usable = offer !== undefined && isPrefix(offer.replaces, chain) ? offer : undefined;
      offer = undefined;
      const rest = usable === undefined ? chain : chain.slice(usable.replaces.length);
      const baseBytes = usable === undefined ? (chain[0]?.bytes ?? 0) : usable.object.file.length;
      const deltasBefore = usable === undefined ? chain.length - 1 : rest.length;
      const restBytes = usable === undefined ? deltaBytesOf(chain) : rest.reduce((n, r) => n + r.bytes, 0);
      if (
        usable === undefined &&
        !forceBase &&
        dirty.size === 0 &&
        pendings.length === 0 &&
        !needsBase &&
        chain.length > 0
      ) {
        lastSnapshotEpoch = epoch;
        const same = chain;
        return { epoch, kind: 'none', records: 0, bytes: 0, write: async () => same };
      }
      // A delta carries what this snapshot and every unresolved one took from the dirty set,
      // so that it applies on top of the last completed chain whatever happens to them.
      const pendingBase = pendings.some((p) => p.base);
      let object: EncodedStateObject | undefined;
      if (
        !forceBase &&
        !needsBase &&
        !pendingBase &&
        chain.length > 0 &&
        (background || deltasBefore < maxDeltas)
      ) {
        const keys = new Set<string>(dirty);
        for (const p of pendings) for (const k of p.keys) keys.add(k);
        const delta = encodeDelta(epoch, chainEpoch!, keys, keys.size);
        if (background || restBytes + delta.file.length <= maxDeltaRatio * baseBytes) object = delta;
      }
      object ??= encodeBase(epoch);
      const p: Pending = { epoch, base: object.kind === 'base', keys: dirty };
      dirty = new Set();
      if (p.base) needsBase = false;
      pendings.push(p);
      lastSnapshotEpoch = epoch;
      const compacted = p.base ? undefined : usable;
      const prefixBefore = chain;
      const encoded = object;
      return {
        epoch,
        kind: encoded.kind as 'base' | 'delta',
        records: encoded.count,
        bytes: encoded.file.length,
        async write(store, operatorId) {
          let ref: StateObjectRef;
          let prefix = prefixBefore;
          try {
            if (compacted !== undefined) {
              // Named after this epoch: retention keeps it until a checkpoint that references it is kept.
              const baseRef = await store.writeState(operatorId, compacted.object, { keyEpoch: epoch });
              prefix = [baseRef, ...rest];
            }
            ref = await store.writeState(operatorId, encoded);
          } catch (e) {
            fail(p);
            throw e;
          }
          return complete(p, ref, prefix);
        },
      };
    },

    restore(state) {
      const objects = state.objects;
      checkChain(objects, `restore of operator "${state.operatorId}"`);
      if (objects[0]!.kind === 'blob') {
        throw new SnapshotError(
          `restore of operator "${state.operatorId}": its checkpoint state is a blob, not a keyed state`,
        );
      }
      map.clear();
      for (const o of objects) {
        forEachRecord(o, (key, value) => {
          if (value === null) map.delete(key);
          else map.set(key, new Undecoded(value));
        });
      }
      dirty = new Set();
      pendings = [];
      offer = undefined;
      needsBase = false;
      chain = state.refs;
      chainEpoch = objects[objects.length - 1]!.epoch;
      lastSnapshotEpoch = chainEpoch;
    },
  };
}
