/**
 * Names of the tables an SQL text writes with `INTO <name>`, found by a light
 * scan (comments and string literals skipped), in order of appearance. Good
 * enough to check endpoint names at load time; the compiled SQL is the
 * authority later on.
 */
export function scanSqlOutputs(sql: string): string[] {
  const code = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''");
  const out: string[] = [];
  for (const m of code.matchAll(/\bINTO\s+(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))/gi)) {
    const name = m[1] !== undefined ? m[1].replaceAll('""', '"') : m[2];
    if (name !== undefined && !out.includes(name)) out.push(name);
  }
  return out;
}
