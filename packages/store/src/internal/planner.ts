import { compareValues, type FieldType, type Schema, type Value } from '@dozer/core';
import { InvalidQueryError } from '../errors.js';
import type { ComparisonOp, Filter, OrderBy } from '../query.js';
import { compareKeys, encodeKey, prefixSuccessor } from './key-codec.js';
import { indexedToken, substringTokens, tokenize, tokenSet } from './text.js';

/** A comparison resolved against the schema. */
export interface Condition {
  readonly kind: 'compare';
  readonly pos: number;
  readonly type: FieldType;
  readonly op: ComparisonOp;
  readonly value: Value;
}

/**
 * A text condition resolved against the schema: `substring` ($contains, a
 * case-sensitive substring test), `all` / `any` of `tokens` ($matches_all /
 * $matches_any). For `substring`, `tokens` are words every matching value
 * holds (the tokens of the ASCII pieces of the needle that lie between
 * whitespace), which a full-text index can look up.
 */
export interface TextCondition {
  readonly kind: 'text';
  readonly pos: number;
  readonly mode: 'substring' | 'all' | 'any';
  readonly needle: string;
  readonly tokens: readonly string[];
  readonly op: string;
}

/** One conjunct of a resolved filter; an `or` holds alternative conjunctions. */
export type Predicate =
  | Condition
  | TextCondition
  | { readonly kind: 'or'; readonly branches: readonly (readonly Predicate[])[] };

/** An `$order_by` term resolved against the schema; `dir` is 1 or -1. */
export interface SortTerm {
  readonly pos: number;
  readonly type: FieldType;
  readonly dir: 1 | -1;
}

/** A secondary index as the planner sees it. */
export interface IndexInfo {
  readonly id: number;
  readonly kind: 'sorted' | 'full_text';
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
      /** In a reverse scan, runs of rows equal at these positions are re-reversed so ties stay in key order. */
      readonly regroup: readonly number[] | undefined;
      /** For an ordered scan: how to skip ahead to a paging cursor. */
      readonly seek: Seek | undefined;
    }
  | {
      /** Rows holding any of the tokens, each once, from a full-text index. */
      readonly kind: 'tokens';
      readonly index: IndexInfo;
      readonly ranges: readonly KeyRange[];
    };

/**
 * Where the rows after a cursor start, in an ordered scan: keys of the scanned
 * index start with `base`; then, when `rowKey`, the row key follows (rows come
 * in row key order); otherwise the values of the sort terms at `sortAt`
 * (indexes into the plan's sort) follow, then the row key.
 */
export interface Seek {
  readonly base: Uint8Array;
  readonly rowKey: boolean;
  readonly sortAt: readonly number[];
}

export interface Plan {
  readonly access: Access;
  /** Predicates the access path does not guarantee; checked on every row. */
  readonly residual: readonly Predicate[];
  /** True when rows come out of the access path already in the requested order. */
  readonly ordered: boolean;
  readonly sort: readonly SortTerm[];
  readonly description: string;
}

/** Flattens a filter into the predicates it ANDs together, resolving fields and text modes. */
export function resolveFilter(filter: Filter | undefined, schema: Schema): Predicate[] {
  const posOf = (field: string) => {
    const pos = schema.fields.findIndex((d) => d.name === field);
    if (pos < 0) {
      throw new InvalidQueryError(
        `unknown field "${field}" in $filter (fields: ${schema.fields.map((d) => d.name).join(', ')})`,
      );
    }
    return pos;
  };
  const walk = (f: Filter, out: Predicate[]): void => {
    switch (f.kind) {
      case 'and':
        for (const g of f.filters) walk(g, out);
        return;
      case 'or': {
        const branches = f.filters.map((g) => {
          const b: Predicate[] = [];
          walk(g, b);
          return b;
        });
        if (branches.length === 1) out.push(...branches[0]!);
        else out.push({ kind: 'or', branches });
        return;
      }
      case 'compare': {
        const pos = posOf(f.field);
        out.push({ kind: 'compare', pos, type: schema.fields[pos]!.type, op: f.op, value: f.value });
        return;
      }
      case 'text': {
        const pos = posOf(f.field);
        const type = schema.fields[pos]!.type;
        if (type !== 'string' && type !== 'text') {
          throw new InvalidQueryError(
            `${f.op} applies to string and text fields, but "${f.field}" is ${type}`,
          );
        }
        const mode = f.op === '$matches_any' ? 'any' : f.op === '$matches_all' ? 'all' : 'substring';
        const tokens = mode === 'substring' ? substringTokens(f.value) : tokenize(f.value);
        out.push({ kind: 'text', pos, mode, needle: f.value, tokens: [...new Set(tokens)], op: f.op });
        return;
      }
    }
  };
  const out: Predicate[] = [];
  if (filter) walk(filter, out);
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

/** True when `row` satisfies `p` (comparisons in the total order of compareValues; NULL is smallest). */
export function matches(p: Predicate, row: readonly Value[]): boolean {
  switch (p.kind) {
    case 'compare': {
      const r = compareValues(p.type, row[p.pos] ?? null, p.value);
      switch (p.op) {
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
      return false;
    }
    case 'text': {
      const v = row[p.pos];
      if (typeof v !== 'string') return false;
      if (p.mode === 'substring') return v.includes(p.needle);
      const words = tokenSet(v);
      return p.mode === 'all' ? p.tokens.every((t) => words.has(t)) : p.tokens.some((t) => words.has(t));
    }
    case 'or':
      return p.branches.some((b) => b.every((q) => matches(q, row)));
  }
}

const OP_TEXT: Record<ComparisonOp, string> = { $eq: '=', $lt: '<', $lte: '<=', $gt: '>', $gte: '>=' };

function predText(schema: Schema, p: Predicate): string {
  switch (p.kind) {
    case 'compare':
      return `${schema.fields[p.pos]!.name} ${OP_TEXT[p.op]} ${showValue(p.value)}`;
    case 'text': {
      const name = schema.fields[p.pos]!.name;
      if (p.mode === 'substring') return `${name} contains substring ${JSON.stringify(p.needle)}`;
      return `${name} has ${p.mode} of words [${p.tokens.map((t) => JSON.stringify(t)).join(', ')}]`;
    }
    case 'or':
      return `(${p.branches.map((b) => (b.length === 0 ? 'TRUE' : b.map((q) => predText(schema, q)).join(' AND '))).join(' OR ')})`;
  }
}

function showValue(v: Value): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
  return String(v);
}

/** The byte range of one field's key encoding, after `prefix`, that the conditions on it allow, or 'empty'. */
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

interface Candidate {
  readonly index: IndexInfo | undefined;
  readonly positions: readonly number[];
  readonly covered: readonly Predicate[];
  readonly range: KeyRange | 'empty';
  readonly eqCount: number;
  readonly hasRange: boolean;
  readonly ordered: boolean;
  readonly reverse: boolean;
  readonly regroup: readonly number[] | undefined;
  readonly seek: Seek | undefined;
  readonly score: number;
}

/**
 * Picks how to answer a query:
 * 1. all primary key fields compared with $eq → one primary key lookup;
 * 2. else the sorted index (secondary, composite, or the primary index) that
 *    covers the most: $eq on a prefix of its fields (4 points a field), a
 *    range on the next field (2), the requested order for free (1); or a
 *    full-text index for a word search (3);
 * 3. else a full scan of the primary index.
 * Predicates an access path does not cover (`$or`, text tests, conditions on
 * other fields) are checked on each row, and rows are sorted in memory
 * unless the path yields them in order.
 */
// Helpers at module level: plan() runs on every query, so it creates few closures.

function fieldName(schema: Schema, pos: number): string {
  return schema.fields[pos]!.name;
}

function condsAt(preds: readonly Predicate[], pos: number): Condition[] {
  const out: Condition[] = [];
  for (const p of preds) if (p.kind === 'compare' && p.pos === pos) out.push(p);
  return out;
}

function eqAt(preds: readonly Predicate[], pos: number): Condition | undefined {
  for (const p of preds) if (p.kind === 'compare' && p.pos === pos && p.op === '$eq') return p;
  return undefined;
}

/** The text of `explain`, built only when asked for. */
function describePlan(
  layout: PlannerLayout,
  sort: readonly SortTerm[],
  residual: readonly Predicate[],
  ordered: boolean,
  why: string,
): string {
  const { schema, primaryKey } = layout;
  const parts = [why];
  if (residual.length > 0)
    parts.push(`then filter rows on ${residual.map((p) => predText(schema, p)).join(' AND ')}`);
  const sortText = sort.map((t) => `${fieldName(schema, t.pos)} ${t.dir === 1 ? 'asc' : 'desc'}`).join(', ');
  const keyText =
    primaryKey.length > 0
      ? `primary key (${primaryKey.map((p) => fieldName(schema, p)).join(', ')})`
      : 'all fields';
  if (ordered)
    parts.push(sort.length > 0 ? `order by ${sortText} comes from the scan` : `rows in ${keyText} order`);
  else parts.push(`sort in memory by ${sortText ? `${sortText}, then ` : ''}${keyText}`);
  return parts.join('; ');
}

function makePlan(
  layout: PlannerLayout,
  preds: readonly Predicate[],
  sort: readonly SortTerm[],
  access: Access,
  covered: readonly Predicate[],
  ordered: boolean,
  why: () => string,
): Plan {
  const residual = covered.length === 0 ? preds : preds.filter((p) => !covered.includes(p));
  return {
    access,
    residual,
    ordered,
    sort,
    get description() {
      return describePlan(layout, sort, residual, ordered, why());
    },
  };
}

const NO_PREFIX = new Uint8Array(0);

export function plan(layout: PlannerLayout, preds: readonly Predicate[], sort: readonly SortTerm[]): Plan {
  const { schema, primaryKey } = layout;
  const name = fieldName.bind(null, schema);
  const finish = makePlan.bind(null, layout, preds, sort);
  const eqOn = eqAt.bind(null, preds);

  // 1. Primary key lookup.
  // The primary index serves a prefix of its key fields, up to the first duration:
  // primary keys keep `1 month` and `30 days` apart, which compare equal.
  const durationAt = primaryKey.findIndex((p) => schema.fields[p]!.type === 'duration');
  if (primaryKey.length > 0 && durationAt < 0 && primaryKey.every((p) => eqOn(p))) {
    const used = primaryKey.map((p) => eqOn(p)!);
    return finish(
      { kind: 'lookup', key: used.map((c) => c.value) },
      used,
      true,
      () =>
        `primary key lookup on (${primaryKey.map(name).join(', ')}): every primary key field is compared with $eq`,
    );
  }

  const candidates: Candidate[] = [];
  const primaryPositions = durationAt < 0 ? primaryKey : primaryKey.slice(0, durationAt);
  const sorted: [IndexInfo | undefined, readonly number[]][] = [];
  if (primaryPositions.length > 0) sorted.push([undefined, primaryPositions]);
  for (const ix of layout.indexes) if (ix.kind === 'sorted') sorted.push([ix, ix.positions]);

  for (const [ix, positions] of sorted) {
    let k = 0;
    while (k < positions.length && eqOn(positions[k]!)) k++;
    const rangeConds = k < positions.length ? condsAt(preds, positions[k]!) : [];
    // Cheap test first: an index with no $eq, no range and no first sort field cannot serve.
    if (k === 0 && rangeConds.length === 0 && sort[0]?.pos !== positions[0] && sort.length > 0) continue;
    const covered: Predicate[] = [];
    let prefix: Uint8Array = ix ? ix.prefix : NO_PREFIX;
    for (let i = 0; i < k; i++) {
      const eq = eqOn(positions[i]!)!;
      covered.push(eq);
      prefix = Buffer.concat([prefix, encodeKey(eq.type, eq.value)]);
    }
    covered.push(...rangeConds);
    const range = fieldRange(rangeConds, prefix);
    const rest = sort.filter((t) => {
      const at = positions.indexOf(t.pos);
      return at < 0 || at >= k;
    });
    const remaining = positions.slice(k);
    const dir = rest[0]?.dir ?? 1;
    const uniform = rest.every((t, i) => t.dir === dir && t.pos === remaining[i]);
    // Index entries are ordered by the index fields, then the row key: they give the requested
    // order (ties by primary key) when the sort names the remaining fields in order. The primary
    // index orders by key, so a prefix of its remaining fields suffices.
    const pkTail =
      ix !== undefined &&
      remaining.length === 0 &&
      primaryKey.length > 0 &&
      rest.every((t, i) => t.dir === 1 && t.pos === primaryKey[i]);
    const ordered =
      pkTail ||
      (uniform && (ix === undefined ? rest.length <= remaining.length : rest.length === remaining.length));
    const reverse = ordered && !pkTail && dir === -1;
    const hasRange = rangeConds.length > 0;
    if (k === 0 && !hasRange && !ordered) continue;
    candidates.push({
      index: ix,
      positions,
      covered,
      range,
      eqCount: k,
      hasRange,
      ordered,
      reverse,
      // In a reverse scan of the primary index over its whole key, ties cannot occur.
      regroup:
        reverse && !(ix === undefined && durationAt < 0 && rest.length === remaining.length)
          ? rest.map((t) => t.pos)
          : undefined,
      seek: ordered ? { base: prefix, rowKey: pkTail, sortAt: rest.map((t) => sort.indexOf(t)) } : undefined,
      score: k * 4 + (hasRange ? 2 : 0) + (ordered ? 1 : 0),
    });
  }

  // Full-text indexes: a word search reads the entries of its rarest-looking (longest) word, or
  // for $matches_any of each word; the text test itself stays on every row.
  let textPlan: { ix: IndexInfo; cond: TextCondition } | undefined;
  for (const p of preds) {
    if (p.kind !== 'text') continue;
    const ix = layout.indexes.find((i) => i.kind === 'full_text' && i.positions[0] === p.pos);
    if (!ix) continue;
    // Without words, $matches_all and $contains say nothing an index could look up.
    if (p.mode !== 'any' && p.tokens.length === 0) continue;
    if (!textPlan || (p.mode !== 'any' && textPlan.cond.mode === 'any')) textPlan = { ix, cond: p };
  }

  let best: Candidate | undefined;
  for (const c of candidates) if (!best || c.score > best.score) best = c;

  if (textPlan && (!best || best.score < 3)) {
    const { ix, cond } = textPlan;
    const words =
      cond.mode === 'any' ? cond.tokens : [cond.tokens.reduce((a, b) => (b.length > a.length ? b : a))];
    if (words.length === 0) {
      return {
        access: { kind: 'empty' },
        residual: [],
        ordered: true,
        sort,
        description: `no rows can match: $matches_any on ${name(cond.pos)} lists no words`,
      };
    }
    const ranges = words.map(
      (w) =>
        fieldRange(
          [{ kind: 'compare', pos: cond.pos, type: 'string', op: '$eq', value: indexedToken(w) }],
          ix.prefix,
        ) as KeyRange,
    );
    const what = cond.mode === 'any' ? 'each word' : 'its longest word';
    return finish(
      { kind: 'tokens', index: ix, ranges },
      [],
      false,
      () =>
        `full-text index on ${name(cond.pos)} word lookup (${words.map((w) => JSON.stringify(w)).join(' OR ')}): ${cond.op} on a field with a full-text index reads the rows of ${what}`,
    );
  }

  if (best) {
    if (best.range === 'empty') {
      return {
        access: { kind: 'empty' },
        residual: [],
        ordered: true,
        sort,
        description: `no rows can match: the conditions on ${best.covered
          .map((c) => name((c as Condition).pos))
          .filter((n, i, a) => a.indexOf(n) === i)
          .join(', ')} exclude each other`,
      };
    }
    const access: Access = {
      kind: 'scan',
      index: best.index,
      range: best.range,
      reverse: best.reverse,
      regroup: best.regroup,
      seek: best.seek,
    };
    const chosen = best;
    const why = (): string => {
      let why: string;
      if (chosen.eqCount === 0 && !chosen.hasRange && sort.length === 0) {
        why =
          preds.length > 0
            ? 'full scan of the primary index: no equality or range filter on an indexed field'
            : 'full scan of the primary index: no filter';
      } else if (chosen.eqCount === 0 && !chosen.hasRange) {
        why = `full scan of ${chosen.index ? 'index' : 'primary index'} on ${chosen.positions.map(name).join(', ')}: no equality or range filter on an indexed field, and the index gives the $order_by order`;
      } else {
        const conds = chosen.covered.map((p) => predText(schema, p)).join(' AND ');
        const how =
          chosen.eqCount > 0
            ? `$eq on ${chosen.eqCount === 1 ? 'the first field' : `the first ${chosen.eqCount} fields`}${chosen.hasRange ? ' and a range on the next' : ''}`
            : `range (${chosen.covered.map((c) => (c as Condition).op).join(', ')}) on an indexed field, no usable equality`;
        why = `${chosen.index ? 'index' : 'primary index'} on ${chosen.positions.map(name).join(', ')} ${chosen.eqCount > 0 ? 'equality' : 'range'} scan (${conds}): ${how}`;
      }
      return why;
    };
    return finish(access, best.covered, best.ordered, why);
  }

  // 3. Full scan.
  const unkeyedOrder = sort.length === 0;
  return finish(
    {
      kind: 'scan',
      index: undefined,
      range: { start: undefined, end: undefined },
      reverse: false,
      regroup: undefined,
      seek: unkeyedOrder ? { base: new Uint8Array(0), rowKey: true, sortAt: [] } : undefined,
    },
    [],
    unkeyedOrder,
    () =>
      preds.length > 0
        ? 'full scan of the primary index: no equality or range filter on an indexed field'
        : 'full scan of the primary index: no filter',
  );
}
