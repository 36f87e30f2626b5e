import type { FieldDefinition, Schema } from '@dozer/core';
import type pg from 'pg';
import { ConnectorError } from '../errors.js';
import type { PostgresConfig } from './config.js';
import { PgClient } from './pg-client.js';
import {
  type ColumnMapping,
  mapPgType,
  type PgTypeInfo,
  SESSION_OPTIONS,
  type TextDecoder,
} from './types.js';

/** A source table as the catalog describes it. */
export interface PgTable {
  /** `orders` for schema public, else `sales.orders`. */
  readonly name: string;
  readonly oid: number;
  readonly schemaName: string;
  readonly relName: string;
  /** `pg_class.relreplident`: d default, f full, i index, n nothing. */
  readonly replicaIdentity: string;
  readonly schema: Schema;
  /** Per field: the Postgres type OID and the text decoder. */
  readonly columns: readonly { readonly typeOid: number; readonly decode: TextDecoder }[];
}

/** Every value as the text Postgres sent, decoded later by column type. */
const RAW_TYPES = { getTypeParser: () => (v: string) => v };

/** Connection settings for `pg` from the connector config. */
export function clientConfig(config: PostgresConfig, replication: boolean): pg.ClientConfig {
  const ssl = config.ssl;
  return {
    host: config.host,
    port: config.port ?? 5432,
    user: config.user,
    ...(config.password === undefined ? {} : { password: config.password }),
    database: config.database,
    ...(ssl === undefined || ssl === false
      ? {}
      : {
          ssl:
            ssl === true
              ? true
              : {
                  ...(ssl.ca === undefined ? {} : { ca: ssl.ca }),
                  rejectUnauthorized: ssl.reject_unauthorized ?? true,
                },
        }),
    options: SESSION_OPTIONS,
    types: RAW_TYPES as unknown as pg.CustomTypesConfig,
    connectionTimeoutMillis: 15_000,
    keepAlive: true,
    ...(replication ? ({ replication: 'database' } as object) : {}),
  };
}

/** Opens a connection, turning failures into a {@link ConnectorError} that says how to fix them. */
export async function connect(
  config: PostgresConfig,
  replication: boolean,
  where: string,
): Promise<pg.Client> {
  const client = new PgClient(clientConfig(config, replication));
  // An idle client that loses its socket emits 'error'; the next query reports it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw pgError(e, where, config);
  }
  return client;
}

const RETRYABLE_CODES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08003',
  '08006',
  '08001',
  '40001',
]);
const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** Whether an error from `pg` or the socket is worth retrying. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof ConnectorError) return e.retryable;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (RETRYABLE_CODES.has(code) || NET_CODES.has(code))) return true;
  const msg = e instanceof Error ? e.message : String(e);
  return /Connection terminated|connection timeout|timeout expired|socket hang up|terminating connection/i.test(
    msg,
  );
}

/** A {@link ConnectorError} for a failure from `pg`, saying what to do about it. */
export function pgError(e: unknown, where: string, config: PostgresConfig): ConnectorError {
  if (e instanceof ConnectorError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  const at = `${config.host}:${config.port ?? 5432}`;
  let text: string;
  switch (code) {
    case '28P01':
      text = `password authentication failed for user "${config.user}" at ${at}: check the user and password options`;
      break;
    case '28000':
      text = `the server at ${at} refused user "${config.user}" (${msg}): check pg_hba.conf allows this user and database${/replication/i.test(msg) ? ' for replication connections' : ''}`;
      break;
    case '3D000':
      text = `database "${config.database}" does not exist at ${at}: check the database option`;
      break;
    case '42501':
      text = /walsender|replication/i.test(msg)
        ? `user "${config.user}" may not use logical replication (${msg}): grant it with ALTER ROLE "${config.user}" WITH REPLICATION`
        : `user "${config.user}" lacks a privilege (${msg}); see the grants listed in the postgres connector docs`;
      break;
    case 'ECONNREFUSED':
      text = `cannot connect to Postgres at ${at} (connection refused): check host and port, and that the server is running`;
      break;
    case 'ENOTFOUND':
      text = `cannot resolve host "${config.host}": check the host option`;
      break;
    case '55000': {
      // "can no longer get changes from replication slot" (its WAL was removed: max_slot_wal_keep_size).
      const slot = /replication slot "([^"]+)"/.exec(msg)?.[1];
      text =
        slot !== undefined && /can no longer get changes|invalidated/i.test(msg)
          ? lostSlotProblem(slot)
          : msg;
      break;
    }
    default:
      text = msg;
  }
  return new ConnectorError(`postgres ${where}: ${text}`, { retryable: isRetryable(e), cause: e });
}

/**
 * The message for a slot the server invalidated (`wal_status` "lost": it removed WAL the slot
 * still needed, past `max_slot_wal_keep_size`): the changes since are gone for good.
 */
export function lostSlotProblem(slot: string): string {
  return `replication slot "${slot}" was invalidated by the server (it removed WAL the slot still needed, past max_slot_wal_keep_size), so the changes since its position are gone: drop it with SELECT pg_drop_replication_slot('${slot}') and ingest the tables again from scratch (dozer clean, then run); consider a larger max_slot_wal_keep_size`;
}

/** The message for a server whose `wal_level` is not `logical`, or null when it is. */
export function walLevelProblem(walLevel: string): string | null {
  if (walLevel === 'logical') return null;
  return `the server's wal_level is "${walLevel}", but logical replication needs "logical": run ALTER SYSTEM SET wal_level = logical (as a superuser) and restart the server`;
}

/** Checks `wal_level` on a connection and throws a non-retryable error with the fix when it is not `logical`. */
export async function checkWalLevel(client: pg.Client): Promise<void> {
  const r = await client.query<{ wal_level: string }>('SHOW wal_level');
  const problem = walLevelProblem(r.rows[0]?.wal_level ?? '');
  if (problem !== null) throw new ConnectorError(`postgres: ${problem}`, { retryable: false });
}

/**
 * Checks that the connecting user may open replication connections, so that
 * a missing grant is reported as such before the replication connection
 * fails for less obvious reasons.
 */
export async function checkReplicationRole(client: pg.Client, user: string): Promise<void> {
  const r = await client.query<{ rolreplication: string; rolsuper: string }>(
    'SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user',
  );
  const role = r.rows[0];
  if (role !== undefined && role.rolreplication !== 't' && role.rolsuper !== 't') {
    throw new ConnectorError(
      `postgres: user "${user}" has no REPLICATION attribute, which logical replication needs: run ALTER ROLE ${quoteIdent(user)} WITH REPLICATION as a superuser`,
      { retryable: false },
    );
  }
}

/** `sales.orders` → [`sales`, `orders`]; a bare name is in schema public. Quotes keep case. */
export function splitTableName(name: string): [string, string] {
  const parts: string[] = [];
  const re = /"((?:[^"]|"")+)"|([^."]+)/g;
  for (const m of name.matchAll(re)) parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!);
  return parts.length === 1 ? ['public', parts[0]!] : [parts[0]!, parts[1]!];
}

/** The name a table is offered under. */
export function tableDisplayName(schema: string, rel: string): string {
  return schema === 'public' ? rel : `${schema}.${rel}`;
}

/** `"sales"."orders"`. */
export function quoteTable(schema: string, rel: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(rel)}`;
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Reads type details for OIDs the built-in mapping does not know. */
export async function readTypes(
  client: pg.Client,
  oids: readonly number[],
  into: Map<number, PgTypeInfo>,
): Promise<void> {
  const missing = [...new Set(oids)].filter((o) => !into.has(o));
  if (missing.length === 0) return;
  const r = await client.query<{
    oid: string;
    typname: string;
    typtype: string;
    typelem: string;
    typbasetype: string;
  }>('SELECT oid, typname, typtype, typelem, typbasetype FROM pg_type WHERE oid = ANY($1::oid[])', [missing]);
  for (const t of r.rows) {
    into.set(Number(t.oid), {
      oid: Number(t.oid),
      name: t.typname,
      typtype: t.typtype,
      elem: Number(t.typelem),
      base: Number(t.typbasetype),
    });
  }
  // Element and base types of what was just read, for arrays and domains.
  const more = r.rows.flatMap((t) => [Number(t.typelem), Number(t.typbasetype)]).filter((o) => o !== 0);
  if (more.length > 0) await readTypes(client, more, into);
}

/** The core mapping of a column's type, with the catalog's type details. */
export function columnMapping(oid: number, types: Map<number, PgTypeInfo>): ColumnMapping {
  return mapPgType(oid, (o) => types.get(o));
}

/**
 * Reads the tables (ordinary and partitioned) of `names`, or of schema
 * public when `names` is undefined, with columns and primary keys.
 * Unknown names throw a non-retryable error listing what exists.
 */
export async function readTables(
  client: pg.Client,
  names: readonly string[] | undefined,
  types: Map<number, PgTypeInfo>,
): Promise<PgTable[]> {
  const all = await client.query<{ oid: string; nspname: string; relname: string; relreplident: string }>(
    `SELECT c.oid, n.nspname, c.relname, c.relreplident FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY n.nspname, c.relname`,
  );
  let chosen = all.rows;
  if (names === undefined) chosen = all.rows.filter((t) => t.nspname === 'public');
  else {
    chosen = names.map((name) => {
      const [s, r] = splitTableName(name);
      const t = all.rows.find((x) => x.nspname === s && x.relname === r);
      if (t === undefined) {
        const offered = all.rows.map((x) => tableDisplayName(x.nspname, x.relname));
        throw new ConnectorError(
          `postgres: table "${name}" does not exist in the database (or the user cannot see it); tables: ${offered.length === 0 ? '(none)' : offered.join(', ')}. Fix the tables option or create the table`,
          { retryable: false },
        );
      }
      return t;
    });
  }
  if (chosen.length === 0) return [];
  const oids = chosen.map((t) => Number(t.oid));
  const cols = await client.query<{
    attrelid: string;
    attname: string;
    atttypid: string;
    atttypmod: string;
    attnotnull: string;
  }>(
    `SELECT attrelid, attname, atttypid, atttypmod, attnotnull FROM pg_attribute
      WHERE attrelid = ANY($1::oid[]) AND attnum > 0 AND NOT attisdropped ORDER BY attrelid, attnum`,
    [oids],
  );
  const pks = await client.query<{ indrelid: string; attname: string }>(
    `SELECT i.indrelid, a.attname FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indisprimary AND i.indrelid = ANY($1::oid[]) ORDER BY i.indrelid, k.ord`,
    [oids],
  );
  await readTypes(
    client,
    cols.rows.map((c) => Number(c.atttypid)),
    types,
  );
  return chosen.map((t) => {
    const mine = cols.rows.filter((c) => c.attrelid === t.oid);
    const fields: FieldDefinition[] = [];
    const columns: { typeOid: number; decode: TextDecoder }[] = [];
    for (const c of mine) {
      const oid = Number(c.atttypid);
      const m = columnMapping(oid, types);
      const field: { -readonly [K in keyof FieldDefinition]: FieldDefinition[K] } = {
        name: c.attname,
        type: m.type,
        nullable: c.attnotnull !== 't',
      };
      const typmod = Number(c.atttypmod);
      if (m.type === 'decimal' && typmod >= 4) {
        field.precision = ((typmod - 4) >> 16) & 0xffff;
        field.scale = (typmod - 4) & 0xffff;
      }
      fields.push(field);
      columns.push({ typeOid: oid, decode: m.decode });
    }
    const keyNames = pks.rows.filter((p) => p.indrelid === t.oid).map((p) => p.attname);
    return {
      name: tableDisplayName(t.nspname, t.relname),
      oid: Number(t.oid),
      schemaName: t.nspname,
      relName: t.relname,
      replicaIdentity: t.relreplident,
      schema: { fields, primaryKey: keyNames.map((k) => fields.findIndex((f) => f.name === k)) },
      columns,
    };
  });
}
