import {
  type FieldDefinition,
  makeSchema,
  type Operation,
  type Row,
  type Schema,
  Timestamp,
} from '@dozer/core';
import fc from 'fast-check';

// Random, valid change streams over two small tables, for the property tests that compare an
// executor with another one (restored from a snapshot, threaded, restored from a checkpoint).

/** `t(id, k, v, s, ts)`: keys, small ints with NULLs, a few strings, timestamps 30 s apart. */
export const T_SCHEMA: Schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'k', type: 'int', nullable: true },
    { name: 'v', type: 'int', nullable: true },
    { name: 's', type: 'string', nullable: true },
    { name: 'ts', type: 'timestamp', nullable: true },
  ],
  ['id'],
);

const U_FIELDS: readonly FieldDefinition[] = [
  { name: 'id', type: 'int', nullable: false },
  { name: 'k', type: 'int', nullable: true },
  { name: 'w', type: 'int', nullable: true },
];

/** `u(id, k, w, …extra)`, the second table, with any extra columns a test needs. */
export function uSchema(extra: readonly FieldDefinition[] = []): Schema {
  return makeSchema([...U_FIELDS, ...extra], ['id']);
}

/** Microseconds of the stream's first timestamp (2024-01-01T00:00:00Z). */
export const TIME_BASE = Timestamp.parse('2024-01-01T00:00:00Z').micros;
/** An int in 0..max, NULL one time in four. */
export const small = (max: number) =>
  fc.option(fc.integer({ min: 0, max }).map(BigInt), { nil: null, freq: 4 });
const time = fc.option(
  fc.integer({ min: 0, max: 20 }).map((i) => new Timestamp(TIME_BASE + BigInt(i) * 30_000_000n)),
  { nil: null, freq: 5 },
);

/** One change: upsert (or delete) the row of `key` in `table`; `values` are the columns after `id`. */
export interface ChangeCommand {
  readonly table: 't' | 'u';
  readonly key: number;
  readonly remove: boolean;
  readonly values: Row;
}

/**
 * Changes to `t` and `u` over keys 0..maxKey. `u`'s values are `k` and `w`, then whatever
 * `uExtra` gives (one arbitrary per extra column of {@link uSchema}).
 */
export function changeCommand(
  options: { maxKey?: number; uExtra?: readonly fc.Arbitrary<unknown>[] } = {},
): fc.Arbitrary<ChangeCommand> {
  const key = fc.integer({ min: 0, max: options.maxKey ?? 5 });
  return fc.oneof(
    fc.record({
      table: fc.constant('t' as const),
      key,
      remove: fc.boolean(),
      values: fc.tuple(small(3), small(4), fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null }), time),
    }),
    fc.record({
      table: fc.constant('u' as const),
      key,
      remove: fc.boolean(),
      values: fc.tuple(small(3), small(4), ...(options.uExtra ?? [])) as fc.Arbitrary<Row>,
    }),
  );
}

/**
 * The commands as valid batches (inserts of new keys, updates and deletes of live ones; a delete
 * of a missing key is dropped) of up to `size` ops, one table per batch. With `deleteAll`, the
 * deletion of every row still live follows, one batch per row.
 */
export function toBatches(
  commands: readonly ChangeCommand[],
  options: { size?: number; deleteAll?: boolean } = {},
): [string, Operation[]][] {
  const size = options.size ?? 3;
  const tables = new Map<string, Map<number, Row>>([
    ['t', new Map()],
    ['u', new Map()],
  ]);
  const batches: [string, Operation[]][] = [];
  for (const c of commands) {
    const rows = tables.get(c.table)!;
    const old = rows.get(c.key);
    let op: Operation | null = null;
    if (c.remove) {
      if (old !== undefined) op = { kind: 'delete', old };
      rows.delete(c.key);
    } else {
      const row: Row = [BigInt(c.key), ...c.values];
      op = old === undefined ? { kind: 'insert', new: row } : { kind: 'update', old, new: row };
      rows.set(c.key, row);
    }
    if (op === null) continue;
    const last = batches[batches.length - 1];
    if (last !== undefined && last[0] === c.table && last[1].length < size) last[1].push(op);
    else batches.push([c.table, [op]]);
  }
  if (options.deleteAll) {
    for (const [table, rows] of tables) {
      for (const old of rows.values()) batches.push([table, [{ kind: 'delete', old }]]);
    }
  }
  return batches;
}
