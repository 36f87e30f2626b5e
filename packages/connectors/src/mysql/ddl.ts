/** What a DDL statement does to a table that the binlog has no row changes for. */
export interface TableDdl {
  readonly verb: 'truncated' | 'dropped' | 'renamed';
  readonly schema: string;
  readonly table: string;
}

const IDENT = '(?:`(?:[^`]|``)+`|[\\w$]+)';
const NAME = `${IDENT}(?:\\s*\\.\\s*${IDENT})?`;

function unquote(id: string): string {
  return id.startsWith('`') ? id.slice(1, -1).replace(/``/g, '`') : id;
}

function qualified(name: string, defaultSchema: string): { schema: string; table: string } {
  const parts = name.match(new RegExp(IDENT, 'g')) ?? [];
  return parts.length === 2
    ? { schema: unquote(parts[0]!), table: unquote(parts[1]!) }
    : { schema: defaultSchema, table: unquote(parts[0] ?? '') };
}

function names(list: string, defaultSchema: string): { schema: string; table: string }[] {
  return (list.match(new RegExp(NAME, 'g')) ?? []).map((n) => qualified(n, defaultSchema));
}

/**
 * The tables a statement truncates, drops or renames: changes the binlog
 * carries as a statement, not as rows, so a follower of the table cannot
 * apply them. `defaultSchema` is the statement's current database.
 */
export function tableDdl(sql: string, defaultSchema: string): TableDdl[] {
  const s = sql
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  let m = new RegExp(`^TRUNCATE (?:TABLE )?(${NAME})`, 'i').exec(s);
  if (m) return [{ verb: 'truncated', ...qualified(m[1]!, defaultSchema) }];
  m = new RegExp(`^DROP TABLE (?:IF EXISTS )?(${NAME}(?: ?, ?${NAME})*)`, 'i').exec(s);
  if (m) return names(m[1]!, defaultSchema).map((t) => ({ verb: 'dropped', ...t }));
  m = /^RENAME TABLES? (.*)$/i.exec(s);
  if (m) {
    // Both sides: a table renamed away, and a table renamed into a followed name.
    return names(m[1]!.replace(/\bTO\b/gi, ','), defaultSchema).map((t) => ({ verb: 'renamed', ...t }));
  }
  m = new RegExp(
    `^ALTER (?:ONLINE |IGNORE )*TABLE (?:IF EXISTS )?(${NAME}) .*\\bRENAME (?:TO |AS )?(?!COLUMN\\b|INDEX\\b|KEY\\b)(${NAME})`,
    'i',
  ).exec(s);
  if (m) {
    return [
      { verb: 'renamed', ...qualified(m[1]!, defaultSchema) },
      { verb: 'renamed', ...qualified(m[2]!, defaultSchema) },
    ];
  }
  return [];
}
