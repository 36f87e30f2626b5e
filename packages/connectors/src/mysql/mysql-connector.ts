import type { Operation, Row, SourcePosition } from '@dozer/core';
import ZongJi from '@vlasky/zongji';
import {
  type Connector,
  type ConnectorContext,
  type ConnectorFactory,
  defineConnector,
  type IngestSink,
  type LagInfo,
  type StartRequest,
  type TableInfo,
} from '../connector.js';
import { ConnectorError, SourceRebuildError } from '../errors.js';
import { projectTable, type TableProjection } from '../projection.js';
import { type SnapshotProgress, snapshotRowsLeft } from '../snapshot-progress.js';
import {
  checkServerSettings,
  isMariaDb,
  loadTables,
  readServerSettings,
  type ServerSettings,
  type TableMeta,
} from './catalog.js';
import { classifyError, connectionOptions, openConnection, query, type RawConnection } from './client.js';
import { defaultServerId, MYSQL_DEFAULTS, type MysqlConfig, validateMysqlConfig } from './config.js';
import { tableDdl } from './ddl.js';
import {
  type BinlogPosition,
  binlogFileName,
  boundary,
  compareBinlogPositions,
  formatPosition,
  parsePosition,
  splitBinlogFile,
} from './position.js';
import { binlogTypeFits, quoteIdent, selectExpression, valueFromBinlog, valueFromText } from './types.js';

/**
 * The `mysql` connector: snapshots tables of a MySQL or MariaDB database
 * in one consistent read, then follows the ROW-format binlog from the
 * snapshot's position. Positions are binlog file + offset (see
 * `position.ts`); batches end at commits, or inside a large transaction
 * after `batch_size` row changes of a table.
 */
export const mysqlConnector: ConnectorFactory<MysqlConfig> = defineConnector<MysqlConfig>({
  kind: 'mysql',
  validateConfig: validateMysqlConfig,
  open: (config, context) => new MysqlConnector(config, context),
});

/** Retries of a dropped binlog connection before `start` gives up; the delay doubles from 250 ms up to 30 s. */
const MAX_RETRIES = 10;
/** Binlog events buffered before the connection is paused (backpressure on the server). */
const QUEUE_HIGH = 2000;
const QUEUE_LOW = 200;

interface TableRun {
  readonly meta: TableMeta;
  readonly projection: TableProjection;
  /** Where this table continues: its resume point, snapshot end, or last batch written. */
  from: BinlogPosition;
  written: BinlogPosition | null;
  /** Per open transaction: ops of this table seen so far, ops to drop, ops waiting for the commit. */
  txSeen: number;
  txSkip: number;
  txPending: Operation[];
  /** While the table waits for or is in its snapshot: the server's estimate of its rows, and the rows read. */
  snapshotRows: SnapshotProgress | null;
}

/** The parts of zongji's events this connector reads. */
interface BinlogEvent {
  getEventName(): string;
  readonly nextPosition: number;
  readonly timestamp: number;
  readonly binlogName?: string;
  readonly position?: number;
  readonly query?: string;
  /** A query's current database. */
  readonly schema?: string;
  readonly gtid?: string;
  readonly standalone?: boolean;
  readonly tableId?: number;
  readonly columnCount?: number;
  readonly columnTypes?: number[];
  readonly tableName?: string;
  readonly schemaName?: string;
  readonly tableMap?: Record<number, { parentSchema: string; tableName: string }>;
  readonly rows?: unknown[];
}

type QueueItem = { kind: 'event'; event: BinlogEvent } | { kind: 'error'; error: unknown } | { kind: 'end' };

class MysqlConnector implements Connector {
  private readonly where: string;
  private readonly stop = new AbortController();
  private readonly serverId: number;
  private readonly batchSize: number;
  private runs: TableRun[] = [];
  private started = false;
  private snapshotting = false;
  /** Timestamp (ms) of the oldest event received but not yet processed, for lag(). */
  private oldestQueued: number | null = null;

  constructor(
    private readonly config: MysqlConfig,
    private readonly context: ConnectorContext,
  ) {
    this.where = `connection "${context.name}" (mysql)`;
    this.serverId = config.server_id ?? defaultServerId(context.name);
    this.batchSize = config.batch_size ?? MYSQL_DEFAULTS.batchSize;
  }

  async listTables(): Promise<TableInfo[]> {
    const conn = await openConnection(this.config, this.where);
    try {
      const { tables } = await this.inspect(conn);
      // binlog_row_image FULL (checked at start): old rows carry every column.
      return tables.map((t) => ({ name: t.name, schema: t.schema, exactChanges: true }));
    } catch (e) {
      throw classifyError(e, this.config, this.where);
    } finally {
      conn.destroy();
    }
  }

  comparePositions(a: SourcePosition, b: SourcePosition): number {
    return compareBinlogPositions(parsePosition(a, this.where), parsePosition(b, this.where));
  }

  async lag(): Promise<LagInfo> {
    const behind = this.snapshotting
      ? null
      : this.oldestQueued === null
        ? 0
        : Math.max(0, Date.now() - this.oldestQueued);
    return {
      tables: this.runs.map((r) => ({
        table: r.meta.name,
        position: r.written === null ? null : formatPosition(r.written),
        // In its snapshot: the rows left by the server's estimate (information_schema TABLE_ROWS).
        behindOps: r.snapshotRows === null ? null : snapshotRowsLeft(r.snapshotRows),
        behindMillis: behind,
      })),
    };
  }

  async close(): Promise<void> {
    this.stop.abort();
  }

  async start(request: StartRequest): Promise<void> {
    if (this.stop.signal.aborted) throw new ConnectorError(`${this.where}: start after close`);
    if (this.started) throw new ConnectorError(`${this.where}: start was already called`);
    this.started = true;
    const local = new AbortController();
    const abort = () => local.abort();
    request.signal.addEventListener('abort', abort);
    this.stop.signal.addEventListener('abort', abort);
    if (request.signal.aborted || this.stop.signal.aborted) local.abort();
    try {
      await this.run(request, local.signal);
    } catch (e) {
      if (local.signal.aborted) return;
      throw classifyError(e, this.config, this.where);
    } finally {
      request.signal.removeEventListener('abort', abort);
      this.stop.signal.removeEventListener('abort', abort);
    }
  }

  private async inspect(conn: RawConnection): Promise<{ settings: ServerSettings; tables: TableMeta[] }> {
    const settings = await readServerSettings(conn);
    const problem = checkServerSettings(settings, this.serverId, this.where);
    if (problem !== null) throw problem;
    const tables = await loadTables(
      conn,
      this.config.database,
      isMariaDb(settings),
      this.config.tables,
      this.where,
    );
    for (const t of tables) {
      if (t.skipped.length > 0) {
        this.context.logger.warn('mysql columns of unsupported types are left out', {
          table: t.name,
          columns: t.skipped.join(', '),
        });
      }
    }
    return { settings, tables };
  }

  private async run(request: StartRequest, signal: AbortSignal): Promise<void> {
    const conn = await openConnection(this.config, this.where);
    const onAbort = () => conn.destroy();
    signal.addEventListener('abort', onAbort);
    let toSnapshot: TableRun[];
    try {
      const { settings, tables } = await this.inspect(conn);
      const placeholder = boundary('placeholder.000001', 4);
      this.runs = request.tables.map((req) => {
        const meta = tables.find((t) => t.name === req.name);
        if (meta === undefined) {
          throw new ConnectorError(
            `${this.where} has no table "${req.name}"; its tables are: ${tables.map((t) => t.name).join(', ')}`,
          );
        }
        let from = placeholder;
        if (req.resumeFrom !== null) {
          from = parsePosition(req.resumeFrom, `${this.where}, table "${req.name}"`);
          if (from.snapshotRows !== null) {
            throw new SourceRebuildError(
              `${this.where}: table "${req.name}" was stopped in the middle of its snapshot (position ${req.resumeFrom}); a snapshot cannot be resumed part-way: it must be ingested again from scratch`,
            );
          }
        }
        return {
          meta,
          projection: projectTable(meta, req.columns),
          from,
          written: null,
          txSeen: 0,
          txSkip: 0,
          txPending: [],
          snapshotRows: null,
        };
      });
      toSnapshot = this.runs.filter((_, i) => request.tables[i]!.resumeFrom === null);
      if (toSnapshot.length > 0) await this.snapshot(conn, settings, toSnapshot, request.sink, signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
      conn.destroy();
    }
    if (signal.aborted || this.runs.length === 0) return;
    await this.followWithRetries(request.sink, signal);
  }

  /**
   * Reads every table in one consistent snapshot and returns the binlog
   * position it corresponds to. MariaDB reports that position for a
   * `WITH CONSISTENT SNAPSHOT` transaction without locking; MySQL needs a
   * brief FLUSH TABLES WITH READ LOCK while the transaction starts.
   */
  private async snapshot(
    conn: RawConnection,
    settings: ServerSettings,
    runs: readonly TableRun[],
    sink: IngestSink,
    signal: AbortSignal,
  ): Promise<void> {
    this.snapshotting = true;
    const estimates = await estimateRows(
      conn,
      this.config.database,
      runs.map((r) => r.meta.name),
    );
    for (const run of runs) run.snapshotRows = { estimate: estimates.get(run.meta.name) ?? null, read: 0 };
    await query(conn, 'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    let at: BinlogPosition;
    if (isMariaDb(settings)) {
      await query(conn, 'START TRANSACTION WITH CONSISTENT SNAPSHOT');
      const rows = await query<{ Variable_name: string; Value: string }>(
        conn,
        "SHOW STATUS LIKE 'binlog_snapshot_%'",
      );
      const get = (n: string) => rows.find((r) => r.Variable_name.toLowerCase() === n)?.Value;
      const file = get('binlog_snapshot_file');
      const pos = get('binlog_snapshot_position');
      if (file === undefined || pos === undefined || file === '')
        throw new ConnectorError(
          `${this.where}: the server reports no binlog snapshot position; is log_bin on?`,
        );
      at = boundary(file, Number(pos));
    } else {
      await query(conn, 'FLUSH TABLES WITH READ LOCK');
      try {
        await query(conn, 'START TRANSACTION WITH CONSISTENT SNAPSHOT');
        let status: Record<string, unknown>[];
        try {
          status = await query(conn, 'SHOW MASTER STATUS');
        } catch {
          status = await query(conn, 'SHOW BINARY LOG STATUS'); // MySQL 8.4 dropped SHOW MASTER STATUS
        }
        const row = status[0];
        if (row === undefined)
          throw new ConnectorError(`${this.where}: SHOW MASTER STATUS is empty; is log_bin on?`);
        const gtid =
          typeof row.Executed_Gtid_Set === 'string' ? row.Executed_Gtid_Set.replace(/\s/g, '') : '';
        at = boundary(String(row.File), Number(row.Position), gtid === '' ? null : gtid);
      } finally {
        await query(conn, 'UNLOCK TABLES');
      }
    }
    for (const run of runs) {
      if (signal.aborted) return;
      run.from = at;
      await this.snapshotTable(conn, run, at, sink, signal);
      if (signal.aborted) return;
      run.snapshotRows = null;
      await sink.snapshotDone(run.meta.name, formatPosition(at));
      this.context.logger.info('mysql snapshot done', { table: run.meta.name, position: formatPosition(at) });
    }
    await query(conn, 'COMMIT');
    this.snapshotting = false;
  }

  private async snapshotTable(
    conn: RawConnection,
    run: TableRun,
    at: BinlogPosition,
    sink: IngestSink,
    signal: AbortSignal,
  ): Promise<void> {
    const { meta } = run;
    const sql = `SELECT ${meta.columns.map(selectExpression).join(', ')} FROM ${quoteIdent(this.config.database)}.${quoteIdent(meta.name)}`;
    const q = conn.query({
      sql,
      rowsAsArray: true,
      typeCast: (field: { buffer(): Buffer | null }) => field.buffer(),
    });
    const stream = q.stream({ highWaterMark: this.batchSize });
    let ops: Operation[] = [];
    let rows = 0;
    const flush = async () => {
      const position = { ...at, snapshotRows: rows };
      await sink.write({ table: meta.name, ops, position: formatPosition(position) });
      run.written = position;
      if (run.snapshotRows !== null) run.snapshotRows.read = rows;
      ops = [];
    };
    try {
      for await (const raw of stream as AsyncIterable<(Buffer | null)[]>) {
        const row: Row = meta.columns.map((c, i) => valueFromText(c, raw[i] ?? null));
        ops.push({ kind: 'insert', new: run.projection.project(row) });
        rows++;
        if (ops.length >= this.batchSize) await flush();
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    if (ops.length > 0) await flush();
  }

  private async followWithRetries(sink: IngestSink, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    for (;;) {
      let progressed = false;
      try {
        await this.follow(sink, signal, () => {
          progressed = true;
        });
        return;
      } catch (e) {
        if (signal.aborted) return;
        const err = classifyError(e, this.config, this.where);
        if (progressed) attempt = 0;
        if (!err.retryable || attempt >= MAX_RETRIES) throw err;
        const delay = Math.min(30_000, 250 * 2 ** attempt);
        attempt++;
        this.context.logger.warn('mysql binlog connection failed; reconnecting', {
          attempt,
          delayMs: delay,
          error: err.message,
        });
        await sleep(delay, signal);
        if (signal.aborted) return;
      }
    }
  }

  /**
   * Streams the binlog from the earliest position any table needs until
   * aborted or failed. Each table skips what it already has: whole
   * transactions starting before its position, and the first `skip` row
   * changes of the transaction starting at it.
   */
  private async follow(sink: IngestSink, signal: AbortSignal, onProgress: () => void): Promise<void> {
    const runs = this.runs;
    let start = runs[0]!.from;
    for (const r of runs) if (compareBinlogPositions(r.from, start) < 0) start = r.from;
    const database = this.config.database;
    const byName = new Map(runs.map((r) => [r.meta.name, r]));

    const zongji = new ZongJi(connectionOptions(this.config));
    const queue: QueueItem[] = [];
    let wake: (() => void) | null = null;
    let paused = false;
    let stopped = false;
    // zongji pauses the connection itself while it fetches a table's column metadata; resuming it then would let row events overtake their metadata.
    let fetching = 0;
    const zj = zongji as unknown as {
      _fetchTableInfo(ev: unknown, next: () => void): void;
      connection: { pause(): void; resume(): void; on(e: string, f: () => void): void } | null;
    };
    const fetchTableInfo = zj._fetchTableInfo.bind(zongji);
    zj._fetchTableInfo = (ev, next) => {
      fetching++;
      fetchTableInfo(ev, () => {
        fetching--;
        next();
      });
    };
    const push = (item: QueueItem) => {
      if (stopped) return;
      if (item.kind === 'event' && this.oldestQueued === null && item.event.timestamp > 0)
        this.oldestQueued = item.event.timestamp;
      queue.push(item);
      if (queue.length >= QUEUE_HIGH && !paused && zj.connection !== null) {
        paused = true;
        zj.connection.pause();
      }
      wake?.();
    };
    const next = async (): Promise<QueueItem> => {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      const item = queue.shift()!;
      if (paused && queue.length <= QUEUE_LOW && fetching === 0 && zj.connection !== null) {
        paused = false;
        zj.connection.resume();
      }
      const head = queue[0];
      this.oldestQueued = head?.kind === 'event' && head.event.timestamp > 0 ? head.event.timestamp : null;
      return item;
    };
    zongji.on('binlog', (event: unknown) => push({ kind: 'event', event: event as BinlogEvent }));
    zongji.on('error', (error: Error) => push({ kind: 'error', error }));
    const onAbort = () => push({ kind: 'end' });
    signal.addEventListener('abort', onAbort);

    zongji.start({
      serverId: this.serverId,
      filename: binlogFileName(start),
      position: start.offset,
      includeSchema: { [database]: runs.map((r) => r.meta.name) },
    });
    zj.connection?.on('end', () =>
      push({
        kind: 'error',
        error: new ConnectorError(`${this.where}: the server closed the binlog connection`, {
          retryable: true,
        }),
      }),
    );

    let file = { base: start.base, seq: start.seq };
    let lastOffset = start.offset;
    let tx: { start: BinlogPosition; gtid: string | null; begun: boolean } | null = null;

    const openTx = (gtid: string | null) => {
      const txStart: BinlogPosition = {
        ...file,
        offset: lastOffset,
        skip: 0,
        snapshotRows: null,
        gtid: null,
      };
      tx = { start: txStart, gtid, begun: false };
      for (const r of runs) {
        const c = compareBinlogPositions(txStart, { ...r.from, skip: 0, gtid: null });
        r.txSeen = 0;
        r.txSkip = c < 0 ? Number.POSITIVE_INFINITY : c === 0 ? r.from.skip : 0;
        r.txPending = [];
      }
      return tx;
    };
    const writeBatch = async (r: TableRun, position: BinlogPosition, ops: Operation[]) => {
      await sink.write({ table: r.meta.name, ops, position: formatPosition(position) });
      r.written = position;
      r.from = position;
    };
    /**
     * Ends the open transaction at the event ending at `nextPosition` and
     * writes what it holds. A group whose end the binlog does not tell
     * (an event group cut short, which the server should never send) ends
     * at "after its last row change" instead, so positions still only grow.
     */
    const commit = async (nextPosition: number) => {
      const t = tx;
      tx = null;
      const known = nextPosition > 0;
      if (known) lastOffset = nextPosition;
      if (t === null) return;
      for (const r of runs) {
        const pending = r.txPending;
        r.txPending = [];
        if (r.txSkip === Number.POSITIVE_INFINITY) continue;
        const end: BinlogPosition = known
          ? { ...file, offset: lastOffset, skip: 0, snapshotRows: null, gtid: t.gtid }
          : { ...t.start, skip: r.txSeen, gtid: t.gtid };
        if (pending.length > 0) await writeBatch(r, end, pending);
        // A table with nothing in this transaction is just as caught up; after a reconnect it need not reread it.
        else if (known) r.from = end;
      }
      onProgress();
    };
    const addOp = async (r: TableRun, op: Operation) => {
      const t = tx ?? openTx(null);
      r.txSeen++;
      if (r.txSeen <= r.txSkip) return;
      r.txPending.push(op);
      if (r.txPending.length >= this.batchSize) {
        const ops = r.txPending;
        r.txPending = [];
        await writeBatch(r, { ...t.start, skip: r.txSeen, gtid: t.gtid }, ops);
      }
    };
    const toRow = (r: TableRun, data: unknown): Row => {
      const obj = data as Record<string, unknown>;
      return r.projection.project(
        r.meta.columns.map((c) => {
          if (!(c.name in obj)) {
            throw new ConnectorError(
              `${this.where}: a binlog row of table "${r.meta.name}" has no column "${c.name}"; the table was altered after ingestion began — re-ingest it from a fresh snapshot`,
            );
          }
          try {
            return valueFromBinlog(c, obj[c.name]);
          } catch (e) {
            throw new ConnectorError(
              `${this.where}: cannot read column "${c.name}" of table "${r.meta.name}" from the binlog as ${c.field.type} (${e instanceof Error ? e.message : String(e)}); if the table was altered, re-ingest it from a fresh snapshot`,
              { cause: e },
            );
          }
        }),
      );
    };

    try {
      for (;;) {
        const item = await next();
        if (item.kind === 'end' || signal.aborted) return;
        if (item.kind === 'error') throw item.error;
        const ev = item.event;
        const name = ev.getEventName();
        switch (name) {
          case 'rotate':
            file = splitBinlogFile(ev.binlogName ?? '');
            lastOffset = ev.position ?? 4;
            break;
          case 'mariadbgtid':
          case 'gtid':
          case 'anonymousgtid': {
            if (tx !== null) await commit(0);
            const t = openTx(name === 'anonymousgtid' ? null : (ev.gtid ?? null));
            // MariaDB sends no BEGIN after a transactional GTID; only a standalone one (DDL) ends with its query.
            t.begun = name === 'mariadbgtid' && ev.standalone === false;
            break;
          }
          case 'xid':
          case 'xaprepare':
            await commit(ev.nextPosition);
            break;
          case 'query': {
            const text = (ev.query ?? '').trim();
            const upper = text.toUpperCase();
            if (upper === 'BEGIN' || upper.startsWith('XA START')) {
              (tx ?? openTx(null)).begun = true;
            } else if (upper === 'COMMIT' || upper === 'ROLLBACK' || upper.startsWith('XA COMMIT')) {
              await commit(ev.nextPosition);
            } else {
              const hit = tableDdl(text, ev.schema ?? '').find(
                (d) => d.schema === database && byName.has(d.table),
              );
              if (hit !== undefined) {
                const why =
                  hit.verb === 'truncated'
                    ? 'the binlog has no row changes for TRUNCATE (use DELETE FROM to empty a table that is ingested)'
                    : `the binlog has no row changes for a table being ${hit.verb}`;
                const message = `${this.where}: table "${hit.table}" was ${hit.verb} (${text.slice(0, 80)}); ${why}, so ingestion cannot follow it — re-ingest the table from a fresh snapshot`;
                // A truncated table reads fine from a fresh snapshot: the engine rebuilds. One dropped
                // or renamed away has to be fixed in the config first.
                throw hit.verb === 'truncated'
                  ? new SourceRebuildError(message)
                  : new ConnectorError(message);
              }
              // DDL is its own event group: it ends the group its GTID opened.
              const t = tx as { begun: boolean } | null;
              if (t === null || !t.begun) await commit(ev.nextPosition);
            }
            break;
          }
          case 'tablemap': {
            const r = ev.schemaName === database ? byName.get(ev.tableName ?? '') : undefined;
            if (r === undefined) break;
            const types = ev.columnTypes ?? [];
            const changed =
              ev.columnCount !== r.meta.totalColumns
                ? `now has ${ev.columnCount} columns in the binlog but had ${r.meta.totalColumns}`
                : r.meta.columns
                    .filter((c) => !binlogTypeFits(c, types[c.ordinal] ?? -1))
                    .map((c) => `column "${c.name}" changed its type`)
                    .join(', ');
            if (changed !== '') {
              throw new ConnectorError(
                `${this.where}: table "${r.meta.name}" ${changed} since ingestion began (ALTER TABLE); re-ingest it from a fresh snapshot`,
              );
            }
            break;
          }
          case 'writerows':
          case 'updaterows':
          case 'deleterows': {
            const info = ev.tableMap?.[ev.tableId ?? -1];
            const r =
              info !== undefined && info.parentSchema === database ? byName.get(info.tableName) : undefined;
            if (r === undefined) break;
            for (const data of ev.rows ?? []) {
              let op: Operation;
              if (name === 'writerows') op = { kind: 'insert', new: toRow(r, data) };
              else if (name === 'deleterows') op = { kind: 'delete', old: toRow(r, data) };
              else {
                const u = data as { before: unknown; after: unknown };
                op = { kind: 'update', old: toRow(r, u.before), new: toRow(r, u.after) };
              }
              await addOp(r, op);
            }
            break;
          }
          case 'heartbeat':
            break;
          default:
            if (tx === null && ev.nextPosition > 0) lastOffset = ev.nextPosition;
        }
      }
    } finally {
      stopped = true;
      signal.removeEventListener('abort', onAbort);
      this.oldestQueued = null;
      zongji.removeAllListeners('binlog');
      zongji.on('error', () => {});
      zongji.stop();
    }
  }
}

/** Waits `ms` milliseconds, or less when `signal` aborts; never rejects. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The rows the server estimates each table holds (`information_schema.TABLES.TABLE_ROWS`, from
 * InnoDB's statistics: may be off by tens of percent), by name; a table it gives none for is
 * absent, and so is every table when the server does not answer (progress is not worth a failure).
 */
async function estimateRows(
  conn: RawConnection,
  database: string,
  tables: readonly string[],
): Promise<Map<string, number>> {
  const rows = await query<{ name: string; n: number | string | null }>(
    conn,
    `SELECT TABLE_NAME AS name, TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (${tables.map(() => '?').join(', ')})`,
    [database, ...tables],
  ).catch(() => []);
  const out = new Map<string, number>();
  for (const r of rows) if (r.n !== null && r.n !== undefined) out.set(String(r.name), Number(r.n));
  return out;
}
