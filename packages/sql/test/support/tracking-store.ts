import type { StateFactory, StateStore, StateValueCodec } from '../../src/index.js';

/**
 * A `StateStore` that tracks the keys changed since the last checkpoint, the
 * contract @dozer/snapshot's KeyedState implements (which @dozer/sql may not
 * import): what the incremental-checkpoint test and `pnpm bench state` build
 * their checkpoint formats on.
 */
export class DirtyTrackingStore<V> implements StateStore<string, V> {
  protected readonly map = new Map<string, V>();
  protected dirty = new Set<string>();
  constructor(protected readonly codec: StateValueCodec<V>) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  put(key: string, value: V): void {
    this.map.set(key, value);
    this.dirty.add(key);
  }
  delete(key: string): void {
    if (this.map.delete(key)) this.dirty.add(key);
  }
  touch(key: string): void {
    this.dirty.add(key);
  }
  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }
  get size(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
    this.dirty.clear();
  }
  /**
   * Calls `record` for every key (`base`) or every key changed since the last
   * call, with its value encoded as it is now (null: deleted), then forgets
   * the changes.
   */
  protected takeChanges(base: boolean, record: (key: string, value: Uint8Array | null) => void): void {
    for (const k of base ? this.map.keys() : this.dirty) {
      const v = this.map.get(k);
      record(k, v === undefined && !this.map.has(k) ? null : this.codec.encode(v as V));
    }
    this.dirty = new Set();
  }
}

/** A state factory making `Store`s, and the stores it made by state id. */
export function trackingStateFactory<S extends DirtyTrackingStore<unknown>>(
  Store: new (codec: StateValueCodec<unknown>) => S,
): { stateFactory: StateFactory; stores: Map<string, S> } {
  const stores = new Map<string, S>();
  const stateFactory: StateFactory = {
    create<V>(id: string, codec: StateValueCodec<V>): StateStore<string, V> {
      const s = new Store(codec as StateValueCodec<unknown>);
      stores.set(id, s);
      return s as unknown as StateStore<string, V>;
    },
  };
  return { stateFactory, stores };
}
