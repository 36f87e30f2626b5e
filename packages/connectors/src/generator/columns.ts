import {
  DateValue,
  Decimal,
  Duration,
  type FieldDefinition,
  Json,
  type JsonValue,
  Point,
  Timestamp,
  type Value,
  valueFromJson,
} from '@dozer/core';
import type { Random } from './random.js';

/** What a value generator may depend on: nothing but these, so output is a function of the seed. */
export interface GenContext {
  readonly rng: Random;
  /** The row's sequence number (1, 2, …), unique in the table, fixed for the row's life. */
  readonly id: bigint;
  /** The position of the op being generated (1-based count of the table's ops). */
  readonly op: number;
}

/** Produces one column's value; `row` holds the values of the columns before it. */
export type ValueGen = (ctx: GenContext, row: readonly Value[]) => Value;

/** A column of a generated table. */
export interface GenColumn {
  readonly field: FieldDefinition;
  readonly gen: ValueGen;
  /** Part of the primary key: never changes once inserted. */
  readonly key: boolean;
  /** Updates may give it a new value. */
  readonly mutable: boolean;
  /** Computed from earlier columns: recomputed on every update. */
  readonly derived: boolean;
}

/** A column generator as a config names it. */
export type GeneratorSpec =
  | { readonly kind: 'sequence'; readonly prefix?: string }
  | { readonly kind: 'range'; readonly min: number; readonly max: number }
  | { readonly kind: 'one_of'; readonly values: readonly unknown[] }
  | { readonly kind: 'name' }
  | { readonly kind: 'email' }
  | { readonly kind: 'city' }
  | { readonly kind: 'words'; readonly min?: number; readonly max?: number }
  | { readonly kind: 'clock'; readonly start?: string; readonly step_seconds?: number };

/** Generator kinds and the field types each one can fill. */
export const GENERATOR_KINDS: Readonly<Record<GeneratorSpec['kind'], readonly string[]>> = {
  sequence: ['int', 'uint', 'string', 'text'],
  range: ['int', 'uint', 'float', 'decimal'],
  one_of: [
    'int',
    'uint',
    'float',
    'boolean',
    'string',
    'text',
    'binary',
    'decimal',
    'timestamp',
    'date',
    'json',
    'duration',
    'point',
  ],
  name: ['string', 'text'],
  email: ['string', 'text'],
  city: ['string', 'text'],
  words: ['string', 'text'],
  clock: ['timestamp', 'date'],
};

export const FIRST_NAMES = [
  'Ada',
  'Alan',
  'Barbara',
  'Claude',
  'Donald',
  'Edsger',
  'Frances',
  'Grace',
  'Hedy',
  'Ivan',
  'Jean',
  'Ken',
  'Leslie',
  'Margaret',
  'Niklaus',
  'Radia',
  'Shafi',
  'Tim',
  'Whitfield',
  'Yukihiro',
];
export const LAST_NAMES = [
  'Lovelace',
  'Turing',
  'Liskov',
  'Shannon',
  'Knuth',
  'Dijkstra',
  'Allen',
  'Hopper',
  'Lamarr',
  'Sutherland',
  'Sammet',
  'Thompson',
  'Lamport',
  'Hamilton',
  'Wirth',
  'Perlman',
  'Goldwasser',
  'Berners-Lee',
  'Diffie',
  'Matsumoto',
];
export const CITIES = [
  'Amsterdam',
  'Berlin',
  'Bogota',
  'Cairo',
  'Delhi',
  'Lagos',
  'Lima',
  'London',
  'Madrid',
  'Mumbai',
  'Nairobi',
  'New York',
  'Paris',
  'Seoul',
  'Singapore',
  'Sydney',
  'Tokyo',
  'Toronto',
];
const WORDS = [
  'amber',
  'brisk',
  'cobalt',
  'dune',
  'ember',
  'fjord',
  'glade',
  'harbor',
  'iris',
  'jade',
  'kelp',
  'lumen',
  'maple',
  'nectar',
  'onyx',
  'pine',
  'quartz',
  'river',
  'sage',
  'tide',
  'umber',
  'vale',
  'willow',
  'zephyr',
];

/** 2024-01-01T00:00:00Z, where default clocks start. */
export const DEFAULT_CLOCK_START = Timestamp.parse('2024-01-01T00:00:00Z');
const MICROS_PER_DAY = 86_400_000_000n;

export function personName(rng: Random): string {
  return `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
}

export function emailFor(name: string, id: bigint): string {
  return `${name.toLowerCase().replace(/[^a-z]+/g, '.')}${id}@example.com`;
}

export function words(rng: Random, min: number, max: number): string {
  const n = rng.between(min, max);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(rng.pick(WORDS));
  return out.join(' ');
}

/** A decimal uniform in min..max at `scale` digits. */
export function decimalBetween(rng: Random, min: number, max: number, scale: number): Decimal {
  const lo = Decimal.fromNumber(min).rescale(scale).unscaled;
  const hi = Decimal.fromNumber(max).rescale(scale).unscaled;
  return new Decimal(rng.bigBetween(lo, hi), scale);
}

/** Time that advances with the op position, with jitter inside each step, independent of the wall clock. */
export function clockMicros(rng: Random, start: Timestamp, stepMicros: bigint, op: number): bigint {
  const jitter = stepMicros > 1n ? rng.bigBetween(0n, stepMicros - 1n) : 0n;
  return start.micros + BigInt(op) * stepMicros + jitter;
}

export function dayOf(micros: bigint): DateValue {
  let days = micros / MICROS_PER_DAY;
  if (micros % MICROS_PER_DAY < 0n) days -= 1n;
  return new DateValue(Number(days));
}

/** The value generator for a validated spec on `field`, or the type's default when `spec` is absent. */
export function makeValueGen(field: FieldDefinition, spec: GeneratorSpec | undefined): ValueGen {
  if (spec === undefined) return defaultGen(field);
  switch (spec.kind) {
    case 'sequence': {
      const prefix = spec.prefix ?? '';
      return field.type === 'int' || field.type === 'uint' ? (c) => c.id : (c) => `${prefix}${c.id}`;
    }
    case 'range':
      return rangeGen(field, spec.min, spec.max);
    case 'one_of': {
      const values = spec.values.map((v, i) => valueFromJson(field, v, `generator.values[${i}]`));
      return (c) => c.rng.pick(values);
    }
    case 'name':
      return (c) => personName(c.rng);
    case 'email':
      return (c) => emailFor(personName(c.rng), c.id);
    case 'city':
      return (c) => c.rng.pick(CITIES);
    case 'words': {
      const min = spec.min ?? 1;
      const max = spec.max ?? Math.max(min, 5);
      return (c) => words(c.rng, min, max);
    }
    case 'clock': {
      const start = spec.start === undefined ? DEFAULT_CLOCK_START : Timestamp.parse(spec.start);
      const step = BigInt(Math.round((spec.step_seconds ?? 1) * 1_000_000));
      return field.type === 'date'
        ? (c) => dayOf(clockMicros(c.rng, start, step, c.op))
        : (c) => new Timestamp(clockMicros(c.rng, start, step, c.op));
    }
  }
}

function rangeGen(field: FieldDefinition, min: number, max: number): ValueGen {
  switch (field.type) {
    case 'int':
    case 'uint': {
      const lo = BigInt(Math.ceil(min));
      const hi = BigInt(Math.floor(max));
      return (c) => c.rng.bigBetween(lo, hi);
    }
    case 'decimal': {
      const scale = field.scale ?? 2;
      return (c) => decimalBetween(c.rng, min, max, scale);
    }
    default:
      return (c) => min + c.rng.float() * (max - min);
  }
}

function defaultGen(field: FieldDefinition): ValueGen {
  switch (field.type) {
    case 'int':
    case 'uint':
    case 'float':
    case 'decimal':
      return rangeGen(field, 0, 1000);
    case 'boolean':
      return (c) => c.rng.chance(0.5);
    case 'string':
      return (c) => words(c.rng, 1, 2);
    case 'text':
      return (c) => words(c.rng, 5, 15);
    case 'binary':
      return (c) => Uint8Array.from({ length: 16 }, () => c.rng.below(256));
    case 'timestamp':
    case 'date':
      return makeValueGen(field, { kind: 'clock' });
    case 'json':
      return (c) => new Json({ n: c.rng.below(100), word: words(c.rng, 1, 1) } satisfies JsonValue);
    case 'duration':
      return (c) => Duration.fromMicros(BigInt(c.rng.below(86_400)) * 1_000_000n);
    case 'point':
      return (c) => new Point(c.rng.between(-180_000, 180_000) / 1000, c.rng.between(-90_000, 90_000) / 1000);
  }
}

/** Wraps a generator so that a nullable column is NULL with probability `ratio`. */
export function withNulls(gen: ValueGen, ratio: number): ValueGen {
  if (ratio <= 0) return gen;
  return (c, row) => (c.rng.chance(ratio) ? null : gen(c, row));
}
