import { DateValue, Decimal, Duration, Json, type JsonValue, Point, Timestamp } from '@dozer/core';

/**
 * The one state interface of the stateful operators: keyed state with
 * get / put / delete and iteration. This implementation keeps it in a Map;
 * a disk-backed one can replace it without touching the operators.
 */
export interface StateStore<K, V> {
  get(key: K): V | undefined;
  put(key: K, value: V): void;
  delete(key: K): void;
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
 * An operator whose state can be saved at a checkpoint and restored after
 * a restart: `restore(snapshot())` on a fresh operator of the same plan
 * gives one that behaves exactly like the original from then on.
 */
export interface Snapshottable {
  snapshot(): Uint8Array;
  restore(bytes: Uint8Array): void;
}

/**
 * State snapshot format version 1: UTF-8 JSON where values JSON cannot
 * carry are objects tagged by `$`: `{"$":"i","v":"12"}` bigint,
 * `{"$":"d","u":"1234","s":2}` decimal, `{"$":"t","v":"…"}` timestamp
 * micros, `{"$":"D","v":n}` date days, `{"$":"u","m":n,"d":n,"us":"…"}`
 * duration, `{"$":"j","v":…}` json, `{"$":"p","x":n,"y":n}` point,
 * `{"$":"b","v":"hex"}` binary, `{"$":"f","v":"NaN"}` non-finite floats.
 */
export const STATE_FORMAT_VERSION = 1;

/** Encodes operator state (plain objects, arrays and SQL values) as {@link STATE_FORMAT_VERSION} bytes. */
export function encodeState(state: unknown): Uint8Array {
  const text = JSON.stringify({ version: STATE_FORMAT_VERSION, state }, function (this: unknown, k, v) {
    const raw = (this as Record<string, unknown>)[k];
    if (typeof raw === 'bigint') return { $: 'i', v: raw.toString() };
    if (typeof raw === 'number' && !Number.isFinite(raw)) return { $: 'f', v: String(raw) };
    if (raw instanceof Decimal) return { $: 'd', u: raw.unscaled.toString(), s: raw.scale };
    if (raw instanceof Timestamp) return { $: 't', v: raw.micros.toString() };
    if (raw instanceof DateValue) return { $: 'D', v: raw.days };
    if (raw instanceof Duration) return { $: 'u', m: raw.months, d: raw.days, us: raw.micros.toString() };
    if (raw instanceof Json) return { $: 'j', v: raw.value };
    if (raw instanceof Point) return { $: 'p', x: raw.x, y: raw.y };
    if (raw instanceof Uint8Array) return { $: 'b', v: Buffer.from(raw).toString('hex') };
    if (raw instanceof Map) return { $: 'M', v: [...raw.entries()] };
    return v;
  });
  return new TextEncoder().encode(text);
}

/** Decodes bytes written by {@link encodeState}. */
export function decodeState(bytes: Uint8Array): unknown {
  const parsed = JSON.parse(new TextDecoder().decode(bytes), (_k, v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof v.$ !== 'string') return v;
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
        return new Json(v.v as JsonValue);
      case 'p':
        return new Point(v.x, v.y);
      case 'b':
        return new Uint8Array(Buffer.from(v.v, 'hex'));
      case 'M':
        return new Map(v.v);
      default:
        return v;
    }
  }) as { version: number; state: unknown };
  if (parsed.version !== STATE_FORMAT_VERSION) {
    throw new RangeError(
      `operator state has format version ${parsed.version}; this build reads ${STATE_FORMAT_VERSION}`,
    );
  }
  return parsed.state;
}
