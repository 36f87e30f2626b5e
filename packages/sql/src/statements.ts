import { isKeyword, type Token, tokenize } from './internal/lexer.js';
import { SourceText } from './internal/source.js';
import { CLAUSES_AFTER_FROM, layoutStatements } from './internal/statement-layout.js';

/** One `SELECT … INTO t` statement of an SQL text, found without compiling it. */
export interface SqlStatement {
  /** 0-based, in text order. */
  readonly index: number;
  /** The INTO table, as written (quotes removed). */
  readonly into: string;
  /**
   * The tables it reads (named after FROM or JOIN anywhere in it, in
   * subqueries too, and the first argument of TUMBLE/HOP/TTL), in order of
   * first use; its own CTE names are left out. Names as written.
   */
  readonly reads: readonly string[];
  /** Offsets of the statement in the text, without its `;`. */
  readonly start: number;
  readonly end: number;
}

/**
 * Splits an SQL text into its statements at top-level semicolons, each with
 * its INTO table and the tables it reads, by a scan of the tokens (comments
 * and string literals skipped): what a deployment needs to give each
 * statement to a node without the schemas `compileSql` needs. Throws an
 * {@link SqlError} at a statement without INTO; the rest of the checks are
 * `compileSql`'s.
 */
export function splitSqlStatements(sql: string): SqlStatement[] {
  const src = new SourceText(sql);
  return layoutStatements(tokenize(sql)).map((layout, index) => {
    const tokens = layout.tokens;
    const into = layout.into === null ? undefined : tokens.find((t) => t.start >= layout.into!.start);
    if (into === undefined || (into.kind !== 'ident' && into.kind !== 'quoted-ident')) {
      throw src.error(
        `statement ${index + 1} has no INTO clause`,
        layout.start,
        'every statement names its output table, e.g. SELECT * FROM trips WHERE price > 10 INTO expensive_trips',
      );
    }
    return { index, into: into.value, reads: tablesRead(tokens), start: layout.start, end: layout.end };
  });
}

/**
 * `sql` with every statement that `keep` rejects blanked out (with its
 * `;`), newlines kept: the rest compiles alone, and positions in its errors
 * are those of the whole text.
 */
export function keepSqlStatements(sql: string, keep: (statement: SqlStatement) => boolean): string {
  let out = sql;
  for (const s of splitSqlStatements(sql)) {
    if (keep(s)) continue;
    const semicolon = /^\s*;/.exec(sql.slice(s.end));
    const end = semicolon ? s.end + semicolon[0].length : s.end;
    out = out.slice(0, s.start) + sql.slice(s.start, end).replace(/[^\n]/g, ' ') + out.slice(end);
  }
  return out;
}

const punct = (t: Token | undefined, value: string): boolean => t?.kind === 'punct' && t.value === value;
const isName = (t: Token | undefined): t is Token => t?.kind === 'ident' || t?.kind === 'quoted-ident';

/** Index after the parenthesis that closes the one at `open`. */
function skipParens(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (punct(tokens[i], '(')) depth++;
    else if (punct(tokens[i], ')') && --depth === 0) return i + 1;
  }
  return tokens.length;
}

function tablesRead(tokens: readonly Token[]): string[] {
  const ctes = cteNames(tokens);
  const reads: string[] = [];
  const add = (name: string) => {
    if (!ctes.has(name.toLowerCase()) && !reads.includes(name)) reads.push(name);
  };
  // One FROM-list item at `i`: a table, `db.table`, a table function (its innermost first
  // argument) or a subquery (whose own FROM the main loop finds). Returns the index after it.
  const item = (i: number): number => {
    const t = tokens[i];
    if (punct(t, '(')) return skipParens(tokens, i);
    if (!isName(t)) return i;
    if (punct(tokens[i + 1], '(')) {
      let j = i;
      while (isName(tokens[j]) && punct(tokens[j + 1], '(')) j += 2;
      if (isName(tokens[j]) && (punct(tokens[j + 1], ',') || punct(tokens[j + 1], ')')))
        add(tokens[j]!.value);
      return skipParens(tokens, i + 1);
    }
    if (punct(tokens[i + 1], '.') && isName(tokens[i + 2])) {
      add(`${t.value}.${tokens[i + 2]!.value}`);
      return i + 3;
    }
    add(t.value);
    return i + 1;
  };
  // FROM is a clause only where a SELECT opened at the same depth (not in EXTRACT(x FROM y)).
  const selectAt: boolean[] = [false];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (punct(t, '(')) selectAt.push(false);
    else if (punct(t, ')')) {
      if (selectAt.length > 1) selectAt.pop();
    } else if (isKeyword(t, 'SELECT')) selectAt[selectAt.length - 1] = true;
    else if (isKeyword(t, 'JOIN')) item(i + 1);
    else if (isKeyword(t, 'FROM') && selectAt[selectAt.length - 1] && !isKeyword(tokens[i - 1], 'DISTINCT')) {
      // `FROM a, b AS x, c y`: every item of the list.
      let j = item(i + 1);
      for (;;) {
        if (isKeyword(tokens[j], 'AS')) j++;
        if (tokens[j]?.kind === 'quoted-ident' || (tokens[j]?.kind === 'ident' && !isClauseWord(tokens[j]!)))
          j++;
        if (!punct(tokens[j], ',')) break;
        j = item(j + 1);
      }
    }
  }
  return reads;
}

/** Words that end a FROM item where an alias could stand. */
const AFTER_ITEM = new Set<string>([
  ...CLAUSES_AFTER_FROM,
  'INTO',
  'JOIN',
  'INNER',
  'LEFT',
  'RIGHT',
  'FULL',
  'CROSS',
  'NATURAL',
  'ON',
  'USING',
]);

function isClauseWord(t: Token): boolean {
  return AFTER_ITEM.has(t.value.toUpperCase());
}

/** Names defined by `WITH [RECURSIVE] name [(cols)] AS (…), …` anywhere in the statement, lowercased. */
function cteNames(tokens: readonly Token[]): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    if (!isKeyword(tokens[i], 'WITH')) continue;
    let j = i + 1;
    if (isKeyword(tokens[j], 'RECURSIVE')) j++;
    for (;;) {
      const name = tokens[j];
      if (!isName(name)) break;
      j++;
      if (punct(tokens[j], '(')) j = skipParens(tokens, j);
      if (!isKeyword(tokens[j], 'AS')) break;
      j++;
      if (isKeyword(tokens[j], 'MATERIALIZED')) j++;
      else if (isKeyword(tokens[j], 'NOT') && isKeyword(tokens[j + 1], 'MATERIALIZED')) j += 2;
      if (!punct(tokens[j], '(')) break;
      names.add(name.value.toLowerCase());
      j = skipParens(tokens, j);
      if (!punct(tokens[j], ',')) break;
      j++;
    }
  }
  return names;
}
