import type { TableInfo } from '@dozer/connectors';
import { ConnectorError } from '@dozer/connectors';
import {
  Decimal,
  DozerError,
  type Operation,
  type Row,
  type Value,
  valueFromJson,
  valueToJson,
} from '@dozer/core';
import type { Line } from './line-reader.js';

const OPS = ['insert', 'update', 'delete'];

/**
 * The rows of one table as the changelog has built them so far, by primary
 * key, in the order they were first inserted. Applying a record turns it
 * into an operation: updates and deletes get their old row from here.
 */
export class TableState {
  private readonly byKey = new Map<string, Row>();
  private readonly columns: ReadonlySet<string>;

  constructor(
    private readonly table: TableInfo,
    /** The file's name, for messages. */
    private readonly file: string,
  ) {
    this.columns = new Set(table.schema.fields.map((f) => f.name));
  }

  /** The current rows, in first-insert order (a deterministic snapshot order). */
  rows(): Row[] {
    return [...this.byKey.values()];
  }

  /**
   * Applies one line: the operation it makes on this table, or null for a
   * blank line or a record of another table. A malformed record, or one
   * that does not fit the rows (an insert of a key that exists, an update
   * of one that does not), is an error naming the line.
   */
  apply(line: Line): Operation | null {
    if (line.text.trim() === '') return null;
    let rec: unknown;
    try {
      rec = JSON.parse(line.text);
    } catch (e) {
      throw this.error(line, `not JSON (${(e as Error).message})`);
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec))
      throw this.error(line, 'expected a JSON object {"op", "table", "row"}');
    const { op, table, row } = rec as Record<string, unknown>;
    if (typeof table !== 'string') throw this.error(line, '"table" must be a string');
    if (typeof op !== 'string' || !OPS.includes(op))
      throw this.error(
        line,
        `"op" must be "insert", "update" or "delete", got ${JSON.stringify(op) ?? 'nothing'}`,
      );
    if (table !== this.table.name) return null;
    if (row === null || typeof row !== 'object' || Array.isArray(row))
      throw this.error(line, '"row" must be an object of column values');
    const values = row as Record<string, unknown>;
    for (const k of Object.keys(values)) {
      if (!this.columns.has(k))
        throw this.error(
          line,
          `table "${table}" has no column "${k}" (columns: ${[...this.columns].join(', ')})`,
        );
    }
    const key = this.keyOf(line, values);
    const current = this.byKey.get(key);
    if (op === 'delete') {
      if (current === undefined)
        throw this.error(line, `deletes the row with key ${key}, which does not exist`);
      this.byKey.delete(key);
      return { kind: 'delete', old: current };
    }
    const next = this.rowOf(line, values);
    if (op === 'insert') {
      if (current !== undefined)
        throw this.error(line, `inserts a row with key ${key}, which exists; use "op": "update"`);
      this.byKey.set(key, next);
      return { kind: 'insert', new: next };
    }
    if (current === undefined)
      throw this.error(line, `updates the row with key ${key}, which does not exist`);
    this.byKey.set(key, next);
    return { kind: 'update', old: current, new: next };
  }

  /** The primary key of a record as canonical JSON text (`["7"]`), for the map and messages. */
  private keyOf(line: Line, values: Record<string, unknown>): string {
    const { fields, primaryKey } = this.table.schema;
    return JSON.stringify(
      primaryKey.map((i) => {
        const f = fields[i]!;
        const v = this.value(line, i, values[f.name]);
        if (v === null) throw this.error(line, `the key column "${f.name}" is missing or null`);
        return valueToJson(f, v);
      }),
    );
  }

  private rowOf(line: Line, values: Record<string, unknown>): Row {
    return this.table.schema.fields.map((f, i) => this.value(line, i, values[f.name]));
  }

  private value(line: Line, i: number, json: unknown): Value {
    const f = this.table.schema.fields[i]!;
    let v: Value;
    try {
      v = valueFromJson(f, json, `row.${f.name}`);
    } catch (e) {
      throw this.error(line, e instanceof DozerError ? e.message : String(e));
    }
    if (v instanceof Decimal && f.scale !== undefined && v.scale > f.scale)
      throw this.error(
        line,
        `row.${f.name}: ${v} has more than the column's ${f.scale} digits after the point`,
      );
    return v;
  }

  private error(line: Line, problem: string): ConnectorError {
    return new ConnectorError(
      `${this.file}:${line.number}: ${problem}. Fix the record; the changelog holds one JSON record a line: {"op": "insert" | "update" | "delete", "table": "…", "row": {…}}`,
    );
  }
}
