import { isKeyword, isName, type Token } from './lexer.js';
import type { Span } from './source.js';

/** Where the clauses of one SELECT statement are in the text (all spans are absolute offsets). */
export interface StatementLayout extends Span {
  readonly tokens: readonly Token[];
  /** One span per item of the select list, in order. */
  readonly selectItems: readonly Span[];
  readonly from: Span | null;
  readonly where: Span | null;
  readonly into: Span | null;
}

/** The words that begin a clause of a SELECT after its FROM list (and so end that list). */
export const CLAUSES_AFTER_FROM = [
  'WHERE',
  'GROUP',
  'HAVING',
  'WINDOW',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'FETCH',
  'UNION',
  'EXCEPT',
  'INTERSECT',
] as const;

const CLAUSES: readonly string[] = ['SELECT', 'INTO', 'FROM', ...CLAUSES_AFTER_FROM];

/** Splits the token stream into statements at top-level semicolons, dropping empty ones. */
export function layoutStatements(tokens: readonly Token[]): StatementLayout[] {
  const out: StatementLayout[] = [];
  let depth = 0;
  let begin = 0;
  for (let i = 0; i <= tokens.length; i++) {
    const t = tokens[i];
    if (t === undefined || (depth === 0 && t.kind === 'punct' && t.value === ';')) {
      if (i > begin) out.push(layoutOne(tokens.slice(begin, i)));
      begin = i + 1;
    } else if (t.kind === 'punct' && t.value === '(') depth++;
    else if (t.kind === 'punct' && t.value === ')') depth = Math.max(0, depth - 1);
  }
  return out;
}

function layoutOne(tokens: readonly Token[]): StatementLayout {
  const clauseAt: { kw: string; index: number }[] = [];
  let depth = 0;
  tokens.forEach((t, index) => {
    if (t.kind === 'punct' && t.value === '(') depth++;
    else if (t.kind === 'punct' && t.value === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0 && t.kind === 'ident') {
      const kw = t.value.toUpperCase();
      if (CLAUSES.includes(kw)) clauseAt.push({ kw, index });
    }
  });
  const clause = (kw: string): { from: number; to: number } | null => {
    const k = clauseAt.findIndex((c) => c.kw === kw);
    if (k < 0) return null;
    const next = clauseAt[k + 1];
    return { from: clauseAt[k]!.index + 1, to: next === undefined ? tokens.length : next.index };
  };
  const spanOf = (c: { from: number; to: number } | null): Span | null => {
    if (c === null || c.to <= c.from) return null;
    return { start: tokens[c.from]!.start, end: tokens[c.to - 1]!.end };
  };
  const selectItems: Span[] = [];
  const sel = clause('SELECT');
  if (sel !== null) {
    let from = sel.from;
    if (isKeyword(tokens[from], 'DISTINCT') || isKeyword(tokens[from], 'ALL')) from++;
    let d = 0;
    let itemStart = from;
    for (let i = from; i <= sel.to; i++) {
      const t = tokens[i];
      if (i === sel.to || (d === 0 && t?.kind === 'punct' && t.value === ',')) {
        if (i > itemStart) {
          // The item's expression, without a trailing `AS alias`.
          const last = i - 2 > itemStart && isKeyword(tokens[i - 2], 'AS') ? i - 3 : i - 1;
          selectItems.push({ start: tokens[itemStart]!.start, end: tokens[last]!.end });
        }
        itemStart = i + 1;
      } else if (t?.kind === 'punct' && t.value === '(') d++;
      else if (t?.kind === 'punct' && t.value === ')') d--;
    }
  }
  return {
    start: tokens[0]?.start ?? 0,
    end: tokens[tokens.length - 1]?.end ?? 0,
    tokens,
    selectItems,
    from: spanOf(clause('FROM')),
    where: spanOf(clause('WHERE')),
    into: spanOf(clause('INTO')),
  };
}

/**
 * Finds `[qualifier .] name` inside `within`, as a column reference: not
 * preceded by a dot when unqualified, and not followed by `(` (a call).
 */
export function findReference(
  tokens: readonly Token[],
  within: Span,
  qualifier: string | null,
  name: string,
): Span | null {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.start < within.start || t.end > within.end || !isName(t, name)) continue;
    const next = tokens[i + 1];
    if (next?.kind === 'punct' && next.value === '(') continue;
    const dot = tokens[i - 1];
    const isQualified = dot?.kind === 'punct' && dot.value === '.';
    if (qualifier === null) {
      if (!isQualified) return t;
    } else if (isQualified && isName(tokens[i - 2], qualifier)) {
      return { start: tokens[i - 2]!.start, end: t.end };
    }
  }
  return null;
}

/** The first token inside `within` that is the identifier or keyword `name`. */
export function findName(tokens: readonly Token[], within: Span, name: string): Span | null {
  for (const t of tokens) {
    if (t.start >= within.start && t.end <= within.end && isName(t, name)) return t;
  }
  return null;
}

/** The first string literal token inside `within` whose content is `value`. */
export function findStringLiteral(tokens: readonly Token[], within: Span, value: string): Span | null {
  const raw = `'${value.replace(/'/g, "''")}'`;
  for (const t of tokens) {
    if (t.kind === 'string' && t.start >= within.start && t.end <= within.end && t.value === raw) return t;
  }
  return null;
}
