import { compareValues, type FieldType, type Schema, type Value } from '@dozer/core';
import { InvalidQueryError } from '../errors.js';
import type { ComparisonOp, Filter, OrderBy } from '../query.js';
import { compareKeys, encodeKeyAfter, prefixSuccessor } from './key-codec.js';
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
  const out: Predicate[] = [];
  if (filter) walkFilter(filter, schema, out);
  return out;
}

// Module-level helpers rather than closures: planning runs on every query, and a named closure
// costs a property definition per call when the source runs through tsx (esbuild keepNames).

function filterFieldPos(schema: Schema, field: string): number {
  const fields = schema.fields;
  for (let i = 0; i < fields.length; i++) if (fields[i]!.name === field) return i;
  throw new InvalidQueryError(
    `unknown field "${field}" in $filter (fields: ${fields.map((d) => d.name).join(', ')})`,
  );
}

function walkFilter(f: Filter, schema: Schema, out: Predicate[]): void {
  switch (f.kind) {
    case 'and':
      for (const g of f.filters) walkFilter(g, schema, out);
      return;
    case 'or': {
      const branches: Predicate[][] = [];
      for (const g of f.filters) {
        const b: Predicate[] = [];
        walkFilter(g, schema, b);
        branches.push(b);
      }
      if (branches.length === 1) out.push(...branches[0]!);
      else out.push({ kind: 'or', branches });
      return;
    }
    case 'compare': {
      const pos = filterFieldPos(schema, f.field);
      out.push({ kind: 'compare', pos, type: schema.fields[pos]!.type, op: f.op, value: f.value });
      return;
    }
    case 'text': {
      const pos = filterFieldPos(schema, f.field);
      const type = schema.fields[pos]!.type;
      if (type !== 'string' && type !== 'text') {
        throw new InvalidQueryError(`${f.op} applies to string and text fields, but "${f.field}" is ${type}`);
      }
      const mode = f.op === '$matches_any' ? 'any' : f.op === '$matches_all' ? 'all' : 'substring';
      const tokens = mode === 'substring' ? substringTokens(f.value) : tokenize(f.value);
      out.push({ kind: 'text', pos, mode, needle: f.value, tokens: [...new Set(tokens)], op: f.op });
      return;
    }
  }
}

export function resolveOrder(orderBy: readonly OrderBy[] | undefined, schema: Schema): SortTerm[] {
  if (orderBy === undefined || orderBy.length === 0) return [];
  return orderBy.map((o) => {
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
  for (const c of conds) {
    const k = encodeKeyAfter(prefix, c.type, c.value);
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

// Helpers at module level: plan() runs on every query, so it creates no closures (under tsx, a
// named closure costs a property definition each time it is created).

function fieldName(schema: Schema, pos: number): string {
  return schema.fields[pos]!.name;
}

const NO_CONDITIONS: readonly Condition[] = [];

function condsAt(preds: readonly Predicate[], pos: number): readonly Condition[] {
  let out: Condition[] | undefined;
  for (const p of preds) {
    if (p.kind !== 'compare' || p.pos !== pos) continue;
    if (out === undefined) out = [];
    out.push(p);
  }
  return out ?? NO_CONDITIONS;
}

function eqAt(preds: readonly Predicate[], pos: number): Condition | undefined {
  for (const p of preds) if (p.kind === 'compare' && p.pos === pos && p.op === '$eq') return p;
  return undefined;
}

/** Why a plan was chosen, as data: the text is built only when `explain` asks for it. */
type Why =
  | { readonly kind: 'lookup' }
  | { readonly kind: 'tokens'; readonly cond: TextCondition; readonly words: readonly string[] }
  | { readonly kind: 'candidate'; readonly chosen: Candidate }
  | { readonly kind: 'full' }
  | { readonly kind: 'text'; readonly text: string };

function whyText(
  layout: PlannerLayout,
  preds: readonly Predicate[],
  sort: readonly SortTerm[],
  why: Why,
): string {
  const { schema, primaryKey } = layout;
  switch (why.kind) {
    case 'text':
      return why.text;
    case 'lookup':
      return `primary key lookup on (${primaryKey.map((p) => fieldName(schema, p)).join(', ')}): every primary key field is compared with $eq`;
    case 'full':
      return preds.length > 0
        ? 'full scan of the primary index: no equality or range filter on an indexed field'
        : 'full scan of the primary index: no filter';
    case 'tokens': {
      const { cond, words } = why;
      const what = cond.mode === 'any' ? 'each word' : 'its longest word';
      return `full-text index on ${fieldName(schema, cond.pos)} word lookup (${words.map((w) => JSON.stringify(w)).join(' OR ')}): ${cond.op} on a field with a full-text index reads the rows of ${what}`;
    }
    case 'candidate': {
      const chosen = why.chosen;
      const names = chosen.positions.map((p) => fieldName(schema, p)).join(', ');
      if (chosen.eqCount === 0 && !chosen.hasRange && sort.length === 0) {
        return preds.length > 0
          ? 'full scan of the primary index: no equality or range filter on an indexed field'
          : 'full scan of the primary index: no filter';
      }
      if (chosen.eqCount === 0 && !chosen.hasRange) {
        return `full scan of ${chosen.index ? 'index' : 'primary index'} on ${names}: no equality or range filter on an indexed field, and the index gives the $order_by order`;
      }
      const conds = chosen.covered.map((p) => predText(schema, p)).join(' AND ');
      const how =
        chosen.eqCount > 0
          ? `$eq on ${chosen.eqCount === 1 ? 'the first field' : `the first ${chosen.eqCount} fields`}${chosen.hasRange ? ' and a range on the next' : ''}`
          : `range (${chosen.covered.map((c) => (c as Condition).op).join(', ')}) on an indexed field, no usable equality`;
      return `${chosen.index ? 'index' : 'primary index'} on ${names} ${chosen.eqCount > 0 ? 'equality' : 'range'} scan (${conds}): ${how}`;
    }
  }
}

/** The text of `explain`. */
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

/** A plan; its description is built from the data kept for it, on first use. */
class PlanImpl implements Plan {
  private text: string | undefined;

  constructor(
    readonly access: Access,
    readonly residual: readonly Predicate[],
    readonly ordered: boolean,
    readonly sort: readonly SortTerm[],
    private readonly layout: PlannerLayout,
    private readonly preds: readonly Predicate[],
    private readonly why: Why,
  ) {}

  get description(): string {
    if (this.text === undefined) {
      const why = whyText(this.layout, this.preds, this.sort, this.why);
      // Plans that read nothing say only why.
      this.text =
        this.access.kind === 'empty'
          ? why
          : describePlan(this.layout, this.sort, this.residual, this.ordered, why);
    }
    return this.text;
  }
}

function makePlan(
  layout: PlannerLayout,
  preds: readonly Predicate[],
  sort: readonly SortTerm[],
  access: Access,
  covered: readonly Predicate[],
  ordered: boolean,
  why: Why,
): Plan {
  let residual: readonly Predicate[] = preds;
  if (covered.length > 0) {
    const left: Predicate[] = [];
    for (const p of preds) if (!covered.includes(p)) left.push(p);
    residual = left;
  }
  return new PlanImpl(access, residual, ordered, sort, layout, preds, why);
}

function emptyPlan(layout: PlannerLayout, sort: readonly SortTerm[], text: string): Plan {
  return new PlanImpl({ kind: 'empty' }, [], true, sort, layout, [], { kind: 'text', text });
}

const NO_PREFIX = new Uint8Array(0);
const FULL_SCAN_SEEK: Seek = { base: NO_PREFIX, rowKey: true, sortAt: [] };

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
export function plan(layout: PlannerLayout, preds: readonly Predicate[], sort: readonly SortTerm[]): Plan {
  const { schema, primaryKey } = layout;

  // 1. Primary key lookup.
  // The primary index serves a prefix of its key fields, up to the first duration:
  // primary keys keep `1 month` and `30 days` apart, which compare equal.
  let durationAt = -1;
  for (let i = 0; i < primaryKey.length; i++) {
    if (schema.fields[primaryKey[i]!]!.type === 'duration') {
      durationAt = i;
      break;
    }
  }
  if (primaryKey.length > 0 && durationAt < 0) {
    const used: Condition[] = [];
    for (const p of primaryKey) {
      const eq = eqAt(preds, p);
      if (!eq) break;
      used.push(eq);
    }
    if (used.length === primaryKey.length) {
      const key: Value[] = [];
      for (const c of used) key.push(c.value);
      return makePlan(layout, preds, sort, { kind: 'lookup', key }, used, true, { kind: 'lookup' });
    }
  }

  const primaryPositions = durationAt < 0 ? primaryKey : primaryKey.slice(0, durationAt);
  let best: Candidate | undefined;
  for (let n = -1; n < layout.indexes.length; n++) {
    let ix: IndexInfo | undefined;
    let positions: readonly number[];
    if (n < 0) {
      if (primaryPositions.length === 0) continue;
      ix = undefined;
      positions = primaryPositions;
    } else {
      ix = layout.indexes[n]!;
      if (ix.kind !== 'sorted') continue;
      positions = ix.positions;
    }
    const c = candidate(layout, preds, sort, ix, positions, durationAt);
    if (c && (!best || c.score > best.score)) best = c;
  }

  // Full-text indexes: a word search reads the entries of its rarest-looking (longest) word, or
  // for $matches_any of each word; the text test itself stays on every row.
  let textIx: IndexInfo | undefined;
  let textCond: TextCondition | undefined;
  for (const p of preds) {
    if (p.kind !== 'text') continue;
    let ix: IndexInfo | undefined;
    for (const i of layout.indexes) {
      if (i.kind === 'full_text' && i.positions[0] === p.pos) {
        ix = i;
        break;
      }
    }
    if (!ix) continue;
    // Without words, $matches_all and $contains say nothing an index could look up.
    if (p.mode !== 'any' && p.tokens.length === 0) continue;
    if (!textCond || (p.mode !== 'any' && textCond.mode === 'any')) {
      textIx = ix;
      textCond = p;
    }
  }

  if (textIx && textCond && (!best || best.score < 3)) {
    const cond = textCond;
    const words =
      cond.mode === 'any' ? cond.tokens : [cond.tokens.reduce((a, b) => (b.length > a.length ? b : a))];
    if (words.length === 0) {
      return emptyPlan(
        layout,
        sort,
        `no rows can match: $matches_any on ${fieldName(schema, cond.pos)} lists no words`,
      );
    }
    const ranges: KeyRange[] = [];
    for (const w of words) {
      ranges.push(
        fieldRange(
          [{ kind: 'compare', pos: cond.pos, type: 'string', op: '$eq', value: indexedToken(w) }],
          textIx.prefix,
        ) as KeyRange,
      );
    }
    return makePlan(layout, preds, sort, { kind: 'tokens', index: textIx, ranges }, [], false, {
      kind: 'tokens',
      cond,
      words,
    });
  }

  if (best) {
    if (best.range === 'empty') {
      const names: string[] = [];
      for (const c of best.covered) {
        const name = fieldName(schema, (c as Condition).pos);
        if (!names.includes(name)) names.push(name);
      }
      return emptyPlan(
        layout,
        sort,
        `no rows can match: the conditions on ${names.join(', ')} exclude each other`,
      );
    }
    const access: Access = {
      kind: 'scan',
      index: best.index,
      range: best.range,
      reverse: best.reverse,
      regroup: best.regroup,
      seek: best.seek,
    };
    return makePlan(layout, preds, sort, access, best.covered, best.ordered, {
      kind: 'candidate',
      chosen: best,
    });
  }

  // 3. Full scan.
  const unkeyedOrder = sort.length === 0;
  return makePlan(
    layout,
    preds,
    sort,
    {
      kind: 'scan',
      index: undefined,
      range: { start: undefined, end: undefined },
      reverse: false,
      regroup: undefined,
      seek: unkeyedOrder ? FULL_SCAN_SEEK : undefined,
    },
    [],
    unkeyedOrder,
    { kind: 'full' },
  );
}

/** How well the sorted index `ix` (undefined: the primary index over `positions`) serves the query, if at all. */
function candidate(
  layout: PlannerLayout,
  preds: readonly Predicate[],
  sort: readonly SortTerm[],
  ix: IndexInfo | undefined,
  positions: readonly number[],
  durationAt: number,
): Candidate | undefined {
  const primaryKey = layout.primaryKey;
  let k = 0;
  while (k < positions.length && eqAt(preds, positions[k]!)) k++;
  const rangeConds = k < positions.length ? condsAt(preds, positions[k]!) : NO_CONDITIONS;
  // Cheap test first: with no $eq and no range, an index serves only by giving the order, which
  // needs the sort to start with its first field (or, for the primary index, no sort at all).
  if (k === 0 && rangeConds.length === 0) {
    const first = sort[0];
    if (first === undefined ? ix !== undefined : first.pos !== positions[0]) return undefined;
  }
  const covered: Predicate[] = [];
  let prefix: Uint8Array = ix ? ix.prefix : NO_PREFIX;
  for (let i = 0; i < k; i++) {
    const eq = eqAt(preds, positions[i]!)!;
    covered.push(eq);
    prefix = encodeKeyAfter(prefix, eq.type, eq.value);
  }
  for (const c of rangeConds) covered.push(c);
  const range = fieldRange(rangeConds, prefix);
  // The sort terms the equalities leave open, and the index fields after the equalities.
  const rest: SortTerm[] = [];
  for (const t of sort) {
    const at = positions.indexOf(t.pos);
    if (at < 0 || at >= k) rest.push(t);
  }
  const remaining = positions.length - k;
  const dir = rest[0]?.dir ?? 1;
  let uniform = true;
  for (let i = 0; i < rest.length && uniform; i++) {
    uniform = rest[i]!.dir === dir && rest[i]!.pos === positions[k + i];
  }
  // Index entries are ordered by the index fields, then the row key: they give the requested
  // order (ties by primary key) when the sort names the remaining fields in order. The primary
  // index orders by key, so a prefix of its remaining fields suffices.
  let pkTail = ix !== undefined && remaining === 0 && primaryKey.length > 0;
  for (let i = 0; i < rest.length && pkTail; i++)
    pkTail = rest[i]!.dir === 1 && rest[i]!.pos === primaryKey[i];
  const ordered =
    pkTail || (uniform && (ix === undefined ? rest.length <= remaining : rest.length === remaining));
  const reverse = ordered && !pkTail && dir === -1;
  const hasRange = rangeConds.length > 0;
  if (k === 0 && !hasRange && !ordered) return undefined;
  let seek: Seek | undefined;
  if (ordered) {
    const sortAt: number[] = [];
    for (const t of rest) sortAt.push(sort.indexOf(t));
    seek = { base: prefix, rowKey: pkTail, sortAt };
  }
  let regroup: number[] | undefined;
  // In a reverse scan of the primary index over its whole key, ties cannot occur.
  if (reverse && !(ix === undefined && durationAt < 0 && rest.length === remaining)) {
    regroup = [];
    for (const t of rest) regroup.push(t.pos);
  }
  return {
    index: ix,
    positions,
    covered,
    range,
    eqCount: k,
    hasRange,
    ordered,
    reverse,
    regroup,
    seek,
    score: k * 4 + (hasRange ? 2 : 0) + (ordered ? 1 : 0),
  };
}
