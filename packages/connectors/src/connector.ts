import path from 'node:path';
import { ConfigError, type OpBatch, type Schema, type SourcePosition } from '@dozer/core';

/**
 * One problem in a connector's config. `path` is relative to the connector's
 * config object (`['tables', 0, 'rows']`), `message` says what was expected
 * and what was found.
 */
export interface ConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Where a connector writes its log lines; the engine supplies one per connector. */
export interface ConnectorLogger {
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void;
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** What the engine hands a connector when it creates it. */
export interface ConnectorContext {
  /** The connection's name in the config file, for messages. */
  readonly name: string;
  readonly logger: ConnectorLogger;
  /**
   * The directory that relative paths in the config are resolved against:
   * the config file's (as for everything else in dozer.yaml). Absent: the
   * working directory. Use {@link resolveConfigPath}.
   */
  readonly baseDir?: string;
}

/** A path from a connector's config, resolved against the context's {@link ConnectorContext.baseDir}. */
export function resolveConfigPath(context: ConnectorContext, p: string): string {
  return path.resolve(context.baseDir ?? '.', p);
}

/**
 * The entry point of a connector kind: built-ins register one, and a plugin
 * package exports one as `connector` (or as its default export).
 *
 * The engine calls `validateConfig` on the raw config first and only calls
 * `create` when it returned no issues, passing the same object.
 */
export interface ConnectorFactory<C = unknown> {
  /** The name users write as the connection's `kind` (`generator`, `postgres`). */
  readonly kind: string;
  /** Every problem in `raw`, or an empty array when `raw` is a valid `C`. */
  validateConfig(raw: unknown): ConfigIssue[];
  /** A connector for a config that passed `validateConfig`. Opens nothing yet. */
  create(config: C, context: ConnectorContext): Connector;
}

/** A table the source offers, with the schema its rows will have. */
export interface TableInfo {
  readonly name: string;
  readonly schema: Schema;
  /**
   * True when the connector guarantees, for a table with a primary key,
   * that its changes are exact: an update or delete carries the whole old
   * row as it was, and an insert never repeats a key that is present (also
   * after resuming from a position). The engine then takes the changes as
   * they are. Otherwise (absent or false) it keeps the current row of every
   * key and rewrites the changes against it, which costs a copy of the
   * table in memory and in checkpoints.
   */
  readonly exactChanges?: boolean;
  /**
   * True when a table's snapshot can be resumed part-way: `start` with the
   * position of any batch written during the snapshot continues it from
   * there, losing and repeating nothing (the engine takes a table resumed
   * from a position as past its snapshot, so calling `snapshotDone` at its
   * end is optional). The engine can then checkpoint during a long
   * snapshot, and a restart does not read the table again from the start.
   * Otherwise (absent or false) checkpoints wait until every snapshot is
   * done.
   */
  readonly resumableSnapshot?: boolean;
}

/** One table to ingest. */
export interface TableRequest {
  readonly name: string;
  /**
   * The columns to ingest, in this order; all columns when absent. The
   * batches of this table then carry rows of the projected schema (see
   * {@link projectTable}).
   */
  readonly columns?: readonly string[];
  /**
   * The position of the last batch of this table that the engine durably
   * consumed, or `null` to start from scratch with a snapshot. The connector
   * continues with the first change after it: nothing lost, nothing repeated.
   */
  readonly resumeFrom: SourcePosition | null;
}

/** Where a connector delivers changes. Awaiting each call is the backpressure. */
export interface IngestSink {
  /**
   * Delivers the next batch of a table. `batch.position` is the source
   * position just after its last op, so that resuming from it continues
   * with the next op. The connector awaits the promise before writing the
   * next batch of the same table.
   */
  write(batch: OpBatch): Promise<void>;
  /**
   * The snapshot of `table` is complete; `position` is where it ends and
   * where following changes begins. Not called when resuming past the
   * snapshot.
   */
  snapshotDone(table: string, position: SourcePosition): Promise<void>;
}

/** What `start` needs. */
export interface StartRequest {
  readonly tables: readonly TableRequest[];
  readonly sink: IngestSink;
  /** Aborting stops the connector promptly; `start` then resolves. */
  readonly signal: AbortSignal;
}

/** How far one table's ingestion is behind its source. */
export interface TableLag {
  readonly table: string;
  /** The position of the last batch written to the sink, `null` before the first. */
  readonly position: SourcePosition | null;
  /** Changes the source has that were not yet written, when the connector can tell. */
  readonly behindOps: number | null;
  /** Age of the oldest change not yet written, when the connector can tell. */
  readonly behindMillis: number | null;
}

/** Lag of every table being ingested. */
export interface LagInfo {
  readonly tables: readonly TableLag[];
}

/**
 * A live connection to one source. The engine calls `listTables`, then
 * `start` once; `start` snapshots the tables that have no `resumeFrom`,
 * then follows changes until the source ends or `signal` is aborted.
 * Failures reject `start` with a {@link ConnectorError} saying whether a
 * retry may help.
 */
export interface Connector {
  /** The tables the source offers and their schemas. */
  listTables(): Promise<TableInfo[]>;
  /**
   * Orders two positions this connector produced: negative when `a` is
   * before `b`, 0 when equal, positive after. Positions are opaque strings
   * to the engine; only the connector knows how to read them.
   */
  comparePositions(a: SourcePosition, b: SourcePosition): number;
  /** Snapshots and follows the requested tables; resolves when the source ends or is aborted. */
  start(request: StartRequest): Promise<void>;
  /**
   * Everything of `table` up to `position` is durably consumed (checkpointed).
   * CDC connectors confirm it to the source here (a Postgres slot's LSN) so
   * the source can drop what comes before.
   */
  acknowledge?(table: string, position: SourcePosition): Promise<void>;
  /** How far behind the source each table is. */
  lag?(): Promise<LagInfo>;
  /** Releases connections and timers; safe to call more than once. */
  close(): Promise<void>;
}

/** A logger that drops everything, for tests and embedding. */
export const silentLogger: ConnectorLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** `tables[0].rows` for `['tables', 0, 'rows']`; `(root)` for an empty path. */
export function formatIssuePath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** `tables[0].rows: expected a non-negative integer, got -5`. */
export function formatConfigIssue(issue: ConfigIssue): string {
  return `${formatIssuePath(issue.path)}: ${issue.message}`;
}

/**
 * A {@link ConnectorFactory} whose `create` checks the config with
 * `validateConfig` first and refuses an invalid one with a `ConfigError`
 * that names the connection, the kind and every issue:
 *
 *     connection "orders" (postgres): invalid config:
 *       port: expected an integer from 1 to 65535, got 0
 *
 * `open` then gets a config that passed validation.
 */
export function defineConnector<C>(spec: {
  readonly kind: string;
  validateConfig(raw: unknown): ConfigIssue[];
  open(config: C, context: ConnectorContext): Connector;
}): ConnectorFactory<C> {
  return {
    kind: spec.kind,
    validateConfig: (raw) => spec.validateConfig(raw),
    create(config, context) {
      const issues = spec.validateConfig(config);
      if (issues.length > 0) {
        throw new ConfigError(
          `connection "${context.name}" (${spec.kind}): invalid config:\n${issues.map((i) => `  ${formatConfigIssue(i)}`).join('\n')}`,
        );
      }
      return spec.open(config, context);
    },
  };
}
