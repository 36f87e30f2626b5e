import type { ConfigIssue } from '../connector.js';

/** TLS settings; `true` means TLS with the system's trusted CAs. */
export interface PostgresSslConfig {
  /** PEM text of the CA that signed the server's certificate. */
  readonly ca?: string;
  /** Check the server's certificate (default true). */
  readonly reject_unauthorized?: boolean;
}

/** The `postgres` connector's config. */
export interface PostgresConfig {
  readonly host: string;
  /** Default 5432. */
  readonly port?: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
  readonly ssl?: boolean | PostgresSslConfig;
  /** The logical replication slot (created when missing). Default `dozer_<connection name>`. */
  readonly slot_name?: string;
  /** The publication (created when missing). Default `dozer_<connection name>`. */
  readonly publication_name?: string;
  /** The tables to offer, `name` or `schema.name`; default every table of the `public` schema. */
  readonly tables?: readonly string[];
  /** Most ops per batch (default 5000). */
  readonly batch_size?: number;
  /** Reconnect attempts after a dropped replication connection before failing (default 10). */
  readonly max_reconnect_attempts?: number;
  /** MiB of memory the row caches may use before they move to disk (default 256; 0: on disk from the start). */
  readonly row_cache_memory_mb?: number;
  /** Where row caches that outgrow their memory go (default the system's temporary directory). */
  readonly row_cache_dir?: string;
}

export const POSTGRES_DEFAULTS = {
  port: 5432,
  batchSize: 5000,
  maxReconnectAttempts: 10,
  rowCacheMemoryMb: 256,
} as const;

const KEYS = [
  'host',
  'port',
  'user',
  'password',
  'database',
  'ssl',
  'slot_name',
  'publication_name',
  'tables',
  'batch_size',
  'max_reconnect_attempts',
  'row_cache_memory_mb',
  'row_cache_dir',
];
const SSL_KEYS = ['ca', 'reject_unauthorized'];
/** Slot names: lower-case letters, digits and underscores, at most 63 (NAMEDATALEN - 1). */
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const TABLE = /^(?:[^."]+|"(?:[^"]|"")+")(?:\.(?:[^."]+|"(?:[^"]|"")+"))?$/;

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

/** Every problem in a raw `postgres` connector config, with paths relative to it. */
export function validatePostgresConfig(raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    add([], `expected an object with host, user and database, got ${describe(raw)}`);
    return issues;
  }
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (!KEYS.includes(k)) add([k], `unknown option; expected one of: ${KEYS.join(', ')}`);
  }
  for (const k of ['host', 'user', 'database'] as const) {
    const v = c[k];
    if (v === undefined)
      add(
        [k],
        `required: the ${k === 'host' ? 'server host name or address' : k === 'user' ? 'user to connect as' : 'database to read'}`,
      );
    else if (typeof v !== 'string' || v === '') add([k], `expected a non-empty string, got ${describe(v)}`);
  }
  if (c.password !== undefined && typeof c.password !== 'string') {
    add(['password'], `expected a string, got ${describe(c.password)}`);
  }
  const intIn = (key: string, min: number, max: number) => {
    const v = c[key];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      add([key], `expected an integer ${min}..${max}, got ${describe(v)}`);
    }
  };
  intIn('port', 1, 65535);
  intIn('batch_size', 1, 1_000_000);
  intIn('max_reconnect_attempts', 0, 1_000_000);
  intIn('row_cache_memory_mb', 0, 1_048_576);
  if (c.row_cache_dir !== undefined && (typeof c.row_cache_dir !== 'string' || c.row_cache_dir === '')) {
    add(['row_cache_dir'], `expected a directory path, got ${describe(c.row_cache_dir)}`);
  }
  for (const k of ['slot_name', 'publication_name'] as const) {
    const v = c[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') add([k], `expected a string, got ${describe(v)}`);
    else if (k === 'slot_name' && !SLOT_NAME.test(v)) {
      add([k], `expected lower-case letters, digits and underscores (at most 63), got ${describe(v)}`);
    } else if (k === 'publication_name' && !IDENT.test(v)) {
      add([k], `expected a plain identifier (letters, digits, underscores; at most 63), got ${describe(v)}`);
    }
  }
  const ssl = c.ssl;
  if (ssl !== undefined && typeof ssl !== 'boolean') {
    if (ssl === null || typeof ssl !== 'object' || Array.isArray(ssl)) {
      add(['ssl'], `expected true, false or an object with ca and reject_unauthorized, got ${describe(ssl)}`);
    } else {
      const s = ssl as Record<string, unknown>;
      for (const k of Object.keys(s)) {
        if (!SSL_KEYS.includes(k)) add(['ssl', k], `unknown option; expected one of: ${SSL_KEYS.join(', ')}`);
      }
      if (s.ca !== undefined && typeof s.ca !== 'string')
        add(['ssl', 'ca'], `expected PEM text, got ${describe(s.ca)}`);
      if (s.reject_unauthorized !== undefined && typeof s.reject_unauthorized !== 'boolean') {
        add(['ssl', 'reject_unauthorized'], `expected true or false, got ${describe(s.reject_unauthorized)}`);
      }
    }
  }
  const tables = c.tables;
  if (tables !== undefined) {
    if (!Array.isArray(tables)) add(['tables'], `expected a list of table names, got ${describe(tables)}`);
    else {
      if (tables.length === 0)
        add(
          ['tables'],
          'expected at least one table; leave tables out to offer every table of schema public',
        );
      const seen = new Set<string>();
      tables.forEach((t, i) => {
        if (typeof t !== 'string' || !TABLE.test(t)) {
          add(['tables', i], `expected a table name such as "orders" or "sales.orders", got ${describe(t)}`);
        } else if (seen.has(t)) add(['tables', i], `table "${t}" is listed twice`);
        else seen.add(t);
      });
    }
  }
  return issues;
}

/** A default slot or publication name from the connection's name. */
export function defaultObjectName(connection: string): string {
  const clean = connection.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `dozer_${clean}`.slice(0, 63);
}
