import { ConfigError } from '@dozer/core';

/** A key path inside the config file: map keys and list indexes, outermost first. */
export type ConfigPath = readonly (string | number)[];

/** One problem found in a config file, with the place it was found. */
export interface ConfigIssue {
  /** The file name as the user gave it. */
  readonly file: string;
  /** 1-based line; 0 when the position is unknown (a config built by hand). */
  readonly line: number;
  /** 1-based column; 0 when the position is unknown. */
  readonly column: number;
  /** The key path the issue is about, e.g. `['sources', 0, 'connection']`. */
  readonly path: ConfigPath;
  /** What is wrong and, where possible, how to fix it (without the location prefix). */
  readonly message: string;
}

/** `file:line:column: message` (or `file: message` when the position is unknown). */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return `${where}: ${issue.message}`;
}

/**
 * One {@link ConfigError} listing every issue, one per line, in file order.
 * Used for parse-time issues and by callers of later checks such as `checkEndpointTables`.
 */
export function configErrorFromIssues(issues: readonly ConfigIssue[]): ConfigError {
  const lines = sortIssues(issues).map(formatConfigIssue);
  return new ConfigError([...new Set(lines)].join('\n'));
}

/** Issues ordered by position, so the message reads top to bottom like the file. */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

/** `sources[0].connection`; `(top level)` for the empty path. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(top level)' : out;
}

/** How a YAML value reads to a user: `string "80a"`, `number 3`, `a list`, `an empty value`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${String(value)}`;
  }
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  return 'a map';
}

/**
 * Optimal-string-alignment distance: Levenshtein plus adjacent transpositions,
 * because swapped letters ("gne" for "gen") are the commonest typo.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i]!;
      const prev = d[i - 1]!;
      let best = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      row[j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `word` if it is close enough to be a likely typo. */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    const limit = Math.max(1, Math.floor(c.length / 3));
    if (dist <= limit && dist < c.length && dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

/** `; did you mean "x"?` or the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const m = closestMatch(word, candidates);
  return m === undefined ? '' : `; did you mean ${JSON.stringify(m)}?`;
}
