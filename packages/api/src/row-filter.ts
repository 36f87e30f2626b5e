import { compareValues, type Row, type Schema } from '@dozer/core';
import type { ComparisonOp, Filter } from '@dozer/store';
import { BadRequestError } from './errors.js';

/**
 * A predicate on rows for a parsed filter, with the store's semantics
 * (the total order of `compareValues`: NULL is smallest). Live streams use
 * it to decide which changes a subscriber sees.
 */
export function rowMatcher(filter: Filter | undefined, schema: Schema): (row: Row) => boolean {
  if (!filter) return () => true;
  return compile(filter, schema);
}

function position(schema: Schema, name: string): number {
  const pos = schema.fields.findIndex((f) => f.name === name);
  if (pos < 0) {
    throw new BadRequestError(
      `unknown field "${name}" in $filter (fields: ${schema.fields.map((f) => f.name).join(', ')})`,
    );
  }
  return pos;
}

function compile(f: Filter, schema: Schema): (row: Row) => boolean {
  switch (f.kind) {
    case 'and': {
      const parts = f.filters.map((g) => compile(g, schema));
      return (row) => parts.every((p) => p(row));
    }
    case 'or': {
      const parts = f.filters.map((g) => compile(g, schema));
      return (row) => parts.some((p) => p(row));
    }
    case 'compare': {
      const pos = position(schema, f.field);
      const type = schema.fields[pos]!.type;
      const value = f.value;
      const test = COMPARE[f.op];
      return (row) => test(compareValues(type, row[pos] ?? null, value));
    }
    case 'text': {
      const pos = position(schema, f.field);
      const words = tokenize(f.value);
      switch (f.op) {
        case '$contains':
          return (row) => {
            const v = row[pos];
            return typeof v === 'string' && v.includes(f.value);
          };
        case '$matches_any':
          return (row) => {
            const v = row[pos];
            if (typeof v !== 'string') return false;
            const have = new Set(tokenize(v));
            return words.some((w) => have.has(w));
          };
        case '$matches_all':
          return (row) => {
            const v = row[pos];
            if (typeof v !== 'string') return false;
            const have = new Set(tokenize(v));
            return words.every((w) => have.has(w));
          };
      }
    }
  }
}

const COMPARE: { readonly [op in ComparisonOp]: (r: number) => boolean } = {
  $eq: (r) => r === 0,
  $lt: (r) => r < 0,
  $lte: (r) => r <= 0,
  $gt: (r) => r > 0,
  $gte: (r) => r >= 0,
};

// $contains is a substring test and $matches_any / $matches_all compare words,
// as the store's matcher does (with or without a full-text index); the
// row-filter test holds the two to the same answers.

/** Words as the store's full-text search sees them: NFKC, lowercased runs of letters, marks and digits. */
function tokenize(text: string): string[] {
  return (
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{M}\p{N}]+/gu) ?? []
  );
}
