import type { MetricFamily } from '@dozer/api';
import type { JsonValue } from '@dozer/core';
import { formatLogLine, type LogFormat, logFormatFromEnv } from './logger.js';
/** Counters that the pipeline updates and the progress display reads. */
export interface SourceStats {
  readonly name: string;
  ops: number;
  batches: number;
  snapshotDone: boolean;
  finished: boolean;
  /**
   * How far the source's table is behind the source, as its connector last
   * told (`Connector.lag`, sampled every second); absent until it did.
   * `null` fields: the connector cannot tell.
   */
  lag?: {
    behindOps: number | null;
    behindMillis: number | null;
    /** `ops` when the connector told: in a snapshot, the ops delivered since come off its rows left. */
    atOps?: number;
  };
}

/**
 * The changes a source has not delivered yet, as its connector last told;
 * in a snapshot (a fixed number of rows to read) less the ops delivered since
 * it told, so that the figure keeps up with the ops between two samples.
 */
export function behindOps(s: SourceStats): number | null {
  const told = s.lag?.behindOps ?? null;
  if (told === null || sourcePhase(s) !== 'snapshot') return told;
  return Math.max(0, told - (s.ops - (s.lag?.atOps ?? s.ops)));
}

/** The sources' figures for `GET /metrics`: ops delivered, phase, lag. */
export function sourceMetrics(sources: readonly SourceStats[]): MetricFamily[] {
  const withLag = sources.filter((s) => s.lag !== undefined);
  const known = (pick: (s: SourceStats) => number | null, scale = 1) =>
    withLag.flatMap((s) => {
      const v = pick(s);
      return v === null ? [] : [{ labels: { source: s.name }, value: v * scale }];
    });
  return [
    {
      name: 'dozer_source_ops_total',
      help: 'Operations a source delivered since the process started',
      type: 'counter',
      samples: sources.map((s) => ({ labels: { source: s.name }, value: s.ops })),
    },
    {
      name: 'dozer_source_live',
      help: '1 once a source finished its snapshot (or resumed past it), else 0',
      type: 'gauge',
      samples: sources.map((s) => ({ labels: { source: s.name }, value: s.snapshotDone ? 1 : 0 })),
    },
    {
      name: 'dozer_source_behind_ops',
      help: 'Changes the source has that its connector has not delivered yet (where it can tell)',
      type: 'gauge',
      samples: known(behindOps),
    },
    {
      name: 'dozer_source_behind_seconds',
      help: 'Age of the oldest change not delivered yet (where the connector can tell)',
      type: 'gauge',
      samples: known((s) => s.lag!.behindMillis, 1 / 1000),
    },
  ];
}

/**
 * How far a source is behind its source, `4.2 s behind`, when it is a second
 * or more (less is the normal pace of batches), by its connector's lag; else null.
 */
export function behindText(s: SourceStats): string | null {
  const ms = s.lag?.behindMillis ?? 0;
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s behind` : null;
}

/** Where a source is: in its snapshot, live (following changes), or done (the source ended). */
export function sourcePhase(s: SourceStats): 'snapshot' | 'live' | 'done' {
  return s.finished ? 'done' : s.snapshotDone ? 'live' : 'snapshot';
}

/** The sources as `GET /health` shows them: ops delivered, phase and lag, by name. */
export function sourcesHealth(sources: readonly SourceStats[]): { [name: string]: JsonValue } {
  return Object.fromEntries(
    sources.map((s) => {
      const lag = lagJson(s);
      return [s.name, { ops: s.ops, phase: sourcePhase(s), ...(lag ? { lag } : {}) }];
    }),
  );
}

/** A source's lag as `GET /health` shows it, or undefined before its connector told. */
export function lagJson(s: SourceStats): { ops: number | null; ms: number | null } | undefined {
  return s.lag === undefined ? undefined : { ops: behindOps(s), ms: s.lag.behindMillis };
}

export interface ProgressOptions {
  readonly sources: readonly SourceStats[];
  /** Rows currently in each endpoint. */
  readonly endpointRows: () => ReadonlyArray<readonly [string, number]>;
  readonly stream?: NodeJS.WriteStream;
  /** How often to redraw on a terminal (ms); off a terminal a line is printed every 5 s. */
  readonly intervalMs?: number;
  /** The lines printed off a terminal (default: DOZER_LOG_FORMAT's). */
  readonly format?: LogFormat;
}

/**
 * Live progress on the terminal: one status line, redrawn in place, with
 * ops ingested per source, their rate, and rows per endpoint. When stderr
 * is not a terminal (a log file, CI), it prints a plain line every 5 s.
 */
export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private last = new Map<string, { ops: number; at: number }>();
  private rates = new Map<string, number>();
  private lineShown = false;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly format: LogFormat;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.format = options.format ?? logFormatFromEnv();
    // JSON lines are for collectors: never a status line redrawn in place.
    this.tty = Boolean(this.stream.isTTY) && process.env.CI !== 'true' && this.format === 'text';
  }

  start(): void {
    const now = Date.now();
    for (const s of this.options.sources) this.last.set(s.name, { ops: s.ops, at: now });
    const every = this.tty ? (this.options.intervalMs ?? 500) : 5000;
    this.timer = setInterval(() => this.render(), every);
    this.timer.unref();
  }

  /** Writes a log line without tearing the status line. */
  log(line: string): void {
    if (this.tty && this.lineShown) this.stream.write('\r\x1b[2K');
    this.stream.write(`${line}\n`);
    if (this.tty && this.lineShown) this.render();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.render();
    if (this.tty && this.lineShown) this.stream.write('\n');
    this.lineShown = false;
  }

  /** The status line as text. */
  statusLine(): string {
    const now = Date.now();
    const parts: string[] = [];
    for (const s of this.options.sources) {
      const prev = this.last.get(s.name);
      if (prev && now - prev.at >= 250) {
        this.rates.set(s.name, ((s.ops - prev.ops) * 1000) / (now - prev.at));
        this.last.set(s.name, { ops: s.ops, at: now });
      } else if (!prev) this.last.set(s.name, { ops: s.ops, at: now });
      const rate = this.rates.get(s.name) ?? 0;
      const phase = sourcePhase(s);
      // In a snapshot, the rows left (by the connector's estimate) tell how long it will take.
      const left = behindOps(s);
      const behind = behindText(s);
      const lag =
        phase === 'snapshot'
          ? left !== null
            ? `, ~${fmt(left)} rows left`
            : ''
          : behind !== null
            ? `, ${behind}`
            : '';
      parts.push(`${s.name}: ${fmt(s.ops)} ops ${fmt(Math.round(rate))}/s (${phase}${lag})`);
    }
    const rows = this.options.endpointRows().map(([n, c]) => `${n}: ${fmt(c)} rows`);
    return `${parts.join(' | ')}${rows.length ? ` → ${rows.join(' | ')}` : ''}`;
  }

  private render(): void {
    const line = this.statusLine();
    if (this.tty) {
      const width = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
      this.lineShown = true;
    } else {
      this.stream.write(`${formatLogLine(this.format, 'progress', line)}\n`);
    }
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
