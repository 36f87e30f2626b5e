import type { Readiness } from '@dozer/api';
import {
  type Connector,
  type ConnectorRegistry,
  formatIssuePath,
  projectTable,
  type TableInfo,
} from '@dozer/connectors';
import { ConfigError, makeSchema, type Schema, type SourcePosition, Timestamp } from '@dozer/core';
import type { LogQueue } from '@dozer/queue';
import { compileSql, type SqlPipeline } from '@dozer/sql';
import type { Store } from '@dozer/store';
import type { DozerConfig } from './config/index.js';
import type { Logger } from './logger.js';
import { behindText, type SourceStats, sourceMetrics, sourcePhase, sourcesHealth } from './progress.js';
import {
  checkpointMetrics,
  discardCheckpoints,
  findRecovery,
  openCheckpointStore,
  Participant,
  pipelineFingerprint,
  type Recovery,
  type RunningCheckpoints,
  startCheckpoints,
} from './roles/checkpointing.js';
import { connectorOnThread } from './roles/connector-thread.js';
import { AckPolicy, type RunningIngestor, startIngestor } from './roles/ingest.js';
import { openFreshQueue, openObjectStore, QUEUE_PREFIX } from './roles/object-store.js';
import { type RunningProcessor, startProcessor } from './roles/process.js';
import { openServeStore, type RunningServe, startServer } from './roles/serve.js';
import { createSqlTransform, stateFormOf } from './roles/transform.js';
import { localUpstream } from './roles/upstream.js';
import type { Watermarks } from './roles/watermarks.js';

export { secondaryIndexesOf } from './roles/endpoint-indexes.js';

/** Everything `dozer build` checks, resolved: source schemas, the compiled SQL, endpoint schemas. */
export interface PipelinePlan {
  readonly config: DozerConfig;
  /** One per connection that a source uses. */
  readonly connectors: ReadonlyMap<string, Connector>;
  readonly sourceSchemas: ReadonlyMap<string, Schema>;
  readonly sql: SqlPipeline | undefined;
  /** Schema of each endpoint: its table's, keyed by `index.primary_key` when given. */
  readonly endpointSchemas: ReadonlyMap<string, Schema>;
  /** Sources whose connector guarantees exact changes (`TableInfo.exactChanges`): the SQL takes them as they are. */
  readonly exactSources: ReadonlySet<string>;
  /** Sources whose snapshot can be resumed part-way (`TableInfo.resumableSnapshot`): checkpoints need not wait for it. */
  readonly resumableSnapshots: ReadonlySet<string>;
}

/** Options of {@link planPipeline}. */
export interface PlanOptions {
  /**
   * Run each connector on a worker thread of its own (`connectorOnThread`)
   * when its kind can be loaded there (a built-in, or a plugin loaded by
   * name; kinds registered by hand stay on this thread) and its connection
   * does not say `thread: false`. For pipelines that start (`dozer run`,
   * `dozer ingest`); default false.
   */
  readonly connectorThreads?: boolean;
}

/**
 * Resolves a config against its sources: creates the connectors, reads their
 * table schemas, compiles the SQL and checks that every endpoint's table
 * exists. Every problem is a ConfigError or SqlError that says where.
 */
export async function planPipeline(
  config: DozerConfig,
  registry: ConnectorRegistry,
  log: Logger,
  options: PlanOptions = {},
): Promise<PipelinePlan> {
  const connectors = new Map<string, Connector>();
  const tablesByConnection = new Map<string, TableInfo[]>();
  try {
    for (const conn of config.connections) {
      if (!config.sources.some((s) => s.connection === conn.name)) continue;
      const factory = await registry.resolve(conn.kind);
      // Built-in kinds were checked with line numbers by loadConfig; plugins are checked here.
      const issues = factory.validateConfig(conn.config);
      if (issues.length > 0) {
        const at = `connections[${config.connections.indexOf(conn)}].config`;
        throw new ConfigError(
          `connection "${conn.name}" (${conn.kind}) has a bad config:\n${issues.map((i) => `  ${at}${formatIssuePath(i.path) === '(root)' ? '' : `.${formatIssuePath(i.path)}`}: ${i.message}`).join('\n')}`,
        );
      }
      const logger = connectorLogger(log, conn.name);
      const local = factory.create(conn.config, { name: conn.name, logger, baseDir: config.base_dir });
      const origin =
        options.connectorThreads === true && conn.thread ? registry.origin(conn.kind) : undefined;
      const connector =
        origin === undefined
          ? local
          : connectorOnThread({
              origin,
              config: conn.config,
              name: conn.name,
              baseDir: config.base_dir,
              logger,
              local,
            });
      connectors.set(conn.name, connector);
      tablesByConnection.set(conn.name, await connector.listTables());
    }
    const sourceSchemas = new Map<string, Schema>();
    const exactSources = new Set<string>();
    const resumableSnapshots = new Set<string>();
    for (const [i, source] of config.sources.entries()) {
      const tables = tablesByConnection.get(source.connection) ?? [];
      const table = tables.find((t) => t.name === source.table_name);
      if (!table) {
        throw new ConfigError(
          `sources[${i}] (${source.name}): connection "${source.connection}" has no table "${source.table_name}" (tables: ${tables.map((t) => t.name).join(', ') || 'none'})`,
        );
      }
      sourceSchemas.set(source.name, projectTable(table, source.columns).schema);
      if (table.exactChanges === true) exactSources.add(source.name);
      if (table.resumableSnapshot === true) resumableSnapshots.add(source.name);
    }
    const { sql, endpointSchemas } = planTransforms(config, sourceSchemas);
    return { config, connectors, sourceSchemas, sql, endpointSchemas, exactSources, resumableSnapshots };
  } catch (e) {
    await Promise.allSettled([...connectors.values()].map((c) => c.close()));
    throw e;
  }
}

/**
 * Compiles the SQL against the source schemas and resolves each endpoint's
 * schema (its table's, keyed by `index.primary_key` when given). Used by
 * `planPipeline`, and by `dozer process`, which learns the source schemas
 * from the ingestor instead of the connectors.
 */
export function planTransforms(
  config: DozerConfig,
  sourceSchemas: ReadonlyMap<string, Schema>,
): { sql: SqlPipeline | undefined; endpointSchemas: Map<string, Schema> } {
  const sql = config.sql?.trim() ? compileSql(config.sql, sourceSchemas) : undefined;
  const endpointSchemas = new Map<string, Schema>();
  for (const [i, ep] of config.endpoints.entries()) {
    const schema = sql?.outputs.get(ep.table_name) ?? sourceSchemas.get(ep.table_name);
    if (!schema) {
      const known = [...sourceSchemas.keys(), ...(sql?.outputs.keys() ?? [])];
      throw new ConfigError(
        `endpoints[${i}] (${ep.name}): table_name "${ep.table_name}" is neither a source nor a table the SQL writes with INTO (known: ${known.join(', ') || 'none'})`,
      );
    }
    let keyed = schema;
    if (ep.index.primary_key) {
      const missing = ep.index.primary_key.filter((k) => !schema.fields.some((f) => f.name === k));
      if (missing.length > 0) {
        throw new ConfigError(
          `endpoints[${i}] (${ep.name}): index.primary_key names ${missing.map((m) => `"${m}"`).join(', ')}, not a field of "${ep.table_name}" (fields: ${schema.fields.map((f) => f.name).join(', ')})`,
        );
      }
      keyed = makeSchema(schema.fields, ep.index.primary_key);
    }
    endpointSchemas.set(ep.name, keyed);
  }
  return { sql, endpointSchemas };
}

/**
 * Endpoint schemas from the schemas of their tables (an SQL output or a
 * source), keyed by `index.primary_key` when given: what `dozer serve`
 * builds from the processor's logs.
 */
export function endpointSchemasOf(
  config: DozerConfig,
  tableSchemas: ReadonlyMap<string, Schema>,
): Map<string, Schema> {
  return planTransforms({ ...config, sql: '' }, tableSchemas).endpointSchemas;
}

/** A running pipeline: the three roles in one process, served over REST and gRPC. */
export interface RunningPipeline {
  readonly url: string;
  /** `host:port` of the gRPC API. */
  readonly grpcAddress: string;
  readonly store: Store;
  readonly sources: readonly SourceStats[];
  endpointRows(): Array<[string, number]>;
  /**
   * Settles when every connector has finished and everything they produced
   * is in the store; rejects on the first failure of any role.
   */
  readonly ingestion: Promise<void>;
  /** Stops ingesting, waits for in-flight writes, closes the server, the store and the queues. */
  stop(): Promise<void>;
}

/** Reader names of the in-process roles on the logs they read (retention waits for them). */
const RUN_READERS = { processor: 'processor', api: 'api' } as const;

/** How often `dozer run` commits how far its roles read, so retention can drop consumed segments. */
const RUN_COMMIT_INTERVAL_MS = 1000;

/** How long a stopping `dozer run` waits for its final checkpoint. */
const FINAL_CHECKPOINT_MS = 10_000;

/**
 * Starts a planned pipeline as `dozer run` does: the ingestor, the processor
 * and the API in one process, wired through their log queues in memory
 * (`Log.read`, no network), offloading to `nodes.object_store`.
 *
 * With checkpoints (`checkpoint.interval_ms` > 0, the default) it resumes
 * from the newest complete checkpoint this pipeline wrote: the store rolls
 * back to the checkpoint's epoch, the SQL state is restored and the sources
 * continue from their recorded positions, so nothing is lost or repeated;
 * sources are acknowledged only once a checkpoint covers their positions.
 * Without a usable checkpoint (or with checkpoints off) it rebuilds: the
 * store is reset and every source read from its beginning; then a position
 * is acknowledged once the store has committed every row derived from it.
 * The queues start empty either way (a checkpoint's barrier is the start
 * of what they must carry).
 */
export async function startPipeline(
  plan: PipelinePlan,
  log: Logger,
  options: {
    /** Rebuild from the sources even when a checkpoint could be resumed from (a source cannot continue). */
    readonly rebuild?: boolean;
  } = {},
): Promise<RunningPipeline> {
  const { config } = plan;
  const objects = openObjectStore(config.nodes.object_store);
  const onError = queueErrorReporter(log);
  const queues: LogQueue[] = [];
  let store: Store | undefined;
  let ingestor: RunningIngestor | undefined;
  let processor: RunningProcessor | undefined;
  let serve: RunningServe | undefined;
  let checkpointing: RunningCheckpoints | undefined;
  const stopAll = async () => {
    await checkpointing?.close();
    // The ingestor closes the connectors; before it exists they are still the plan's to close.
    if (ingestor) await ingestor.stop();
    else await Promise.allSettled([...plan.connectors.values()].map((c) => c.close()));
    await processor?.stop();
    // The API role closes the store; before it exists the store is ours to close.
    if (serve) await serve.stop();
    else await store?.close();
    await Promise.allSettled(queues.map((q) => q.close({ flush: false })));
    objects.close();
  };
  try {
    store = openServeStore(config);
    const checkpointsOn = config.checkpoint.interval_ms > 0;
    const checkpoints = openCheckpointStore(objects.store, log);
    const fingerprint = pipelineFingerprint(config, stateFormOf(config.threads), plan.exactSources);
    const recovery: Recovery | undefined =
      checkpointsOn && options.rebuild !== true
        ? await findRecovery(checkpoints, store, fingerprint, log)
        : undefined;
    if (recovery) {
      await store.rollbackTo(recovery.checkpoint.manifest.storeEpoch!);
      log.info(
        `resuming from checkpoint ${recovery.epoch} of ${recovery.checkpoint.manifest.createdAt.toISOString()}: the store and the SQL state are as they were then, and ${recovery.positions.size} source(s) continue from their positions`,
      );
    } else {
      // Checkpoints of an earlier build no longer match the store, which is rebuilt.
      await discardCheckpoints(objects.store, store);
    }
    const sql =
      recovery && config.sql?.trim()
        ? compileSql(config.sql, plan.sourceSchemas, { now: recovery.now })
        : plan.sql;

    const ingestQueue = await openFreshQueue(objects, QUEUE_PREFIX.ingest, config.nodes, onError);
    queues.push(ingestQueue);
    const processQueue = await openFreshQueue(objects, QUEUE_PREFIX.process, config.nodes, onError);
    queues.push(processQueue);

    // With checkpoints, positions are acknowledged when a checkpoint covering them completes.
    const acks = checkpointsOn
      ? undefined
      : new AckTracker((source, position) => ingestor?.acknowledge(source, position));
    if (checkpointsOn) {
      const listed = await checkpoints.list();
      const after = [recovery?.epoch ?? 0n, store.epoch() ?? 0n, ...listed].reduce((a, b) => (a > b ? a : b));
      checkpointing = startCheckpoints({
        checkpoints,
        store,
        config,
        fingerprint,
        now: sql?.now ?? Timestamp.now(),
        after,
        barrier: (epoch) => ingestor?.barrier(epoch),
        changed: () => ingestor?.changedSinceBarrier ?? false,
        ready: () => ingestor?.resumable ?? false,
        acknowledge: (source, position) => ingestor?.acknowledge(source, position),
        log,
      });
    }
    const coordinator = checkpointing?.coordinator;
    /** A participant's acknowledgement; one that comes too late for its epoch is dropped. */
    const settle = (what: () => unknown) => {
      try {
        what();
      } catch (e) {
        log.warn(`checkpoint: ${(e as Error).message}`);
      }
    };
    // The SQL state is restored before the connectors start, so that a resuming source (which
    // may replay its own state, like the generator) does not compete with it for the thread.
    const transform = sql
      ? await createSqlTransform(sql, {
          threads: config.threads,
          sqlText: config.sql!,
          sources: plan.sourceSchemas,
          exactSources: plan.exactSources,
          ...(recovery ? { restore: recovery.checkpoint } : {}),
        })
      : undefined;
    if (transform) log.info(`SQL operators run on ${transform.where}`);
    try {
      ingestor = await startIngestor({
        config,
        connectors: plan.connectors,
        sourceSchemas: plan.sourceSchemas,
        exactSources: plan.exactSources,
        resumableSnapshots: plan.resumableSnapshots,
        queue: ingestQueue,
        log,
        ack: AckPolicy.caller,
        readers: [RUN_READERS.processor],
        ...(recovery ? { resumeFrom: recovery.positions } : {}),
        // Started once the API serves: a resuming connector may replay its own state first.
        deferStart: true,
      });
      processor = await startProcessor({
        config,
        sourceSchemas: plan.sourceSchemas,
        transform,
        upstream: localUpstream(ingestQueue, 'the ingestor'),
        queue: processQueue,
        log,
        readers: [RUN_READERS.api],
        handOverOutputs: true,
        ...(acks
          ? { onProcessed: (source, position, outputNext) => acks.processed(source, position, outputNext) }
          : {}),
        ...(coordinator
          ? {
              checkpoints: {
                store: checkpoints,
                onState: (epoch, operators) =>
                  settle(() => coordinator.acknowledge(epoch, Participant.processor, { operators })),
                onStateFailed: (epoch, error) =>
                  settle(() => coordinator.fail(epoch, Participant.processor, error)),
              },
            }
          : {}),
      });
    } catch (e) {
      // A running processor closes its transform; one that failed to start leaves it to us.
      await transform?.close();
      throw e;
    }
    const sources = ingestor.sources;
    const servedStore = store;
    store = undefined; // the API role owns it from here
    serve = await startServer({
      config,
      endpointSchemas: plan.endpointSchemas,
      upstream: localUpstream(processQueue, 'the processor'),
      log,
      store: servedStore,
      keepRows: recovery !== undefined,
      health: () => ({
        sources: sourcesHealth(sources),
        ...(checkpointing ? { checkpoint: { ...checkpointing.health() } } : {}),
      }),
      // Asked from the server's start on: the API role is known once startServer returned.
      ready: runReadiness(() =>
        serve === undefined
          ? undefined
          : {
              sources,
              ingested: ingestor!.logs,
              processed: processor!.watermarks,
              produced: processor!.outputs,
              applied: serve.watermarks,
            },
      ),
      metrics: () => [
        ...sourceMetrics(sources),
        ...(checkpointing ? checkpointMetrics(checkpointing.health()) : []),
      ],
      ...(acks ? { onApplied: (table, next) => acks.applied(table, next) } : {}),
      ...(coordinator
        ? {
            checkpoints: {
              onStoreEpoch: (epoch) =>
                settle(() => coordinator.acknowledge(epoch, Participant.api, { storeEpoch: epoch })),
              onStoreEpochFailed: (epoch, error) =>
                settle(() => coordinator.fail(epoch, Participant.api, error)),
            },
          }
        : {}),
    });

    // Restarts rebuild everything, so what the roles consumed can go: commit it now and then.
    const committed = new Map<string, bigint>();
    let commits: Promise<void> = Promise.resolve();
    const commitTimer = setInterval(() => {
      commits = commits.then(async () => {
        const marks: Array<[LogQueue, string, string, bigint]> = [
          ...[...ingestor!.logs.keys()].map((name): [LogQueue, string, string, bigint] => [
            ingestQueue,
            name,
            RUN_READERS.processor,
            processor!.watermarks.get(name),
          ]),
          ...[...processor!.outputs.keys()].map((name): [LogQueue, string, string, bigint] => [
            processQueue,
            name,
            RUN_READERS.api,
            serve!.watermarks.get(name),
          ]),
        ];
        for (const [queue, name, reader, next] of marks) {
          const key = `${reader}/${name}`;
          if ((committed.get(key) ?? 0n) >= next) continue;
          try {
            await queue.log(name).commit(reader, next);
            committed.set(key, next);
          } catch (e) {
            log.warn(`log "${name}": committing ${reader} at ${next} failed: ${(e as Error).message}`);
          }
        }
      });
    }, RUN_COMMIT_INTERVAL_MS);
    commitTimer.unref();

    ingestor.begin();
    const failed = Promise.race([processor.failed, serve.failed]);
    const ingestion = (async () => {
      const p = processor!;
      const s = serve!;
      await Promise.race([ingestor!.finished, failed]);
      // Every connector finished: wait until what they appended went through the SQL, then into the store.
      const inputsDone = [...ingestor!.logs].map(([name, l]) => p.watermarks.reach(name, l.next));
      await Promise.race([Promise.all(inputsDone), failed]);
      const outputsDone = [...p.outputs].map(([name, l]) => s.watermarks.reach(name, l.next));
      await Promise.race([Promise.all(outputsDone), failed]);
    })();
    ingestion.catch(() => {});

    let stopped = false;
    return {
      url: serve.url,
      grpcAddress: serve.grpcAddress,
      store: serve.store,
      sources,
      endpointRows: () => serve!.endpointRows(),
      ingestion,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        clearInterval(commitTimer);
        await commits;
        if (checkpointing) {
          // The sources stop first; a last checkpoint then covers everything they delivered, so
          // the next start continues from here instead of from the previous checkpoint.
          await ingestor!.stop();
          const final = checkpointing.checkpointNow();
          const waited = await Promise.race([
            final.then((epoch) => ({ epoch })),
            new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), FINAL_CHECKPOINT_MS).unref()),
          ]);
          if (waited === 'timeout') {
            log.warn(
              `stopping without a final checkpoint: the pipeline did not work off its queues within ${FINAL_CHECKPOINT_MS / 1000} s; the next start resumes from the previous checkpoint`,
            );
          } else if (waited.epoch !== undefined) {
            log.info(`final checkpoint ${waited.epoch} complete`);
          }
        }
        await stopAll();
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * Which source positions `dozer run` may acknowledge: a position is safe
 * once the store has committed every output entry that existed when the
 * processor finished the input entry carrying it (so what came of it, and
 * of everything before it, is stored).
 */
class AckTracker {
  private readonly pending: Array<{
    source: string;
    position: SourcePosition;
    needs: ReadonlyMap<string, bigint>;
  }> = [];
  private readonly appliedNext = new Map<string, bigint>();

  constructor(private readonly acknowledge: (source: string, position: SourcePosition) => void) {}

  processed(source: string, position: SourcePosition, outputNext: ReadonlyMap<string, bigint>): void {
    this.pending.push({ source, position, needs: outputNext });
    this.check();
  }

  applied(table: string, next: bigint): void {
    this.appliedNext.set(table, next);
    this.check();
  }

  private check(): void {
    // Acknowledgements are cumulative: only the newest safe position of each source is sent.
    const latest = new Map<string, SourcePosition>();
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      let safe = true;
      for (const [table, need] of head.needs) {
        if ((this.appliedNext.get(table) ?? 0n) < need) {
          safe = false;
          break;
        }
      }
      if (!safe) break;
      this.pending.shift();
      latest.set(head.source, head.position);
    }
    for (const [source, position] of latest) this.acknowledge(source, position);
  }
}

/** Reports the queues' offload failures (they are retried): once per log and failure streak of 10 s. */
export function queueErrorReporter(log: Logger): (e: unknown, logName: string) => void {
  const last = new Map<string, number>();
  return (e, logName) => {
    const now = Date.now();
    if (now - (last.get(logName) ?? 0) < 10_000) return;
    last.set(logName, now);
    log.warn(
      `log "${logName}": ${e instanceof Error ? e.message : String(e)} (retrying; appends wait meanwhile)`,
    );
  };
}

function connectorLogger(log: Logger, name: string) {
  // The fields carry what the message is about (the file and line of a malformed row, a retry's
  // attempt and delay): keep them on the line as key=value.
  const line = (m: string, fields?: Readonly<Record<string, unknown>>) => {
    const parts = Object.entries(fields ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : formatField(v)}`);
    return `[${name}] ${m}${parts.length > 0 ? ` ${parts.join(' ')}` : ''}`;
  };
  return {
    debug() {},
    info: (m: string, f?: Readonly<Record<string, unknown>>) => log.info(line(m, f)),
    warn: (m: string, f?: Readonly<Record<string, unknown>>) => log.warn(line(m, f)),
    error: (m: string, f?: Readonly<Record<string, unknown>>) => log.error(line(m, f)),
  };
}

function formatField(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * `dozer run`'s readiness (`GET /ready`): every source past its snapshot and
 * less than a second behind its source (by its connector's lag, where it can
 * tell), and at one moment everything ingested gone through the SQL and into
 * the store; from then on it stays ready (a pipeline that keeps up has short
 * queues).
 */
export function runReadiness(
  parts: () =>
    | {
        readonly sources: readonly SourceStats[];
        /** The ingestor's logs, and how far the processor read them. */
        readonly ingested: ReadonlyMap<string, { readonly next: bigint }>;
        readonly processed: Watermarks;
        /** The processor's logs, and how far the API role applied them. */
        readonly produced: ReadonlyMap<string, { readonly next: bigint }>;
        readonly applied: Watermarks;
      }
    | undefined,
): () => Readiness {
  let ready = false;
  return () => {
    if (ready) return { ready };
    const p = parts();
    if (p === undefined) return { ready, waiting: ['the pipeline: starting'] };
    const waiting: string[] = [];
    for (const s of p.sources) {
      const phase = sourcePhase(s);
      if (phase === 'done') continue;
      if (phase === 'snapshot')
        waiting.push(`source "${s.name}": in its snapshot (${s.ops.toLocaleString('en-US')} ops so far)`);
      // A source resumed from a checkpoint is past its snapshot but may have a backlog (a slot's WAL,
      // files not read yet): its connector's lag tells, from its first report on.
      else if (s.lag === undefined) waiting.push(`source "${s.name}": waiting for its first lag report`);
      else {
        const behind = behindText(s);
        if (behind !== null) waiting.push(`source "${s.name}": ${behind} its source`);
      }
    }
    // Read in one go (no await): what the processor had not handled, and what the store had not applied, at one moment.
    const backlog = (logs: ReadonlyMap<string, { readonly next: bigint }>, marks: Watermarks) =>
      [...logs].reduce((n, [name, l]) => n + Math.max(0, Number(l.next - marks.get(name))), 0);
    const toProcess = backlog(p.ingested, p.processed);
    const toApply = backlog(p.produced, p.applied);
    if (toProcess > 0) waiting.push(`the SQL: ${toProcess.toLocaleString('en-US')} log entries to process`);
    if (toApply > 0) waiting.push(`the store: ${toApply.toLocaleString('en-US')} log entries to apply`);
    ready = waiting.length === 0;
    return { ready, waiting };
  };
}
