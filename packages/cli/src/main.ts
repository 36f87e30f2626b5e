#!/usr/bin/env node
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateToken } from '@dozer/api';
import { createConnectorRegistry, isSourceRebuildError, silentLogger } from '@dozer/connectors';
import { ConfigError, isDozerError, type JsonValue, type SourcePosition, Timestamp } from '@dozer/core';
import { serveLogs } from '@dozer/queue';
import { compileSql } from '@dozer/sql';
import { StoreError, storeWriter } from '@dozer/store';
import { resolveAuthConfig } from './auth.js';
import {
  type DozerConfig,
  type IngestorNodeConfig,
  loadConfig,
  type ProcessorNodeConfig,
  renderInitTemplate,
} from './config/index.js';
import { UpstreamLostError } from './errors.js';
import { createLogger, formatLogLine, type Logger, logFormatFromEnv } from './logger.js';
import {
  endpointSchemasOf,
  planPipeline,
  planTransforms,
  queueErrorReporter,
  type RunningPipeline,
  startPipeline,
} from './pipeline.js';
import { Progress, type SourceStats } from './progress.js';
import { protoDirOf, writeProtos } from './protos.js';
import { openCheckpointStore } from './roles/checkpointing.js';
import { AckPolicy, type RunningIngestor, startIngestor } from './roles/ingest.js';
import {
  keyOf,
  type NodeKind,
  type ProcessorShare,
  processorShare,
  queuePrefixOf,
  selectNode,
  serveUpstreams,
  type UpstreamNeed,
} from './roles/nodes.js';
import { openFreshQueue, openObjectStore } from './roles/object-store.js';
import { startProcessor } from './roles/process.js';
import { openServeStore, startServer, storeDirOf } from './roles/serve.js';
import {
  CheckpointUnusableError,
  deleteOtherGenerations,
  discardSplitCheckpoints,
  GENERATION_MARKER_SCHEMA,
  type Generation,
  GenerationChangedError,
  Generations,
  generationMarkerLog,
  ingestorRecovery,
  prepareApiStore,
  processorCheckpointHooks,
  processorRecovery,
  splitCheckpointsOn,
  splitFingerprint,
  splitPollMs,
  startApiCheckpoints,
  startIngestorCheckpoints,
} from './roles/split-checkpoints.js';
import {
  ingestorReport,
  processorReport,
  RoleStatus,
  type StatusServer,
  startStatusServer,
} from './roles/status-server.js';
import { createSqlTransform } from './roles/transform.js';
import {
  combineUpstreams,
  connectUpstream,
  exactLogs,
  type Upstream,
  type UpstreamLog,
} from './roles/upstream.js';
import { VERSION } from './version.js';

const HELP = `dozer ${VERSION}: real-time SQL over your data, served as REST APIs

Usage: dozer <command> [options]

Commands:
  init [dir]        write a commented sample dozer.yaml (uses the built-in generator)
  run               ingest, transform with SQL, store and serve over REST and gRPC (the three roles below, in one process)
  ingest            the ingestor role: run the connectors, serve their changes as logs at nodes.ingestor
                    (or at its entry of nodes.ingestors, running only its sources)
  process           the processor role: read the ingestor's logs, run the SQL, serve the outputs at nodes.processor
                    (or at its entry of nodes.processors, running only the statements of its tables)
  serve             the API role: read the processor's outputs into the store, serve REST and gRPC
  build             check dozer.yaml, the sources and the SQL, write the .proto files; --explain prints the plan
  clean             delete the home_dir (the store and local state)
  connectors ls [connection]
                    list the tables of a connection (all connections when none is named) and their schemas
  security generate-token
                    print a signed API token (needs api.auth in dozer.yaml)

Options:
  -c, --config <file>   the config file (default: ./dozer.yaml)
  --force               init: overwrite an existing dozer.yaml
  --explain             build: print the SQL plan
  --node <name>         ingest, process: which entry of nodes.ingestors / nodes.processors this is
                        (needed when there are several)
  --subject <name>      generate-token: the token's subject (sub)
  --endpoints <a,b>     generate-token: only these endpoints (default: all)
  --filter <json>       generate-token: a $filter ANDed into every read of every endpoint
  --filters <json>      generate-token: per endpoint $filters, {"<endpoint>": {...}, "*": {...}}
  --expires-in <time>   generate-token: lifetime like 3600, 90m, 12h or 30d (default: no expiry)
  -h, --help            this help
  -v, --version         the version
`;

/** Exit codes: 0 success, 1 a failure while running, 2 bad usage or configuration. */
export async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    process.stderr.write(`dozer: ${(e as Error).message}\nRun "dozer --help" for usage.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (values.help || !command || command === 'help') {
    process.stdout.write(HELP);
    return command || values.help ? 0 : 2;
  }
  if (values.node !== undefined && command !== 'ingest' && command !== 'process') {
    process.stderr.write(
      `dozer: --node names which of nodes.ingestors / nodes.processors to run; "dozer ${command}" takes none\n`,
    );
    return 2;
  }
  const configPath = path.resolve(values.config ?? 'dozer.yaml');
  try {
    logFormatFromEnv(); // a bad DOZER_LOG_FORMAT fails before anything runs
    switch (command) {
      case 'init':
        return init(positionals[1] ?? '.', Boolean(values.force));
      case 'run':
        return await run(configPath);
      case 'ingest':
        return await ingest(configPath, values.node);
      case 'process':
        return await processRole(configPath, values.node);
      case 'serve':
        return await serve(configPath);
      case 'build':
        return await build(configPath, Boolean(values.explain));
      case 'clean':
        return clean(configPath);
      case 'connectors':
        if (positionals[1] !== 'ls') {
          process.stderr.write('dozer: usage: dozer connectors ls [connection]\n');
          return 2;
        }
        return await listConnectorTables(configPath, positionals[2]);
      case 'security':
        if (positionals[1] !== 'generate-token') {
          process.stderr.write(
            'dozer: usage: dozer security generate-token [--subject s] [--endpoints a,b] [--filter json] [--expires-in 12h]\n',
          );
          return 2;
        }
        return await generateTokenCommand(configPath, values);
      default:
        process.stderr.write(`dozer: unknown command "${command}"\nRun "dozer --help" for usage.\n`);
        return 2;
    }
  } catch (e) {
    return reportFailure(e);
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      force: { type: 'boolean' },
      explain: { type: 'boolean' },
      node: { type: 'string' },
      subject: { type: 'string' },
      endpoints: { type: 'string' },
      filter: { type: 'string' },
      filters: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

function reportFailure(e: unknown): number {
  const text = isDozerError(e)
    ? e.message
    : `unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  let json = false;
  try {
    json = logFormatFromEnv() === 'json';
  } catch {
    // A bad DOZER_LOG_FORMAT is itself the failure reported here, as text.
  }
  process.stderr.write(json ? `${formatLogLine('json', 'error', `dozer: ${text}`)}\n` : `dozer: ${text}\n`);
  return isDozerError(e) && (e.code === 'CONFIG' || e.code === 'SQL') ? 2 : 1;
}

function init(dir: string, force: boolean): number {
  const target = path.resolve(dir, 'dozer.yaml');
  if (fs.existsSync(target) && !force) {
    process.stderr.write(`dozer: ${target} already exists; pass --force to overwrite it\n`);
    return 2;
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, renderInitTemplate(path.basename(path.resolve(dir))));
  const rel = path.relative(process.cwd(), target) || 'dozer.yaml';
  process.stdout.write(
    `Wrote ${rel}. Start it with:\n  dozer run${rel === 'dozer.yaml' ? '' : ` -c ${rel}`}\n`,
  );
  return 0;
}

async function load(
  configPath: string,
): Promise<{ config: DozerConfig; registry: ReturnType<typeof createConnectorRegistry> }> {
  if (!fs.existsSync(configPath)) {
    throw new ConfigError(`no config file at ${configPath}; create one with "dozer init" or pass -c <file>`);
  }
  const registry = createConnectorRegistry();
  const builtins = await Promise.all(registry.kinds().map((k) => registry.resolve(k)));
  const validators = new Map(builtins.map((f) => [f.kind, (c: unknown) => f.validateConfig(c)]));
  const config = loadConfig(configPath, { connectionValidators: validators });
  return { config, registry };
}

async function build(configPath: string, explain: boolean): Promise<number> {
  const log = createLogger();
  const { config, registry } = await load(configPath);
  const plan = await planPipeline(config, registry, log);
  await Promise.allSettled([...plan.connectors.values()].map((c) => c.close()));
  process.stdout.write(
    `${path.basename(configPath)} is valid: ${config.sources.length} source(s), ${plan.sql?.outputs.size ?? 0} SQL output(s), ${config.endpoints.length} endpoint(s).\n`,
  );
  for (const [name, schema] of plan.endpointSchemas) {
    const pk = schema.primaryKey.map((i) => schema.fields[i]!.name);
    process.stdout.write(
      `  endpoint ${name}: ${schema.fields.map((f) => `${f.name} ${f.type}${f.nullable ? '?' : ''}`).join(', ')}${pk.length ? ` (key: ${pk.join(', ')})` : ''}\n`,
    );
  }
  const protoDir = protoDirOf(config.home_dir);
  const files = writeProtos(protoDir, plan.endpointSchemas);
  process.stdout.write(
    `Wrote ${files.length} .proto file(s) for gRPC clients under ${path.relative(process.cwd(), protoDir) || '.'}\n`,
  );
  if (explain && plan.sql) process.stdout.write(`\n${plan.sql.explain()}\n`);
  return 0;
}

async function listConnectorTables(configPath: string, only: string | undefined): Promise<number> {
  const { config, registry } = await load(configPath);
  const connections = config.connections.filter((c) => only === undefined || c.name === only);
  if (connections.length === 0) {
    throw new ConfigError(
      `no connection named "${only}" in ${path.basename(configPath)} (connections: ${config.connections.map((c) => c.name).join(', ') || 'none'})`,
    );
  }
  for (const conn of connections) {
    const factory = await registry.resolve(conn.kind);
    const connector = factory.create(conn.config, {
      name: conn.name,
      logger: silentLogger,
      baseDir: config.base_dir,
    });
    try {
      const tables = await connector.listTables();
      process.stdout.write(`${conn.name} (${conn.kind}): ${tables.length} table(s)\n`);
      for (const t of tables) {
        const pk = t.schema.primaryKey.map((i) => t.schema.fields[i]!.name);
        process.stdout.write(`  ${t.name}${pk.length ? `  key (${pk.join(', ')})` : '  (no key)'}\n`);
        for (const f of t.schema.fields) {
          const extra =
            f.type === 'decimal' && f.precision !== undefined ? `(${f.precision},${f.scale ?? 0})` : '';
          process.stdout.write(
            `    ${f.name.padEnd(24)} ${f.type}${extra}${f.nullable ? '' : ' not null'}\n`,
          );
        }
      }
    } finally {
      await connector.close();
    }
  }
  return 0;
}

async function generateTokenCommand(
  configPath: string,
  values: ReturnType<typeof parse>['values'],
): Promise<number> {
  if (!fs.existsSync(configPath)) {
    throw new ConfigError(`no config file at ${configPath}; pass -c <file>`);
  }
  const config = loadConfig(configPath, {});
  if (!config.api.auth) {
    throw new ConfigError(
      `${path.basename(configPath)} has no api.auth section: add one (algorithm HS256 with a secret, or RS256 with key files) to issue tokens`,
    );
  }
  const known = config.endpoints.map((e) => e.name);
  const endpoints = values.endpoints
    ?.split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  for (const name of [...(endpoints ?? [])]) {
    if (!known.includes(name)) {
      throw new ConfigError(`--endpoints: no endpoint "${name}" (endpoints: ${known.join(', ') || 'none'})`);
    }
  }
  const filters: { [endpoint: string]: JsonValue } = {};
  if (values.filters !== undefined) {
    const parsed = parseJsonOption('--filters', values.filters);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError(
        '--filters: expected a JSON object of endpoint name to $filter, e.g. {"trips": {"vendor": 1}}',
      );
    }
    for (const [name, f] of Object.entries(parsed)) {
      if (name !== '*' && !known.includes(name)) {
        throw new ConfigError(
          `--filters: no endpoint "${name}" (endpoints: ${known.join(', ') || 'none'}; "*" is every endpoint)`,
        );
      }
      filters[name] = f as JsonValue;
    }
  }
  if (values.filter !== undefined) filters['*'] = parseJsonOption('--filter', values.filter);
  const expiresInSeconds =
    values['expires-in'] === undefined ? undefined : parseDuration(values['expires-in']);
  const token = await generateToken(resolveAuthConfig(config.api.auth, { needPrivateKey: true }), {
    ...(values.subject ? { subject: values.subject } : {}),
    ...(endpoints ? { endpoints } : {}),
    ...(Object.keys(filters).length ? { filters } : {}),
    ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }),
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

function parseJsonOption(option: string, text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new ConfigError(`${option}: not valid JSON (${(e as Error).message}): ${text}`);
  }
}

/** `3600`, `90s`, `90m`, `12h`, `30d` → seconds. */
function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m)
    throw new ConfigError(
      `--expires-in: expected seconds or a number with s, m, h or d (e.g. 12h), got "${text}"`,
    );
  const n = Number(m[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  if (n <= 0) throw new ConfigError(`--expires-in: must be positive, got "${text}"`);
  return n * unit;
}

function clean(configPath: string): number {
  let home = path.resolve(path.dirname(configPath), '.dozer');
  if (fs.existsSync(configPath)) home = loadConfig(configPath, {}).home_dir;
  const writer = storeWriter(storeDirOf(home));
  if (writer !== undefined) {
    throw new StoreError(
      `${home} is in use: process ${writer.pid}${writer.host === os.hostname() ? '' : ` on host ${writer.host}`} is writing its store; stop it before cleaning`,
    );
  }
  fs.rmSync(home, { recursive: true, force: true });
  process.stdout.write(`Removed ${home}\n`);
  return 0;
}

/**
 * Ctrl-C and SIGTERM for a long-running command: the first aborts `signal`
 * (the command stops cleanly), a second exits at once.
 */
function interrupts(log: Logger): { signal: AbortSignal; stop(why: string): void } {
  const abort = new AbortController();
  const stop = (why: string) => {
    if (abort.signal.aborted) {
      log.warn('second interrupt: exiting now');
      process.exit(130);
    }
    log.info(`${why}: shutting down (Ctrl-C again to force)`);
    abort.abort();
  };
  process.on('SIGINT', () => stop('interrupted'));
  process.on('SIGTERM', () => stop('terminated'));
  return { signal: abort.signal, stop };
}

/**
 * Waits until `interrupt` fires or `work` fails (exit code 1, logged as
 * `<what> failed: …`); `work` resolving is only logged with `whenDone`.
 */
async function untilStopped(
  interrupt: ReturnType<typeof interrupts>,
  log: Logger,
  what: string,
  work: Promise<unknown>,
  whenDone?: string,
): Promise<number> {
  let exitCode = 0;
  await new Promise<void>((resolve) => {
    if (interrupt.signal.aborted) return resolve();
    interrupt.signal.addEventListener('abort', () => resolve(), { once: true });
    work.then(
      () => {
        if (!interrupt.signal.aborted && whenDone) log.info(whenDone);
      },
      (e) => {
        if (interrupt.signal.aborted) return;
        exitCode = 1;
        log.error(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);
        interrupt.stop('failure');
      },
    );
  });
  return exitCode;
}

/** A logger whose lines go around the progress line once there is one. */
function progressLogger(): { log: Logger; show(progress: Progress | undefined): void } {
  let progress: Progress | undefined;
  const log = createLogger((line) => (progress ? progress.log(line) : process.stderr.write(`${line}\n`)));
  return {
    log,
    show(p) {
      progress?.stop();
      progress = p;
      p?.start();
    },
  };
}

async function run(configPath: string): Promise<number> {
  const { config, registry } = await load(configPath);
  const { log, show } = progressLogger();
  log.info(`dozer ${VERSION}: starting "${config.app_name}" (home ${config.home_dir})`);
  /** Plans and starts the pipeline (`rebuild`: from the sources, whatever the checkpoints), and shows it. */
  const launch = async (rebuild: boolean): Promise<RunningPipeline> => {
    const plan = await planPipeline(config, registry, log, { connectorThreads: true });
    const started = await startPipeline(plan, log, { rebuild });
    announceApi(log, config, started.url, started.grpcAddress);
    show(new Progress({ sources: started.sources, endpointRows: () => started.endpointRows() }));
    return started;
  };
  let pipeline = await launch(false);
  const interrupt = interrupts(log);
  /**
   * The pipeline's ingestion; when a source cannot continue (SourceRebuildError: a resumed one
   * from its checkpoint's position, a MySQL table truncated), the pipeline is stopped and
   * started again from the sources, whose ingestion this then follows.
   */
  const rebuilds = rebuildGuard();
  const ingestion = (p: RunningPipeline): Promise<void> =>
    p.ingestion.catch(async (e: unknown) => {
      if (!isSourceRebuildError(e) || interrupt.signal.aborted || !rebuilds.allow(e)) throw e;
      log.warn(`${(e as Error).message}; rebuilding the whole pipeline from the sources`);
      show(undefined);
      await p.stop();
      pipeline = await launch(true);
      return ingestion(pipeline);
    });
  const exitCode = await untilStopped(
    interrupt,
    log,
    'ingestion',
    ingestion(pipeline),
    'all sources finished; still serving (Ctrl-C to stop)',
  );
  show(undefined);
  await pipeline.stop();
  log.info('stopped cleanly');
  return exitCode;
}

/** How soon after a rebuild a source asking for another one fails instead (it would loop). */
const REBUILD_AGAIN_MS = 30_000;

/**
 * Whether a source's SourceRebuildError may rebuild the pipeline: not when the
 * last rebuild was under {@link REBUILD_AGAIN_MS} ago (a source that cannot
 * even start from scratch would rebuild forever); the error then says so.
 */
function rebuildGuard(): { allow(e: unknown): boolean } {
  let last = Number.NEGATIVE_INFINITY;
  return {
    allow(e) {
      const now = Date.now();
      if (now - last < REBUILD_AGAIN_MS) {
        (e as Error).message +=
          ` (the pipeline was rebuilt ${Math.round((now - last) / 1000)} s ago already: not again)`;
        return false;
      }
      last = now;
      return true;
    },
  };
}

function announceApi(log: Logger, config: DozerConfig, url: string, grpcAddress: string): void {
  log.info(`REST API listening on ${url}`);
  log.info(
    `gRPC API listening on ${grpcAddress} (reflection on; .proto files in ${protoDirOf(config.home_dir)})`,
  );
  for (const ep of config.endpoints) log.info(`  ${url}${ep.path}`);
  process.stdout.write(
    `Serving ${config.endpoints.length} endpoint(s) at ${url} — try: curl ${url}${config.endpoints[0]?.path ?? '/health'}\n`,
  );
}

function addressOf(a: { host: string; port: number }): string {
  return `${a.host}:${a.port}`;
}

/** `serveLogs` at a `nodes` address, with a message that names the setting when it cannot listen. */
async function serveRoleLogs(
  queue: Parameters<typeof serveLogs>[0],
  at: { host: string; port: number },
  key: string,
) {
  try {
    return await serveLogs(queue, { host: at.host, port: at.port });
  } catch (e) {
    throw new Error(
      `cannot serve logs on ${addressOf(at)} (${key}): ${e instanceof Error ? e.message : String(e)}; is another dozer running there?`,
      { cause: e },
    );
  }
}

/**
 * The status of a `dozer ingest` or `dozer process` process, served over
 * HTTP at its node's `http_port` when the config gives one.
 */
async function roleStatus(
  config: DozerConfig,
  kind: NodeKind,
  node: { readonly name: string; readonly host: string; readonly http_port?: number },
  log: Logger,
): Promise<{ status: RoleStatus; server: StatusServer | undefined }> {
  const status = new RoleStatus(kind, node.name);
  if (node.http_port === undefined) return { status, server: undefined };
  const key = keyOf(config, kind, node.name).replace(/^\S+/, (k) => `${k}.http_port`);
  const server = await startStatusServer(status, { host: node.host, port: node.http_port }, key);
  log.info(`health and metrics at ${server.url}/health and ${server.url}/metrics`);
  return { status, server };
}

/**
 * `dozer ingest`: the connectors, one log per source, served at
 * `nodes.ingestor`; with `nodes.ingestors`, only the sources of the node
 * `--node` names, served at its address.
 */
async function ingest(configPath: string, nodeName: string | undefined): Promise<number> {
  const { config: whole, registry } = await load(configPath);
  const node = selectNode(whole.nodes.ingestors, 'ingestor', nodeName);
  // Only this node's sources; the SQL and the endpoints are other roles'.
  const { sql: _sql, ...rest } = whole;
  const config: DozerConfig = whole.nodes.listed
    ? { ...rest, sources: whole.sources.filter((s) => node.sources.includes(s.name)), endpoints: [] }
    : whole;
  const { log, show } = progressLogger();
  log.info(
    `dozer ${VERSION}: starting the ingestor${whole.nodes.listed ? ` "${node.name}"` : ''} of "${config.app_name}"`,
  );
  const { status, server: statusServer } = await roleStatus(whole, 'ingestor', node, log);
  try {
    if (splitCheckpointsOn(whole))
      return await ingestWithCheckpoints(whole, { config, node, registry, log, show, status });
    return await ingestOnce({ config, node, registry, log, show, status });
  } finally {
    status.phase = 'stopping';
    await statusServer?.close();
  }
}

/** What `dozer ingest` runs with: its node's share of the config, and the process's log, progress and status. */
interface IngestContext {
  /** The config with only this node's sources. */
  readonly config: DozerConfig;
  readonly node: IngestorNodeConfig;
  readonly registry: ReturnType<typeof createConnectorRegistry>;
  readonly log: Logger;
  readonly show: ReturnType<typeof progressLogger>['show'];
  readonly status: RoleStatus;
}

/** `dozer ingest` without checkpoints: the sources read from scratch, once. */
async function ingestOnce({ config, node, registry, log, show, status }: IngestContext): Promise<number> {
  const plan = await planPipeline(config, registry, log, { connectorThreads: true });
  const objects = openObjectStore(config.nodes.object_store);
  let interrupt: ReturnType<typeof interrupts> | undefined;
  const cleanup: Array<() => Promise<void> | void> = [
    () => objects.close(),
    async () => {
      await Promise.allSettled([...plan.connectors.values()].map((c) => c.close()));
    },
  ];
  try {
    const queue = await openFreshQueue(
      objects,
      queuePrefixOf(config, 'ingestor', node.name),
      config.nodes,
      queueErrorReporter(log),
    );
    cleanup.unshift(() => queue.close({ flush: false }));
    const ingestor = await startIngestor({
      config,
      connectors: plan.connectors,
      sourceSchemas: plan.sourceSchemas,
      exactSources: plan.exactSources,
      resumableSnapshots: plan.resumableSnapshots,
      queue,
      log,
      ack: AckPolicy.offloaded,
    });
    cleanup.unshift(() => ingestor.stop());
    const server = await serveRoleLogs(queue, node, keyOf(config, 'ingestor', node.name));
    cleanup.unshift(() => server.close());
    status.report = ingestorReport(ingestor, server);
    status.phase = 'serving';
    cleanup.unshift(() => {
      status.phase = 'stopping';
    });
    interrupt = interrupts(log);
    log.info(`segments go to ${objects.label}`);
    process.stdout.write(
      `Ingesting ${config.sources.length} source(s); logs served at ${server.address} for "dozer process"\n`,
    );
    show(new Progress({ sources: ingestor.sources, endpointRows: () => [] }));
    const exitCode = await untilStopped(
      interrupt,
      log,
      'ingestion',
      ingestor.finished,
      'all sources finished; still serving their logs (Ctrl-C to stop)',
    );
    show(undefined);
    return exitCode;
  } finally {
    for (const step of cleanup) await step();
    if (interrupt?.signal.aborted) log.info('stopped cleanly');
  }
}

/**
 * `dozer ingest` with checkpoints: runs the node's sources in generations
 * (see roles/split-checkpoints.ts). Its start begins a new generation from
 * the newest complete checkpoint; when another role begins one, the
 * connectors, the queue and the log server stop and start again from that
 * generation's checkpoint (or from scratch when it has none).
 */
async function ingestWithCheckpoints(
  whole: DozerConfig,
  { config, node, registry, log, show, status }: IngestContext,
): Promise<number> {
  const objects = openObjectStore(config.nodes.object_store);
  const interrupt = interrupts(log);
  interrupt.signal.addEventListener('abort', () => {
    status.phase = 'stopping';
  });
  const checkpoints = openCheckpointStore(objects.store, log);
  const fingerprint = splitFingerprint(whole);
  const label = whole.nodes.listed ? `the ingestor "${node.name}"` : 'the ingestor';
  const generations = new Generations(
    objects.store,
    checkpoints,
    fingerprint,
    log,
    label,
    splitPollMs(whole),
  );
  const coordinator = whole.nodes.ingestors[0]!.name === node.name;
  const base = queuePrefixOf(config, 'ingestor', node.name);
  const rebuilds = rebuildGuard();
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    let generation = await generations.bump(`${label} started`, 'newest');
    for (let start = 0; ; start++) {
      if (start > 0) status.restart();
      status.generation = generation.generation;
      const cleanup: Cleanup = [];
      let outcome: { next: Generation } | { exit: number };
      try {
        outcome = await (async (): Promise<{ next: Generation } | { exit: number }> => {
          let resumeFrom: Map<string, SourcePosition> | undefined;
          if (generation.epoch !== null) {
            try {
              resumeFrom = await ingestorRecovery(
                checkpoints,
                generation,
                config.sources.map((s) => s.name),
                fingerprint,
              );
            } catch (e) {
              log.warn(`cannot resume from checkpoint ${generation.epoch}: ${(e as Error).message}`);
              return { next: await generations.bump(`${label} cannot resume`, 'none') };
            }
            log.info(
              `resuming from checkpoint ${generation.epoch} (generation ${generation.generation}): ${resumeFrom.size} source(s) continue from their positions`,
            );
          } else {
            log.info(`rebuilding from the sources (generation ${generation.generation})`);
            if (coordinator) await discardSplitCheckpoints(objects.store);
          }
          if (coordinator) await deleteOtherGenerations(objects.store, generation);
          const plan = await planPipeline(config, registry, log, { connectorThreads: true });
          let ingestor: RunningIngestor | undefined;
          cleanup.unshift(async () => {
            if (ingestor) await ingestor.stop();
            else await Promise.allSettled([...plan.connectors.values()].map((c) => c.close()));
          });
          // Fresh queues: downstream roles read this generation's logs from offset 0.
          const queue = await openFreshQueue(objects, base, config.nodes, queueErrorReporter(log));
          cleanup.push(() => queue.close({ flush: false }));
          await queue.openLog(generationMarkerLog(generation), GENERATION_MARKER_SCHEMA);
          ingestor = await startIngestor({
            config,
            connectors: plan.connectors,
            sourceSchemas: plan.sourceSchemas,
            exactSources: plan.exactSources,
            resumableSnapshots: plan.resumableSnapshots,
            queue,
            log,
            ack: AckPolicy.caller,
            ...(resumeFrom ? { resumeFrom } : {}),
          });
          const running = startIngestorCheckpoints({
            objects: objects.store,
            checkpoints,
            generation,
            config: whole,
            node: node.name,
            coordinator,
            ingestor,
            fingerprint,
            log,
          });
          cleanup.unshift(() => running.close());
          const server = await serveRoleLogs(queue, node, keyOf(config, 'ingestor', node.name));
          cleanup.unshift(() => server.close());
          status.report = ingestorReport(ingestor, server, running);
          if (!interrupt.signal.aborted) status.phase = 'serving';
          log.info(`segments go to ${objects.label}`);
          process.stdout.write(
            `Ingesting ${config.sources.length} source(s); logs served at ${server.address} for "dozer process"\n`,
          );
          show(new Progress({ sources: ingestor.sources, endpointRows: () => [] }));
          cleanup.unshift(() => show(undefined));
          const stopWatching = new AbortController();
          cleanup.unshift(() => stopWatching.abort());
          let restarting = false;
          ingestor.finished.then(
            () => {
              if (!interrupt.signal.aborted && !restarting)
                log.info('all sources finished; still serving their logs (Ctrl-C to stop)');
            },
            () => {},
          );
          return await new Promise((resolve) => {
            if (interrupt.signal.aborted) return resolve({ exit: 0 });
            interrupt.signal.addEventListener('abort', () => resolve({ exit: 0 }), { once: true });
            ingestor!.finished.catch(async (e: unknown) => {
              if (interrupt.signal.aborted) return;
              if (isSourceRebuildError(e) && !restarting && rebuilds.allow(e)) {
                // A source cannot continue (from the checkpoint, or after a TRUNCATE): every role rebuilds.
                restarting = true;
                log.warn(`${(e as Error).message}; rebuilding the whole pipeline from the sources`);
                resolve({ next: await generations.bump(`${label} must rebuild`, 'none') });
                return;
              }
              log.error(`ingestion failed: ${e instanceof Error ? e.message : String(e)}`);
              resolve({ exit: 1 });
            });
            generations.changed(generation, stopWatching.signal).then((next) => {
              restarting = true;
              resolve({ next });
            });
          });
        })();
      } finally {
        for (const step of cleanup) await step();
      }
      if ('exit' in outcome) {
        if (outcome.exit === 0) log.info('stopped cleanly');
        return outcome.exit;
      }
      generation = outcome.next;
      log.info(`generation ${generation.generation} started: restarting`);
    }
  } finally {
    clearInterval(keepAlive);
    objects.close();
  }
}

/** The upstream logs a role needs, with a message naming the config entry that needs a missing one. */
function requireLogs(
  logs: ReadonlyMap<string, UpstreamLog>,
  needed: ReadonlyArray<{ table: string; who: string }>,
  upstream: string,
  role: string,
): Map<string, UpstreamLog> {
  const found = new Map<string, UpstreamLog>();
  for (const { table, who } of needed) {
    const l = logs.get(table);
    if (!l) {
      throw new ConfigError(
        `${who}: ${upstream} has no log "${table}" (its logs: ${[...logs.keys()].join(', ') || 'none'}); ` +
          `run "dozer ${role}" there with the same dozer.yaml`,
      );
    }
    found.set(table, l);
  }
  return found;
}

type Cleanup = Array<() => Promise<void> | void>;

/**
 * Runs a role that reads from an upstream role until Ctrl-C. `start`
 * connects (waiting, with backoff, while the upstream is unreachable),
 * starts the role and registers how to stop it in `cleanup`; it returns the
 * role's failure promise (wrapped: an async function would await it), or
 * `undefined` when interrupted while connecting.
 * When the upstream goes away mid-stream, the role is stopped and started
 * again from the start of the upstream logs. With checkpoints (`split`) its
 * start begins a generation, it restarts whenever another role begins one,
 * and a lost upstream waits for a new generation (beginning one after
 * {@link UPSTREAM_LOST_WAIT_MS}); without, a restarted upstream has reset its
 * logs, so the role rebuilds. Other failures end the command (exit 1), unless
 * a generation began meanwhile; errors while starting are thrown.
 */
async function superviseRole(
  log: Logger,
  interrupt: ReturnType<typeof interrupts>,
  what: string,
  start: (
    cleanup: Cleanup,
    generation: Generation | undefined,
  ) => Promise<{ failed: Promise<never> } | undefined>,
  /** With checkpoints: the generations, and what this role is (in the reason of the one its start begins). */
  split?: { readonly generations: Generations; readonly label: string },
): Promise<number> {
  // A role waiting on its upstream (a gRPC call whose timers are unref'd) must not let the
  // process exit as if done: it runs until stopped or failed.
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    return await superviseLoop(log, interrupt, what, start, split);
  } finally {
    clearInterval(keepAlive);
  }
}

async function superviseLoop(
  log: Logger,
  interrupt: ReturnType<typeof interrupts>,
  what: string,
  start: Parameters<typeof superviseRole>[3],
  split: Parameters<typeof superviseRole>[4],
): Promise<number> {
  let generation = split ? await split.generations.bump(`${split.label} started`, 'newest') : undefined;
  for (;;) {
    const cleanup: Cleanup = [];
    let failure: unknown;
    const stopWatching = new AbortController();
    try {
      let started: { failed: Promise<never> } | undefined;
      try {
        started = await start(cleanup, generation);
      } catch (e) {
        // With checkpoints, an upstream that went away while this role started is lost like any other.
        const retryable = split !== undefined && (e as { retryable?: boolean })?.retryable === true;
        if (!(e instanceof CheckpointUnusableError || e instanceof GenerationChangedError || retryable))
          throw e;
        failure = e;
      }
      if (started !== undefined) {
        const { failed } = started;
        failure = await new Promise<unknown>((resolve) => {
          if (interrupt.signal.aborted) return resolve(undefined);
          interrupt.signal.addEventListener('abort', () => resolve(undefined), { once: true });
          failed.catch((e: unknown) => resolve(e));
          if (split && generation) {
            split.generations
              .changed(generation, stopWatching.signal)
              .then((next) => resolve(new GenerationChangedError(next)));
          }
        });
      }
    } finally {
      stopWatching.abort();
      for (const step of cleanup) await step();
    }
    if (failure === undefined || interrupt.signal.aborted) {
      log.info('stopped cleanly');
      return 0;
    }
    if (split && failure instanceof GenerationChangedError) {
      generation = failure.generation;
      log.info(`generation ${generation.generation} started: restarting`);
      continue;
    }
    if (split && failure instanceof CheckpointUnusableError) {
      log.warn(failure.message);
      generation = await split.generations.bump(`${split.label} cannot resume`, 'none');
      continue;
    }
    if (
      split &&
      generation &&
      (failure instanceof UpstreamLostError || (failure as { retryable?: boolean })?.retryable === true)
    ) {
      // The upstream restarted, most likely because a generation began; else this role begins one.
      log.warn(
        `${(failure as Error).message}; reconnecting, to restart with the rest of the pipeline from the newest checkpoint`,
      );
      generation =
        (await split.generations.waitForChange(generation, UPSTREAM_LOST_WAIT_MS)) ??
        (await split.generations.bump(`${split.label} lost its upstream`, 'newest'));
      continue;
    }
    if (failure instanceof UpstreamLostError) {
      log.warn(`${failure.message}; reconnecting, then rebuilding from the start of its logs`);
      continue;
    }
    if (split && generation) {
      // An upstream that restarts for a new generation replaces the segments an old reader reads.
      const next = await split.generations.waitForChange(generation, UPSTREAM_LOST_WAIT_MS);
      if (next) {
        log.warn(
          `${failure instanceof Error ? failure.message : String(failure)}; restarting with the rest of the pipeline`,
        );
        generation = next;
        continue;
      }
    }
    log.error(`${what} failed: ${failure instanceof Error ? failure.message : String(failure)}`);
    return 1;
  }
}

/** How long a role that lost its upstream waits for a new generation before it begins one itself. */
const UPSTREAM_LOST_WAIT_MS = 2000;

/** What a role that reads an upstream role's logs is given once connected. */
interface DownstreamContext {
  readonly config: DozerConfig;
  readonly log: Logger;
  readonly show: ReturnType<typeof progressLogger>['show'];
  readonly objects: ReturnType<typeof openObjectStore>;
  /** Every upstream node the role reads, as one. */
  readonly upstream: Upstream;
  /** The upstream logs the role needs, checked to exist. */
  readonly logs: Map<string, UpstreamLog>;
  readonly cleanup: Cleanup;
  /** The process's status, for a role that serves it (`dozer process`): the start sets its report. */
  readonly status: RoleStatus | undefined;
  /** With checkpoints: the generation this start belongs to. */
  readonly split:
    | {
        readonly generation: Generation;
        readonly checkpoints: ReturnType<typeof openCheckpointStore>;
        readonly fingerprint: string;
        readonly objects: ReturnType<typeof openObjectStore>['store'];
      }
    | undefined;
}

/**
 * Connects to every upstream node of `upstreams` at once (each waiting, with
 * backoff, while it is unreachable) and checks that each has the logs it
 * is needed for. `undefined` when interrupted while connecting.
 */
async function connectUpstreams(
  upstreams: readonly UpstreamNeed[],
  objects: ReturnType<typeof openObjectStore>,
  log: Logger,
  signal: AbortSignal,
  cleanup: Cleanup,
  /** With checkpoints: the log each upstream serves in this generation; `'stale'` when one does not (yet). */
  marker?: string,
): Promise<{ upstream: Upstream; logs: Map<string, UpstreamLog> } | 'stale' | undefined> {
  // The first node that cannot be reached for good ends the others' attempts.
  const giveUp = new AbortController();
  const onAbort = () => giveUp.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const attempts = upstreams.map((need) =>
    connectUpstream(
      need.kind,
      addressOf(need.address),
      objects.store,
      objects.label,
      log,
      giveUp.signal,
      need.node,
    ).then(
      (connected) => {
        if (connected) cleanup.unshift(() => connected.upstream.close());
        return connected;
      },
      (e: unknown) => {
        giveUp.abort();
        throw e;
      },
    ),
  );
  try {
    const settled = await Promise.allSettled(attempts);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const connected = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    if (connected.some((c) => c === undefined)) return undefined;
    if (marker !== undefined && connected.some((c) => !c!.logs.has(marker))) {
      for (const c of connected) c!.upstream.close();
      return 'stale';
    }
    const logs = new Map<string, UpstreamLog>();
    const parts = connected.map((c, i) => {
      const need = upstreams[i]!;
      for (const [t, l] of requireLogs(c!.logs, need.needs, c!.upstream.label, need.command)) logs.set(t, l);
      return { upstream: c!.upstream, tables: need.needs.map((n) => n.table) };
    });
    return { upstream: combineUpstreams(parts), logs };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * The shape of `dozer process` and `dozer serve`: load the config, connect to
 * the upstream nodes `plan` names (waiting while they are unreachable), check
 * that they have the logs it needs, then `start` the role under
 * {@link superviseRole}.
 */
async function downstreamRole<P extends { readonly upstreams: readonly UpstreamNeed[] }>(
  configPath: string,
  role: {
    /** What the start-up line says is starting. */
    readonly starting: (config: DozerConfig, plan: P) => string;
    /** What failed, in `<what> failed: …`. */
    readonly what: string;
    /** What this node runs and reads (may throw a ConfigError, e.g. for --node). */
    readonly plan: (config: DozerConfig) => P;
    /** Names the role in messages: `the processor "p1"`. */
    readonly label: (config: DozerConfig, plan: P) => string;
    /** The node whose `http_port` serves the process's status, for a role that has no API. */
    readonly statusNode?: (plan: P) => { readonly kind: NodeKind; readonly node: ProcessorNodeConfig };
  },
  start: (ctx: DownstreamContext, plan: P) => Promise<{ failed: Promise<never> }>,
): Promise<number> {
  const { config } = await load(configPath);
  const plan = role.plan(config);
  const { log, show } = progressLogger();
  log.info(`dozer ${VERSION}: starting ${role.starting(config, plan)}`);
  const statusNode = role.statusNode?.(plan);
  const { status, server: statusServer } = statusNode
    ? await roleStatus(config, statusNode.kind, statusNode.node, log)
    : { status: undefined, server: undefined };
  const interrupt = interrupts(log);
  interrupt.signal.addEventListener('abort', () => {
    if (status) status.phase = 'stopping';
  });
  const objects = openObjectStore(config.nodes.object_store);
  const checkpoints = openCheckpointStore(objects.store, log);
  const fingerprint = splitFingerprint(config);
  let starts = 0;
  const generations = splitCheckpointsOn(config)
    ? new Generations(
        objects.store,
        checkpoints,
        fingerprint,
        log,
        role.label(config, plan),
        splitPollMs(config),
      )
    : undefined;
  try {
    return await superviseRole(
      log,
      interrupt,
      role.what,
      async (cleanup, generation) => {
        if (status) {
          if (starts++ > 0) status.restart();
          status.generation = generation?.generation;
          status.phase = 'connecting';
        }
        for (;;) {
          const connected = await connectUpstreams(
            plan.upstreams,
            objects,
            log,
            interrupt.signal,
            cleanup,
            generation && generationMarkerLog(generation),
          );
          if (!connected) return undefined;
          if (connected !== 'stale') {
            const { upstream, logs } = connected;
            const split = generation && { generation, checkpoints, fingerprint, objects: objects.store };
            const started = await start(
              { config, log, show, objects, upstream, logs, cleanup, status, split },
              plan,
            );
            if (status && !interrupt.signal.aborted) status.phase = 'serving';
            return started;
          }
          // An upstream still serves an older generation's logs: it is about to restart.
          const now = await generations!.read();
          if (now && now.id !== generation!.id) throw new GenerationChangedError(now);
          await new Promise((r) => setTimeout(r, 200));
          if (interrupt.signal.aborted) return undefined;
        }
      },
      generations && { generations, label: role.label(config, plan) },
    );
  } finally {
    objects.close();
    await statusServer?.close();
  }
}

/**
 * `dozer process`: the ingestor's logs through the SQL, outputs served at
 * `nodes.processor`. With `nodes.processors`, the node `--node` names runs
 * the statements of its INTO tables, reading sources from their ingestors
 * and other processors' tables from those, and serves at its address.
 */
function processRole(configPath: string, nodeName: string | undefined): Promise<number> {
  return downstreamRole<ProcessorShare & { readonly node: ProcessorNodeConfig }>(
    configPath,
    {
      starting: (config, { node }) =>
        `the processor${config.nodes.listed ? ` "${node.name}"` : ''} of "${config.app_name}"`,
      what: 'processing',
      label: (config, { node }) => (config.nodes.listed ? `the processor "${node.name}"` : 'the processor'),
      statusNode: ({ node }) => ({ kind: 'processor', node }),
      plan: (config) => {
        const node = selectNode(config.nodes.processors, 'processor', nodeName);
        return { node, ...processorShare(config, node) };
      },
    },
    async ({ config, log, show, objects, upstream, logs: inputs, cleanup, status, split }, share) => {
      const { node } = share;
      const sourceSchemas = new Map([...inputs].map(([name, l]) => [name, l.schema]));
      // Sources whose ingestor vouches for exact changes skip the source normalizers, as in `dozer run`.
      const exactSources = exactLogs(inputs);
      const sqlText = share.sql?.trim() ? share.sql : undefined;
      let recovery: Awaited<ReturnType<typeof processorRecovery>> | undefined;
      if (split && split.generation.epoch !== null) {
        try {
          recovery = await processorRecovery(
            split.checkpoints,
            split.generation,
            node.name,
            split.fingerprint,
            exactSources,
          );
        } catch (e) {
          throw new CheckpointUnusableError(
            `cannot resume from checkpoint ${split.generation.epoch}: ${(e as Error).message}`,
          );
        }
        log.info(
          `resuming from checkpoint ${split.generation.epoch} (generation ${split.generation.generation}): the SQL state is as it was then`,
        );
      } else if (split) {
        log.info(`rebuilding from the sources (generation ${split.generation.generation})`);
      }
      // The one-node form also checks every endpoint against the SQL, as it always did.
      const planned = config.nodes.listed
        ? sqlText && compileSql(sqlText, sourceSchemas)
        : planTransforms(config, sourceSchemas).sql;
      // A restored SQL keeps the NOW() its checkpoint had.
      const sql =
        recovery && planned && sqlText ? compileSql(sqlText, sourceSchemas, { now: recovery.now }) : planned;
      const base = queuePrefixOf(config, 'processor', node.name);
      const queue = await openFreshQueue(objects, base, config.nodes, queueErrorReporter(log));
      cleanup.unshift(() => queue.close({ flush: false }));
      if (split) await queue.openLog(generationMarkerLog(split.generation), GENERATION_MARKER_SCHEMA);
      const transform =
        sql && sqlText
          ? await createSqlTransform(sql, {
              threads: config.threads,
              sqlText,
              sources: sourceSchemas,
              exactSources,
              ...(recovery ? { restore: recovery.restore } : {}),
            })
          : undefined;
      if (transform) {
        cleanup.unshift(() => transform.close());
        log.info(`SQL operators run on ${transform.where}`);
        const exactRead = sql ? sql.inputs.filter((t) => exactSources.has(t)) : [];
        if (exactRead.length > 0) {
          log.info(
            `changes taken as they are (the connector guarantees them exact, no normalizer state): ${exactRead.join(', ')}`,
          );
        }
      }
      const processor = await startProcessor({
        config,
        sourceSchemas,
        transform,
        upstream,
        queue,
        log,
        ...(share.inputs ? { inputs: share.inputs } : {}),
        ...(share.outputs ? { outputs: share.outputs } : {}),
        ...(split
          ? {
              checkpoints: processorCheckpointHooks({
                objects: split.objects,
                checkpoints: split.checkpoints,
                generation: split.generation,
                node: node.name,
                fingerprint: split.fingerprint,
                now: sql ? sql.now : Timestamp.now(),
                exactSources,
                log,
              }),
            }
          : {}),
      });
      cleanup.unshift(() => processor.stop());
      const server = await serveRoleLogs(queue, node, keyOf(config, 'processor', node.name));
      cleanup.unshift(() => server.close());
      if (status) status.report = processorReport(processor, server, upstream.label);
      log.info(`segments go to ${objects.label}`);
      process.stdout.write(
        `Processing ${inputs.size} ${config.nodes.listed ? 'input' : 'source'} log(s) from ${upstream.label}; ${processor.outputs.size} output log(s) served at ${server.address} for "dozer serve"\n`,
      );
      show(new Progress({ sources: processor.inputs, endpointRows: () => [] }));
      cleanup.unshift(() => show(undefined));
      return { failed: processor.failed };
    },
  );
}

/**
 * `dozer serve`: the processor's outputs into the store, served over REST
 * and gRPC. With the node lists each endpoint table is read from its owner:
 * an INTO table from its processor, a source from its ingestor.
 */
function serve(configPath: string): Promise<number> {
  return downstreamRole(
    configPath,
    {
      starting: (config) => `the API of "${config.app_name}" (home ${config.home_dir})`,
      what: 'serving',
      label: () => 'the API',
      plan: (config) => ({ upstreams: serveUpstreams(config) }),
    },
    async ({ config, log, show, upstream, logs: tables, cleanup, split }) => {
      const endpointSchemas = endpointSchemasOf(
        config,
        new Map([...tables].map(([name, l]) => [name, l.schema])),
      );
      let store: ReturnType<typeof openServeStore> | undefined;
      let checkpointing: ReturnType<typeof startApiCheckpoints> | undefined;
      if (split) {
        store = openServeStore(config);
        try {
          await prepareApiStore(store, split.generation);
        } catch (e) {
          await store.close();
          throw new CheckpointUnusableError(
            `cannot resume from checkpoint ${split.generation.epoch}: ${(e as Error).message}`,
          );
        }
        log.info(
          split.generation.epoch === null
            ? `rebuilding from the sources (generation ${split.generation.generation})`
            : `resuming from checkpoint ${split.generation.epoch} (generation ${split.generation.generation}): the store is as it was then`,
        );
        checkpointing = startApiCheckpoints({
          objects: split.objects,
          checkpoints: split.checkpoints,
          generation: split.generation,
          store,
          log,
        });
        cleanup.unshift(() => checkpointing?.close());
      }
      const api = await startServer({
        config,
        endpointSchemas,
        upstream,
        log,
        ...(store && checkpointing
          ? { store, keepRows: split?.generation.epoch != null, checkpoints: checkpointing.hooks }
          : {}),
      });
      cleanup.unshift(() => api.stop());
      announceApi(log, config, api.url, api.grpcAddress);
      const tableStats: readonly SourceStats[] = api.tables;
      show(new Progress({ sources: tableStats, endpointRows: () => api.endpointRows() }));
      cleanup.unshift(() => show(undefined));
      return { failed: api.failed };
    },
  );
}

const invokedDirectly = process.argv[1] && /main\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
