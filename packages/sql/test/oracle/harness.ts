import {
  type DateValue,
  Decimal,
  type FieldDefinition,
  type Operation,
  type Row,
  type Schema,
  Timestamp,
} from '@dozer/core';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { SqlPipeline } from '../../src/index.js';
import { type Batch, duckDdl, formatBatches, sqlLiteral, TABLES, type TableName } from './tables.js';

/** A multiset of canonical row texts. */
export type Bag = Map<string, number>;

/** Digits decimals are compared to: engines differ in the scale of AVG and division results. */
const DECIMAL_DIGITS = 6;

function roundDecimal(text: string): string {
  const d = Decimal.parse(text);
  let unscaled = d.unscaled;
  let scale = d.scale;
  if (scale > DECIMAL_DIGITS) {
    const div = 10n ** BigInt(scale - DECIMAL_DIGITS);
    const q = unscaled / div;
    const r = unscaled % div;
    const twice = (r < 0n ? -r : r) * 2n;
    unscaled = twice >= div ? (unscaled < 0n ? q - 1n : q + 1n) : q;
    scale = DECIMAL_DIGITS;
  }
  // Numeric, not textual: 1.50 and 1.5 and 1.500000 are one value.
  while (scale > 0 && unscaled % 10n === 0n) {
    unscaled /= 10n;
    scale--;
  }
  return new Decimal(unscaled, scale).toString();
}

/**
 * One value in a canonical text for its column's type, whichever engine it
 * came from: ours (core values) or DuckDB (`getRowsJson`: BIGINT and
 * DECIMAL as strings, DOUBLE as numbers, TIMESTAMP as `YYYY-MM-DD hh:mm:ss`).
 */
export function canonical(field: FieldDefinition, v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  switch (field.type) {
    case 'int':
    case 'uint':
      return BigInt(typeof v === 'number' ? Math.trunc(v) : (v as bigint | string)).toString();
    case 'decimal':
      return roundDecimal(v instanceof Decimal ? v.toString() : String(v));
    case 'float': {
      const n = typeof v === 'number' ? v : Number(v instanceof Decimal ? v.toString() : String(v));
      // AVG over numbers is a double in DuckDB and may be summed in another order here.
      return Number.isInteger(n) ? n.toFixed(1) : n.toPrecision(10);
    }
    case 'timestamp':
      return v instanceof Timestamp ? v.toISOString() : Timestamp.parse(String(v)).toISOString();
    case 'date':
      return typeof v === 'string' ? v : (v as DateValue).toString();
    case 'boolean':
      return String(v);
    default:
      return typeof v === 'string' ? v : String(v);
  }
}

function rowText(schema: Schema, row: readonly unknown[]): string {
  return JSON.stringify(schema.fields.map((f, i) => canonical(f, row[i])));
}

function bagAdd(bag: Bag, key: string, n: number): void {
  const c = (bag.get(key) ?? 0) + n;
  if (c === 0) bag.delete(key);
  else bag.set(key, c);
}

/**
 * The incremental result: every output op applied to a multiset. A delete
 * (or the old side of an update) of a row that is not there is an error in
 * itself: the engine retracted something it never emitted.
 */
export function applyOutput(bag: Bag, schema: Schema, ops: readonly Operation[], problems: string[]): void {
  for (const op of ops) {
    if (op.kind !== 'insert') {
      const key = rowText(schema, op.old);
      if ((bag.get(key) ?? 0) <= 0) problems.push(`retracted a row it never emitted: ${key}`);
      bagAdd(bag, key, -1);
    }
    if (op.kind !== 'delete') bagAdd(bag, rowText(schema, op.new), 1);
  }
}

/** What a corpus entry needs of the harness. */
export interface Check {
  readonly pipeline: SqlPipeline;
  readonly output: string;
  readonly duckSql: string;
  readonly tables: readonly TableName[];
}

/** Loads the final tables into DuckDB and runs the query there. */
export async function duckResult(
  db: DuckDBConnection,
  check: Check,
  final: Map<TableName, Map<number, Row>>,
): Promise<Bag> {
  for (const t of check.tables) {
    await db.run(duckDdl(t));
    const rows = [...(final.get(t)?.values() ?? [])];
    if (rows.length === 0) continue;
    const fields = TABLES[t].fields;
    const values = rows.map((r) => `(${r.map((v, i) => sqlLiteral(fields[i]!, v)).join(', ')})`);
    await db.run(`INSERT INTO ${t} VALUES ${values.join(', ')}`);
  }
  const reader = await db.runAndReadAll(check.duckSql);
  const schema = check.pipeline.outputs.get(check.output)!;
  const bag: Bag = new Map();
  for (const row of reader.getRowsJson()) bagAdd(bag, rowText(schema, row as unknown[]), 1);
  return bag;
}

function formatBag(bag: Bag): string {
  const lines = [...bag]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, n]) => (n === 1 ? `  ${k}` : `  ${k} ×${n}`));
  return lines.length === 0 ? '  (empty)' : lines.join('\n');
}

/**
 * Runs one stream through a fresh executor and DuckDB; returns null when
 * they agree, else a readable report: the stream as SQL-ish ops, then the
 * rows only one side has.
 */
export async function compareOnce(
  db: DuckDBConnection,
  check: Check,
  batches: readonly Batch[],
  final: Map<TableName, Map<number, Row>>,
): Promise<string | null> {
  const schema = check.pipeline.outputs.get(check.output)!;
  const executor = check.pipeline.createExecutor();
  const ours: Bag = new Map();
  const problems: string[] = [];
  let pushed = 0;
  try {
    const started = executor.start().get(check.output);
    if (started) applyOutput(ours, schema, started, problems);
    for (const b of batches) {
      if (!check.pipeline.inputs.includes(b.table)) continue;
      pushed++;
      const out = executor.push(b.table, b.ops).get(check.output);
      if (out) applyOutput(ours, schema, out, problems);
    }
  } catch (e) {
    return [
      'stream:',
      formatBatches(batches),
      `the executor threw on batch ${pushed}: ${(e as Error).stack}`,
    ].join('\n');
  }
  const expected = await duckResult(db, check, final);
  const missing: Bag = new Map();
  const extra: Bag = new Map();
  for (const [k, n] of expected) {
    const d = n - (ours.get(k) ?? 0);
    if (d > 0) missing.set(k, d);
    else if (d < 0) extra.set(k, -d);
  }
  for (const [k, n] of ours) if (!expected.has(k)) extra.set(k, n);
  if (missing.size === 0 && extra.size === 0 && problems.length === 0) return null;
  return [
    'stream:',
    formatBatches(batches),
    ...(problems.length > 0 ? ['problems:', ...problems.map((p) => `  ${p}`)] : []),
    'rows DuckDB has that the incremental result lacks:',
    formatBag(missing),
    'rows the incremental result has that DuckDB lacks:',
    formatBag(extra),
    'DuckDB result:',
    formatBag(expected),
  ].join('\n');
}
