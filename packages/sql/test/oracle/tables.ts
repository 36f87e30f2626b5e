import {
  Decimal,
  type FieldDefinition,
  makeSchema,
  type Operation,
  type Row,
  type Schema,
  Timestamp,
} from '@dozer/core';
import fc from 'fast-check';

/** The input tables every corpus query may read: small, keyed by `id`, mostly nullable. */
export const TABLES = {
  t1: makeSchema(
    [
      { name: 'id', type: 'int', nullable: false },
      { name: 'a', type: 'int', nullable: true },
      { name: 'b', type: 'int', nullable: true },
      { name: 'd', type: 'decimal', nullable: true, precision: 10, scale: 2 },
      { name: 's', type: 'string', nullable: true },
      { name: 'ts', type: 'timestamp', nullable: true },
    ],
    ['id'],
  ),
  t2: makeSchema(
    [
      { name: 'id', type: 'int', nullable: false },
      { name: 'a', type: 'int', nullable: true },
      { name: 'x', type: 'int', nullable: true },
      { name: 's', type: 'string', nullable: true },
      { name: 'ts', type: 'timestamp', nullable: true },
    ],
    ['id'],
  ),
  t3: makeSchema(
    [
      { name: 'id', type: 'int', nullable: false },
      { name: 'a', type: 'int', nullable: true },
      { name: 'name', type: 'string', nullable: true },
    ],
    ['id'],
  ),
} as const satisfies Record<string, Schema>;

/** A name of {@link TABLES}. */
export type TableName = keyof typeof TABLES;

const BASE = Timestamp.parse('2024-01-01T00:00:00Z').micros;

// Tiny domains so that keys collide, join keys match often, groups share members and NULLs are frequent.
const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null, freq: 4 });
const smallInt = (min: number, max: number) => nullable(fc.integer({ min, max }).map(BigInt));
const decimal = nullable(
  fc.constantFrom('0.00', '1.50', '-2.25', '10.00', '3.33').map((t) => Decimal.parse(t)),
);
const string = nullable(fc.constantFrom('a', 'b', 'ab', 'Bob', 'x_y', ''));
const name = nullable(fc.constantFrom('ann', 'bo', 'cy', 'Ann'));
// 15 minutes of event time on 30-second steps: three 5-minute windows, several rows in each.
const timestamp = nullable(
  fc.integer({ min: 0, max: 29 }).map((h) => new Timestamp(BASE + BigInt(h) * 30_000_000n)),
);

const VALUES: Record<TableName, fc.Arbitrary<Row>> = {
  t1: fc.tuple(smallInt(-1, 3), smallInt(-2, 5), decimal, string, timestamp),
  t2: fc.tuple(smallInt(-1, 3), smallInt(0, 4), string, timestamp),
  t3: fc.tuple(smallInt(-1, 3), name),
};

/** One step of a random stream: write a row under a key (insert or update), or delete the key. */
export interface Command {
  readonly table: TableName;
  readonly key: number;
  readonly remove: boolean;
  /** The non-key columns written. */
  readonly values: Row;
  /** Ends the current batch after this op. */
  readonly flush: boolean;
}

/** Streams of at most `maxOps` commands over `tables`, on keys 0..4. */
export function commandsArb(tables: readonly TableName[], maxOps: number): fc.Arbitrary<Command[]> {
  const command = fc.constantFrom(...tables).chain((table) =>
    fc.record({
      table: fc.constant(table),
      key: fc.integer({ min: 0, max: 4 }),
      remove: fc.oneof(
        { arbitrary: fc.constant(false), weight: 3 },
        { arbitrary: fc.constant(true), weight: 1 },
      ),
      values: VALUES[table],
      flush: fc.boolean(),
    }),
  );
  return fc.array(command, { maxLength: maxOps });
}

/** A batch of ops of one table, as pushed to the executor. */
export interface Batch {
  readonly table: TableName;
  readonly ops: Operation[];
}

/**
 * Turns commands into valid ops against the evolving tables (insert for a
 * new key, update for an existing one, delete only what exists) and cuts
 * them into batches where a command says so or the table changes.
 */
export function toBatches(commands: readonly Command[]): {
  batches: Batch[];
  final: Map<TableName, Map<number, Row>>;
} {
  const state = new Map<TableName, Map<number, Row>>();
  const batches: Batch[] = [];
  let current: Batch | null = null;
  for (const c of commands) {
    let rows = state.get(c.table);
    if (rows === undefined) {
      rows = new Map();
      state.set(c.table, rows);
    }
    const old = rows.get(c.key);
    let op: Operation | null;
    if (c.remove) {
      op = old === undefined ? null : { kind: 'delete', old };
      rows.delete(c.key);
    } else {
      const row: Row = [BigInt(c.key), ...c.values];
      op = old === undefined ? { kind: 'insert', new: row } : { kind: 'update', old, new: row };
      rows.set(c.key, row);
    }
    if (op === null) continue;
    if (current === null || current.table !== c.table) {
      current = { table: c.table, ops: [] };
      batches.push(current);
    }
    current.ops.push(op);
    if (c.flush) current = null;
  }
  return { batches, final: state };
}

/** A value as a SQL literal DuckDB reads back as the same value. */
export function sqlLiteral(field: FieldDefinition, v: Row[number]): string {
  if (v === null) return 'NULL';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return `'${v.replaceAll("'", "''")}'`;
  if (v instanceof Decimal) return `${v.toString()}::DECIMAL(${field.precision ?? 38}, ${field.scale ?? 10})`;
  if (v instanceof Timestamp) return `TIMESTAMP '${v.toISOString().slice(0, 26).replace('T', ' ')}'`;
  return String(v);
}

/** `CREATE TABLE` for DuckDB with the same columns. */
export function duckDdl(name: TableName): string {
  const cols = TABLES[name].fields.map((f) => {
    const type =
      f.type === 'int'
        ? 'BIGINT'
        : f.type === 'decimal'
          ? `DECIMAL(${f.precision}, ${f.scale})`
          : f.type === 'timestamp'
            ? 'TIMESTAMP'
            : 'VARCHAR';
    return `${f.name} ${type}${f.nullable ? '' : ' NOT NULL'}`;
  });
  return `CREATE OR REPLACE TABLE ${name} (${cols.join(', ')})`;
}

/** The ops as SQL-ish text, one line per op, batches separated: the readable counterexample. */
export function formatBatches(batches: readonly Batch[]): string {
  const lines: string[] = [];
  batches.forEach((b, i) => {
    const fields = TABLES[b.table].fields;
    const tuple = (r: Row) =>
      `(${r.map((v, j) => sqlLiteral(fields[j]!, v).replace(/::DECIMAL\(.*\)$/, '')).join(', ')})`;
    lines.push(`-- batch ${i + 1}: ${b.table}`);
    for (const op of b.ops) {
      if (op.kind === 'insert') lines.push(`INSERT INTO ${b.table} VALUES ${tuple(op.new)};`);
      else if (op.kind === 'delete')
        lines.push(`DELETE FROM ${b.table} WHERE id = ${op.old[0]};  -- was ${tuple(op.old)}`);
      else
        lines.push(
          `UPDATE ${b.table} SET ${tuple(op.new)} WHERE id = ${op.old[0]};  -- was ${tuple(op.old)}`,
        );
    }
  });
  return lines.length === 0 ? '(no ops)' : lines.join('\n');
}
