import { type FieldDefinition, Json, Timestamp, type Value } from '@dozer/core';
import {
  CITIES,
  clockMicros,
  DEFAULT_CLOCK_START,
  dayOf,
  decimalBetween,
  emailFor,
  type GenColumn,
  personName,
  type ValueGen,
  words,
} from './columns.js';

/** A built-in table shape: its columns, with how each is generated and updated. */
export interface TableTemplate {
  readonly name: string;
  readonly description: string;
  readonly columns: readonly GenColumn[];
}

const TAGS = ['airport', 'night', 'shared', 'premium', 'eco', 'long-haul', 'surge'];

function col(
  field: FieldDefinition,
  gen: ValueGen,
  opts: { key?: boolean; mutable?: boolean; derived?: boolean } = {},
): GenColumn {
  return {
    field,
    gen,
    key: opts.key ?? false,
    mutable: opts.mutable ?? false,
    derived: opts.derived ?? false,
  };
}

const nn = (name: string, type: FieldDefinition['type']): FieldDefinition => ({
  name,
  type,
  nullable: false,
});
const id: ValueGen = (c) => c.id;
const startedAt: ValueGen = (c) => new Timestamp(clockMicros(c.rng, DEFAULT_CLOCK_START, 1_000_000n, c.op));

const trips: TableTemplate = {
  name: 'trips',
  description:
    'ride-hailing trips; fares, distances and payment change, started_at advances one second per op',
  columns: [
    col(nn('id', 'int'), id, { key: true }),
    col(nn('rider', 'string'), (c) => personName(c.rng)),
    col(nn('city', 'string'), (c) => c.rng.pick(CITIES)),
    col(
      { name: 'fare', type: 'decimal', nullable: false, precision: 10, scale: 2 },
      (c) => decimalBetween(c.rng, 3, 150, 2),
      {
        mutable: true,
      },
    ),
    col(nn('distance', 'float'), (c) => c.rng.between(50, 5000) / 100, { mutable: true }),
    col(nn('passengers', 'int'), (c) => BigInt(c.rng.between(1, 4)), { mutable: true }),
    col(nn('started_at', 'timestamp'), startedAt),
    col(nn('day', 'date'), (_c, row) => dayOf((row[6] as Timestamp).micros), { derived: true }),
    col(nn('paid', 'boolean'), (c) => c.rng.chance(0.8), { mutable: true }),
    col(
      nn('tags', 'json'),
      (c) => {
        const n = c.rng.below(4);
        const tags: string[] = [];
        for (let i = 0; i < n; i++) {
          const t = c.rng.pick(TAGS);
          if (!tags.includes(t)) tags.push(t);
        }
        return new Json(tags);
      },
      { mutable: true },
    ),
    col(
      { name: 'note', type: 'text', nullable: true },
      (c): Value => (c.rng.chance(0.7) ? null : words(c.rng, 3, 10)),
      {
        mutable: true,
      },
    ),
  ],
};

const users: TableTemplate = {
  name: 'users',
  description: 'user accounts; age, balance and active change, email is derived from name and id',
  columns: [
    col(nn('id', 'int'), id, { key: true }),
    col(nn('name', 'string'), (c) => personName(c.rng)),
    col(nn('email', 'string'), (c, row) => emailFor(row[1] as string, c.id), { derived: true }),
    col(nn('age', 'int'), (c) => BigInt(c.rng.between(18, 90)), { mutable: true }),
    col(
      { name: 'balance', type: 'decimal', nullable: false, precision: 12, scale: 2 },
      (c) => decimalBetween(c.rng, 0, 10000, 2),
      {
        mutable: true,
      },
    ),
    col(nn('signed_up', 'timestamp'), startedAt),
    col(nn('active', 'boolean'), (c) => c.rng.chance(0.9), { mutable: true }),
  ],
};

/** The built-in templates by name. */
export const TEMPLATES: ReadonlyMap<string, TableTemplate> = new Map([trips, users].map((t) => [t.name, t]));
