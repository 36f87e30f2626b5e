import os from 'node:os';
import {
  DateValue,
  Decimal,
  Duration,
  type FieldType,
  Json,
  type Operation,
  Point,
  type Row,
  type SourcePosition,
  Timestamp,
  type Value,
} from '@dozer/core';
import type pg from 'pg';
import {
  type Connector,
  type ConnectorContext,
  type ConnectorFactory,
  defineConnector,
  type IngestSink,
  type LagInfo,
  resolveConfigPath,
  type StartRequest,
  type TableInfo,
} from '../connector.js';
import { ConnectorError, SourceRebuildError } from '../errors.js';
import { projectTable, type TableProjection } from '../projection.js';
import { type SnapshotProgress, snapshotRowsLeft } from '../snapshot-progress.js';
import {
  checkReplicationRole,
  checkWalLevel,
  columnMapping,
  connect,
  isRetryable,
  lostSlotProblem,
  type PgTable,
  pgError,
  quoteIdent,
  quoteTable,
  readTables,
  readTypes,
} from './catalog.js';
import {
  defaultObjectName,
  POSTGRES_DEFAULTS,
  type PostgresConfig,
  validatePostgresConfig,
} from './config.js';
import { decodePgOutput, PG_EPOCH_MICROS, type RawTuple, type RelationColumn } from './pgoutput.js';
import {
  comparePgPositions,
  formatLsn,
  formatPosition,
  maxLsn,
  type PgPosition,
  parseLsn,
  parsePosition,
} from './position.js';
import { ReplicationStream } from './replication-stream.js';
import { type RawRow, RowCache, RowCacheSpace } from './row-cache.js';
import type { PgTypeInfo, TextDecoder } from './types.js';

/**
 * The `postgres` connector: snapshots tables consistently with a logical
 * replication slot, then follows their changes through `pgoutput`.
 * See packages/connectors/docs/postgres.md.
 */
export const postgresConnector: ConnectorFactory<PostgresConfig> = defineConnector<PostgresConfig>({
  kind: 'postgres',
  validateConfig: validatePostgresConfig,
  open: (config, context) => new PostgresConnector(config, context),
});

/** How a relation's columns (as the stream describes it now) map onto a table's fields. */
interface RelationMap {
  readonly run: TableRun | null;
  /** Per field of the table's schema: the column's index in the relation's tuples, or -1 when dropped. */
  readonly fieldToColumn: readonly number[];
  readonly decoders: readonly TextDecoder[];
  /** The relation's columns are the table's fields, in order: tuples need no reordering. */
  readonly identity: boolean;
}

interface TableRun {
  readonly table: PgTable;
  readonly name: string;
  readonly projection: TableProjection;
  readonly cache: RowCache;
  /** Changes at or before this position were delivered before (resume) or are in the snapshot. */
  skip: PgPosition | null;
  pending: Operation[];
  pendingPosition: PgPosition | null;
  written: PgPosition | null;
  acked: PgPosition | null;
  /** Columns added to the table after start that are not ingested (warned once each). */
  readonly warnedColumns: Set<string>;
  warnedMissingOld: boolean;
  /** While its snapshot runs: the rows Postgres estimates the table holds (null: no estimate), and those read. */
  snapshotRows: SnapshotProgress | null;
  /**
   * A resumed table's cache holds the table as it was at this LSN (read when the connector
   * started), not as it was at the resume position: a TRUNCATE replayed from before it cannot
   * name the rows the pipeline holds. Null for a table snapshotted by this run.
   */
  cacheAt: bigint | null;
}

interface Txn {
  readonly finalLsn: bigint;
  readonly commitTime: bigint;
  readonly counts: Map<TableRun, number>;
}

const SNAPSHOT_FETCH = 10_000;

class PostgresConnector implements Connector {
  private readonly stop = new AbortController();
  private readonly slot: string;
  private readonly publication: string;
  private readonly batchSize: number;
  private readonly types = new Map<number, PgTypeInfo>();
  private runs: TableRun[] = [];
  private started = false;
  private stream: ReplicationStream | null = null;
  private meta: pg.Client | null = null;
  /** End LSN of the last transaction processed, or a keepalive LSN seen between transactions. */
  private processedEnd = 0n;
  /** The slot LSN confirmed so far (never moves back). */
  private confirmedLsn = 0n;
  /** Commit time (µs since 1970) of the transaction being processed, for lag. */
  private currentCommitMicros: bigint | null = null;
  /** Where the tables' row caches live: memory up to `row_cache_memory_mb`, then disk. */
  private readonly cacheSpace: RowCacheSpace;

  constructor(
    private readonly config: PostgresConfig,
    private readonly context: ConnectorContext,
  ) {
    this.slot = config.slot_name ?? defaultObjectName(context.name);
    this.publication = config.publication_name ?? defaultObjectName(context.name);
    this.batchSize = config.batch_size ?? POSTGRES_DEFAULTS.batchSize;
    this.cacheSpace = new RowCacheSpace(
      (config.row_cache_memory_mb ?? POSTGRES_DEFAULTS.rowCacheMemoryMb) * 1024 * 1024,
      config.row_cache_dir === undefined ? os.tmpdir() : resolveConfigPath(context, config.row_cache_dir),
      `connection "${context.name}"`,
    );
  }

  async listTables(): Promise<TableInfo[]> {
    const client = await connect(this.config, false, `connection "${this.context.name}"`);
    try {
      const tables = await readTables(client, this.config.tables, this.types);
      // Under REPLICA IDENTITY FULL the stream carries whole old rows; otherwise only their key.
      return tables.map((t) => ({ name: t.name, schema: t.schema, exactChanges: t.replicaIdentity === 'f' }));
    } catch (e) {
      throw pgError(e, `connection "${this.context.name}": reading tables`, this.config);
    } finally {
      await client.end().catch(() => {});
    }
  }

  comparePositions(a: SourcePosition, b: SourcePosition): number {
    return comparePgPositions(parsePosition(a), parsePosition(b));
  }

  async start(request: StartRequest): Promise<void> {
    const where = `connection "${this.context.name}"`;
    if (this.stop.signal.aborted) throw new ConnectorError(`${where}: start after close`);
    if (this.started) throw new ConnectorError(`${where}: start was already called`);
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
      throw pgError(e, where, this.config);
    } finally {
      request.signal.removeEventListener('abort', abort);
      this.stop.signal.removeEventListener('abort', abort);
      await this.stream?.close();
      this.stream = null;
      await this.meta?.end().catch(() => {});
      this.meta = null;
      await this.cacheSpace.close();
    }
  }

  private async run(request: StartRequest, signal: AbortSignal): Promise<void> {
    const where = `connection "${this.context.name}"`;
    const meta = await connect(this.config, false, where);
    this.meta = meta;
    await checkWalLevel(meta);
    await checkReplicationRole(meta, this.config.user);
    const offered = await readTables(meta, this.config.tables, this.types);
    this.runs = request.tables.map((req) => {
      const table = offered.find((t) => t.name === req.name);
      if (table === undefined) {
        throw new ConnectorError(
          `${where} has no table "${req.name}"; its tables are: ${offered.map((t) => t.name).join(', ') || '(none)'}`,
        );
      }
      const resume = req.resumeFrom === null ? null : parsePosition(req.resumeFrom);
      if (resume !== null && resume.kind === 'snapshot') {
        throw new SourceRebuildError(
          `${where}: table "${req.name}" resumes from ${req.resumeFrom}, inside its initial snapshot, which cannot be continued: it must be ingested again from scratch`,
        );
      }
      const pk = table.schema.primaryKey;
      return {
        table,
        name: req.name,
        projection: projectTable({ name: table.name, schema: table.schema }, req.columns),
        cache: new RowCache(pk.length > 0 ? pk : null, this.cacheSpace),
        skip: resume,
        pending: [],
        pendingPosition: null,
        written: resume,
        acked: resume,
        warnedColumns: new Set(),
        warnedMissingOld: false,
        snapshotRows: null,
        cacheAt: null,
      };
    });
    if (this.runs.length === 0 || signal.aborted) return;
    for (const r of this.runs) {
      if (r.table.replicaIdentity === 'n') {
        throw new ConnectorError(
          `${where}: table "${r.name}" has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be followed: run ALTER TABLE ${quoteTable(r.table.schemaName, r.table.relName)} REPLICA IDENTITY DEFAULT (with a primary key) or FULL`,
        );
      }
    }
    await this.ensurePublication(meta);

    // wal_status exists from Postgres 13 on: read through to_jsonb so that older servers answer too.
    const slot = await meta.query<{
      plugin: string;
      database: string;
      confirmed_flush_lsn: string | null;
      wal_status: string | null;
    }>(
      "SELECT plugin, database, confirmed_flush_lsn, to_jsonb(s) ->> 'wal_status' AS wal_status FROM pg_replication_slots s WHERE slot_name = $1",
      [this.slot],
    );
    const existing = slot.rows[0];
    if (
      existing !== undefined &&
      (existing.plugin !== 'pgoutput' || existing.database !== this.config.database)
    ) {
      throw new ConnectorError(
        `${where}: replication slot "${this.slot}" exists but belongs to plugin "${existing.plugin}" in database "${existing.database}": choose another slot_name or drop it with SELECT pg_drop_replication_slot('${this.slot}')`,
      );
    }
    if (existing?.wal_status === 'lost') {
      throw new ConnectorError(`${where}: ${lostSlotProblem(this.slot)}`, { retryable: false });
    }
    const resumed = this.runs.filter((r) => r.skip !== null);
    if (existing === undefined && resumed.length > 0) {
      throw new SourceRebuildError(
        `${where}: replication slot "${this.slot}" does not exist, but tables ${resumed.map((r) => `"${r.name}"`).join(', ')} resume from earlier positions; the changes since then are gone: they must be ingested again from scratch`,
      );
    }
    this.confirmedLsn =
      existing?.confirmed_flush_lsn === null || existing === undefined
        ? 0n
        : parseLsn(existing.confirmed_flush_lsn);

    const toSnapshot = this.runs.filter((r) => r.skip === null);
    let repl: pg.Client | null = await connect(this.config, true, `${where}: replication connection`);
    try {
      if (toSnapshot.length > 0) {
        // The main slot's exported snapshot when creating it; else a temporary slot's, which
        // gives a snapshot consistent with an LSN the main slot still streams from.
        const creating = existing === undefined;
        const snapClient = creating ? repl : await connect(this.config, true, where);
        try {
          const name = creating
            ? this.slot
            : `${this.slot.slice(0, 40)}_snap_${process.pid}_${Date.now() % 1e6}`;
          const created = await snapClient.query<{ consistent_point: string; snapshot_name: string }>(
            `CREATE_REPLICATION_SLOT ${quoteIdent(name)} ${creating ? '' : 'TEMPORARY '}LOGICAL pgoutput EXPORT_SNAPSHOT`,
          );
          const row = created.rows[0]!;
          const at = parseLsn(row.consistent_point);
          if (creating) this.confirmedLsn = at;
          this.context.logger.info('postgres snapshot started', { slot: name, lsn: row.consistent_point });
          await this.snapshot(toSnapshot, row.snapshot_name, at, request.sink, signal);
        } finally {
          if (snapClient !== repl) await snapClient.end().catch(() => {});
        }
      } else {
        await this.fillCaches(signal);
      }
      if (signal.aborted) return;
      const owned = repl;
      repl = null;
      await this.follow(owned, request.sink, signal);
    } finally {
      if (repl !== null) await repl.end().catch(() => {});
    }
  }

  /** Creates the publication, or adds the requested tables it lacks. */
  private async ensurePublication(meta: pg.Client): Promise<void> {
    const names = this.runs.map((r) => quoteTable(r.table.schemaName, r.table.relName));
    const pub = await meta.query<{ puballtables: string }>(
      'SELECT puballtables FROM pg_publication WHERE pubname = $1',
      [this.publication],
    );
    try {
      if (pub.rows.length === 0) {
        await meta.query(`CREATE PUBLICATION ${quoteIdent(this.publication)} FOR TABLE ${names.join(', ')}`);
        this.context.logger.info('postgres publication created', { publication: this.publication });
        return;
      }
      if (pub.rows[0]!.puballtables === 't') return;
      const have = await meta.query<{ schemaname: string; tablename: string }>(
        'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1',
        [this.publication],
      );
      const missing = this.runs.filter(
        (r) => !have.rows.some((h) => h.schemaname === r.table.schemaName && h.tablename === r.table.relName),
      );
      if (missing.length > 0) {
        await meta.query(
          `ALTER PUBLICATION ${quoteIdent(this.publication)} ADD TABLE ${missing.map((r) => quoteTable(r.table.schemaName, r.table.relName)).join(', ')}`,
        );
        this.context.logger.info('postgres publication extended', {
          publication: this.publication,
          tables: missing.map((r) => r.name),
        });
      }
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === '42501') {
        throw new ConnectorError(
          `connection "${this.context.name}": user "${this.config.user}" may not create or alter publication "${this.publication}" (${(e as Error).message}): create it as the tables' owner with CREATE PUBLICATION ${quoteIdent(this.publication)} FOR TABLE ${names.join(', ')}, or make the user own the tables`,
          { retryable: false, cause: e },
        );
      }
      throw e;
    }
  }

  /** Reads the tables in the exported snapshot, sending their rows as inserts. */
  private async snapshot(
    runs: TableRun[],
    snapshotName: string,
    at: bigint,
    sink: IngestSink,
    signal: AbortSignal,
  ): Promise<void> {
    const client = await connect(this.config, false, `connection "${this.context.name}": snapshot`);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
      // Tables that resume need their last known rows too; the snapshot is the closest state at hand.
      for (const run of this.runs) {
        const snap = runs.includes(run);
        if (!snap) run.cacheAt = at;
        let count = 0;
        if (snap) run.snapshotRows = { estimate: await estimateRows(client, run.table.oid), read: 0 };
        await this.readTable(client, run, signal, async (rows) => {
          if (!snap) return;
          for (let i = 0; i < rows.length && !signal.aborted; i += this.batchSize) {
            const chunk = rows.slice(i, i + this.batchSize);
            count += chunk.length;
            run.snapshotRows!.read = count;
            const ops: Operation[] = chunk.map((r) => ({ kind: 'insert', new: run.projection.project(r) }));
            await sink.write({
              table: run.name,
              ops,
              position: formatPosition({ kind: 'snapshot', lsn: at, count }),
            });
          }
        });
        if (signal.aborted) return;
        run.snapshotRows = null;
        if (snap) {
          const done: PgPosition = { kind: 'stream', lsn: at, count: 0 };
          run.skip = done;
          run.written = done;
          await sink.snapshotDone(run.name, formatPosition(done));
          this.context.logger.info('postgres snapshot done', { table: run.name, rows: count });
        }
      }
      await client.query('COMMIT');
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Loads the row caches of resumed tables from the table's current contents. */
  private async fillCaches(signal: AbortSignal): Promise<void> {
    const client = await connect(this.config, false, `connection "${this.context.name}": reading rows`);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // The first statement takes the snapshot: every commit it sees was written before this LSN.
      const at = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      const cacheAt = parseLsn(at.rows[0]!.lsn);
      for (const run of this.runs) {
        run.cacheAt = cacheAt;
        await this.readTable(client, run, signal, async () => {});
      }
      await client.query('COMMIT');
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Reads a table with a cursor in the open transaction, filling its cache and passing each chunk on. */
  private async readTable(
    client: pg.Client,
    run: TableRun,
    signal: AbortSignal,
    onRows: (rows: Row[]) => Promise<void>,
  ): Promise<void> {
    const t = run.table;
    const cols = t.schema.fields.map((f) => quoteIdent(f.name)).join(', ');
    await client.query(
      `DECLARE dozer_snap NO SCROLL CURSOR FOR SELECT ${cols} FROM ${quoteTable(t.schemaName, t.relName)}`,
    );
    const decoders = t.columns.map((c) => c.decode);
    for (;;) {
      if (signal.aborted) return;
      const r = await client.query({ text: `FETCH ${SNAPSHOT_FETCH} FROM dozer_snap`, rowMode: 'array' });
      const raws = r.rows as (string | null)[][];
      if (raws.length === 0) break;
      const rows: Row[] = [];
      for (const raw of raws) {
        const row = this.decodeRow(run, raw, decoders);
        run.cache.set(run.cache.keyOf(raw), raw);
        rows.push(row);
      }
      await onRows(rows);
    }
    await client.query('CLOSE dozer_snap');
  }

  private decodeRow(
    run: TableRun,
    raw: readonly (string | null | undefined)[],
    decoders: readonly TextDecoder[],
  ): Value[] {
    const fields = run.table.schema.fields;
    const row: Value[] = new Array(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const v = raw[i];
      if (v === null || v === undefined) row[i] = null;
      else {
        try {
          row[i] = decoders[i]!(v);
        } catch (e) {
          throw new ConnectorError(
            `connection "${this.context.name}": table "${run.name}", column "${fields[i]!.name}": cannot read value ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}: ${(e as Error).message}`,
            { retryable: false, cause: e },
          );
        }
      }
    }
    return row;
  }

  /** Streams changes, reconnecting with backoff after transient failures. */
  private async follow(first: pg.Client, sink: IngestSink, signal: AbortSignal): Promise<void> {
    const max = this.config.max_reconnect_attempts ?? POSTGRES_DEFAULTS.maxReconnectAttempts;
    let client: pg.Client | null = first;
    let attempt = 0;
    for (;;) {
      try {
        if (client === null)
          client = await connect(
            this.config,
            true,
            `connection "${this.context.name}": replication connection`,
          );
        const progressed = await this.streamOnce(client, sink, signal);
        client = null;
        if (signal.aborted) return;
        if (progressed) attempt = 0;
        throw (
          this.streamFailure ??
          new ConnectorError('postgres: the server ended the replication stream', { retryable: true })
        );
      } catch (e) {
        if (client !== null) await client.end().catch(() => {});
        client = null;
        if (signal.aborted) return;
        if (!isRetryable(e)) throw e;
        if (attempt >= max) {
          throw new ConnectorError(
            `connection "${this.context.name}": replication stream failed ${attempt + 1} times in a row; last error: ${(e as Error).message}. Check that the server is up and reachable`,
            { retryable: true, cause: e },
          );
        }
        const delay = Math.min(30_000, 500 * 2 ** attempt);
        attempt++;
        this.context.logger.warn('postgres replication connection lost; reconnecting', {
          attempt,
          delayMs: delay,
          error: (e as Error).message,
        });
        await sleep(delay, signal);
        if (signal.aborted) return;
      }
    }
  }

  private streamFailure: unknown = null;
  private relations = new Map<number, RelationMap>();
  private txn: Txn | null = null;

  /**
   * One replication session: from the smallest position any table still
   * needs until the session fails or `signal` aborts. Returns whether any
   * change was processed; every change received is processed and written
   * before returning, so the next session resumes from what was written.
   */
  private async streamOnce(client: pg.Client, sink: IngestSink, signal: AbortSignal): Promise<boolean> {
    let start: bigint | null = null;
    for (const r of this.runs) {
      if (r.written !== null && (r.skip === null || comparePgPositions(r.written, r.skip) > 0))
        r.skip = r.written;
      const lsn = r.skip?.lsn ?? 0n;
      if (start === null || lsn < start) start = lsn;
    }
    const stream = new ReplicationStream(client, this.confirmedLsn);
    this.stream = stream;
    this.streamFailure = null;
    this.relations = new Map();
    this.txn = null;
    stream.start(this.slot, this.publication, start ?? 0n);
    let progressed = false;
    try {
      for (;;) {
        const chunk = stream.take();
        if (chunk === undefined) {
          await this.flushAll(sink);
          if (stream.ended || signal.aborted) break;
          await stream.waitForData(signal);
          continue;
        }
        if (await this.handleChunk(chunk, sink)) progressed = true;
      }
      this.streamFailure = stream.failure;
      return progressed;
    } finally {
      this.currentCommitMicros = null;
      this.stream = null;
      await stream.close();
    }
  }

  /** Processes one CopyData chunk; true when it carried a change. */
  private async handleChunk(chunk: Buffer, sink: IngestSink): Promise<boolean> {
    if (chunk[0] === 0x6b) {
      const walEnd = chunk.readBigUInt64BE(1);
      if (this.txn === null && walEnd > this.processedEnd) this.processedEnd = walEnd;
      return false;
    }
    if (chunk[0] !== 0x77) return false;
    const msg = decodePgOutput(chunk.subarray(25));
    switch (msg.tag) {
      case 'begin':
        this.txn = { finalLsn: msg.finalLsn, commitTime: msg.commitTime, counts: new Map() };
        this.currentCommitMicros = msg.commitTime + PG_EPOCH_MICROS;
        return false;
      case 'commit': {
        const txn = this.txn;
        if (txn !== null) {
          const end: PgPosition = { kind: 'stream', lsn: msg.endLsn, count: 0 };
          for (const run of txn.counts.keys()) {
            if (run.pendingPosition !== null && run.pendingPosition.lsn === txn.finalLsn)
              run.pendingPosition = end;
          }
        }
        this.txn = null;
        if (msg.endLsn > this.processedEnd) this.processedEnd = msg.endLsn;
        return false;
      }
      case 'relation':
        await this.onRelation(msg.relid, msg.columns);
        return false;
      case 'insert':
      case 'update':
      case 'delete': {
        const rel = this.relations.get(msg.relid);
        const run = rel?.run;
        if (rel === undefined || run === undefined || run === null) return false;
        const n = this.count(run);
        if (n === null) return false;
        if (msg.tag === 'insert') this.onInsert(run, rel, msg.new);
        else if (msg.tag === 'update') this.onUpdate(run, rel, msg.old, msg.oldIsKey, msg.new);
        else this.onDelete(run, rel, msg.old, msg.oldIsKey);
        run.pendingPosition = n;
        if (run.pending.length >= this.batchSize) await this.flush(run, sink);
        return true;
      }
      case 'truncate': {
        for (const relid of msg.relids) {
          const run = this.relations.get(relid)?.run;
          if (run === undefined || run === null) continue;
          const n = this.count(run);
          if (n === null) continue;
          if (run.cacheAt !== null && this.txn!.finalLsn < run.cacheAt) {
            // The cache was read after this TRUNCATE: it holds the rows inserted since, not those
            // the pipeline held when it happened. Deleting the cache's rows would leave those
            // behind (and delete rows not yet re-inserted), so the table is ingested anew.
            throw new SourceRebuildError(
              `connection "${this.context.name}": table "${run.name}" was truncated at ${formatLsn(this.txn!.finalLsn)}, after the position it resumed from (${formatPosition(run.skip!)}) and before its rows were read again at ${formatLsn(run.cacheAt)}: which rows it held then cannot be known, so it must be ingested again from scratch`,
            );
          }
          // A delete of every row the cache holds, taken from it a batch at a time: a large table
          // is never in memory at once. The full batches before the last carry positions inside
          // this change (see PgPosition.rows).
          const decoders = this.relations.get(relid)?.decoders ?? run.table.columns.map((c) => c.decode);
          let rows = 0;
          for (;;) {
            const taken = run.cache.take(Math.max(1, this.batchSize - run.pending.length));
            if (taken.length === 0) break;
            for (const raw of taken)
              run.pending.push({
                kind: 'delete',
                old: run.projection.project(this.decodeRow(run, raw, decoders)),
              });
            rows += taken.length;
            if (run.pending.length >= this.batchSize) {
              run.pendingPosition = { ...n, count: n.count - 1, rows };
              await this.flush(run, sink);
            }
          }
          run.pendingPosition = n;
          if (run.pending.length >= this.batchSize) await this.flush(run, sink);
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** Counts a change of `run` in the current transaction; its position, or null when it was delivered before. */
  private count(run: TableRun): PgPosition | null {
    const txn = this.txn;
    if (txn === null)
      throw new ConnectorError('postgres: a change arrived outside a transaction (protocol error)');
    const n = (txn.counts.get(run) ?? 0) + 1;
    txn.counts.set(run, n);
    const skip = run.skip;
    if (skip !== null && (txn.finalLsn < skip.lsn || (txn.finalLsn === skip.lsn && n <= skip.count)))
      return null;
    return { kind: 'stream', lsn: txn.finalLsn, count: n };
  }

  private async onRelation(relid: number, columns: readonly RelationColumn[]): Promise<void> {
    let run = this.runs.find((r) => r.table.oid === relid) ?? null;
    if (run === null && this.meta !== null) {
      // A partition of a followed partitioned table: unless the publication has
      // publish_via_partition_root, its changes arrive under the partition's own relation.
      const root = await this.meta
        .query<{ root: string | null }>('SELECT pg_partition_root($1::oid::regclass)::oid AS root', [relid])
        .catch((e: unknown) => {
          // Before Postgres 12 there is no pg_partition_root, and no partitioned table in a publication.
          if ((e as { code?: unknown }).code === '42883') return null;
          throw e;
        });
      const rootOid = Number(root?.rows[0]?.root ?? 0);
      if (rootOid !== 0) run = this.runs.find((r) => r.table.oid === rootOid) ?? null;
    }
    if (run === null) {
      this.relations.set(relid, { run: null, fieldToColumn: [], decoders: [], identity: true });
      return;
    }
    const unknown = columns.map((c) => c.typeOid).filter((o) => !this.types.has(o));
    if (unknown.length > 0 && this.meta !== null) await readTypes(this.meta, unknown, this.types);
    const fields = run.table.schema.fields;
    const fieldToColumn = fields.map((f) => columns.findIndex((c) => c.name === f.name));
    const decoders = fields.map((f, i) => {
      const col = columns[fieldToColumn[i]!];
      if (col === undefined) {
        if (!run.warnedColumns.has(`-${f.name}`)) {
          run.warnedColumns.add(`-${f.name}`);
          this.context.logger.warn('postgres column dropped; its values are now NULL', {
            table: run.name,
            column: f.name,
          });
        }
        return run.table.columns[i]!.decode;
      }
      if (col.typeOid === run.table.columns[i]!.typeOid) return run.table.columns[i]!.decode;
      // The column's type changed (ALTER COLUMN … TYPE): read the new type's text into the field when it maps to the same core type.
      const m = columnMapping(col.typeOid, this.types);
      if (m.type !== f.type) {
        throw new ConnectorError(
          `connection "${this.context.name}": column "${f.name}" of table "${run.name}" changed type to one that is not ${f.type}: restart the pipeline so that the table's schema is read again`,
        );
      }
      return m.decode;
    });
    for (const c of columns) {
      if (!fields.some((f) => f.name === c.name) && !run.warnedColumns.has(c.name)) {
        run.warnedColumns.add(c.name);
        this.context.logger.warn('postgres column added after start; it is ingested after a restart', {
          table: run.name,
          column: c.name,
        });
      }
    }
    const identity = columns.length === fields.length && fieldToColumn.every((c, i) => c === i);
    this.relations.set(relid, { run, fieldToColumn, decoders, identity });
  }

  /** A tuple's values in the order of the table's fields. */
  private reorder(rel: RelationMap, tuple: RawTuple): RawTuple {
    if (rel.identity) return tuple;
    const m = rel.fieldToColumn;
    const out: RawTuple = new Array(m.length);
    for (let i = 0; i < m.length; i++) {
      const c = m[i]!;
      out[i] = c < 0 ? null : tuple[c];
    }
    return out;
  }

  private onInsert(run: TableRun, rel: RelationMap, tuple: RawTuple): void {
    const raw = this.reorder(rel, tuple) as RawRow;
    run.cache.set(run.cache.keyOf(raw), raw);
    run.pending.push({ kind: 'insert', new: run.projection.project(this.decodeRow(run, raw, rel.decoders)) });
  }

  private onUpdate(
    run: TableRun,
    rel: RelationMap,
    oldTuple: RawTuple | null,
    oldIsKey: boolean,
    newTuple: RawTuple,
  ): void {
    const rawNew = this.reorder(rel, newTuple);
    const rawOld = oldTuple === null ? null : this.reorder(rel, oldTuple);
    const oldKey = run.cache.keyOf(rawOld ?? rawNew);
    let old: RawRow | undefined;
    if (rawOld !== null && !oldIsKey) {
      const cached = run.cache.get(oldKey);
      old = rawOld.includes(undefined)
        ? rawOld.map((v, i) => (v === undefined ? (cached?.[i] ?? null) : v))
        : (rawOld as RawRow);
    } else old = run.cache.get(oldKey);
    if (old === undefined) old = this.unknownOld(run, rawOld ?? rawNew);
    const known = old;
    // Unchanged TOASTed values are not sent: they are the old row's.
    const row: RawRow = rawNew.includes(undefined)
      ? rawNew.map((v, i) => (v === undefined ? (known[i] ?? null) : v))
      : (rawNew as RawRow);
    run.cache.delete(oldKey);
    run.cache.set(run.cache.keyOf(row), row);
    run.pending.push({
      kind: 'update',
      old: run.projection.project(this.decodeOld(run, known, rel.decoders)),
      new: run.projection.project(this.decodeRow(run, row, rel.decoders)),
    });
  }

  private onDelete(run: TableRun, rel: RelationMap, oldTuple: RawTuple, oldIsKey: boolean): void {
    const raw = this.reorder(rel, oldTuple);
    const key = run.cache.keyOf(raw);
    let old = oldIsKey ? run.cache.get(key) : (raw as RawRow);
    if (old === undefined) old = this.unknownOld(run, raw);
    run.cache.delete(key);
    run.pending.push({ kind: 'delete', old: run.projection.project(this.decodeOld(run, old, rel.decoders)) });
  }

  /** Old rows built from a key alone (see {@link unknownOld}). */
  private readonly keyOnly = new WeakSet<RawRow>();

  /**
   * The old row when neither the stream nor the cache knows it (an update
   * or delete under REPLICA IDENTITY DEFAULT of a row last changed before a
   * resume position): only its key is known.
   */
  private unknownOld(run: TableRun, raw: RawTuple): RawRow {
    if (!run.warnedMissingOld) {
      run.warnedMissingOld = true;
      this.context.logger.warn(
        'postgres: an update or delete of a row the connector has not seen (it changed before the resume position); its old row carries only the key. ALTER TABLE … REPLICA IDENTITY FULL makes old rows exact',
        { table: run.name },
      );
    }
    const row = raw.map((v) => v ?? null);
    this.keyOnly.add(row);
    return row;
  }

  /** Decodes an old row; one built from a key alone gets zero values where its fields may not be NULL. */
  private decodeOld(run: TableRun, raw: RawRow, decoders: readonly TextDecoder[]): Value[] {
    const row = this.decodeRow(run, raw, decoders);
    if (!this.keyOnly.has(raw)) return row;
    const fields = run.table.schema.fields;
    for (let i = 0; i < row.length; i++) {
      if (row[i] === null && !fields[i]!.nullable) row[i] = zeroValue(fields[i]!.type);
    }
    return row;
  }

  private async flushAll(sink: IngestSink): Promise<void> {
    for (const run of this.runs) await this.flush(run, sink);
  }

  private async flush(run: TableRun, sink: IngestSink): Promise<void> {
    if (run.pending.length === 0 || run.pendingPosition === null) return;
    const ops = run.pending;
    const position = run.pendingPosition;
    run.pending = [];
    await sink.write({ table: run.name, ops, position: formatPosition(position) });
    run.written = position;
  }

  async acknowledge(table: string, position: SourcePosition): Promise<void> {
    const p = parsePosition(position);
    const run = this.runs.find((r) => r.name === table);
    if (run === undefined) {
      throw new ConnectorError(`connection "${this.context.name}": acknowledge of unknown table "${table}"`);
    }
    if (run.acked === null || comparePgPositions(p, run.acked) > 0) run.acked = p;
    // The slot may move to the smallest LSN every table still needs. A table whose every written
    // change is acknowledged and which has nothing pending needs nothing before what was processed.
    let min: bigint | null = null;
    for (const r of this.runs) {
      let need: bigint;
      if (r.acked === null) return;
      if (
        r.written !== null &&
        comparePgPositions(r.acked, r.written) === 0 &&
        r.pending.length === 0 &&
        r.acked.kind === 'stream'
      ) {
        need = maxLsn(this.processedEnd, r.acked.lsn);
      } else need = r.acked.lsn;
      if (min === null || need < min) min = need;
    }
    if (min === null || min <= this.confirmedLsn) return;
    this.confirmedLsn = min;
    await this.stream?.confirm(min);
  }

  async lag(): Promise<LagInfo> {
    const stream = this.stream;
    const behind = this.currentCommitMicros;
    return {
      tables: this.runs.map((r) => {
        const snapshot = r.snapshotRows;
        if (snapshot !== null) {
          // In its snapshot: the rows left by Postgres's estimate (pg_class.reltuples), when it has one.
          return {
            table: r.name,
            position: r.written === null ? null : formatPosition(r.written),
            behindOps: snapshotRowsLeft(snapshot),
            behindMillis: null,
          };
        }
        const busy = r.pending.length > 0 || (stream !== null && stream.buffered > 0);
        return {
          table: r.name,
          position: r.written === null ? null : formatPosition(r.written),
          behindOps: stream === null ? null : r.pending.length,
          behindMillis:
            stream === null
              ? null
              : busy && behind !== null
                ? Math.max(0, Date.now() - Number(behind / 1000n))
                : 0,
        };
      }),
    };
  }

  async close(): Promise<void> {
    this.stop.abort();
  }
}

/**
 * The rows Postgres estimates a table holds (`pg_class.reltuples`, with its
 * partitions'), or null when it has none (never vacuumed or analyzed).
 */
async function estimateRows(client: pg.Client, oid: number): Promise<number | null> {
  const r = await client.query<{ n: string | null }>(
    `SELECT sum(c.reltuples)::bigint AS n FROM pg_class c
      WHERE c.reltuples >= 0 AND (c.oid = $1 OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1))`,
    [oid],
  );
  const n = r.rows[0]?.n;
  return n === null || n === undefined ? null : Number(n);
}

/** A value of `type` standing in for an unknown one in a field that may not be NULL. */
function zeroValue(type: FieldType): Value {
  switch (type) {
    case 'int':
    case 'uint':
      return 0n;
    case 'float':
      return 0;
    case 'boolean':
      return false;
    case 'string':
    case 'text':
      return '';
    case 'binary':
      return new Uint8Array(0);
    case 'decimal':
      return new Decimal(0n, 0);
    case 'timestamp':
      return new Timestamp(0n);
    case 'date':
      return new DateValue(0);
    case 'json':
      return new Json(null);
    case 'duration':
      return new Duration(0, 0, 0n);
    case 'point':
      return new Point(0, 0);
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
