import { type FileHandle, open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  type Connector,
  type ConnectorContext,
  ConnectorError,
  type ConnectorFactory,
  defineConnector,
  type IngestSink,
  type LagInfo,
  projectTable,
  type StartRequest,
  type TableInfo,
  type TableProjection,
} from '@dozer/connectors';
import type { Operation, SourcePosition } from '@dozer/core';
import { type ChangelogConfig, DEFAULTS, tablesOf, validateChangelogConfig } from './config.js';
import { type Line, LineReader } from './line-reader.js';
import { TableState } from './table-state.js';

/**
 * The changelog connector: tails a newline-delimited JSON file of
 * `{"op": "insert" | "update" | "delete", "table": …, "row": {…}}`
 * records. Its snapshot is each table's state at the end of the file when
 * it starts; then it follows appended lines. Positions are byte offsets.
 */
export const changelogConnector: ConnectorFactory<ChangelogConfig> = defineConnector<ChangelogConfig>({
  kind: 'changelog',
  validateConfig: validateChangelogConfig,
  open: (config, context) => new ChangelogConnector(config, context),
});

/**
 * A position: a byte offset of the file, where the next line starts.
 * Snapshot batches add how many snapshot rows were written (`"4096:200"`):
 * the snapshot is the state at that offset, and resuming skips those rows.
 * At one offset, snapshot positions come before the plain offset.
 */
interface Position {
  readonly offset: number;
  readonly snapshotRows: number | null;
}

const POSITION = /^(\d{1,15})(?::(\d{1,15}))?$/;

interface TableRun {
  readonly table: TableInfo;
  readonly projection: TableProjection;
  readonly resumeFrom: Position | null;
  written: SourcePosition | null;
}

class ChangelogConnector implements Connector {
  private readonly tables: readonly TableInfo[];
  private readonly file: string;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly closed = new AbortController();
  private runs: TableRun[] = [];
  private started = false;

  constructor(
    config: ChangelogConfig,
    private readonly context: ConnectorContext,
  ) {
    this.tables = tablesOf(config);
    this.file = resolve(config.path);
    this.pollMs = config.poll_interval_ms ?? DEFAULTS.pollIntervalMs;
    this.batchSize = config.batch_size ?? DEFAULTS.batchSize;
  }

  async listTables(): Promise<TableInfo[]> {
    // The schemas come from the config; checking the file here makes `dozer build` catch a wrong path.
    await stat(this.file).catch((e: unknown) => {
      throw this.fileError(e);
    });
    return [...this.tables];
  }

  comparePositions(a: SourcePosition, b: SourcePosition): number {
    const x = this.parsePosition(a);
    const y = this.parsePosition(b);
    if (x.offset !== y.offset) return x.offset < y.offset ? -1 : 1;
    const xs = x.snapshotRows ?? Number.POSITIVE_INFINITY;
    const ys = y.snapshotRows ?? Number.POSITIVE_INFINITY;
    return xs < ys ? -1 : xs > ys ? 1 : 0;
  }

  async start(request: StartRequest): Promise<void> {
    if (this.closed.signal.aborted)
      throw new ConnectorError(`connection "${this.context.name}": start after close`);
    if (this.started) throw new ConnectorError(`connection "${this.context.name}": start was already called`);
    this.started = true;
    this.runs = request.tables.map((req) => {
      const table = this.tables.find((t) => t.name === req.name);
      if (table === undefined) {
        throw new ConnectorError(
          `connection "${this.context.name}" has no table "${req.name}"; its tables are: ${this.tables.map((t) => t.name).join(', ')} (add it to "tables" in the config)`,
        );
      }
      return {
        table,
        projection: projectTable(table, req.columns),
        resumeFrom: req.resumeFrom === null ? null : this.parsePosition(req.resumeFrom),
        written: null,
      };
    });
    // One signal for the request, close() and a failing sibling table.
    const local = new AbortController();
    const abort = () => local.abort();
    request.signal.addEventListener('abort', abort);
    this.closed.signal.addEventListener('abort', abort);
    if (request.signal.aborted || this.closed.signal.aborted) local.abort();
    try {
      await Promise.all(
        this.runs.map((run) =>
          this.follow(run, request.sink, local.signal).catch((e: unknown) => {
            local.abort();
            throw e;
          }),
        ),
      );
    } finally {
      request.signal.removeEventListener('abort', abort);
      this.closed.signal.removeEventListener('abort', abort);
    }
  }

  async lag(): Promise<LagInfo> {
    return {
      tables: this.runs.map((r) => ({
        table: r.table.name,
        position: r.written,
        behindOps: null,
        behindMillis: null,
      })),
    };
  }

  async close(): Promise<void> {
    this.closed.abort();
  }

  /**
   * Ingests one table. Every table reads the file from its start: the
   * state up to the resume offset is what gives updates and deletes their
   * old rows, and what a snapshot is made of.
   */
  private async follow(run: TableRun, sink: IngestSink, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    let handle: FileHandle;
    try {
      handle = await open(this.file, 'r');
    } catch (e) {
      throw this.fileError(e);
    }
    try {
      const reader = new LineReader(handle, this.file);
      const state = new TableState(run.table, this.file);
      const pending: Line[] = [];
      const take = async (): Promise<Line | null> => {
        if (pending.length === 0) pending.push(...(await reader.read()));
        return pending.shift() ?? null;
      };

      // Replay up to the resume offset, or to the end of the file for a snapshot.
      const from = run.resumeFrom;
      const replayTo = from?.offset ?? (await handle.stat()).size;
      let replayed = 0;
      for (;;) {
        const line = await take();
        if (line === null || line.end > replayTo) {
          if (line !== null) pending.unshift(line);
          break;
        }
        state.apply(line);
        replayed = line.end;
      }
      if (from !== null && replayed !== from.offset) {
        throw new ConnectorError(
          `${this.file}: cannot resume "${run.table.name}" at byte ${from.offset}: ${
            reader.position + reader.pendingBytes < from.offset
              ? `the file has only ${reader.position + reader.pendingBytes} bytes; it was truncated or replaced`
              : 'no line ends there; the file was edited'
          }. The changelog must only be appended to; to start over, clear Dozer's state for this connection`,
        );
      }

      if (from === null || from.snapshotRows !== null) {
        const skip = from?.snapshotRows ?? 0;
        const rows = state.rows().slice(skip);
        for (let i = 0; i < rows.length && !signal.aborted; i += this.batchSize) {
          const part = rows.slice(i, i + this.batchSize);
          const ops = part.map((row): Operation => ({ kind: 'insert', new: run.projection.project(row) }));
          await this.write(run, sink, ops, `${replayed}:${skip + i + part.length}`);
        }
        if (signal.aborted) return;
        await sink.snapshotDone(run.table.name, String(replayed));
        this.context.logger.info('changelog snapshot done', {
          table: run.table.name,
          rows: skip + rows.length,
        });
      }

      let ops: Operation[] = [];
      let end = replayed;
      while (!signal.aborted) {
        const line = await take();
        if (line !== null) {
          const op = state.apply(line);
          if (op !== null) {
            ops.push(projectOp(op, run.projection));
            end = line.end;
            if (ops.length >= this.batchSize) {
              await this.write(run, sink, ops, String(end));
              ops = [];
            }
          }
          continue;
        }
        if (ops.length > 0) {
          await this.write(run, sink, ops, String(end));
          ops = [];
          continue;
        }
        const size = (await handle.stat()).size;
        if (size < reader.position + reader.pendingBytes) {
          throw new ConnectorError(
            `${this.file} shrank from ${reader.position + reader.pendingBytes} to ${size} bytes while following it; the changelog must only be appended to`,
          );
        }
        await sleep(this.pollMs, signal);
      }
    } finally {
      await handle.close();
    }
  }

  private async write(
    run: TableRun,
    sink: IngestSink,
    ops: Operation[],
    position: SourcePosition,
  ): Promise<void> {
    await sink.write({ table: run.table.name, ops, position });
    run.written = position;
  }

  private parsePosition(p: SourcePosition): Position {
    const m = typeof p === 'string' ? POSITION.exec(p) : null;
    if (m === null) {
      throw new ConnectorError(
        `connection "${this.context.name}": ${JSON.stringify(p)} is not a changelog position (expected a byte offset such as "4096", or "4096:200" inside a snapshot)`,
      );
    }
    return { offset: Number(m[1]), snapshotRows: m[2] === undefined ? null : Number(m[2]) };
  }

  private fileError(e: unknown): ConnectorError {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT')
      return new ConnectorError(
        `connection "${this.context.name}": the changelog ${this.file} does not exist; fix "path" or create the file (an empty one is fine)`,
        { cause: e },
      );
    if (code === 'EACCES' || code === 'EPERM')
      return new ConnectorError(
        `connection "${this.context.name}": no permission to read the changelog ${this.file}; let the user running Dozer read it`,
        { cause: e },
      );
    if (code === 'EISDIR')
      return new ConnectorError(
        `connection "${this.context.name}": ${this.file} is a directory; "path" must name the changelog file`,
        { cause: e },
      );
    // Out of file handles, a flaky network drive: trying again later may work.
    return new ConnectorError(
      `connection "${this.context.name}": cannot read the changelog ${this.file}: ${(e as Error).message}`,
      { cause: e, retryable: true },
    );
  }
}

function projectOp(op: Operation, p: TableProjection): Operation {
  if (op.kind === 'insert') return { kind: 'insert', new: p.project(op.new) };
  if (op.kind === 'delete') return { kind: 'delete', old: p.project(op.old) };
  return { kind: 'update', old: p.project(op.old), new: p.project(op.new) };
}

/** Waits `ms` milliseconds, or less when `signal` aborts; never rejects. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
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
