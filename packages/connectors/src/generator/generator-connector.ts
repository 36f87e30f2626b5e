import type { Operation, SourcePosition } from '@dozer/core';
import {
  type Connector,
  type ConnectorContext,
  type ConnectorFactory,
  defineConnector,
  type IngestSink,
  type LagInfo,
  type StartRequest,
  type TableInfo,
  type TableLag,
} from '../connector.js';
import { ConnectorError } from '../errors.js';
import { projectTable, type TableProjection } from '../projection.js';
import {
  DEFAULTS,
  type GeneratorConfig,
  type ResolvedTable,
  resolveTables,
  validateGeneratorConfig,
} from './config.js';
import { TableStream } from './table-stream.js';

/**
 * The `generator` connector: synthetic tables for demos, tests and
 * benchmarks, with no external service. Same seed and config give the
 * same ops whatever the timing; a table's position is the number of ops
 * it has produced (`"0"`, `"1500"`), so resuming replays up to there
 * without timers and continues with the next op.
 */
export const generatorConnector: ConnectorFactory<GeneratorConfig> = defineConnector<GeneratorConfig>({
  kind: 'generator',
  validateConfig: validateGeneratorConfig,
  open: (config, context) => new GeneratorConnector(config, context),
});

interface TableRun {
  readonly stream: TableStream;
  readonly projection: TableProjection;
  readonly resumeFrom: number | null;
  written: number | null;
  /** When the live phase began (performance.now()) and at which position, for pacing and lag. */
  liveStartedAt: number | null;
  livePosition0: number;
}

/** Sizes above this would outrun what a number counts exactly. */
const MAX_POSITION = Number.MAX_SAFE_INTEGER;

class GeneratorConnector implements Connector {
  private readonly tables: readonly ResolvedTable[];
  private readonly seed: number;
  private readonly stop = new AbortController();
  private runs: TableRun[] = [];
  private started = false;

  constructor(
    config: GeneratorConfig,
    private readonly context: ConnectorContext,
  ) {
    this.tables = resolveTables(config);
    this.seed = config.seed ?? DEFAULTS.seed;
  }

  async listTables(): Promise<TableInfo[]> {
    // Old rows come from the generator's own table; inserts make new keys.
    return this.tables.map((t) => ({ name: t.name, schema: t.schema, exactChanges: true }));
  }

  comparePositions(a: SourcePosition, b: SourcePosition): number {
    const x = this.parsePosition(a);
    const y = this.parsePosition(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  async start(request: StartRequest): Promise<void> {
    if (this.stop.signal.aborted)
      throw new ConnectorError(`connection "${this.context.name}": start after close`);
    if (this.started) throw new ConnectorError(`connection "${this.context.name}": start was already called`);
    this.started = true;
    this.runs = request.tables.map((req) => {
      const table = this.tables.find((t) => t.name === req.name);
      if (table === undefined) {
        throw new ConnectorError(
          `connection "${this.context.name}" has no table "${req.name}"; its tables are: ${this.tables.map((t) => t.name).join(', ')}`,
        );
      }
      return {
        stream: new TableStream(table, this.seed),
        projection: projectTable(table, req.columns),
        resumeFrom: req.resumeFrom === null ? null : this.parsePosition(req.resumeFrom),
        written: null,
        liveStartedAt: null,
        livePosition0: 0,
      };
    });
    // One signal for the request, close() and a failing sibling table.
    const local = new AbortController();
    const abort = () => local.abort();
    request.signal.addEventListener('abort', abort);
    this.stop.signal.addEventListener('abort', abort);
    if (request.signal.aborted || this.stop.signal.aborted) local.abort();
    try {
      await Promise.all(
        this.runs.map((run) =>
          this.runTable(run, request.sink, local.signal).catch((e: unknown) => {
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
    const now = performance.now();
    return {
      tables: this.runs.map((run): TableLag => {
        const t = run.stream.table;
        const written = run.written ?? run.resumeFrom ?? 0;
        let behindOps: number | null = null;
        if (run.liveStartedAt === null) behindOps = Math.max(0, t.rows - written);
        else if (t.rate > 0) {
          const due = run.livePosition0 + Math.floor(((now - run.liveStartedAt) * t.rate) / 1000);
          const end = run.stream.end;
          behindOps = Math.max(0, (end === null ? due : Math.min(due, end)) - written);
        }
        return {
          table: t.name,
          position: run.written === null ? null : String(run.written),
          behindOps,
          behindMillis:
            behindOps !== null && t.rate > 0 && run.liveStartedAt !== null
              ? (behindOps * 1000) / t.rate
              : null,
        };
      }),
    };
  }

  async close(): Promise<void> {
    this.stop.abort();
  }

  private parsePosition(p: SourcePosition): number {
    const n = /^\d{1,16}$/.test(p) ? Number(p) : Number.NaN;
    if (!(n <= MAX_POSITION)) {
      throw new ConnectorError(
        `connection "${this.context.name}": "${p}" is not a generator position (expected a count of ops such as "1500")`,
      );
    }
    return n;
  }

  private async runTable(run: TableRun, sink: IngestSink, signal: AbortSignal): Promise<void> {
    const { stream } = run;
    const t = stream.table;
    if (run.resumeFrom !== null) await stream.skipToYielding(run.resumeFrom, signal);
    if (signal.aborted) return;
    const inSnapshot = run.resumeFrom === null || run.resumeFrom < t.rows;
    while (!signal.aborted && stream.position < t.rows) {
      await this.emit(run, sink, Math.min(t.batchSize, t.rows - stream.position));
    }
    if (signal.aborted) return;
    if (inSnapshot) {
      await sink.snapshotDone(t.name, String(t.rows));
      this.context.logger.info('generator snapshot done', { table: t.name, rows: t.rows });
    }
    // At a rate, a batch holds at most a tenth of a second's ops so that slow tables still flow promptly.
    const chunk = t.rate > 0 ? Math.max(1, Math.min(t.batchSize, Math.ceil(t.rate / 10))) : t.batchSize;
    run.liveStartedAt = performance.now();
    run.livePosition0 = stream.position;
    while (!signal.aborted && !stream.done) {
      const end = stream.end;
      await this.emit(run, sink, end === null ? chunk : Math.min(chunk, end - stream.position));
      if (t.rate > 0) {
        const dueAt = run.liveStartedAt + ((stream.position - run.livePosition0) * 1000) / t.rate;
        await sleep(dueAt - performance.now(), signal);
      } else {
        // Let timers and abort handlers run even when the sink resolves at once.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (!signal.aborted)
      this.context.logger.info('generator table finished', { table: t.name, position: stream.position });
  }

  private async emit(run: TableRun, sink: IngestSink, n: number): Promise<void> {
    const ops: Operation[] = [];
    const project = run.projection.project;
    for (let i = 0; i < n; i++) {
      const op = run.stream.next();
      ops.push(
        op.kind === 'insert'
          ? { kind: 'insert', new: project(op.new) }
          : op.kind === 'delete'
            ? { kind: 'delete', old: project(op.old) }
            : { kind: 'update', old: project(op.old), new: project(op.new) },
      );
    }
    const position = run.stream.position;
    await sink.write({ table: run.stream.table.name, ops, position: String(position) });
    run.written = position;
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
