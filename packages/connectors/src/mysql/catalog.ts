import { makeSchema, type Schema } from '@dozer/core';
import { ConnectorError } from '../errors.js';
import { query, type RawConnection } from './client.js';
import { type ColumnInfo, type MappedColumn, mapColumn } from './types.js';

/** What the connector needs to know about the server before reading it. */
export interface ServerSettings {
  readonly version: string;
  readonly logBin: boolean;
  readonly binlogFormat: string;
  readonly binlogRowImage: string;
  readonly serverId: number;
}

/** True for MariaDB, whose snapshot and GTID dialects differ from MySQL's. */
export function isMariaDb(s: ServerSettings): boolean {
  return /mariadb/i.test(s.version);
}

/** Reads the global settings the binlog connector depends on. */
export async function readServerSettings(conn: RawConnection): Promise<ServerSettings> {
  const [row] = await query<Record<string, unknown>>(
    conn,
    'SELECT VERSION() AS version, @@GLOBAL.log_bin AS log_bin, @@GLOBAL.binlog_format AS binlog_format, ' +
      '@@GLOBAL.binlog_row_image AS binlog_row_image, @@GLOBAL.server_id AS server_id',
  );
  return {
    version: String(row?.version ?? ''),
    logBin: String(row?.log_bin) === '1' || String(row?.log_bin).toUpperCase() === 'ON',
    binlogFormat: String(row?.binlog_format ?? '').toUpperCase(),
    binlogRowImage: String(row?.binlog_row_image ?? '').toUpperCase(),
    serverId: Number(row?.server_id ?? 0),
  };
}

/**
 * What is wrong with the server for binlog CDC, or null. `where` names the
 * connection; `replicaId` is the server_id this connector reads with.
 */
export function checkServerSettings(
  s: ServerSettings,
  replicaId: number,
  where: string,
): ConnectorError | null {
  const fix = (setting: string) =>
    `set it with SET GLOBAL ${setting} and under [mysqld] in the server's my.cnf so it survives a restart`;
  if (!s.logBin) {
    return new ConnectorError(
      `${where}: the server's binary log is off (log_bin = OFF); the mysql connector reads changes from it: start the server with log_bin (e.g. log_bin = mysql-bin under [mysqld] in my.cnf) and binlog_format = ROW`,
    );
  }
  if (s.binlogFormat !== 'ROW') {
    return new ConnectorError(
      `${where}: the server's binlog_format is ${s.binlogFormat}, but the mysql connector needs ROW (statements cannot be turned into row changes): ${fix("binlog_format = 'ROW'")}`,
    );
  }
  if (s.binlogRowImage !== '' && s.binlogRowImage !== 'FULL') {
    return new ConnectorError(
      `${where}: the server's binlog_row_image is ${s.binlogRowImage}, but the mysql connector needs FULL (updates and deletes must carry every column of the old row): ${fix("binlog_row_image = 'FULL'")}`,
    );
  }
  if (s.serverId === replicaId) {
    return new ConnectorError(
      `${where}: server_id ${replicaId} is the server's own server_id; set "server_id" in the connection's config to a number no server or replica uses`,
    );
  }
  return null;
}

/** A table with its columns mapped to Dozer fields. */
export interface TableMeta {
  readonly name: string;
  /** The columns Dozer reads, in table order. */
  readonly columns: readonly MappedColumn[];
  /** All columns of the table, including those left out. */
  readonly totalColumns: number;
  /** Columns of unsupported types, left out: `shape (geometry)`. */
  readonly skipped: readonly string[];
  readonly schema: Schema;
}

/**
 * Loads the named tables of `database` (all base tables when `names` is
 * absent), failing with a message listing the existing tables when one is
 * missing.
 */
export async function loadTables(
  conn: RawConnection,
  database: string,
  mariaDb: boolean,
  names: readonly string[] | undefined,
  where: string,
): Promise<TableMeta[]> {
  const existing = (
    await query<{ name: string }>(
      conn,
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
      [database],
    )
  ).map((r) => r.name);
  const wanted = names ?? existing;
  for (const n of wanted) {
    if (!existing.includes(n)) {
      throw new ConnectorError(
        `${where}: table "${n}" does not exist in database "${database}" (or the user may not read it); ` +
          `its tables are: ${existing.length === 0 ? '(none)' : existing.join(', ')}. Fix "tables" in the connection's config`,
      );
    }
  }
  const cols = await query<{
    t: string;
    name: string;
    data_type: string;
    column_type: string;
    is_nullable: string;
    num_precision: number | string | null;
    num_scale: number | string | null;
  }>(
    conn,
    'SELECT TABLE_NAME AS t, COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, ' +
      'IS_NULLABLE AS is_nullable, NUMERIC_PRECISION AS num_precision, NUMERIC_SCALE AS num_scale ' +
      'FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION',
    [database],
  );
  const keys = await query<{ t: string; name: string }>(
    conn,
    "SELECT TABLE_NAME AS t, COLUMN_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX",
    [database],
  );
  // MariaDB's JSON is LONGTEXT plus a CHECK (json_valid(`col`)) constraint.
  const jsonCols = new Set<string>();
  if (mariaDb) {
    const checks = await query<{ t: string; clause: string }>(
      conn,
      'SELECT TABLE_NAME AS t, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?',
      [database],
    );
    for (const c of checks) {
      const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(c.clause.trim());
      if (m) jsonCols.add(`${c.t}\u0000${m[1]!.replace(/``/g, '`')}`);
    }
  }
  const num = (v: number | string | null) => (v === null ? null : Number(v));
  return wanted.map((name) => {
    const all = cols.filter((c) => c.t === name);
    const columns: MappedColumn[] = [];
    const skipped: string[] = [];
    all.forEach((c, ordinal) => {
      const mapped = mapColumn(
        {
          name: c.name,
          dataType: c.data_type,
          columnType: c.column_type,
          nullable: c.is_nullable === 'YES',
          precision: num(c.num_precision),
          scale: num(c.num_scale),
          isJson: jsonCols.has(`${name}\u0000${c.name}`),
        } satisfies ColumnInfo,
        ordinal,
      );
      if (mapped === null) skipped.push(`${c.name} (${c.column_type})`);
      else columns.push(mapped);
    });
    const pk = keys.filter((k) => k.t === name).map((k) => k.name);
    // A key with a left-out column no longer identifies rows, as with a projection that drops one.
    const keyKept = pk.every((k) => columns.some((c) => c.name === k));
    return {
      name,
      columns,
      totalColumns: all.length,
      skipped,
      schema: makeSchema(
        columns.map((c) => c.field),
        keyKept ? pk : [],
      ),
    };
  });
}
