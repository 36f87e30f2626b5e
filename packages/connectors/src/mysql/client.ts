import mysql from 'mysql2';
import { ConnectorError, SourceRebuildError } from '../errors.js';
import type { MysqlConfig } from './config.js';

/** A mysql2 callback connection. */
export type RawConnection = mysql.Connection;

/** mysql2 connection options for a config; every session works in UTC. */
export function connectionOptions(config: MysqlConfig): mysql.ConnectionOptions {
  return {
    host: config.host,
    port: config.port ?? 3306,
    user: config.user,
    password: config.password ?? '',
    database: config.database,
    timezone: 'Z',
    dateStrings: true,
    jsonStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: 10_000,
    charset: 'utf8mb4_general_ci',
  };
}

/** Opens a connection and sets the session up for reading exact values. */
export async function openConnection(config: MysqlConfig, where: string): Promise<RawConnection> {
  const conn = mysql.createConnection(connectionOptions(config));
  // Errors after connecting surface through the queries that hit them.
  conn.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => conn.connect((e) => (e ? reject(e) : resolve())));
    await query(conn, "SET SESSION time_zone = '+00:00'");
  } catch (e) {
    conn.destroy();
    throw classifyError(e, config, where);
  }
  return conn;
}

/** Runs a statement; rows as objects keyed by column name. */
export function query<T = Record<string, unknown>>(
  conn: RawConnection,
  sql: string,
  values: (string | number | null)[] = [],
): Promise<T[]> {
  return new Promise((resolve, reject) => {
    conn.query(sql, values, (e, rows) => (e ? reject(e) : resolve(rows as T[])));
  });
}

interface SqlError {
  code?: string;
  errno?: number;
  sqlMessage?: string;
  message?: string;
  fatal?: boolean;
}

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
  'ER_NET_READ_ERROR',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE',
  'ER_NET_WRITE_INTERRUPTED',
]);
// 1927 ER_CONNECTION_KILLED (MariaDB), 2013 lost connection, 1053 shutdown, 1317 interrupted.
const RETRYABLE_ERRNOS = new Set([1053, 1205, 1213, 1317, 1927, 2006, 2013]);

/** True when a failure may go away by trying again (a dropped connection, a restarting server). */
export function isRetryable(e: unknown): boolean {
  if (e instanceof ConnectorError) return e.retryable;
  const err = e as SqlError | null;
  if (err === null || typeof err !== 'object') return false;
  return (
    (err.code !== undefined && RETRYABLE_CODES.has(err.code)) ||
    (err.errno !== undefined && RETRYABLE_ERRNOS.has(err.errno))
  );
}

/** A ConnectorError for a mysql2 or server error, saying how to fix what can be fixed. */
export function classifyError(e: unknown, config: MysqlConfig, where: string): ConnectorError {
  if (e instanceof ConnectorError) return e;
  const err = (e ?? {}) as SqlError;
  // 1236 (named ER_MASTER_… or ER_SOURCE_… by version): the server cannot send the binlog from the requested file and offset.
  const code = err.errno === 1236 ? 'ER_SOURCE_FATAL_ERROR_READING_BINLOG' : err.code;
  const text = err.sqlMessage ?? err.message ?? String(e);
  const server = `${config.host}:${config.port ?? 3306}`;
  switch (code) {
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
      return new ConnectorError(
        `${where}: MySQL at ${server} rejected user "${config.user}" (${text}); check user and password in the connection's config`,
        { cause: e },
      );
    case 'ER_DBACCESS_DENIED_ERROR':
    case 'ER_BAD_DB_ERROR':
      return new ConnectorError(
        `${where}: cannot use database "${config.database}" on ${server} (${text}); check "database" and that user "${config.user}" may read it (GRANT SELECT ON ${config.database}.* TO ...)`,
        { cause: e },
      );
    case 'ER_SPECIFIC_ACCESS_DENIED_ERROR':
    case 'ER_TABLEACCESS_DENIED_ERROR':
    case 'ER_COLUMNACCESS_DENIED_ERROR':
      return new ConnectorError(
        `${where}: user "${config.user}" lacks a privilege on ${server} (${text}); grant SELECT, RELOAD, REPLICATION SLAVE and REPLICATION CLIENT (see docs/mysql.md)`,
        { cause: e },
      );
    case 'ER_SOURCE_FATAL_ERROR_READING_BINLOG':
      // A fresh start works (a new snapshot, from the binlog's current end): the engine rebuilds.
      return new SourceRebuildError(
        `${where}: the server cannot send the binlog from the requested position (${text}); the binlog file was probably purged (raise expire_logs_days / binlog_expire_logs_seconds) — it must be ingested again from a fresh snapshot`,
        { cause: e },
      );
    case 'ENOTFOUND':
      return new ConnectorError(`${where}: host "${config.host}" not found (${text}); check "host"`, {
        cause: e,
        retryable: true,
      });
  }
  if (isRetryable(e)) {
    return new ConnectorError(
      `${where}: lost or could not open the connection to MySQL at ${server} (${text})`,
      {
        cause: e,
        retryable: true,
      },
    );
  }
  return new ConnectorError(`${where}: MySQL at ${server} failed: ${text}`, { cause: e });
}
