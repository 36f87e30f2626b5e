import {
  describeJson,
  type FieldDefinition,
  type Schema,
  TypeMismatchError,
  type Value,
  valueFromJson,
} from '@dozer/core';
import { InvalidQueryError } from './errors.js';

/** The comparison operators of the query language. */
export const COMPARISON_OPS = ['$eq', '$lt', '$lte', '$gt', '$gte'] as const;
/** One of {@link COMPARISON_OPS}. */
export type ComparisonOp = (typeof COMPARISON_OPS)[number];

/** The text operators of the query language, on `string` and `text` fields. */
export const TEXT_OPS = ['$contains', '$matches_any', '$matches_all'] as const;
/** One of {@link TEXT_OPS}. */
export type TextOp = (typeof TEXT_OPS)[number];

/**
 * A parsed filter. Comparisons use the total order of `compareValues`
 * (NULL is smallest, so `{"a": null}` matches NULLs and `{"$gt": null}`
 * every non-NULL value). Text operators: `$contains` is "every word of the
 * value is a word of the field" on a field with a full-text index and a
 * substring test otherwise; `$matches_any` / `$matches_all` ask for any /
 * all of the value's words (see the README for the tokenizer).
 */
export type Filter =
  | { readonly kind: 'compare'; readonly field: string; readonly op: ComparisonOp; readonly value: Value }
  | { readonly kind: 'text'; readonly field: string; readonly op: TextOp; readonly value: string }
  | { readonly kind: 'and'; readonly filters: readonly Filter[] }
  | { readonly kind: 'or'; readonly filters: readonly Filter[] };

/** Sort direction of one `$order_by` term. */
export type SortDirection = 'asc' | 'desc';

/** One `$order_by` term. */
export interface OrderBy {
  readonly field: string;
  readonly direction: SortDirection;
}

/**
 * A parsed query. Rows come ordered by `orderBy`, ties (and queries without
 * `orderBy`) by primary key ascending; then `skip` rows are dropped and at
 * most `limit` returned (the store's default limit when absent).
 */
export interface Query {
  readonly filter?: Filter;
  readonly orderBy?: readonly OrderBy[];
  readonly limit?: number;
  readonly skip?: number;
  /**
   * An opaque cursor from `queryPage`: the answer continues strictly after
   * the row it names, in this query's order (`skip` then applies after it).
   */
  readonly after?: string;
}

/** Default and largest `$limit`. */
export interface QueryLimits {
  readonly defaultLimit: number;
  readonly maxLimit: number;
}

/** Limits used when none are configured: 50 rows by default, at most 5000. */
export const DEFAULT_QUERY_LIMITS: QueryLimits = { defaultLimit: 50, maxLimit: 5000 };

const QUERY_KEYS = ['$filter', '$order_by', '$limit', '$skip', '$after'];

/**
 * Parses a REST/gRPC query body:
 * `{"$filter": {...}, "$order_by": {"field": "asc"} | [{"field": "desc"}, ...], "$limit": n, "$skip": n, "$after": cursor}`.
 * Throws {@link InvalidQueryError} naming the offending path.
 */
export function parseQuery(json: unknown, schema: Schema, limits: Partial<QueryLimits> = {}): Query {
  const maxLimit = limits.maxLimit ?? DEFAULT_QUERY_LIMITS.maxLimit;
  if (json === undefined || json === null) return {};
  if (!isObject(json)) {
    throw new InvalidQueryError(
      `query must be a JSON object such as {"$filter": {"id": 1}, "$limit": 10}, got ${describeJson(json)}`,
    );
  }
  const out: { filter?: Filter; orderBy?: OrderBy[]; limit?: number; skip?: number; after?: string } = {};
  for (const key of Object.keys(json)) {
    if (!QUERY_KEYS.includes(key)) {
      throw new InvalidQueryError(`unknown key "${key}" in query (supported: ${QUERY_KEYS.join(', ')})`);
    }
  }
  if (json.$filter !== undefined) out.filter = parseFilterAt(json.$filter, schema, '$filter');
  if (json.$order_by !== undefined) out.orderBy = parseOrderBy(json.$order_by, schema);
  if (json.$limit !== undefined) {
    const n = json.$limit;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > maxLimit) {
      throw new InvalidQueryError(
        `$limit must be an integer between 0 and ${maxLimit}, got ${typeof n === 'number' ? n : describeJson(n)}`,
      );
    }
    out.limit = n;
  }
  if (json.$skip !== undefined) {
    const n = json.$skip;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new InvalidQueryError(
        `$skip must be a non-negative integer, got ${typeof n === 'number' ? n : describeJson(n)}`,
      );
    }
    out.skip = n;
  }
  if (json.$after !== undefined && json.$after !== null) {
    if (typeof json.$after !== 'string' || json.$after === '') {
      throw new InvalidQueryError(
        `$after must be the cursor string of a previous page, got ${describeJson(json.$after)}`,
      );
    }
    out.after = json.$after;
  }
  return out;
}

/**
 * Parses a filter object: `{"a": 1}` is equality, `{"a": {"$gt": 1, "$lte": 9}}`
 * compares, `{"s": {"$contains": "word"}}` searches text, several fields are
 * ANDed, `{"$and": [filter, ...]}` ANDs filters and `{"$or": [filter, ...]}`
 * ORs them. Values are read with `valueFromJson` (ints as numbers or strings).
 */
export function parseFilter(json: unknown, schema: Schema): Filter {
  return parseFilterAt(json, schema, '$filter');
}

function parseFilterAt(json: unknown, schema: Schema, path: string): Filter {
  if (!isObject(json)) {
    throw new InvalidQueryError(
      `${path} must be an object such as {"field": value}, got ${describeJson(json)}`,
    );
  }
  const filters: Filter[] = [];
  for (const [key, body] of Object.entries(json)) {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(body) || (key === '$or' && body.length === 0)) {
        throw new InvalidQueryError(
          `${path}.${key} must be ${key === '$or' ? 'a non-empty' : 'an'} array of filters, got ${Array.isArray(body) ? 'an empty array' : describeJson(body)}`,
        );
      }
      const parts = body.map((f, i) => parseFilterAt(f, schema, `${path}.${key}[${i}]`));
      if (key === '$and') filters.push(...parts);
      else filters.push(parts.length === 1 ? parts[0]! : { kind: 'or', filters: parts });
      continue;
    }
    if (key.startsWith('$')) {
      throw new InvalidQueryError(`unknown operator "${key}" at ${path} (supported: $and, $or)`);
    }
    const field = schema.fields.find((f) => f.name === key);
    if (!field) {
      throw new InvalidQueryError(
        `unknown field "${key}" in ${path} (fields: ${schema.fields.map((f) => f.name).join(', ')})`,
      );
    }
    const fieldPath = `${path}.${key}`;
    const opKeys = isObject(body) ? Object.keys(body) : [];
    if (opKeys.length > 0 && opKeys.some((k) => k.startsWith('$'))) {
      for (const op of opKeys) {
        if ((TEXT_OPS as readonly string[]).includes(op)) {
          const v = (body as Record<string, unknown>)[op];
          if (field.type !== 'string' && field.type !== 'text') {
            throw new InvalidQueryError(
              `${fieldPath}.${op}: ${op} applies to string and text fields, but "${key}" is ${field.type}`,
            );
          }
          if (typeof v !== 'string') {
            throw new InvalidQueryError(`${fieldPath}.${op}: expected a string, got ${describeJson(v)}`);
          }
          filters.push({ kind: 'text', field: key, op: op as TextOp, value: v });
          continue;
        }
        if (!(COMPARISON_OPS as readonly string[]).includes(op)) {
          throw new InvalidQueryError(
            `unknown operator "${op}" at ${fieldPath} (supported: ${[...COMPARISON_OPS, ...TEXT_OPS].join(', ')})`,
          );
        }
        const value = parseValue(field, (body as Record<string, unknown>)[op], `${fieldPath}.${op}`);
        filters.push({ kind: 'compare', field: key, op: op as ComparisonOp, value });
      }
    } else {
      filters.push({ kind: 'compare', field: key, op: '$eq', value: parseValue(field, body, fieldPath) });
    }
  }
  return filters.length === 1 ? filters[0]! : { kind: 'and', filters };
}

function parseValue(field: FieldDefinition, json: unknown, path: string): Value {
  try {
    // NULL is a value to compare with even in a NOT NULL field (it matches nothing there).
    return valueFromJson(field.nullable ? field : { ...field, nullable: true }, json, path);
  } catch (e) {
    if (e instanceof TypeMismatchError) throw new InvalidQueryError(e.message, { cause: e });
    throw e;
  }
}

function parseOrderBy(json: unknown, schema: Schema): OrderBy[] {
  const terms: [string, unknown, string][] = [];
  if (Array.isArray(json)) {
    json.forEach((t, i) => {
      if (!isObject(t) || Object.keys(t).length !== 1) {
        throw new InvalidQueryError(
          `$order_by[${i}] must be an object with one field, such as {"price": "desc"}, got ${describeJson(t)}`,
        );
      }
      const [name, dir] = Object.entries(t)[0]!;
      terms.push([name, dir, `$order_by[${i}].${name}`]);
    });
  } else if (isObject(json)) {
    for (const [name, dir] of Object.entries(json)) terms.push([name, dir, `$order_by.${name}`]);
  } else {
    throw new InvalidQueryError(
      `$order_by must be an object such as {"price": "desc"} or an array of them, got ${describeJson(json)}`,
    );
  }
  const seen = new Set<string>();
  return terms.map(([name, dir, path]) => {
    if (!schema.fields.some((f) => f.name === name)) {
      throw new InvalidQueryError(
        `unknown field "${name}" in $order_by (fields: ${schema.fields.map((f) => f.name).join(', ')})`,
      );
    }
    if (seen.has(name)) throw new InvalidQueryError(`${path}: field "${name}" appears twice in $order_by`);
    seen.add(name);
    if (dir !== 'asc' && dir !== 'desc') {
      throw new InvalidQueryError(`${path} must be "asc" or "desc", got ${describeJson(dir)}`);
    }
    return { field: name, direction: dir };
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
