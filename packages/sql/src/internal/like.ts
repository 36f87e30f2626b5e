import { SqlEvalError } from '../errors.js';

/**
 * Translates a LIKE pattern to an anchored RegExp: `%` any run of
 * characters, `_` exactly one character (code point), `escapeChar` (default
 * backslash; empty string for none) makes the next character literal.
 */
export function likeToRegExp(
  pattern: string,
  escapeChar: string,
  caseInsensitive: boolean,
  where: string,
): RegExp {
  if ([...escapeChar].length > 1) {
    throw new SqlEvalError(
      `invalid escape string "${escapeChar}": it must be empty or one character ${where}`,
    );
  }
  let re = '^';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (escapeChar !== '' && c === escapeChar) {
      const next = chars[++i];
      if (next === undefined)
        throw new SqlEvalError(`LIKE pattern must not end with escape character ${where}`);
      re += escapeRegExp(next);
    } else if (c === '%') re += '[\\s\\S]*';
    else if (c === '_') re += '[\\s\\S]';
    else re += escapeRegExp(c);
  }
  return new RegExp(`${re}$`, caseInsensitive ? 'iu' : 'u');
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}
