import type { ConfigIssue } from '../connector.js';

/** The `mysql` connector's config (MySQL 8 or MariaDB 10.5+ with a ROW binlog). */
export interface MysqlConfig {
  readonly host: string;
  /** Default 3306. */
  readonly port?: number;
  readonly user: string;
  /** Default: empty. Use `${ENV_VAR}` in dozer.yaml for secrets. */
  readonly password?: string;
  /** The database (schema) whose tables are ingested. */
  readonly database: string;
  /**
   * The replica id this connector uses to read the binlog, 1..4294967295.
   * It must differ from the server's `server_id` and from every other
   * replica's. Default: derived from the connection name.
   */
  readonly server_id?: number;
  /** The tables to offer; default all base tables of `database`. */
  readonly tables?: readonly string[];
  /** Most operations per batch (default 1000). */
  readonly batch_size?: number;
}

export const MYSQL_DEFAULTS = { port: 3306, batchSize: 1000 } as const;

const KEYS = ['host', 'port', 'user', 'password', 'database', 'server_id', 'tables', 'batch_size'];

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

const isInt = (v: unknown, min: number, max: number): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** Every problem in a raw `mysql` config, with paths relative to it. */
export function validateMysqlConfig(raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    add(
      [],
      `expected an object with host, user, database (and port, password, server_id, tables), got ${describe(raw)}`,
    );
    return issues;
  }
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (!KEYS.includes(k)) add([k], `unknown option; expected one of: ${KEYS.join(', ')}`);
  }
  for (const k of ['host', 'user', 'database'] as const) {
    const v = c[k];
    if (v === undefined) add([k], 'required; expected a non-empty string');
    else if (typeof v !== 'string' || v === '') add([k], `expected a non-empty string, got ${describe(v)}`);
  }
  if (c.password !== undefined && typeof c.password !== 'string')
    add(['password'], `expected a string, got ${describe(c.password)}`);
  if (c.port !== undefined && !isInt(c.port, 1, 65535))
    add(['port'], `expected an integer 1..65535, got ${describe(c.port)}`);
  if (c.server_id !== undefined && !isInt(c.server_id, 1, 4294967295))
    add(
      ['server_id'],
      `expected an integer 1..4294967295 that no other replica of the server uses, got ${describe(c.server_id)}`,
    );
  if (c.batch_size !== undefined && !isInt(c.batch_size, 1, 1_000_000))
    add(['batch_size'], `expected an integer 1..1000000, got ${describe(c.batch_size)}`);
  if (c.tables !== undefined) {
    if (!Array.isArray(c.tables))
      add(['tables'], `expected a list of table names, got ${describe(c.tables)}`);
    else {
      const seen = new Set<string>();
      c.tables.forEach((t: unknown, i: number) => {
        if (typeof t !== 'string' || t === '')
          add(['tables', i], `expected a table name, got ${describe(t)}`);
        else if (seen.has(t)) add(['tables', i], `table "${t}" is listed twice`);
        else seen.add(t);
      });
    }
  }
  return issues;
}

/** The replica id used when the config names none: stable per connection name, away from small ids people pick. */
export function defaultServerId(connectionName: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < connectionName.length; i++) {
    h ^= connectionName.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return 1_000_000_000 + (h % 1_000_000_000);
}
