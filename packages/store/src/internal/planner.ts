import { compareValues, type FieldType, type Schema, type Value } from '@dozer/core';
import { InvalidQueryError } from '../errors.js';
import type { ComparisonOp, Filter, OrderBy } from '../query.js';
import { compareKeys, encodeKey, prefixSuccessor } from './key-codec.js';

/** A comparison resolved against the schema. */
export interface Condition {
  readonly pos: number;
  readonly type: FieldType;
  readonly op: ComparisonOp;
  readonly value: Value;
}

/** An `$order_by` term resolved against the schema; `dir` is 1 or -1. */
export interface SortTerm {
  readonly pos: number;
  readonly type: FieldType;
  readonly dir: 1 | -1;
}

/** A secondary index as the planner sees it. */
export interface IndexInfo {
  readonly id: number;
  readonly positions: readonly number[];
  /** The 2-byte prefix of all its keys. */
  readonly prefix: Uint8Array;
}

/** What the planner needs to know about an endpoint. */
export interface PlannerLayout {
  readonly schema: Schema;
  /** Empty for endpoints without a primary key (rows keyed by all fields). */
  readonly primaryKey: readonly number[];
  readonly indexes: readonly IndexInfo[];
}

/** A key range [start, end) in LMDB byte order; undefined means unbounded. */
export interface KeyRange {
  readonly start: Uint8Array | undefined;
  readonly end: Uint8Array | undefined;
}

export type Access =
  | { readonly kind: 'empty' }
  | { readonly kind: 'lookup'; readonly key: readonly Value[] }
  | {
      readonly kind: 'scan';
      /** undefined: the primary index. */
      readonly index: IndexInfo | undefined;
      readonly range: KeyRange;
      readonly reverse: boolean;
      /** In a reverse scan, rows with equal values at this position are re-reversed so ties stay in key order. */
      readonly regroupPos: number | undefined;
    };

export interface Plan {
  readonly access: Access;
  /** Conditions the access path does not guarantee; checked on every row. */
  readonly residual: readonly Condition[];
  /** True when rows come out of the access path already in the requested order. */
  readonly ordered: boolean;
  readonly sort: readonly SortTerm[];
  readonly description: string;
}

/** Flattens a filter into the conditions it ANDs together. */
export function resolveFilter(filter: Filter | undefined, schema: Schema): Condition[] {
  const out: Condition[] = [];
  const walk = (f: Filter): void => {
    if (f.kind === 'and') {
      for (const g of f.filters) walk(g);
      return;
    }
    const pos = schema.fields.findIndex((d) => d.name === f.field);
    if (pos < 0) {
      throw new InvalidQueryError(
        `unknown field "${f.field}" in $filter (fields: ${schema.fields.map((d) => d.name).join(', ')})`,
      );
    }
    out.push({ pos, type: schema.fields[pos]!.type, op: f.op, value: f.value });
  };
  if (filter) walk(filter);
  return out;
}

export function resolveOrder(orderBy: readonly OrderBy[] | undefined, schema: Schema): SortTerm[] {
  return (orderBy ?? []).map((o) => {
    const pos = schema.fields.findIndex((d) => d.name === o.field);
    if (pos < 0) {
      throw new InvalidQueryError(
        `unknown field "${o.field}" in $order_by (fields: ${schema.fields.map((d) => d.name).join(', ')})`,
      );
    }
    return { pos, type: schema.fields[pos]!.type, dir: o.direction === 'desc' ? -1 : 1 };
  });
}

/** True when `row` satisfies `c` (the total order of compareValues; NULL is smallest). */
export function matches(c: Condition, row: readonly Value[]): boolean {
  const r = compareValues(c.type, row[c.pos] ?? null, c.value);
  switch (c.op) {
    case '$eq':
      return r === 0;
    case '$lt':
      return r < 0;
    case '$lte':
      return r <= 0;
    case '$gt':
      return r > 0;
    case '$gte':
      return r >= 0;
  }
}

const OP_TEXT: Record<ComparisonOp, string> = { $eq: '=', $lt: '<', $lte: '<=', $gt: '>', $gte: '>=' };

function condText(schema: Schema, c: Condition): string {
  return `${schema.fields[c.pos]!.name} ${OP_TEXT[c.op]} ${showValue(c.value)}`;
}

function showValue(v: Value): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
  return String(v);
}

/** The byte range of one field's key encoding that the conditions on it allow, or 'empty'. */
function fieldRange(conds: readonly Condition[], prefix: Uint8Array): KeyRange | 'empty' {
  let lo: Uint8Array | undefined;
  let hi: Uint8Array | undefined;
  const withPrefix = (k: Uint8Array) => Buffer.concat([prefix, k]);
  for (const c of conds) {
    const k = withPrefix(encodeKey(c.type, c.value));
    // Encodings are prefix-free, so the successor of an encoded value bounds all keys that start with it.
    const after = prefixSuccessor(k);
    let cLo: Uint8Array | undefined;
    let cHi: Uint8Array | undefined;
    if (c.op === '$eq' || c.op === '$gte') cLo = k;
    if (c.op === '$gt') cLo = after;
    if (c.op === '$eq' || c.op === '$lte') cHi = after;
    if (c.op === '$lt') cHi = k;
    if (c.op === '$gt' && !after) return 'empty';
    if (cLo && (!lo || compareKeys(cLo, lo) > 0)) lo = cLo;
    if (cHi && (!hi || compareKeys(cHi, hi) < 0)) hi = cHi;
  }
  if (prefix.length > 0) {
    lo ??= prefix;
    hi ??= prefixSuccessor(prefix);
  }
  if (lo && hi && compareKeys(lo, hi) >= 0) return 'empty';
  return { start: lo, end: hi };
}

/**
 * Picks how to answer a query:
 * 1. all primary key fields compared with $eq → one primary key lookup;
 * 2. else an index (secondary, or the primary index for its first field)
 *    on a field with an $eq condition, else one with a range condition;
 *    among equals, the one on the first $order_by field;
 * 3. else, when the first $order_by field is indexed and the index order
 *    gives the requested order, a scan of that index (stops at skip+limit);
 * 4. else a full scan of the primary index.
 * The conditions an access path does not cover are checked on each row, and
 * the rows are sorted in memory unless the path yields them in order.
 */
export function plan(layout: PlannerLayout, conds: readonly Condition[], sort: readonly SortTerm[]): Plan {
  const { schema, primaryKey } = layout;
  const name = (pos: number) => schema.fields[pos]!.name;
  const pkNames = primaryKey.map(name).join(', ');
  const byPos = new Map<number, Condition[]>();
  for (const c of conds) byPos.set(c.pos, [...(byPos.get(c.pos) ?? []), c]);
  const hasEq = (pos: number) => (byPos.get(pos) ?? []).some((c) => c.op === '$eq');

  // Rows in primary key order satisfy `sort` when it is a prefix of the
  // primary key, ascending (ties are broken by primary key ascending).
  const pkOrdered = (terms: readonly SortTerm[]) =>
    terms.length === 0 ||
    (primaryKey.length > 0 && terms.every((t, i) => t.pos === primaryKey[i] && t.dir === 1));

  const finish = (access: Access, covered: readonly number[], ordered: boolean, why: string): Plan => {
    const residual = conds.filter((c) => !covered.includes(c.pos));
    const parts = [why];
    if (residual.length > 0)
      parts.push(`then filter rows on ${residual.map((c) => condText(schema, c)).join(' AND ')}`);
    const sortText = sort.map((t) => `${name(t.pos)} ${t.dir === 1 ? 'asc' : 'desc'}`).join(', ');
    const keyText = primaryKey.length > 0 ? `primary key (${pkNames})` : 'all fields';
    if (ordered)
      parts.push(sort.length > 0 ? `order by ${sortText} comes from the scan` : `rows in ${keyText} order`);
    else parts.push(`sort in memory by ${sortText ? `${sortText}, then ` : ''}${keyText}`);
    return { access, residual, ordered, sort, description: parts.join('; ') };
  };

  // 1. Primary key lookup.
  if (primaryKey.length > 0 && primaryKey.every(hasEq)) {
    const key = primaryKey.map((p) => byPos.get(p)!.find((c) => c.op === '$eq')!.value);
    return finish(
      { kind: 'lookup', key },
      [],
      true,
      `primary key lookup on (${pkNames}): every primary key field is compared with $eq`,
    );
  }

  // An index serves conditions on its first field. The primary index serves its first key field,
  // except durations: primary keys keep `1 month` and `30 days` apart, which compare equal.
  const primaryFirst =
    primaryKey.length > 0 && schema.fields[primaryKey[0]!]!.type !== 'duration' ? primaryKey[0] : undefined;
  const indexFor = (pos: number): IndexInfo | 'primary' | undefined => {
    if (pos === primaryFirst) return 'primary';
    return layout.indexes.find((ix) => ix.positions[0] === pos);
  };
  const label = (ix: IndexInfo | 'primary', pos: number) =>
    ix === 'primary' ? `primary index on ${name(pos)}` : `index on ${ix.positions.map(name).join(', ')}`;

  const scanOf = (ix: IndexInfo | 'primary', pos: number, eq: boolean) => {
    const single = ix === 'primary' || ix.positions.length === 1;
    const rest = eq ? sort.filter((t) => t.pos !== pos) : sort;
    if (ix === 'primary' || (eq && single)) {
      // One value of the indexed field (or the primary index): rows come in primary key order.
      if (pkOrdered(rest)) return { reverse: false, ordered: true, regroupPos: undefined };
      if (ix === 'primary' && primaryKey.length === 1 && rest.length === 1 && rest[0]!.pos === pos) {
        return { reverse: true, ordered: true, regroupPos: undefined };
      }
    }
    if (ix !== 'primary' && single && !eq && sort.length === 1 && sort[0]!.pos === pos) {
      const reverse = sort[0]!.dir === -1;
      return { reverse, ordered: true, regroupPos: reverse ? pos : undefined };
    }
    return { reverse: false, ordered: false, regroupPos: undefined };
  };

  // 2. Equality, then range, on an indexed field.
  let best: { pos: number; ix: IndexInfo | 'primary'; eq: boolean; score: number } | undefined;
  for (const [pos, cs] of byPos) {
    const ix = indexFor(pos);
    if (!ix) continue;
    const eq = cs.some((c) => c.op === '$eq');
    const score = (eq ? 4 : 2) + (sort[0]?.pos === pos ? 1 : 0);
    if (!best || score > best.score) best = { pos, ix, eq, score };
  }
  if (best) {
    const { pos, ix, eq } = best;
    const cs = byPos.get(pos)!;
    const range = fieldRange(cs, ix === 'primary' ? new Uint8Array(0) : ix.prefix);
    const how = cs.map((c) => c.op).join(', ');
    const why = `${label(ix, pos)} ${eq ? 'equality' : 'range'} scan (${cs.map((c) => condText(schema, c)).join(' AND ')}): ${eq ? '$eq' : `range (${how})`} on an indexed field${eq ? '' : ', no usable equality'}`;
    if (range === 'empty') {
      return {
        access: { kind: 'empty' },
        residual: [],
        ordered: true,
        sort,
        description: `no rows can match: the conditions on ${name(pos)} exclude each other`,
      };
    }
    const s = scanOf(ix, pos, eq);
    return finish(
      {
        kind: 'scan',
        index: ix === 'primary' ? undefined : ix,
        range,
        reverse: s.reverse,
        regroupPos: s.regroupPos,
      },
      [pos],
      s.ordered,
      why,
    );
  }

  // 3. Scan an index in the requested order.
  const first = sort[0];
  if (first) {
    const ix = indexFor(first.pos);
    if (ix) {
      const range = fieldRange([], ix === 'primary' ? new Uint8Array(0) : ix.prefix) as KeyRange;
      const s = scanOf(ix, first.pos, false);
      if (s.ordered) {
        return finish(
          {
            kind: 'scan',
            index: ix === 'primary' ? undefined : ix,
            range,
            reverse: s.reverse,
            regroupPos: s.regroupPos,
          },
          [],
          true,
          `full scan of ${label(ix, first.pos)}: no equality or range filter on an indexed field, and the index gives the $order_by order`,
        );
      }
    }
  }

  // 4. Full scan.
  const s = pkOrdered(sort)
    ? { reverse: false, ordered: true }
    : primaryKey.length === 1 && sort.length === 1 && sort[0]!.pos === primaryKey[0] && sort[0]!.dir === -1
      ? { reverse: true, ordered: true }
      : { reverse: false, ordered: false };
  return finish(
    {
      kind: 'scan',
      index: undefined,
      range: { start: undefined, end: undefined },
      reverse: s.reverse,
      regroupPos: undefined,
    },
    [],
    s.ordered,
    conds.length > 0
      ? 'full scan of the primary index: no equality or range filter on an indexed field'
      : 'full scan of the primary index: no filter',
  );
}
