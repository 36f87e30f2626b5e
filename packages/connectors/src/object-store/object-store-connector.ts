import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type FieldDefinition,
  isDozerError,
  type OpBatch,
  type Operation,
  type Schema,
  type SourcePosition,
} from '@dozer/core';
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
  type TableLag,
} from '../connector.js';
import { ConnectorError } from '../errors.js';
import { projectTable, type TableProjection } from '../projection.js';
import {
  OBJECT_STORE_DEFAULTS,
  type ObjectStoreConfig,
  type ObjectStoreTableConfig,
  validateObjectStoreConfig,
} from './config.js';
import { compileGlob } from './glob.js';
import { parquetFormat } from './parquet-format.js';
import { decodePosition, describePosition, encodePosition, type FilePosition } from './position.js';
import { createFileStorage, type FileStorage, type StoredFile } from './storage.js';
import { csvFormat, type FileFormat, jsonlFormat } from './text-formats.js';
import { FILE_START, type Malformed } from './text-reader.js';

/**
 * The `object_store` connector: tables made of the CSV, JSON lines or
 * Parquet files under a prefix of a local directory or an S3 bucket.
 * Existing files are the snapshot; then the prefix is polled and each new
 * file is ingested once, in key order. Every row is an insert. A table's
 * position is the file key and the row within it (see `position.ts`), so a
 * restart continues mid-file without repeating a row.
 */
export const objectStoreConnector: ConnectorFactory<ObjectStoreConfig> = defineConnector<ObjectStoreConfig>({
  kind: 'object_store',
  validateConfig: validateObjectStoreConfig,
  open: (config, context) => new ObjectStoreConnector(config, context),
});

/** Retries of a failing pass over a table's files before `start` gives up. */
const MAX_RETRIES = 8;
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 30_000;

interface ResolvedTable {
  readonly config: ObjectStoreTableConfig;
  readonly prefix: string;
  readonly matches: (key: string) => boolean;
  readonly format: FileFormat;
  readonly pollIntervalMs: number;
  readonly batchSize: number;
}

interface TableRun {
  readonly table: ResolvedTable;
  readonly projection: TableProjection;
  readonly fullSchema: Schema;
  /** The position of the last batch written to the sink. */
  written: SourcePosition | null;
  /**
   * How far reading got, including malformed rows sent to the dead-letter
   * file and files without rows, which move no batch position: later polls
   * continue from here so that nothing is read twice within a run.
   */
  readUpTo: FilePosition | null;
  /** Keys listed so far; a new key that sorts before `readUpTo` arrived too late to be read. */
  readonly known: Set<string>;
  /** Last modified time of the oldest file not read yet, for lag. */
  oldestPending: number | null;
  /** The file a pass is reading, for the rows left (lag); null between passes. */
  reading: Reading | null;
  /** Rows per byte of the last file whose rows could be told, for files not opened yet. */
  rowsPerByte: number | null;
}

/** Where a pass is: in which file, how far (the file's cursor), and the bytes of the files after it. */
interface Reading {
  readonly file: StoredFile;
  readonly bytesAfter: number;
  row: number;
  byte: number;
  /** The file's rows, when its format records them (Parquet). */
  fileRows: number | null;
}

/**
 * The rows a pass has left to read, estimated: the current file's rows by its
 * format (Parquet) or by the bytes read so far, the files after it by the
 * rows per byte of the current file (or the last one that told); null before
 * any file told.
 */
function rowsLeft(run: TableRun): number | null {
  const r = run.reading;
  if (r === null) return 0;
  const size = r.file.size;
  const total = fileRows(r);
  const density = total !== null && size > 0 ? total / size : run.rowsPerByte;
  if (density === null) return null;
  const inFile = total !== null ? Math.max(0, total - r.row) : size * density;
  return Math.round(inFile + r.bytesAfter * density);
}

/** The rows of the file being read: recorded by its format, or estimated by the bytes read so far. */
function fileRows(r: Reading): number | null {
  return r.fileRows ?? (r.byte > 0 ? (r.row * r.file.size) / r.byte : null);
}

class ObjectStoreConnector implements Connector {
  private readonly tables: readonly ResolvedTable[];
  private readonly schemas = new Map<string, Promise<Schema>>();
  private readonly stop = new AbortController();
  private storageInstance: FileStorage | null = null;
  private runs: TableRun[] = [];
  private started = false;

  constructor(
    private readonly config: ObjectStoreConfig,
    private readonly context: ConnectorContext,
  ) {
    this.tables = config.tables.map((t) => ({
      config: t,
      prefix: t.prefix ?? '',
      matches: compileGlob(t.pattern),
      format:
        t.format === 'csv'
          ? csvFormat({
              header: t.csv?.header ?? OBJECT_STORE_DEFAULTS.header,
              delimiter: t.csv?.delimiter ?? OBJECT_STORE_DEFAULTS.delimiter,
              quote: t.csv?.quote ?? OBJECT_STORE_DEFAULTS.quote,
            })
          : t.format === 'jsonl'
            ? jsonlFormat
            : parquetFormat,
      pollIntervalMs: t.poll_interval_ms ?? OBJECT_STORE_DEFAULTS.pollIntervalMs,
      batchSize: t.batch_size ?? OBJECT_STORE_DEFAULTS.batchSize,
    }));
  }

  private get storage(): FileStorage {
    const s = this.config.storage;
    this.storageInstance ??= createFileStorage(
      s.kind === 'local' ? { ...s, path: resolveConfigPath(this.context, s.path) } : s,
    );
    return this.storageInstance;
  }

  async listTables(): Promise<TableInfo[]> {
    return Promise.all(
      // Positions name a file and a place in it, during the first pass (the snapshot) too.
      this.tables.map(async (t) => ({
        name: t.config.name,
        schema: await this.schemaOf(t),
        resumableSnapshot: true,
      })),
    );
  }

  comparePositions(a: SourcePosition, b: SourcePosition): number {
    this.parsePosition(a);
    this.parsePosition(b);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  async start(request: StartRequest): Promise<void> {
    if (this.stop.signal.aborted)
      throw new ConnectorError(`connection "${this.context.name}": start after close`);
    if (this.started) throw new ConnectorError(`connection "${this.context.name}": start was already called`);
    this.started = true;
    const local = new AbortController();
    const abort = () => local.abort();
    request.signal.addEventListener('abort', abort);
    this.stop.signal.addEventListener('abort', abort);
    if (request.signal.aborted || this.stop.signal.aborted) local.abort();
    try {
      const runs = await Promise.all(
        request.tables.map(async (req) => {
          const table = this.tables.find((t) => t.config.name === req.name);
          if (table === undefined) {
            throw new ConnectorError(
              `connection "${this.context.name}" has no table "${req.name}"; its tables are: ${this.tables.map((t) => t.config.name).join(', ')}`,
            );
          }
          const schema = await this.schemaOf(table);
          const resume = req.resumeFrom === null ? null : this.parsePosition(req.resumeFrom);
          return {
            req,
            run: {
              table,
              projection: projectTable({ name: req.name, schema }, req.columns),
              fullSchema: schema,
              written: req.resumeFrom,
              readUpTo: resume,
              known: new Set<string>(),
              oldestPending: null,
              reading: null,
              rowsPerByte: null,
            } satisfies TableRun,
          };
        }),
      );
      this.runs = runs.map((r) => r.run);
      await Promise.all(
        runs.map(({ req, run }) =>
          this.runTable(run, req.resumeFrom === null, request.sink, local.signal).catch((e: unknown) => {
            local.abort();
            throw e;
          }),
        ),
      );
    } finally {
      request.signal.removeEventListener('abort', abort);
      this.stop.signal.removeEventListener('abort', abort);
    }
  }

  async lag(): Promise<LagInfo> {
    const now = Date.now();
    return {
      tables: this.runs.map(
        (run): TableLag => ({
          table: run.table.config.name,
          position: run.written,
          behindOps: rowsLeft(run),
          behindMillis: run.oldestPending === null ? 0 : Math.max(0, now - run.oldestPending),
        }),
      ),
    };
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.storageInstance?.close();
    this.storageInstance = null;
  }

  private parsePosition(p: SourcePosition): FilePosition | null {
    try {
      return decodePosition(p);
    } catch (e) {
      throw new ConnectorError(
        `connection "${this.context.name}": ${JSON.stringify(p)} is not an object_store position (${(e as Error).message})`,
      );
    }
  }

  /** The declared schema, or the one inferred from the table's first file (computed once). */
  private schemaOf(t: ResolvedTable): Promise<Schema> {
    let s = this.schemas.get(t.config.name);
    if (s === undefined) {
      s = this.resolveSchema(t);
      this.schemas.set(t.config.name, s);
      // A failure (storage down) is not remembered: the next call tries again.
      s.catch(() => this.schemas.delete(t.config.name));
    }
    return s;
  }

  private async resolveSchema(t: ResolvedTable): Promise<Schema> {
    const declared = t.config.schema;
    if (declared !== undefined) {
      const keys = declared.primary_key ?? [];
      const fields: FieldDefinition[] = declared.columns.map((c) => ({
        name: c.name,
        type: c.type,
        nullable: keys.includes(c.name) ? false : (c.nullable ?? true),
        ...(c.precision === undefined ? {} : { precision: c.precision }),
        ...(c.scale === undefined ? {} : { scale: c.scale }),
      }));
      return { fields, primaryKey: keys.map((k) => fields.findIndex((f) => f.name === k)) };
    }
    const files = await this.listFiles(t);
    const first = files[0];
    const name = t.config.name;
    if (first === undefined) {
      throw new ConnectorError(
        `table "${name}": no file under ${this.storage.label}/${t.prefix} matches "${t.config.pattern}", so its schema cannot be inferred; add a file or declare tables[].schema.columns`,
      );
    }
    const fields = await t.format.infer(this.storage, first, this.stop.signal);
    if (fields.length === 0) {
      throw new ConnectorError(
        `table "${name}": cannot infer a schema from ${this.storage.label}/${first.key}, it has no columns; fix the file or declare tables[].schema.columns`,
      );
    }
    this.context.logger.info('object_store schema inferred', {
      table: name,
      file: first.key,
      columns: fields.map((f) => `${f.name} ${f.type}${f.nullable ? '' : ' not null'}`).join(', '),
    });
    return { fields, primaryKey: [] };
  }

  private async listFiles(t: ResolvedTable): Promise<StoredFile[]> {
    const files = await this.storage.list(t.prefix);
    return files.filter((f) => t.matches(f.key.slice(t.prefix.length)));
  }

  private async runTable(
    run: TableRun,
    snapshot: boolean,
    sink: IngestSink,
    signal: AbortSignal,
  ): Promise<void> {
    const name = run.table.config.name;
    // Files already behind the resume position were read by an earlier run.
    let firstPass = true;
    const pass = async () => {
      await this.withRetries(run, signal, () => this.ingestNewFiles(run, sink, signal, firstPass));
      firstPass = false;
    };
    await pass();
    if (signal.aborted) return;
    if (snapshot) {
      await sink.snapshotDone(name, run.written ?? '');
      this.context.logger.info('object_store snapshot done', {
        table: name,
        position: run.written === null ? '(no rows)' : describePosition(run.written),
      });
    }
    if (run.table.pollIntervalMs === 0) return;
    while (!signal.aborted) {
      await sleep(run.table.pollIntervalMs, signal);
      if (signal.aborted) return;
      await pass();
    }
  }

  /** Runs `body`; on a retryable failure waits with exponential backoff and runs it again. */
  private async withRetries(run: TableRun, signal: AbortSignal, body: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await body();
        return;
      } catch (e) {
        if (signal.aborted) return;
        const retryable = isDozerError(e) && e.retryable;
        if (!retryable || attempt > MAX_RETRIES) throw e;
        const wait = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1));
        this.context.logger.warn('object_store read failed; retrying', {
          table: run.table.config.name,
          attempt,
          of: MAX_RETRIES,
          retryInMs: wait,
          resumeAt:
            run.readUpTo === null
              ? '(start)'
              : describePosition(encodePosition(run.readUpTo.key, run.readUpTo.cursor)),
          error: (e as Error).message,
        });
        await sleep(wait, signal);
        if (signal.aborted) return;
      }
    }
  }

  /** One pass: lists the table's files and reads every one after `readUpTo`. */
  private async ingestNewFiles(
    run: TableRun,
    sink: IngestSink,
    signal: AbortSignal,
    firstPass: boolean,
  ): Promise<void> {
    const t = run.table;
    const files = await this.listFiles(t);
    const at = run.readUpTo;
    const todo: StoredFile[] = [];
    for (const f of files) {
      const isNew = !run.known.has(f.key);
      run.known.add(f.key);
      if (at === null || f.key > at.key || (f.key === at.key && !at.cursor.done)) todo.push(f);
      else if (isNew && !firstPass && f.key !== at.key) {
        this.context.logger.error('object_store file skipped: it arrived after later files were read', {
          table: t.config.name,
          file: f.key,
          readUpTo: at.key,
          fix: 'name files so that new ones sort after old ones (e.g. a timestamp or zero-padded sequence prefix)',
        });
      }
    }
    // The oldest file not yet read, from each file on: lag without rescanning the list.
    const oldest = new Array<number>(todo.length);
    for (let i = todo.length - 1, min = Number.POSITIVE_INFINITY; i >= 0; i--) {
      min = Math.min(min, todo[i]!.modified);
      oldest[i] = min;
    }
    // And the bytes of the files after each one, for the rows left.
    const after = new Array<number>(todo.length);
    for (let i = todo.length - 1, sum = 0; i >= 0; i--) {
      after[i] = sum;
      sum += todo[i]!.size;
    }
    try {
      for (let i = 0; i < todo.length; i++) {
        if (signal.aborted) return;
        run.oldestPending = oldest[i]!;
        await this.ingestFile(run, todo[i]!, after[i]!, sink, signal);
      }
    } finally {
      run.oldestPending = null;
      run.reading = null;
    }
  }

  private async ingestFile(
    run: TableRun,
    file: StoredFile,
    bytesAfter: number,
    sink: IngestSink,
    signal: AbortSignal,
  ): Promise<void> {
    const t = run.table;
    const name = t.config.name;
    const at = run.readUpTo;
    const from = at !== null && at.key === file.key ? at.cursor : FILE_START;
    const reading: Reading = { file, bytesAfter, row: from.row, byte: from.byte, fileRows: null };
    run.reading = reading;
    const project = run.projection.project;
    const projected = run.projection.schema !== run.fullSchema;
    for await (const chunk of t.format.read(this.storage, file, from, run.fullSchema, t.batchSize, signal)) {
      if (signal.aborted) return;
      reading.row = chunk.cursor.row;
      reading.byte = chunk.cursor.byte;
      if (chunk.kind === 'rows' && chunk.fileRows !== undefined) reading.fileRows = chunk.fileRows;
      const total = fileRows(reading);
      if (total !== null && file.size > 0) run.rowsPerByte = total / file.size;
      if (chunk.kind === 'bad') {
        await this.malformed(t, file, chunk.bad);
        run.readUpTo = { key: file.key, cursor: chunk.cursor };
        continue;
      }
      const ops: Operation[] = new Array(chunk.rows.length);
      for (let i = 0; i < ops.length; i++) {
        const row = chunk.rows[i]!;
        ops[i] = { kind: 'insert', new: projected ? project(row) : row };
      }
      const position = encodePosition(file.key, chunk.cursor);
      const batch: OpBatch = { table: name, ops, position };
      await sink.write(batch);
      run.written = position;
      run.readUpTo = { key: file.key, cursor: chunk.cursor };
    }
    if (signal.aborted) return;
    // A file whose end moved no batch (no rows after its last batch) is still done for this run.
    run.readUpTo = { key: file.key, cursor: { row: 0, line: 0, byte: 0, done: true } };
  }

  private async malformed(t: ResolvedTable, file: StoredFile, bad: Malformed): Promise<void> {
    const where = `${this.storage.label}/${file.key}${t.config.format === 'parquet' ? ` row ${bad.line}` : `:${bad.line}`}`;
    if (t.config.on_error !== 'dead_letter') {
      throw new ConnectorError(
        `table "${t.config.name}": malformed row at ${where}: ${bad.message}. The rows before it were ingested and a restart resumes at it: fix or remove the row, or set on_error: dead_letter (with dead_letter_path) to set such rows aside`,
      );
    }
    const path = resolveConfigPath(this.context, t.config.dead_letter_path!);
    const entry = {
      table: t.config.name,
      file: `${this.storage.label}/${file.key}`,
      ...(t.config.format === 'parquet' ? { row: bad.line } : { line: bad.line }),
      error: bad.message,
      raw: bad.raw,
      at: new Date().toISOString(),
    };
    try {
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, `${JSON.stringify(entry)}\n`);
    } catch (e) {
      throw new ConnectorError(
        `table "${t.config.name}": cannot append the malformed row at ${where} to the dead-letter file ${path}: ${(e as Error).message}; fix dead_letter_path or its permissions`,
        { cause: e },
      );
    }
    this.context.logger.warn('object_store malformed row sent to the dead-letter file', {
      table: t.config.name,
      at: where,
      error: bad.message,
      deadLetter: path,
    });
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
