import type { Operation, Row, SourcePosition } from '@dozer/core';
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
import { ConnectorError } from '../errors.js';
import { projectTable } from '../projection.js';
import { NEXMARK_CONNECTOR_DEFAULTS, type NexmarkConfig, validateNexmarkConfig } from './config.js';
import { countBefore } from './events.js';
import { generateChunk, resolveNexmarkParams } from './generate.js';
import { NEXMARK_SCHEMAS, NEXMARK_TABLES, type NexmarkParams, type NexmarkTable } from './model.js';

/**
 * The `nexmark` connector: the Nexmark benchmark's auction stream (tables
 * `person`, `auction`, `bid`; 1 person, 3 auctions and 46 bids in every 50
 * events), append-only, with no snapshot. A position is the number of
 * events generated so far (all tables together, `"0"` before the first);
 * every event is a function of its number and the seed, so resuming jumps
 * straight to the next event.
 */
export const nexmarkConnector: ConnectorFactory<NexmarkConfig> = defineConnector<NexmarkConfig>({
  kind: 'nexmark',
  validateConfig: validateNexmarkConfig,
  // The config may be left out: every setting has a default.
  open: (config, context) =>
    new NexmarkConnector((config as NexmarkConfig | undefined | null) ?? {}, context),
});
interface TableRun {
  readonly table: NexmarkTable;
  /** Narrows rows to the requested columns; null when all columns are wanted. */
  readonly project: ((row: Row) => Row) | null;
  /** Events before this number were delivered in an earlier run. */
  readonly from: number;
  written: number | null;
}

class NexmarkConnector implements Connector {
  private readonly params: NexmarkParams;
  private readonly rate: number;
  private readonly batchSize: number;
  private readonly maxEvents: number | null;
  private readonly stop = new AbortController();
  private runs: TableRun[] = [];
  private started = false;
  private liveStart: { at: number; event: number } | null = null;

  constructor(
    config: NexmarkConfig,
    private readonly context: ConnectorContext,
  ) {
    this.params = resolveNexmarkParams({
      ...(config.seed !== undefined ? { seed: config.seed } : {}),
      ...(config.base_time !== undefined ? { baseTime: config.base_time } : {}),
      ...(config.event_time_rate !== undefined ? { eventTimeRate: config.event_time_rate } : {}),
      ...(config.active_people !== undefined ? { activePeople: config.active_people } : {}),
      ...(config.in_flight_auctions !== undefined ? { inFlightAuctions: config.in_flight_auctions } : {}),
      ...(config.hot_auction_ratio !== undefined ? { hotAuctionRatio: config.hot_auction_ratio } : {}),
      ...(config.hot_sellers_ratio !== undefined ? { hotSellersRatio: config.hot_sellers_ratio } : {}),
      ...(config.hot_bidders_ratio !== undefined ? { hotBiddersRatio: config.hot_bidders_ratio } : {}),
    });
    this.rate = config.rate ?? NEXMARK_CONNECTOR_DEFAULTS.rate;
    this.batchSize = config.batch_size ?? NEXMARK_CONNECTOR_DEFAULTS.batchSize;
    this.maxEvents = config.max_events ?? null;
  }

  async listTables(): Promise<TableInfo[]> {
    return NEXMARK_TABLES.map((name) => ({ name, schema: NEXMARK_SCHEMAS[name], exactChanges: true }));
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
      if (!(NEXMARK_TABLES as readonly string[]).includes(req.name)) {
        throw new ConnectorError(
          `connection "${this.context.name}" (nexmark) has no table "${req.name}"; its tables are: ${NEXMARK_TABLES.join(', ')}`,
        );
      }
      const table = req.name as NexmarkTable;
      return {
        table,
        project:
          req.columns === undefined
            ? null
            : projectTable({ name: table, schema: NEXMARK_SCHEMAS[table] }, req.columns).project,
        from: req.resumeFrom === null ? 0 : this.parsePosition(req.resumeFrom),
        written: null,
      };
    });
    const { signal, sink } = request;
    const stopped = () => signal.aborted || this.stop.signal.aborted;
    // A stream has nothing to snapshot: the snapshot of a fresh table is empty and ends at "0".
    for (const [i, req] of request.tables.entries()) {
      if (req.resumeFrom === null && !stopped()) await sink.snapshotDone(this.runs[i]!.table, '0');
    }
    if (this.runs.length === 0) return;
    let cursor = Math.min(...this.runs.map((r) => r.from));
    // At a rate, a batch holds at most a tenth of a second's events so that slow streams still flow promptly.
    const chunk =
      this.rate > 0 ? Math.max(1, Math.min(this.batchSize, Math.ceil(this.rate / 10))) : this.batchSize;
    this.liveStart = { at: performance.now(), event: cursor };
    const wake = new AbortController();
    const onAbort = () => wake.abort();
    signal.addEventListener('abort', onAbort);
    this.stop.signal.addEventListener('abort', onAbort);
    if (stopped()) wake.abort();
    try {
      while (!stopped() && (this.maxEvents === null || cursor < this.maxEvents)) {
        const to = this.maxEvents === null ? cursor + chunk : Math.min(cursor + chunk, this.maxEvents);
        for (const run of this.runs) {
          if (run.from >= to || stopped()) continue;
          await this.emit(run, sink, Math.max(cursor, run.from), to);
        }
        cursor = to;
        if (this.rate > 0) {
          const dueAt = this.liveStart.at + ((cursor - this.liveStart.event) * 1000) / this.rate;
          await sleep(dueAt - performance.now(), wake.signal);
        } else {
          // Let timers and abort handlers run even when the sink resolves at once.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.stop.signal.removeEventListener('abort', onAbort);
    }
    if (!stopped()) this.context.logger.info('nexmark stream finished', { events: cursor });
  }

  async lag(): Promise<LagInfo> {
    const live = this.liveStart;
    let due: number | null = null;
    if (live !== null && this.rate > 0) {
      due = live.event + Math.floor(((performance.now() - live.at) * this.rate) / 1000);
      if (this.maxEvents !== null) due = Math.min(due, this.maxEvents);
    } else if (this.rate === 0 && this.maxEvents !== null) due = this.maxEvents;
    return {
      tables: this.runs.map((run) => {
        const done = run.written ?? run.from;
        const behindOps =
          due === null ? null : Math.max(0, countBefore(run.table, due) - countBefore(run.table, done));
        return {
          table: run.table,
          position: run.written === null ? null : String(run.written),
          behindOps,
          behindMillis: due !== null && this.rate > 0 ? (Math.max(0, due - done) * 1000) / this.rate : null,
        };
      }),
    };
  }

  async close(): Promise<void> {
    this.stop.abort();
  }

  private parsePosition(p: SourcePosition): number {
    const n = /^\d{1,16}$/.test(p) ? Number(p) : Number.NaN;
    if (!(n <= Number.MAX_SAFE_INTEGER)) {
      throw new ConnectorError(
        `connection "${this.context.name}": "${p}" is not a nexmark position (expected a count of events such as "1500")`,
      );
    }
    return n;
  }

  private async emit(run: TableRun, sink: IngestSink, from: number, to: number): Promise<void> {
    const ops = generateChunk(from, to, this.params, new Set([run.table])).get(run.table) ?? [];
    // A chunk with no event of this table still moves its position, so a resume skips it.
    if (ops.length === 0) return;
    const project = run.project;
    const projected =
      project === null
        ? ops
        : ops.map((op): Operation => ({ kind: 'insert', new: project(op.kind === 'insert' ? op.new : []) }));
    await sink.write({ table: run.table, ops: projected, position: String(to) });
    run.written = to;
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
