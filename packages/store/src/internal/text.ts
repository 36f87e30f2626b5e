/**
 * The full-text tokenizer: NFKC-normalised, lowercased runs of Unicode
 * letters, marks and digits. "Crème brûlée, 2 ÉTÉS!" → crème, brûlée, 2, étés.
 * Index entries and query values go through the same function, so a query
 * word matches exactly the stored words it equals after this folding.
 */
export function tokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(WORD) ?? [];
}

const WORD = /[\p{L}\p{M}\p{N}]+/gu;

/** The distinct tokens of `text`. */
export function tokenSet(text: string): Set<string> {
  return new Set(tokenize(text));
}

/**
 * Words that every string containing `needle` holds: the tokens of the
 * pieces of `needle` that whitespace bounds on both sides, when they are
 * ASCII (so that normalisation and case folding of the surrounding text
 * cannot change them). "the quick brown fox" → quick, brown.
 */
export function substringTokens(needle: string): string[] {
  const pieces = needle.split(/\s+/);
  const out: string[] = [];
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!;
    if (/^[\x21-\x7e]+$/.test(piece)) out.push(...tokenize(piece));
  }
  return out;
}

/** Longest word prefix a full-text index stores, in UTF-16 units (at most 600 UTF-8 bytes). */
export const MAX_INDEXED_TOKEN = 200;

/**
 * A word as a full-text index stores and looks it up: longer words are cut
 * to their first {@link MAX_INDEXED_TOKEN} units (a lookup then finds every
 * word with that prefix, and the word test on each row decides).
 */
export function indexedToken(token: string): string {
  return token.length > MAX_INDEXED_TOKEN ? token.slice(0, MAX_INDEXED_TOKEN) : token;
}
