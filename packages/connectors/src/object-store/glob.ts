/**
 * Compiles a file name glob into a matcher over `/`-separated relative keys:
 * `*` matches within one path segment, `**` across segments (`**\/` also
 * matches no directory at all), `?` one character other than `/`,
 * `[abc]`/`[a-z]`/`[!a]` a character class, `{a,b}` alternatives.
 * Throws an Error saying what is wrong with an unbalanced pattern.
 */
export function compileGlob(pattern: string): (key: string) => boolean {
  if (pattern === '') throw new Error('expected a non-empty pattern such as "*.csv"');
  let re = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0)
        throw new Error(`unclosed "[" at character ${i + 1} of pattern ${JSON.stringify(pattern)}`);
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else if (c === '\\' && i + 1 < pattern.length) {
      i++;
      re += escapeRe(pattern[i]!);
    } else re += escapeRe(c);
  }
  if (braces > 0) throw new Error(`unclosed "{" in pattern ${JSON.stringify(pattern)}`);
  const compiled = new RegExp(`^${re}$`, 'u');
  return (key) => compiled.test(key);
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
