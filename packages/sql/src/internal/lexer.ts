import type { Span } from './source.js';

/**
 * A token of the SQL text. node-sql-parser gives locations only to some AST
 * nodes (binary expressions and function calls, not column references or
 * literals), so the compiler finds the rest itself in this token stream.
 */
export interface Token extends Span {
  readonly kind: 'ident' | 'quoted-ident' | 'string' | 'number' | 'punct';
  /** Identifiers: the name (quotes removed); strings: the raw text; punctuation: the symbol. */
  readonly value: string;
}

const IDENT_START = /[A-Za-z_\u00c0-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u00c0-\uffff]/;
const TWO_CHAR_PUNCT = new Set(['::', '<=', '>=', '<>', '!=', '||', '->']);

/** Splits SQL into tokens, skipping whitespace and comments. Never throws: unknown characters become punctuation. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && text[i + 1] === '-') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if (c === "'" || ((c === 'E' || c === 'e') && text[i + 1] === "'")) {
      const start = i;
      const backslashes = c !== "'";
      i = c === "'" ? i + 1 : i + 2;
      while (i < n) {
        if (backslashes && text[i] === '\\') i += 2;
        else if (text[i] === "'" && text[i + 1] === "'") i += 2;
        else if (text[i] === "'") break;
        else i++;
      }
      i = Math.min(n, i + 1);
      tokens.push({ kind: 'string', value: text.slice(start, i), start, end: i });
    } else if (c === '"') {
      const start = i;
      let name = '';
      i++;
      while (i < n) {
        if (text[i] === '"' && text[i + 1] === '"') {
          name += '"';
          i += 2;
        } else if (text[i] === '"') break;
        else name += text[i++];
      }
      i = Math.min(n, i + 1);
      tokens.push({ kind: 'quoted-ident', value: name, start, end: i });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i))!;
      tokens.push({ kind: 'number', value: m[0], start: i, end: i + m[0].length });
      i += m[0].length;
    } else if (IDENT_START.test(c)) {
      const start = i;
      while (i < n && IDENT_PART.test(text[i]!)) i++;
      tokens.push({ kind: 'ident', value: text.slice(start, i), start, end: i });
    } else {
      const two = text.slice(i, i + 2);
      const sym = TWO_CHAR_PUNCT.has(two) ? two : c;
      tokens.push({ kind: 'punct', value: sym, start: i, end: i + sym.length });
      i += sym.length;
    }
  }
  return tokens;
}

/** True when `t` is the unquoted keyword `kw` (case-insensitive). */
export function isKeyword(t: Token | undefined, kw: string): boolean {
  return t !== undefined && t.kind === 'ident' && t.value.toUpperCase() === kw;
}

/** True when `t` is an identifier (quoted or not) naming `name`; unquoted names compare case-insensitively. */
export function isName(t: Token | undefined, name: string): boolean {
  if (t === undefined) return false;
  if (t.kind === 'quoted-ident') return t.value === name;
  return t.kind === 'ident' && t.value.toLowerCase() === name.toLowerCase();
}
