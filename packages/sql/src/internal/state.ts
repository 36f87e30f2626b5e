import { DateValue, Decimal, Duration, Json, type JsonValue, Point, Timestamp } from '@dozer/core';

/**
 * The one state interface of the stateful operators: keyed state with
 * get / put / delete and iteration. {@link MemoryStateStore} keeps it in a
 * Map; a store with dirty tracking (`@dozer/snapshot`'s `KeyedState`) or a
 * disk-backed one can replace it without touching the operators.
 */
export interface StateStore<K, V> {
  get(key: K): V | undefined;
  put(key: K, value: V): void;
  delete(key: K): void;
  /**
   * The value of `key` was changed in place (a counter, an accumulator, a
   * match count). Operators call it for every key a batch changed and did
   * not put or delete, so that an incremental checkpoint ships it.
   */
  touch(key: K): void;
  entries(): IterableIterator<[K, V]>;
  readonly size: number;
  clear(): void;
}

/** A {@link StateStore} in memory. */
export class MemoryStateStore<K, V> implements StateStore<K, V> {
  private readonly map = new Map<K, V>();
  get(key: K): V | undefined {
    return this.map.get(key);
  }
  put(key: K, value: V): void {
    this.map.set(key, value);
  }
  delete(key: K): void {
    this.map.delete(key);
  }
  touch(_key: K): void {
    // Nothing to track: this store is only ever saved whole (Snapshottable.snapshot).
  }
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
  get size(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
  }
}

/**
 * How one operator state's values become bytes and back: the shape of
 * `@dozer/snapshot`'s `StateCodec`, so a `KeyedState` can be created with it
 * as is. Values are encoded in {@link STATE_VALUE_FORMAT_VERSION}.
 */
export interface StateValueCodec<V> {
  encode(value: V): Uint8Array;
  /** `bytes` may be a view into a larger buffer; the decoded value does not keep it. */
  decode(bytes: Uint8Array): V;
}

/**
 * Makes the store of one piece of operator state. `id` is unique within an
 * executor and stable across compilations of the same SQL
 * (`<statement>/<k>:<part>`, see the README); `codec` turns its values into
 * bytes, for a store that checkpoints them.
 */
export interface StateFactory {
  create<V>(id: string, codec: StateValueCodec<V>): StateStore<string, V>;
}

/** The default {@link StateFactory}: every store a {@link MemoryStateStore}. */
export const memoryStateFactory: StateFactory = {
  create: <V>() => new MemoryStateStore<string, V>(),
};

/** What an operator gets to create its stores: `part` names the store within the operator. */
export type OperatorStates = <V>(part: string, codec: StateValueCodec<V>) => StateStore<string, V>;

/** Stores in memory, for operators built without a factory (tests, the threaded executor). */
export const memoryStates: OperatorStates = <V>() => new MemoryStateStore<string, V>();

/**
 * An operator whose state can be saved at a checkpoint and restored after
 * a restart: `restore(snapshot())` on a fresh operator of the same plan
 * gives one that behaves exactly like the original from then on.
 */
export interface Snapshottable {
  snapshot(): Uint8Array;
  restore(bytes: Uint8Array): void;
  /**
   * The operator's stores were restored behind its back (from a checkpoint
   * of their own): rebuild what it derives from them (TTL's heap and
   * watermark). Not needed after {@link Snapshottable.restore}.
   */
  reload?(): void;
}

/**
 * State snapshot format version 2: UTF-8 JSON where values JSON cannot
 * carry are objects tagged by `$`: `{"$":"i","v":"12"}` bigint,
 * `{"$":"d","u":"1234","s":2}` decimal, `{"$":"t","v":"…"}` timestamp
 * micros, `{"$":"D","v":n}` date days, `{"$":"u","m":n,"d":n,"us":"…"}`
 * duration, `{"$":"j","v":"<JSON text>"}` json, `{"$":"p","x":n,"y":n}`
 * point, `{"$":"b","v":"hex"}` binary, `{"$":"f","v":"NaN"}` non-finite
 * floats, `{"$":"M","v":[[k,v]…]}` a Map. A plain object's own key that
 * starts with `$` is written with one more `$` (`"$"` as `"$$"`), so no
 * data reads as a tag. Version 1 had neither escape (a JSON value or an
 * object keyed by `$…` could decode as a tag); it is still read as it
 * was written.
 */
export const STATE_FORMAT_VERSION = 2;

/** Encodes operator state (plain objects, arrays and SQL values) as {@link STATE_FORMAT_VERSION} bytes. */
export function encodeState(state: unknown): Uint8Array {
  const text = `{"version":${STATE_FORMAT_VERSION}${state === undefined ? '' : `,"state":${stringifyTagged(state)}`}}`;
  return new TextEncoder().encode(text);
}

/**
 * State value format version 2, the values of an operator's store one by
 * one (what {@link StateValueCodec}s write): one byte, the version (2),
 * then the value as UTF-8 JSON tagged and escaped as in
 * {@link STATE_FORMAT_VERSION} 2. Version 1 values are still read.
 */
export const STATE_VALUE_FORMAT_VERSION = 2;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Encodes one state value as {@link STATE_VALUE_FORMAT_VERSION} bytes. */
export function encodeStateValue(value: unknown): Uint8Array {
  const text = stringifyTagged(value) ?? 'null';
  const out = new Uint8Array(1 + text.length * 3);
  out[0] = STATE_VALUE_FORMAT_VERSION;
  const { written } = utf8.encodeInto(text, out.subarray(1));
  return out.subarray(0, 1 + written);
}

/**
 * Decodes bytes written by {@link encodeStateValue} (this version or 1).
 * @throws RangeError on another version.
 */
export function decodeStateValue(bytes: Uint8Array): unknown {
  const version = bytes[0];
  if (version !== STATE_VALUE_FORMAT_VERSION && version !== 1) {
    throw new RangeError(
      `operator state value has format version ${version ?? '(empty)'}; this build reads 1 and ${STATE_VALUE_FORMAT_VERSION}`,
    );
  }
  return untagTree(JSON.parse(fromUtf8.decode(bytes.subarray(1))), version === 1);
}

/**
 * Turns parsed JSON of the tagged format into values, in place where it
 * can: a walk over the tree rather than a reviver call per value
 * (restoring a checkpoint decodes every key's value; this is several times
 * faster). `v1` reads version 1, which escaped no keys.
 */
function untagTree(v: unknown, v1: boolean): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'object' && x !== null) v[i] = untagTree(x, v1);
    }
    return v;
  }
  const o = v as Record<string, unknown>;
  let escaped = false;
  for (const k in o) {
    if (k.charCodeAt(0) === DOLLAR) escaped = true;
    const x = o[k];
    if (typeof x === 'object' && x !== null) o[k] = untagTree(x, v1);
  }
  if (typeof o.$ === 'string') return untag(o, v1);
  return escaped && !v1 ? renameKeys(o, (k) => k.slice(1)) : o;
}

const DOLLAR = 36;

/** `o` with every own key that starts with `$` renamed by `rename`, in the same order (a copy). */
function renameKeys(o: object, rename: (key: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    // defineProperty: a key "__proto__" stays an own property, as JSON.parse makes it.
    const name = k.charCodeAt(0) === DOLLAR ? rename(k) : k;
    Object.defineProperty(out, name, { value: x, writable: true, enumerable: true, configurable: true });
  }
  return out;
}

/** The codec of values that are plain data and SQL values. */
export function jsonValueCodec<V>(): StateValueCodec<V> {
  return { encode: encodeStateValue, decode: (b) => decodeStateValue(b) as V };
}

/**
 * `JSON.stringify(value, tagValues)`, the same text, without a replacer
 * call per value (checkpoints encode every changed key's value at the
 * barrier, on the pipeline's path: this is several times faster).
 * `undefined` where JSON.stringify gives it (an undefined, a function).
 */
export function stringifyTagged(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : `{"$":"f","v":"${value}"}`;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `{"$":"i","v":"${value}"}`;
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += stringifyTagged(value[i]) ?? 'null';
    }
    return `${out}]`;
  }
  if (value instanceof Decimal) return `{"$":"d","u":"${value.unscaled}","s":${value.scale}}`;
  if (value instanceof Timestamp) return `{"$":"t","v":"${value.micros}"}`;
  if (value instanceof DateValue) return `{"$":"D","v":${stringifyTagged(value.days)}}`;
  if (value instanceof Duration) {
    return `{"$":"u","m":${stringifyTagged(value.months)},"d":${stringifyTagged(value.days)},"us":"${value.micros}"}`;
  }
  if (value instanceof Json) return `{"$":"j","v":${JSON.stringify(JSON.stringify(value.value) ?? 'null')}}`;
  if (value instanceof Point)
    return `{"$":"p","x":${stringifyTagged(value.x)},"y":${stringifyTagged(value.y)}}`;
  if (value instanceof Uint8Array) return `{"$":"b","v":"${Buffer.from(value).toString('hex')}"}`;
  if (value instanceof Map) return `{"$":"M","v":${stringifyTagged([...value.entries()])}}`;
  const o = value as { toJSON?: () => unknown } & Record<string, unknown>;
  if (typeof o.toJSON === 'function') return stringifyTagged(o.toJSON());
  let out = '{';
  let first = true;
  for (const k of Object.keys(o)) {
    const v = stringifyTagged(o[k]);
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k.charCodeAt(0) === DOLLAR ? `$${k}` : k)}:${v}`;
    first = false;
  }
  return `${out}}`;
}

/** The replacer of JSON.stringify that {@link stringifyTagged} stands for (kept as its specification, for tests). */
export function tagValues(this: unknown, k: string, v: unknown): unknown {
  const raw = (this as Record<string, unknown>)[k];
  if (typeof raw === 'bigint') return { $: 'i', v: raw.toString() };
  if (typeof raw === 'number' && !Number.isFinite(raw)) return { $: 'f', v: String(raw) };
  if (raw instanceof Decimal) return { $: 'd', u: raw.unscaled.toString(), s: raw.scale };
  if (raw instanceof Timestamp) return { $: 't', v: raw.micros.toString() };
  if (raw instanceof DateValue) return { $: 'D', v: raw.days };
  if (raw instanceof Duration) return { $: 'u', m: raw.months, d: raw.days, us: raw.micros.toString() };
  if (raw instanceof Json) return { $: 'j', v: JSON.stringify(raw.value) ?? 'null' };
  if (raw instanceof Point) return { $: 'p', x: raw.x, y: raw.y };
  if (raw instanceof Uint8Array) return { $: 'b', v: Buffer.from(raw).toString('hex') };
  if (raw instanceof Map) return { $: 'M', v: [...raw.entries()] };
  if (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.keys(v).some((x) => x.charCodeAt(0) === DOLLAR)
  ) {
    return renameKeys(v, (x) => `$${x}`);
  }
  return v;
}

/** Decodes bytes written by {@link encodeState} (this version or 1). @throws RangeError on another version. */
export function decodeState(bytes: Uint8Array): unknown {
  const parsed = JSON.parse(fromUtf8.decode(bytes)) as { version: unknown; state: unknown };
  if (parsed.version !== STATE_FORMAT_VERSION && parsed.version !== 1) {
    throw new RangeError(
      `operator state has format version ${parsed.version}; this build reads 1 and ${STATE_FORMAT_VERSION}`,
    );
  }
  return untagTree(parsed.state, parsed.version === 1);
}

/** The value of a tagged object (`o.$` is a string), `o` itself for an unknown tag. */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON is untyped.
function untag(v: any, v1: boolean): unknown {
  switch (v.$) {
    case 'i':
      return BigInt(v.v);
    case 'f':
      return Number(v.v);
    case 'd':
      return new Decimal(BigInt(v.u), v.s);
    case 't':
      return new Timestamp(BigInt(v.v));
    case 'D':
      return new DateValue(v.v);
    case 'u':
      return new Duration(v.m, v.d, BigInt(v.us));
    case 'j':
      return new Json((v1 ? v.v : JSON.parse(v.v)) as JsonValue);
    case 'p':
      return new Point(v.x, v.y);
    case 'b':
      return new Uint8Array(Buffer.from(v.v, 'hex'));
    case 'M':
      return new Map(v.v);
    default:
      return v;
  }
}
