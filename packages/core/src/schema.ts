import { SchemaError } from './errors.js';
import type { FieldType } from './field-type.js';

/** One named, typed column. */
export interface FieldDefinition {
  readonly name: string;
  readonly type: FieldType;
  readonly nullable: boolean;
  /** For `decimal`: total significant digits, when the source declares it. */
  readonly precision?: number;
  /** For `decimal`: digits after the point, when the source declares it. */
  readonly scale?: number;
}

/** Named typed fields plus the positions of the primary key fields (may be empty). */
export interface Schema {
  readonly fields: readonly FieldDefinition[];
  readonly primaryKey: readonly number[];
}

/**
 * Builds a schema, checking that field names are unique and that the
 * primary key names existing fields.
 */
export function makeSchema(fields: readonly FieldDefinition[], primaryKey: readonly string[] = []): Schema {
  const seen = new Set<string>();
  for (const f of fields) {
    if (seen.has(f.name)) throw new SchemaError(`duplicate field name "${f.name}"`);
    seen.add(f.name);
  }
  const pk = primaryKey.map((name) => {
    const i = fields.findIndex((f) => f.name === name);
    if (i < 0) {
      throw new SchemaError(
        `primary key field "${name}" is not a field; fields are: ${fields.map((f) => f.name).join(', ')}`,
      );
    }
    return i;
  });
  return { fields, primaryKey: pk };
}

/** Position of a field by name, or -1. */
export function fieldIndex(schema: Schema, name: string): number {
  return schema.fields.findIndex((f) => f.name === name);
}

/** Names of the primary key fields. */
export function primaryKeyNames(schema: Schema): string[] {
  return schema.primaryKey.map((i) => schema.fields[i]!.name);
}
