import { AssertionError } from 'node:assert';
import {
  isDozerError,
  isFieldType,
  makeSchema,
  type Operation,
  type Row,
  rowsEqual,
  rowToObject,
  type Schema,
  type SourcePosition,
  valueToJson,
} from '@dozer/core';
import {
  type ConfigIssue,
  type Connector,
  type ConnectorContext,
  type ConnectorFactory,
  formatConfigIssue,
  formatIssuePath,
  type LagInfo,
  silentLogger,
  type TableInfo,
  type TableRequest,
} from '../connector.js';
import { projectTable } from '../projection.js';
import { describeError, Session, type SessionOptions, type TableLog } from './session.js';

/**
 * The two functions of a test framework the kit needs. Vitest's and
 * `node:test`'s `describe` and `it` fit as they are; wrap `it` to give
 * the checks a longer time limit than `timeoutMs`
 * (`it: (name, fn) => it(name, fn, 60_000)` in Vitest).
 */
export interface ConformanceFramework {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: () => Promise<void>): unknown;
}

/** A config `validateConfig` must reject, and where the issue must point. */
export interface InvalidConfigCase {
  readonly config: unknown;
  /** The path of one issue it must report, relative to the config object (`['tables', 0, 'name']`). */
  readonly expectIssueAt: readonly (string | number)[];
  /** That issue's exact message, or a pattern it must match. */
  readonly message?: string | RegExp;
}

/** What {@link runConnectorConformance} checks a connector with. */
export interface ConformanceOptions<C> {
  readonly factory: ConnectorFactory<C>;
  /**
   * A valid config of a source that exists and has rows. A function is
   * called before each check, so it can set the source up lazily.
   */
  readonly config: C | (() => C | Promise<C>);
  /** Configs `validateConfig` must reject, each with the path of an issue it must report. At least one. */
  readonly invalidConfigs: readonly InvalidConfigCase[];
  /** The tables to ingest (default: every table `listTables` returns). */
  readonly tables?: readonly string[];
  /**
   * Makes changes in the source after a snapshot: inserts, updates and
   * deletes on the tables under test that the connector reports as `count`
   * ops in all. Leave it out when the source changes on its own (a
   * generator) or when it never changes (then set `liveOps: 0`).
   */
  readonly makeChanges?: (count: number) => Promise<void>;
  /**
   * How many ops after the snapshot the kit waits for, over the tables
   * under test (default 10). 0 checks snapshots only.
   */
  readonly liveOps?: number;
  /** Exact number of rows each table's snapshot must have, when the test knows it. */
  readonly snapshotRows?: Readonly<Record<string, number>>;
  /**
   * Whether resuming from the position of a batch inside a snapshot must
   * work (default true: the contract says any batch position). With
   * false, `start` may instead reject such a position with a
   * non-retryable DozerError (saying to ingest the table again), but must
   * not resume it wrongly. Document the limit when you set it.
   */
  readonly resumeMidSnapshot?: boolean;
  /**
   * What the `old` row of an update or delete holds: the full row as it
   * was (`'full'`, default) or only its primary key fields right
   * (`'key'`, e.g. Postgres without REPLICA IDENTITY FULL).
   */
  readonly oldRows?: 'full' | 'key';
  /**
   * A config that validates but whose source fails (a server that is down,
   * bad credentials): `listTables` or `start` must reject with a DozerError
   * whose `retryable` is the one given.
   */
  readonly failingConfig?: { readonly config: C; readonly retryable: boolean };
  /**
   * A string that is not a position of this connector: `start` with it as
   * `resumeFrom` must reject with a non-retryable DozerError. `null`
   * skips the check (for connectors whose positions can be any string).
   */
  readonly malformedPosition?: string | null;
  /** How long the kit waits for anything (a snapshot, ops, start settling) before failing (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** The context handed to `create` (default: name "conformance", a silent logger). */
  readonly context?: ConnectorContext;
}

/**
 * Registers the conformance checks of a connector with a test framework:
 * config validation, `create` opening nothing, schemas, snapshot then
 * changes with rows of the schema and increasing positions, column
 * projection, exact resumption from snapshot and live positions, abort
 * and close, backpressure, errors and lag. Call it at the top level of a
 * test file:
 *
 * ```ts
 * import { describe, it } from 'vitest';
 * runConnectorConformance({ factory, config, invalidConfigs, makeChanges }, { describe, it });
 * ```
 */
export function runConnectorConformance<C>(
  options: ConformanceOptions<C>,
  framework: ConformanceFramework,
): void {
  const kit = new Kit(options);
  const { describe, it } = framework;
  const { factory } = options;
  describe(`connector conformance: ${factory.kind}`, () => {
    describe('config', () => {
      it('accepts the valid config', () => kit.acceptsValidConfig());
      it('rejects a config that is not an object with issues instead of throwing', () =>
        kit.rejectsNonObjects());
      if (options.invalidConfigs.length === 0) {
        it('has invalid configs to check', async () => {
          throw new AssertionError({
            message:
              'invalidConfigs is empty: list at least one config validateConfig must reject, with the path of its issue',
          });
        });
      }
      options.invalidConfigs.forEach((c, i) => {
        it(`reports ${formatIssuePath(c.expectIssueAt)} for invalid config ${i + 1}`, () =>
          kit.rejectsInvalid(c));
      });
    });
    describe('create', () => {
      it('opens nothing until listTables or start, and close may be called twice', () =>
        kit.createOpensNothing());
    });
    describe('tables', () => {
      it('lists the tables with valid schemas', () => kit.listsValidTables());
    });
    describe('snapshot and changes', () => {
      it(
        kit.liveOps > 0
          ? 'snapshots every table, then follows changes, in rows of the schema at increasing positions'
          : 'snapshots every table in rows of the schema at increasing positions',
        () => kit.snapshotsThenFollows(),
      );
      it('delivers only the requested columns, in the requested order', () => kit.projectsColumns());
    });
    describe('resume', () => {
      if (options.resumeMidSnapshot !== false)
        it('resumes from a snapshot batch with exactly the ops that followed it', () =>
          kit.resumesMidSnapshot(false));
      else
        it('refuses to resume from a snapshot batch with a non-retryable DozerError, or resumes it exactly', () =>
          kit.resumesMidSnapshot(true));
      it('resumes from the end of the snapshot with exactly the ops that followed it', () =>
        kit.resumesFromSnapshotEnd());
      if (kit.liveOps > 0)
        it('resumes from a batch after the snapshot with exactly the ops that followed it', () =>
          kit.resumesLive());
    });
    describe('stopping', () => {
      it('resolves start promptly when the signal aborts while following', () => kit.abortsWhileFollowing());
      it('resolves start promptly when the signal aborts during a write', () => kit.abortsDuringWrite());
      it('resolves start promptly when the signal is aborted before start', () => kit.abortsBeforeStart());
      it('close stops a running start and may be called again', () => kit.closeStops());
    });
    describe('backpressure', () => {
      it('never has two writes of one table in flight', () => kit.awaitsWrites());
    });
    describe('errors', () => {
      it('rejects an unknown table with a non-retryable DozerError', () => kit.rejectsUnknownTable());
      if (options.malformedPosition !== null)
        it('rejects a malformed resume position with a non-retryable DozerError', () =>
          kit.rejectsMalformedPosition());
      if (options.failingConfig !== undefined) {
        const r = options.failingConfig.retryable;
        it(`fails on the failing config with a DozerError that is ${r ? '' : 'not '}retryable`, () =>
          kit.failsWithRetryable());
      }
    });
    describe('lag and acknowledge', () => {
      it('reports lag and takes acknowledgements of written positions, when it has them', () =>
        kit.lagAndAcknowledge());
    });
  });
}

/** What the first full run saw; the resume checks compare against it. */
interface FirstRun {
  readonly session: Session;
  readonly tables: readonly TableInfo[];
  /** lag() while following, and once start resolved (when every write has settled). */
  readonly lag: { readonly running: LagInfo; readonly stopped: LagInfo } | null;
  readonly problems: readonly string[];
}

const NO_SUCH_TABLE = '__dozer_conformance_no_such_table__';

class Kit<C> {
  readonly liveOps: number;
  private readonly timeoutMs: number;
  private readonly context: ConnectorContext;
  private first: Promise<FirstRun> | null = null;

  constructor(private readonly o: ConformanceOptions<C>) {
    this.liveOps = o.liveOps ?? 10;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.context = o.context ?? { name: 'conformance', logger: silentLogger };
  }

  async acceptsValidConfig(): Promise<void> {
    const issues = this.validate(await this.config());
    if (issues.length > 0)
      fail(`validateConfig rejected the valid config:\n  ${issues.map(formatConfigIssue).join('\n  ')}`);
  }

  async rejectsNonObjects(): Promise<void> {
    for (const raw of [null, undefined, 42, 'text', []]) {
      const issues = this.validate(raw);
      if (issues.length === 0) fail(`validateConfig(${String(JSON.stringify(raw))}) returned no issues`);
    }
  }

  async rejectsInvalid(c: InvalidConfigCase): Promise<void> {
    const issues = this.validate(c.config);
    const want = formatIssuePath(c.expectIssueAt);
    const got = issues.map(formatConfigIssue).join('\n  ') || '(none)';
    const at = issues.filter((i) => samePath(i.path, c.expectIssueAt));
    if (at.length === 0) fail(`validateConfig reported no issue at ${want}; it reported:\n  ${got}`);
    if (c.message !== undefined) {
      const m = c.message;
      const ok = at.some((i) => (typeof m === 'string' ? i.message === m : m.test(i.message)));
      if (!ok) fail(`the issue at ${want} does not say ${String(m)}; it reported:\n  ${got}`);
    }
  }

  async createOpensNothing(): Promise<void> {
    const config = await this.config();
    const before = ioResources();
    const connector = this.o.factory.create(config, this.context);
    // Connections started from a promise or a callback show up one turn later.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const opened = newResources(before, ioResources());
    try {
      if (opened.length > 0)
        fail(
          `create() started I/O (${opened.join(', ')}); it must open nothing, connect in listTables or start instead`,
        );
      if (typeof (connector as unknown as { then?: unknown }).then === 'function')
        fail('create() returned a promise; it must return the connector itself');
      for (const m of ['listTables', 'comparePositions', 'start', 'close'] as const) {
        if (typeof connector[m] !== 'function') fail(`the connector has no ${m}() method`);
      }
      for (const m of ['acknowledge', 'lag'] as const) {
        if (connector[m] !== undefined && typeof connector[m] !== 'function')
          fail(`the connector's ${m} is a ${typeof connector[m]}, not a method`);
      }
    } finally {
      await connector.close();
    }
    await connector.close();
  }

  async listsValidTables(): Promise<void> {
    const connector = await this.connector();
    try {
      const tables = await connector.listTables().catch((e: unknown) => {
        throw failure(`listTables() rejected: ${describeError(e)}`);
      });
      if (!Array.isArray(tables)) fail(`listTables() returned ${typeof tables}, not an array`);
      const problems: string[] = [];
      const names = new Set<string>();
      for (const t of tables) {
        if (typeof t.name !== 'string' || t.name === '')
          problems.push(`a table has the name ${JSON.stringify(t.name)}`);
        if (names.has(t.name)) problems.push(`table "${t.name}" is listed twice`);
        names.add(t.name);
        problems.push(...schemaProblems(t).map((p) => `table "${t.name}": ${p}`));
        if (t.exactChanges !== undefined && typeof t.exactChanges !== 'boolean')
          problems.push(
            `table "${t.name}": exactChanges is ${JSON.stringify(t.exactChanges)}, not a boolean`,
          );
      }
      for (const want of this.o.tables ?? []) {
        if (!names.has(want)) problems.push(`table "${want}" (from options.tables) is not listed`);
      }
      if (tables.length === 0)
        problems.push('listTables() returned no tables; configure a source that has one');
      if (problems.length > 0) fail(`listTables() is wrong:\n  ${problems.join('\n  ')}`);
    } finally {
      await connector.close();
    }
  }

  async snapshotsThenFollows(): Promise<void> {
    const run = await this.firstRun();
    const s = run.session;
    s.assertClean();
    const problems: string[] = [];
    for (const t of run.tables) {
      const log = s.logs.get(t.name)!;
      const snapshotOps = snapshotOpsOf(log);
      const want = this.o.snapshotRows?.[t.name];
      if (want !== undefined && snapshotOps.length !== want)
        problems.push(`the snapshot of "${t.name}" has ${snapshotOps.length} rows, expected ${want}`);
      problems.push(...positionOrderProblems(s.connector, t.name, log));
      // A table that declares exact changes is held to whole old rows whatever the options say.
      problems.push(
        ...stateProblems(t, s.ops(t.name), t.exactChanges === true ? 'full' : (this.o.oldRows ?? 'full')),
      );
    }
    if (s.liveOps() < this.liveOps)
      problems.push(`only ${s.liveOps()} ops arrived after the snapshots, expected at least ${this.liveOps}`);
    if (problems.length > 0) fail(`the first run is wrong:\n  ${problems.slice(0, 20).join('\n  ')}`);
  }

  async projectsColumns(): Promise<void> {
    const connector = await this.connector();
    try {
      const tables = await this.tablesOf(connector);
      const t = tables.find((x) => x.schema.fields.length >= 2) ?? tables[0]!;
      const fields = t.schema.fields;
      // Reversed, and without the middle fields, so that passing rows through unchanged fails.
      const columns =
        fields.length >= 2 ? [fields[fields.length - 1]!.name, fields[0]!.name] : [fields[0]!.name];
      const schema = projectTable(t, columns).schema;
      const s = new Session(connector, [{ name: t.name, columns, resumeFrom: null }], {
        schemas: new Map([[t.name, schema]]),
        timeoutMs: this.timeoutMs,
      });
      await s.untilSnapshots();
      await s.stop();
      s.assertClean();
    } finally {
      await connector.close();
    }
  }

  resumesMidSnapshot(mayRefuse: boolean): Promise<void> {
    return this.resume(
      'a snapshot batch that is not the last one',
      (log) => {
        const cut = log.events.findIndex((e) => e.kind === 'snapshotDone');
        const lastSnapshotBatch = cut - 1;
        // The first batch when there are several: the most left to resume.
        return lastSnapshotBatch >= 1 ? 0 : null;
      },
      mayRefuse,
    );
  }

  resumesFromSnapshotEnd(): Promise<void> {
    return this.resume('a snapshotDone position', (log) => {
      const i = log.events.findIndex((e) => e.kind === 'snapshotDone');
      return i >= 0 ? i : null;
    });
  }

  resumesLive(): Promise<void> {
    return this.resume('two batches after the snapshot', (log) => {
      const cut = log.events.findIndex((e) => e.kind === 'snapshotDone');
      const live = log.events.length - cut - 1;
      // The middle live batch; the last one would leave nothing to compare.
      return cut >= 0 && live >= 2 ? cut + Math.floor(live / 2) : null;
    });
  }

  async abortsWhileFollowing(): Promise<void> {
    const connector = await this.connector();
    try {
      const s = await this.session(connector);
      await s.untilSnapshots();
      await s.stop();
      s.assertClean();
    } finally {
      await connector.close();
    }
  }

  async abortsDuringWrite(): Promise<void> {
    const connector = await this.connector();
    try {
      const s = await this.session(connector, {
        onWrite: (_batch, session) => session.abort.abort(),
      });
      await s.until(() => s.abort.signal.aborted, 'the first write');
      await s.settled('after the signal aborted during a write');
      s.assertClean();
    } finally {
      await connector.close();
    }
  }

  async abortsBeforeStart(): Promise<void> {
    const connector = await this.connector();
    try {
      const s = await this.session(connector, { abortBeforeStart: true });
      await s.settled('although the signal was aborted before start');
      s.assertClean();
    } finally {
      await connector.close();
    }
  }

  async closeStops(): Promise<void> {
    const connector = await this.connector();
    let closed = false;
    try {
      const s = await this.session(connector);
      await s.untilSnapshots();
      await s.stop(() => {
        closed = true;
        return connector.close();
      });
      // Rejecting because of close is fine, with a DozerError like any failure.
      if (s.outcome !== null && !s.outcome.ok && isDozerError(s.outcome.error)) s.outcome = { ok: true };
      s.assertClean();
      await connector.close();
    } finally {
      if (!closed) await connector.close();
    }
  }

  async awaitsWrites(): Promise<void> {
    const connector = await this.connector();
    try {
      let held = 0;
      const s = await this.session(connector, {
        // A timer, not an event: this gives a connector that does not await
        // its writes the time to write again; nothing here measures speed.
        onWrite: () => (held++ < 6 ? new Promise<void>((resolve) => setTimeout(resolve, 20)) : undefined),
      });
      await s.untilSnapshots();
      await s.stop();
      s.assertClean();
    } finally {
      await connector.close();
    }
  }

  async rejectsUnknownTable(): Promise<void> {
    const connector = await this.connector();
    try {
      const s = new Session(connector, [{ name: NO_SUCH_TABLE, resumeFrom: null }], {
        schemas: new Map(),
        timeoutMs: this.timeoutMs,
      });
      await s.settled(`for the unknown table "${NO_SUCH_TABLE}"`);
      if (s.outcome?.ok !== false)
        fail(`start() resolved for the unknown table "${NO_SUCH_TABLE}"; it must reject`);
      expectDozerError(s.outcome.error, false, `start() for the unknown table "${NO_SUCH_TABLE}"`);
    } finally {
      await connector.close();
    }
  }

  async rejectsMalformedPosition(): Promise<void> {
    const bad = this.o.malformedPosition ?? '\u0000not a position';
    const connector = await this.connector();
    try {
      const [t] = await this.tablesOf(connector);
      const s = new Session(connector, [{ name: t!.name, resumeFrom: bad }], {
        schemas: new Map([[t!.name, t!.schema]]),
        timeoutMs: this.timeoutMs,
      });
      // A connector that accepts the position would follow forever; the first write settles that.
      await s
        .until(() => s.ops(t!.name).length > 0 || s.outcome !== null, 'start() to reject')
        .catch(() => {});
      if (s.outcome === null) await s.stop();
      if (s.outcome?.ok !== false)
        fail(
          `start() accepted ${JSON.stringify(bad)} as a resume position; it must reject a position it did not write`,
        );
      expectDozerError(s.outcome.error, false, `start() resuming from ${JSON.stringify(bad)}`);
    } finally {
      await connector.close();
    }
  }

  async failsWithRetryable(): Promise<void> {
    const f = this.o.failingConfig!;
    const issues = this.validate(f.config);
    if (issues.length > 0)
      fail(`failingConfig must pass validateConfig, but:\n  ${issues.map(formatConfigIssue).join('\n  ')}`);
    const connector = this.o.factory.create(f.config, this.context);
    try {
      let error: unknown;
      let failed = false;
      try {
        const tables = await connector.listTables();
        const s = new Session(
          connector,
          tables.map((t) => ({ name: t.name, resumeFrom: null })),
          { schemas: new Map(tables.map((t) => [t.name, t.schema])), timeoutMs: this.timeoutMs },
        );
        await s.settled('for the failing config');
        if (s.outcome?.ok === false) {
          failed = true;
          error = s.outcome.error;
        }
      } catch (e) {
        failed = true;
        error = e;
      }
      if (!failed) fail('the failing config neither made listTables() nor start() reject');
      expectDozerError(error, f.retryable, 'the failing config');
    } finally {
      await connector.close();
    }
  }

  async lagAndAcknowledge(): Promise<void> {
    const run = await this.firstRun();
    const connector = run.session.connector;
    const problems: string[] = [...run.problems];
    if (run.lag !== null) {
      for (const [when, info] of [
        ['while following', run.lag.running],
        ['after start resolved', run.lag.stopped],
      ] as const) {
        if (!Array.isArray(info?.tables)) {
          problems.push(`lag() ${when} returned ${safeJson(info)}, not { tables: [...] }`);
          continue;
        }
        for (const t of run.tables) {
          const entry = info.tables.find((x) => x.table === t.name);
          if (entry === undefined) {
            problems.push(`lag() ${when} has no entry for table "${t.name}"`);
            continue;
          }
          for (const k of ['behindOps', 'behindMillis'] as const) {
            const v = entry[k];
            if (v !== null && !(typeof v === 'number' && v >= 0))
              problems.push(
                `lag() ${when}, "${t.name}": ${k} is ${String(v)}, expected null or a number >= 0`,
              );
          }
          if (entry.position !== null && typeof entry.position !== 'string')
            problems.push(
              `lag() ${when}, "${t.name}": position is ${typeof entry.position}, expected a string or null`,
            );
          if (when === 'after start resolved') {
            const last = lastBatchPosition(run.session.logs.get(t.name)!);
            if (
              last !== null &&
              (typeof entry.position !== 'string' || connector.comparePositions(entry.position, last) !== 0)
            )
              problems.push(
                `lag() ${when}, "${t.name}": position is ${JSON.stringify(entry.position)}, but the last batch written was at ${JSON.stringify(last)}`,
              );
          }
        }
      }
    }
    if (problems.length > 0) fail(problems.join('\n'));
  }

  // -- the first run, shared by the checks that compare against it --

  private firstRun(): Promise<FirstRun> {
    this.first ??= this.doFirstRun();
    return this.first;
  }

  private async doFirstRun(): Promise<FirstRun> {
    const connector = await this.connector();
    const problems: string[] = [];
    try {
      const s = await this.session(connector);
      await s.untilSnapshots();
      if (this.liveOps > 0) {
        // Two rounds of changes, so that a tailing connector writes at least two live batches.
        const firstHalf = Math.ceil(this.liveOps / 2);
        await this.o.makeChanges?.(firstHalf);
        await s.until(() => s.liveOps() >= firstHalf, `${firstHalf} ops after the snapshot`);
        if (this.liveOps > firstHalf) {
          await this.o.makeChanges?.(this.liveOps - firstHalf);
          await s.until(() => s.liveOps() >= this.liveOps, `${this.liveOps} ops after the snapshot`);
        }
      }
      let lagWhileRunning: LagInfo | null = null;
      if (connector.lag !== undefined) {
        try {
          lagWhileRunning = await connector.lag();
        } catch (e) {
          problems.push(`lag() rejected while following: ${describeError(e)}`);
        }
      }
      if (connector.acknowledge !== undefined) {
        for (const [t, log] of s.logs) {
          if (log.snapshotDone === null) continue;
          try {
            await connector.acknowledge(t, log.snapshotDone);
          } catch (e) {
            problems.push(
              `acknowledge("${t}", ${JSON.stringify(log.snapshotDone)}) rejected: ${describeError(e)}`,
            );
          }
        }
      }
      await s.stop();
      let lag: FirstRun['lag'] = null;
      if (connector.lag !== undefined && lagWhileRunning !== null) {
        try {
          lag = { running: lagWhileRunning, stopped: await connector.lag() };
        } catch (e) {
          problems.push(`lag() rejected after start resolved: ${describeError(e)}`);
        }
      }
      return { session: s, tables: await this.tablesOf(connector), lag, problems };
    } finally {
      await connector.close();
    }
  }

  /**
   * Runs a second connector from a position the first run wrote, per
   * table (picked by `pick` as an index into the table's events), and
   * checks it writes exactly the ops that followed that position.
   */
  private async resume(
    what: string,
    pick: (log: TableLog) => number | null,
    mayRefuse = false,
  ): Promise<void> {
    const run = await this.firstRun();
    run.session.assertClean();
    const cmp = (a: SourcePosition, b: SourcePosition) => run.session.connector.comparePositions(a, b);
    const plans: { table: TableInfo; from: SourcePosition; expected: Operation[]; snapshotting: boolean }[] =
      [];
    for (const t of run.tables) {
      const log = run.session.logs.get(t.name)!;
      const i = pick(log);
      if (i === null) continue;
      const from = log.events[i]!.position;
      const expected = log.events.slice(i + 1).flatMap((e) => (e.kind === 'batch' ? [...e.ops] : []));
      const snapshotting = log.snapshotDone !== null && cmp(from, log.snapshotDone) < 0;
      plans.push({ table: t, from, expected, snapshotting });
    }
    if (plans.length === 0)
      fail(
        `no table has ${what} to resume from in the first run; give a table more rows than one batch holds, or more liveOps`,
      );
    const connector = await this.connector();
    try {
      const s = new Session(
        connector,
        plans.map((p) => ({ name: p.table.name, resumeFrom: p.from })),
        {
          schemas: new Map(plans.map((p) => [p.table.name, p.table.schema])),
          timeoutMs: this.timeoutMs,
          snapshotting: new Set(plans.filter((p) => p.snapshotting).map((p) => p.table.name)),
        },
      );
      const wanted = s.until(
        () =>
          plans.every(
            (p) =>
              s.ops(p.table.name).length >= p.expected.length &&
              (!p.snapshotting || s.logs.get(p.table.name)!.snapshotDone !== null),
          ),
        `the ${plans.map((p) => `${p.expected.length} ops of "${p.table.name}" after ${JSON.stringify(p.from)}`).join(', ')}`,
      );
      if (mayRefuse) {
        const refused = await wanted.then(
          () => false,
          (e: unknown) => {
            if (s.outcome === null || s.outcome.ok) throw e;
            return true;
          },
        );
        if (refused) {
          if (s.outcome?.ok === false)
            expectDozerError(s.outcome.error, false, `start() resuming inside a snapshot`);
          const claims = plans.filter((p) => p.snapshotting && p.table.resumableSnapshot === true);
          if (claims.length > 0)
            fail(
              `${claims.length === 1 ? 'table' : 'tables'} ${claims.map((p) => `"${p.table.name}"`).join(', ')} ${claims.length === 1 ? 'declares' : 'declare'} resumableSnapshot, but start() refused to resume inside a snapshot`,
            );
          return;
        }
      } else await wanted;
      await s.stop();
      s.assertClean();
      const problems: string[] = [];
      for (const p of plans) {
        const got = s.ops(p.table.name);
        const name = p.table.name;
        const at = `resuming "${name}" from ${JSON.stringify(p.from)}`;
        const d = firstDifference(p.table.schema, p.expected, got);
        if (d !== null)
          problems.push(
            `${at}: op ${d} differs from the first run:\n    first run: ${renderOp(p.table.schema, p.expected[d])}\n    resumed:   ${renderOp(p.table.schema, got[d])}`,
          );
        // Without makeChanges the source may change on its own, so only then is more a repetition.
        else if (this.o.makeChanges !== undefined && got.length > p.expected.length)
          problems.push(
            `${at}: wrote ${got.length - p.expected.length} ops more than followed that position in the first run, starting with ${renderOp(p.table.schema, got[p.expected.length])}`,
          );
        if (p.snapshotting) {
          const first = run.session.logs.get(name)!.snapshotDone!;
          const again = s.logs.get(name)!.snapshotDone!;
          if (cmp(first, again) !== 0)
            problems.push(
              `${at}: the resumed snapshot ended at ${JSON.stringify(again)}, the first at ${JSON.stringify(first)}`,
            );
        }
      }
      if (problems.length > 0) fail(problems.join('\n'));
    } finally {
      await connector.close();
    }
  }

  // -- helpers --

  private async config(): Promise<C> {
    const c = this.o.config;
    return typeof c === 'function' ? await (c as () => C | Promise<C>)() : c;
  }

  private validate(raw: unknown): ConfigIssue[] {
    let issues: unknown;
    try {
      issues = this.o.factory.validateConfig(raw);
    } catch (e) {
      throw failure(
        `validateConfig(${safeJson(raw)}) threw instead of returning issues: ${describeError(e)}`,
      );
    }
    if (!Array.isArray(issues)) fail(`validateConfig returned ${typeof issues}, not an array of issues`);
    for (const i of issues as ConfigIssue[]) {
      const ok =
        i !== null &&
        typeof i === 'object' &&
        Array.isArray(i.path) &&
        i.path.every((p) => typeof p === 'string' || typeof p === 'number') &&
        typeof i.message === 'string' &&
        i.message !== '';
      if (!ok)
        fail(
          `validateConfig returned a malformed issue ${safeJson(i)}; expected { path: (string | number)[], message }`,
        );
    }
    return issues as ConfigIssue[];
  }

  private async connector(): Promise<Connector> {
    const config = await this.config();
    const issues = this.validate(config);
    if (issues.length > 0)
      fail(`validateConfig rejected the valid config:\n  ${issues.map(formatConfigIssue).join('\n  ')}`);
    return this.o.factory.create(config, this.context);
  }

  private async tablesOf(connector: Connector): Promise<TableInfo[]> {
    const all = await connector.listTables().catch((e: unknown) => {
      throw failure(`listTables() rejected: ${describeError(e)}`);
    });
    if (this.o.tables === undefined) {
      if (all.length === 0) fail('listTables() returned no tables; configure a source that has one');
      return all;
    }
    return this.o.tables.map((name) => {
      const t = all.find((x) => x.name === name);
      if (t === undefined)
        fail(
          `table "${name}" (from options.tables) is not listed; listed: ${all.map((x) => x.name).join(', ')}`,
        );
      return t;
    });
  }

  private async session(
    connector: Connector,
    extra: Pick<SessionOptions, 'onWrite' | 'abortBeforeStart'> = {},
  ): Promise<Session> {
    const tables = await this.tablesOf(connector);
    const requests: TableRequest[] = tables.map((t) => ({ name: t.name, resumeFrom: null }));
    return new Session(connector, requests, {
      schemas: new Map(tables.map((t) => [t.name, t.schema])),
      timeoutMs: this.timeoutMs,
      ...(extra.onWrite === undefined ? {} : { onWrite: extra.onWrite }),
      ...(extra.abortBeforeStart === undefined ? {} : { abortBeforeStart: extra.abortBeforeStart }),
    });
  }
}

function fail(message: string): never {
  throw failure(message);
}

function failure(message: string): AssertionError {
  return new AssertionError({ message });
}

function expectDozerError(e: unknown, retryable: boolean, what: string): void {
  if (!isDozerError(e))
    fail(
      `${what} failed with ${describeError(e)}; a connector must fail with a ConnectorError (a DozerError) that says whether a retry may help`,
    );
  if (typeof e.retryable !== 'boolean')
    fail(`${what}: the error's retryable is ${String(e.retryable)}, not a boolean`);
  if (e.retryable !== retryable)
    fail(`${what} failed with retryable: ${e.retryable}, expected ${retryable}: ${describeError(e)}`);
}

function samePath(a: readonly (string | number)[], b: readonly (string | number)[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

function schemaProblems(t: TableInfo): string[] {
  const s = t.schema as Schema | undefined;
  if (s === undefined || s === null || !Array.isArray(s.fields) || !Array.isArray(s.primaryKey))
    return ['schema is not { fields: [], primaryKey: [] }'];
  const out: string[] = [];
  for (const f of s.fields) {
    if (typeof f.name !== 'string' || f.name === '')
      out.push(`a field has the name ${JSON.stringify(f.name)}`);
    if (typeof f.type !== 'string' || !isFieldType(f.type))
      out.push(
        `field "${f.name}" has the type ${JSON.stringify(f.type)}, which is not a @dozer/core FieldType`,
      );
    if (typeof f.nullable !== 'boolean') out.push(`field "${f.name}": nullable is not a boolean`);
    for (const k of ['precision', 'scale'] as const) {
      const v = f[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 0))
        out.push(`field "${f.name}": ${k} is ${String(v)}, expected a non-negative integer`);
    }
  }
  const pk = s.primaryKey;
  if (pk.some((i) => !Number.isInteger(i) || i < 0 || i >= s.fields.length))
    out.push(`primaryKey [${pk.join(', ')}] has a position outside 0..${s.fields.length - 1}`);
  else if (new Set(pk).size !== pk.length) out.push(`primaryKey [${pk.join(', ')}] repeats a position`);
  else {
    try {
      makeSchema(
        s.fields,
        pk.map((i) => s.fields[i]!.name),
      );
    } catch (e) {
      out.push(`makeSchema rejects it: ${(e as Error).message}`);
    }
  }
  return out;
}

function snapshotOpsOf(log: TableLog): Operation[] {
  const cut = log.events.findIndex((e) => e.kind === 'snapshotDone');
  return log.events.slice(0, Math.max(cut, 0)).flatMap((e) => (e.kind === 'batch' ? [...e.ops] : []));
}

function lastBatchPosition(log: TableLog): SourcePosition | null {
  for (let i = log.events.length - 1; i >= 0; i--) {
    const e = log.events[i]!;
    if (e.kind === 'batch') return e.position;
  }
  return null;
}

/** comparePositions must be a consistent order on what the connector wrote. */
function positionOrderProblems(connector: Connector, table: string, log: TableLog): string[] {
  const out: string[] = [];
  const positions = log.events.map((e) => e.position);
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    const self = connector.comparePositions(p, p);
    if (self !== 0)
      out.push(`"${table}": comparePositions(${JSON.stringify(p)}, itself) is ${self}, expected 0`);
    if (i > 0) {
      const q = positions[i - 1]!;
      const back = connector.comparePositions(p, q);
      if (!(back > 0 || (back === 0 && log.events[i]!.kind === 'snapshotDone')))
        out.push(
          `"${table}": comparePositions(${JSON.stringify(p)}, ${JSON.stringify(q)}) is ${back}, but the first came later`,
        );
    }
  }
  return out;
}

/**
 * Replays the ops by primary key: an insert must add a new key, an update
 * or delete must name a key that is there (and, with full old rows, carry
 * the row as it was).
 */
function stateProblems(t: TableInfo, ops: readonly Operation[], oldRows: 'full' | 'key'): string[] {
  const { schema } = t;
  if (schema.primaryKey.length === 0) return [];
  const keyOf = (row: Row) =>
    JSON.stringify(schema.primaryKey.map((i) => valueToJson(schema.fields[i]!, row[i] ?? null)));
  const rows = new Map<string, Row>();
  const out: string[] = [];
  ops.forEach((op, n) => {
    const at = `"${t.name}" op ${n} (${op.kind} key ${keyOf(op.kind === 'insert' ? op.new : op.old)})`;
    if (op.kind === 'insert') {
      const k = keyOf(op.new);
      if (rows.has(k)) out.push(`${at}: inserts a key that is already there`);
      rows.set(k, op.new);
      return;
    }
    const k = keyOf(op.old);
    const current = rows.get(k);
    if (current === undefined) out.push(`${at}: the key is not there`);
    else if (oldRows === 'full' && !rowsEqual(schema, current, op.old))
      out.push(
        `${at}: the old row ${renderRow(schema, op.old)} is not the row as it was, ${renderRow(schema, current)}`,
      );
    rows.delete(k);
    if (op.kind === 'update') {
      const k2 = keyOf(op.new);
      if (k2 !== k && rows.has(k2)) out.push(`${at}: updates the key to ${k2}, which is already there`);
      rows.set(k2, op.new);
    }
  });
  return out;
}

function opsEqual(schema: Schema, a: Operation, b: Operation): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'insert') return rowsEqual(schema, a.new, (b as typeof a).new);
  if (a.kind === 'delete') return rowsEqual(schema, a.old, (b as typeof a).old);
  const u = b as typeof a;
  return rowsEqual(schema, a.old, u.old) && rowsEqual(schema, a.new, u.new);
}

function firstDifference(
  schema: Schema,
  expected: readonly Operation[],
  got: readonly Operation[],
): number | null {
  for (let i = 0; i < expected.length; i++) {
    const g = got[i];
    if (g === undefined || !opsEqual(schema, expected[i]!, g)) return i;
  }
  return null;
}

function renderRow(schema: Schema, row: Row): string {
  try {
    return JSON.stringify(rowToObject(schema, row));
  } catch {
    return safeJson(row);
  }
}

function renderOp(schema: Schema, op: Operation | undefined): string {
  if (op === undefined) return '(nothing)';
  if (op.kind === 'insert') return `insert ${renderRow(schema, op.new)}`;
  if (op.kind === 'delete') return `delete ${renderRow(schema, op.old)}`;
  return `update ${renderRow(schema, op.old)} -> ${renderRow(schema, op.new)}`;
}

/**
 * Handles that mean a connection, a lookup, a watcher or a process. File
 * system requests are left out: test runners and loaders read files
 * themselves at any moment, which would make the check flaky.
 */
const IO_RESOURCE = /TCP|Pipe|UDP|ConnectWrap|GetAddrInfo|GetNameInfo|FSEvent|StatWatcher|Process|TLS|HTTP/;

function ioResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) {
    if (IO_RESOURCE.test(r)) counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return counts;
}

function newResources(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, n] of after) {
    const extra = n - (before.get(k) ?? 0);
    if (extra > 0) out.push(extra === 1 ? k : `${extra} × ${k}`);
  }
  return out;
}
