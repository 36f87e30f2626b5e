import { type JsonValue, type Schema, valueFromJson, valueToJson } from '@dozer/core';
import type { ComparisonOp, Filter, Query, TextOp } from '../query.js';

// A parsed Query as plain data that crosses to a read thread (structured clone
// keeps no classes: a Decimal or a Timestamp would arrive as a bare object):
// compared values in their JSON form, read back with the field's type. Not the
// query language itself: that would read a JSON value shaped like `{"$gt": 1}`
// as an operator.

export type WireFilter =
  | readonly ['c', string, ComparisonOp, JsonValue]
  | readonly ['t', string, TextOp, string]
  | readonly ['and' | 'or', readonly WireFilter[]];

export interface WireQuery {
  readonly filter?: WireFilter;
  readonly orderBy?: Query['orderBy'];
  readonly limit?: number;
  readonly skip?: number;
  readonly after?: string;
}

export function filterToWire(f: Filter, schema: Schema): WireFilter {
  switch (f.kind) {
    case 'compare':
      return ['c', f.field, f.op, valueToJson(fieldOf(schema, f.field), f.value)];
    case 'text':
      return ['t', f.field, f.op, f.value];
    default:
      return [f.kind, f.filters.map((x) => filterToWire(x, schema))];
  }
}

export function filterFromWire(w: WireFilter, schema: Schema): Filter {
  switch (w[0]) {
    case 'c': {
      const field = fieldOf(schema, w[1]);
      // NULL is comparable in any field (as parseQuery reads it).
      const value = valueFromJson({ ...field, nullable: true }, w[3], w[1]);
      return { kind: 'compare', field: w[1], op: w[2], value };
    }
    case 't':
      return { kind: 'text', field: w[1], op: w[2], value: w[3] };
    default:
      return { kind: w[0], filters: w[1].map((x) => filterFromWire(x, schema)) };
  }
}

export function queryToWire(q: Query, schema: Schema): WireQuery {
  return {
    ...(q.filter === undefined ? {} : { filter: filterToWire(q.filter, schema) }),
    ...(q.orderBy === undefined ? {} : { orderBy: q.orderBy }),
    ...(q.limit === undefined ? {} : { limit: q.limit }),
    ...(q.skip === undefined ? {} : { skip: q.skip }),
    ...(q.after === undefined ? {} : { after: q.after }),
  };
}

export function queryFromWire(w: WireQuery, schema: Schema): Query {
  return {
    ...(w.filter === undefined ? {} : { filter: filterFromWire(w.filter, schema) }),
    ...(w.orderBy === undefined ? {} : { orderBy: w.orderBy }),
    ...(w.limit === undefined ? {} : { limit: w.limit }),
    ...(w.skip === undefined ? {} : { skip: w.skip }),
    ...(w.after === undefined ? {} : { after: w.after }),
  };
}

function fieldOf(schema: Schema, name: string) {
  const field = schema.fields.find((f) => f.name === name);
  // A Query the caller built by hand may name any field; the planner reports it in the caller's
  // thread before anything crosses, so this is only reached for a field that exists.
  if (field === undefined) throw new RangeError(`no field "${name}"`);
  return field;
}
