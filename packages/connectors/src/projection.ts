import type { Row, Schema } from '@dozer/core';
import type { TableInfo } from './connector.js';
import { ConnectorError } from './errors.js';

/** A table's schema narrowed to some columns, and how to narrow its rows. */
export interface TableProjection {
  readonly schema: Schema;
  /** The row of the projected schema for a row of the full schema. */
  project(row: Row): Row;
}

/**
 * Narrows `table` to `columns` (in that order), as a {@link TableRequest}
 * with `columns` asks. Without `columns` the schema is unchanged and rows
 * pass through. Primary key fields that are kept stay the key; when any is
 * dropped the projected table has no primary key, because the remaining
 * fields may no longer identify a row.
 */
export function projectTable(table: TableInfo, columns?: readonly string[]): TableProjection {
  if (columns === undefined) return { schema: table.schema, project: (row) => row };
  const fields = table.schema.fields;
  const positions = columns.map((name) => {
    const i = fields.findIndex((f) => f.name === name);
    if (i < 0) {
      throw new ConnectorError(
        `table "${table.name}" has no column "${name}"; its columns are: ${fields.map((f) => f.name).join(', ')}`,
      );
    }
    return i;
  });
  const dup = columns.find((c, i) => columns.indexOf(c) !== i);
  if (dup !== undefined)
    throw new ConnectorError(`column "${dup}" of table "${table.name}" is requested twice`);
  const keyKept = table.schema.primaryKey.every((k) => positions.includes(k));
  const schema: Schema = {
    fields: positions.map((i) => fields[i]!),
    primaryKey: keyKept ? table.schema.primaryKey.map((k) => positions.indexOf(k)) : [],
  };
  return { schema, project: (row) => positions.map((i) => row[i] ?? null) };
}
