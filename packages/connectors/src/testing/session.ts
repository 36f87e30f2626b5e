import { AssertionError } from 'node:assert';
import { isDozerError, type OpBatch, type Operation, type Schema, type SourcePosition } from '@dozer/core';
import type { Connector, IngestSink, TableRequest } from '../connector.js';
import { rowProblems } from './value-check.js';

/** One thing a table's sink saw, in order. */
export type SinkEvent =
  | { readonly kind: 'batch'; readonly position: SourcePosition; readonly ops: readonly Operation[] }
  | { readonly kind: 'snapshotDone'; readonly position: SourcePosition };

/** What a run of `start` delivered to one table, and where its snapshot ended. */
export interface TableLog {
  readonly events: SinkEvent[];
  /** Number of ops written after `snapshotDone` (or all of them when resuming past the snapshot). */
  liveOps: number;
  snapshotDone: SourcePosition | null;
  lastPosition: SourcePosition | null;
}

/** How a session's sink behaves. */
export interface SessionOptions {
  /** Checks every row against this schema, per table (the projected one when columns are requested). */
  readonly schemas: ReadonlyMap<string, Schema>;
  /** How long any wait may take before the check fails. */
  readonly timeoutMs: number;
  /**
   * Called inside each write before it resolves: a check can hold the
   * write (backpressure) or abort from inside it.
   */
  readonly onWrite?: (batch: OpBatch, session: Session) => Promise<void> | void;
  /** Tables that must snapshot (default: those requested with `resumeFrom: null`). */
  readonly snapshotting?: ReadonlySet<string>;
  /** Abort the signal before calling `start`. */
  readonly abortBeforeStart?: boolean;
}

/**
 * One `start` call on a connector, with a sink that records everything,
 * checks every batch as it arrives (rows of the schema, positions strictly
 * increasing, one write per table in flight) and lets a check wait for
 * what it needs (a snapshot, a number of ops) without sleeping.
 */
export class Session {
  readonly logs = new Map<string, TableLog>();
  readonly problems: string[] = [];
  readonly abort = new AbortController();
  /** Settles when `start` does; never rejects (see `outcome`). */
  readonly done: Promise<void>;
  outcome: { readonly ok: true } | { readonly ok: false; readonly error: unknown } | null = null;
  private readonly inFlight = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private readonly snapshotTables: ReadonlySet<string>;

  constructor(
    readonly connector: Connector,
    readonly requests: readonly TableRequest[],
    private readonly options: SessionOptions,
  ) {
    this.snapshotTables =
      options.snapshotting ?? new Set(requests.filter((r) => r.resumeFrom === null).map((r) => r.name));
    for (const r of requests)
      this.logs.set(r.name, { events: [], liveOps: 0, snapshotDone: null, lastPosition: r.resumeFrom });
    const sink: IngestSink = {
      write: (batch) => this.write(batch),
      snapshotDone: async (table, position) => this.snapshotDone(table, position),
    };
    if (options.abortBeforeStart === true) this.abort.abort();
    let started: Promise<void>;
    try {
      started = Promise.resolve(connector.start({ tables: requests, sink, signal: this.abort.signal }));
    } catch (e) {
      started = Promise.reject(e);
    }
    this.done = started.then(
      () => {
        this.outcome = { ok: true };
        this.wake();
      },
      (error: unknown) => {
        this.outcome = { ok: false, error };
        this.wake();
      },
    );
  }

  /** The ops of `table` in the order written. */
  ops(table: string): Operation[] {
    return (this.logs.get(table)?.events ?? []).flatMap((e) => (e.kind === 'batch' ? e.ops : []));
  }

  /** Total ops written after the snapshot over all tables. */
  liveOps(): number {
    let n = 0;
    for (const log of this.logs.values()) n += log.liveOps;
    return n;
  }

  /**
   * Resolves once `ready()` holds, checked after every write, snapshotDone
   * and when `start` settles. Fails when `start` settles first or
   * `timeoutMs` passes, saying what it waited for.
   */
  until(ready: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) finish(null);
        else if (this.outcome !== null) {
          finish(
            this.outcome.ok
              ? `start() resolved before ${what} (${this.summary()})`
              : `start() rejected before ${what}: ${describeError(this.outcome.error)}`,
          );
        }
      };
      const timer = setTimeout(
        () => finish(`timed out after ${this.options.timeoutMs} ms waiting for ${what} (${this.summary()})`),
        this.options.timeoutMs,
      );
      const finish = (failure: string | null) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (failure === null) resolve();
        else reject(new AssertionError({ message: failure }));
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for every requested table's snapshotDone. */
  untilSnapshots(): Promise<void> {
    return this.until(
      () => [...this.logs.values()].every((l) => l.snapshotDone !== null),
      `snapshotDone of ${[...this.logs.keys()].map((t) => `"${t}"`).join(', ')}`,
    );
  }

  /** Aborts and waits for `start` to settle, failing when it takes longer than `timeoutMs`. */
  async stop(how: () => unknown = () => this.abort.abort()): Promise<void> {
    how();
    await this.settled('after the signal aborted');
  }

  /** Waits for `start` to settle within `timeoutMs`. */
  async settled(context: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.timeoutMs);
    });
    const r = await Promise.race([this.done, timeout]);
    clearTimeout(timer);
    if (r === 'timeout')
      throw new AssertionError({
        message: `start() did not settle within ${this.options.timeoutMs} ms ${context}; a connector must stop promptly, also while it waits on a timer, the network or a write`,
      });
  }

  /** Throws when any batch broke a rule or `start` rejected with something other than a DozerError. */
  assertClean(): void {
    if (this.outcome !== null && !this.outcome.ok) {
      this.problems.push(`start() rejected: ${describeError(this.outcome.error)}`);
    }
    if (this.problems.length > 0) {
      const shown = this.problems.slice(0, 20);
      const more =
        this.problems.length > shown.length ? `\n  … and ${this.problems.length - shown.length} more` : '';
      throw new AssertionError({
        message: `the connector broke the contract ${this.problems.length} time(s):\n  ${shown.join('\n  ')}${more}`,
      });
    }
  }

  private async write(batch: OpBatch): Promise<void> {
    const log = this.logs.get(batch.table);
    const where = `batch ${log === undefined ? '' : log.events.length + 1} of table "${batch.table}"`;
    if (log === undefined) {
      this.problems.push(
        `wrote a batch of table "${batch.table}", which was not requested (requested: ${[...this.logs.keys()].join(', ')})`,
      );
      return;
    }
    if (this.inFlight.has(batch.table)) {
      this.problems.push(
        `${where}: written while the previous write of that table was still pending; await each sink.write before the next (backpressure)`,
      );
    }
    this.inFlight.add(batch.table);
    try {
      this.check(batch, log, where);
      await this.options.onWrite?.(batch, this);
      // A connector that does not await writes gets a chance to write again here.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      this.inFlight.delete(batch.table);
      this.wake();
    }
  }

  private check(batch: OpBatch, log: TableLog, where: string): void {
    if (typeof batch.position !== 'string') {
      this.problems.push(
        `${where}: position is ${batch.position === null ? 'null' : typeof batch.position}; every batch must carry the source position after its last op`,
      );
      log.events.push({ kind: 'batch', position: String(batch.position), ops: batch.ops });
      return;
    }
    if (!Array.isArray(batch.ops)) {
      this.problems.push(`${where}: ops is not an array`);
      return;
    }
    const prev = log.lastPosition;
    if (prev !== null) {
      const c = this.compare(batch.position, prev, where);
      if (c !== null && c <= 0)
        this.problems.push(
          `${where}: position ${JSON.stringify(batch.position)} is not after the previous position ${JSON.stringify(prev)} (comparePositions gave ${c}); positions must strictly increase per table`,
        );
    }
    const schema = this.options.schemas.get(batch.table);
    batch.ops.forEach((op, i) => {
      const at = `${where}, op ${i}`;
      if (log.snapshotDone === null && this.snapshotting(batch.table) && op.kind !== 'insert')
        this.problems.push(`${at}: a snapshot op is ${op.kind}; a snapshot holds only inserts`);
      const rows: [string, unknown][] = [];
      if (op.kind === 'insert') rows.push(['new', op.new]);
      else if (op.kind === 'delete') rows.push(['old', op.old]);
      else if (op.kind === 'update') rows.push(['old', op.old], ['new', op.new]);
      else {
        this.problems.push(`${at}: unknown op kind ${JSON.stringify((op as { kind: unknown }).kind)}`);
        return;
      }
      if (schema === undefined) return;
      for (const [name, row] of rows) {
        for (const p of rowProblems(schema, row as never))
          this.problems.push(`${at}, ${op.kind} ${name} row: ${p}`);
      }
    });
    log.events.push({ kind: 'batch', position: batch.position, ops: batch.ops });
    log.lastPosition = batch.position;
    if (!this.snapshotting(batch.table) || log.snapshotDone !== null) log.liveOps += batch.ops.length;
  }

  private snapshotDone(table: string, position: SourcePosition): void {
    const log = this.logs.get(table);
    if (log === undefined) {
      this.problems.push(`snapshotDone for table "${table}", which was not requested`);
      return;
    }
    if (typeof position !== 'string') {
      this.problems.push(`snapshotDone("${table}") got a ${typeof position} position; expected a string`);
      return;
    }
    if (!this.snapshotting(table))
      this.problems.push(
        `snapshotDone("${table}", ${JSON.stringify(position)}) although the table resumed past its snapshot`,
      );
    if (log.snapshotDone !== null)
      this.problems.push(
        `snapshotDone("${table}") called twice (${JSON.stringify(log.snapshotDone)}, then ${JSON.stringify(position)})`,
      );
    if (log.lastPosition !== null) {
      const c = this.compare(position, log.lastPosition, `snapshotDone("${table}")`);
      if (c !== null && c < 0)
        this.problems.push(
          `snapshotDone("${table}", ${JSON.stringify(position)}) is before the last snapshot batch's position ${JSON.stringify(log.lastPosition)}`,
        );
    }
    log.snapshotDone = position;
    log.lastPosition = position;
    log.events.push({ kind: 'snapshotDone', position });
    this.wake();
  }

  /** Whether `table` is expected to snapshot in this session (fresh, or resumed mid-snapshot). */
  private snapshotting(table: string): boolean {
    return this.snapshotTables.has(table);
  }

  private compare(a: SourcePosition, b: SourcePosition, where: string): number | null {
    try {
      const c = this.connector.comparePositions(a, b);
      if (typeof c !== 'number' || Number.isNaN(c)) {
        this.problems.push(`${where}: comparePositions returned ${String(c)}, not a number`);
        return null;
      }
      return c;
    } catch (e) {
      this.problems.push(
        `${where}: comparePositions(${JSON.stringify(a)}, ${JSON.stringify(b)}) threw ${describeError(e)}`,
      );
      return null;
    }
  }

  private summary(): string {
    return [...this.logs.entries()]
      .map(
        ([t, l]) =>
          `"${t}": ${l.events.filter((e) => e.kind === 'batch').length} batches, ${this.ops(t).length} ops, snapshotDone ${l.snapshotDone === null ? 'not called' : JSON.stringify(l.snapshotDone)}`,
      )
      .join('; ');
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** `ConnectorError (retryable: false): message`, or what a non-DozerError is. */
export function describeError(e: unknown): string {
  if (isDozerError(e)) return `${e.name} [${e.code}] (retryable: ${String(e.retryable)}): ${e.message}`;
  if (e instanceof Error) return `${e.name} (not a DozerError): ${e.message}`;
  return `${typeof e} ${String(e)} (not an Error)`;
}
