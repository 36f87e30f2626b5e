import path from 'node:path';
import {
  createAuthenticator,
  createRestApp,
  type RunningGrpcServer,
  type RunningServer,
  startGrpcServer,
  startHttpServer,
} from '@dozer/api';
import {
  type Connector,
  type ConnectorRegistry,
  formatIssuePath,
  projectTable,
  type TableInfo,
} from '@dozer/connectors';
import { ConfigError, makeSchema, type OpBatch, type Operation, type Schema } from '@dozer/core';
import { compileSql, type SqlExecutor, type SqlPipeline } from '@dozer/sql';
import {
  defaultSecondaryIndexes,
  type EndpointStore,
  openStore,
  type SecondaryIndexDefinition,
  type Store,
} from '@dozer/store';
import { resolveAuthConfig } from './auth.js';
import type { DozerConfig, EndpointConfig, SourceConfig } from './config/index.js';
import type { Logger } from './logger.js';
import type { SourceStats } from './progress.js';
import { protoDirOf, writeProtos } from './protos.js';

/** Everything `dozer build` checks, resolved: source schemas, the compiled SQL, endpoint schemas. */
export interface PipelinePlan {
  readonly config: DozerConfig;
  /** One per connection that a source uses. */
  readonly connectors: ReadonlyMap<string, Connector>;
  readonly sourceSchemas: ReadonlyMap<string, Schema>;
  readonly sql: SqlPipeline | undefined;
  /** Schema of each endpoint: its table's, keyed by `index.primary_key` when given. */
  readonly endpointSchemas: ReadonlyMap<string, Schema>;
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
      const connector = factory.create(conn.config, {
        name: conn.name,
        logger: connectorLogger(log, conn.name),
      });
      connectors.set(conn.name, connector);
      tablesByConnection.set(conn.name, await connector.listTables());
    }
    const sourceSchemas = new Map<string, Schema>();
    for (const [i, source] of config.sources.entries()) {
      const tables = tablesByConnection.get(source.connection) ?? [];
      const table = tables.find((t) => t.name === source.table_name);
      if (!table) {
        throw new ConfigError(
          `sources[${i}] (${source.name}): connection "${source.connection}" has no table "${source.table_name}" (tables: ${tables.map((t) => t.name).join(', ') || 'none'})`,
        );
      }
      sourceSchemas.set(source.name, projectTable(table, source.columns).schema);
    }
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
    return { config, connectors, sourceSchemas, sql, endpointSchemas };
  } catch (e) {
    await Promise.allSettled([...connectors.values()].map((c) => c.close()));
    throw e;
  }
}

/** A running pipeline: connectors feeding SQL feeding the store, served over REST. */
export interface RunningPipeline {
  readonly url: string;
  /** `host:port` of the gRPC API. */
  readonly grpcAddress: string;
  readonly store: Store;
  readonly sources: readonly SourceStats[];
  endpointRows(): Array<[string, number]>;
  /** Settles when every connector has finished (rejects on the first failure). */
  readonly ingestion: Promise<void>;
  /** Stops ingesting, waits for in-flight writes, closes the server and the store. */
  stop(): Promise<void>;
}

/**
 * Starts a planned pipeline. Until checkpoints exist (a later release), each
 * start rebuilds the store from scratch: endpoints are reset and every source
 * is read again from its beginning, so nothing stale or duplicated is served.
 */
export async function startPipeline(plan: PipelinePlan, log: Logger): Promise<RunningPipeline> {
  const { config } = plan;
  const store = openStore({
    path: path.join(config.home_dir, 'store'),
    maxLimit: config.api.max_limit,
    defaultLimit: config.api.default_limit,
  });
  const endpointsByTable = new Map<string, EndpointStore[]>();
  const endpointStores: Array<[string, EndpointStore]> = [];
  let server: RunningServer | undefined;
  let grpc: RunningGrpcServer | undefined;
  const abort = new AbortController();
  try {
    for (const ep of config.endpoints) {
      const schema = plan.endpointSchemas.get(ep.name)!;
      const es = store.openEndpoint(
        {
          name: ep.name,
          schema,
          ...(ep.index.primary_key ? { primaryKey: ep.index.primary_key } : {}),
          secondaryIndexes: secondaryIndexesOf(ep, schema),
          conflictResolution: {
            onInsert: ep.conflict_resolution.on_insert,
            onUpdate: ep.conflict_resolution.on_update,
            onDelete: ep.conflict_resolution.on_delete,
          },
        },
        { reset: true },
      );
      endpointStores.push([ep.name, es]);
      const list = endpointsByTable.get(ep.table_name) ?? [];
      list.push(es);
      endpointsByTable.set(ep.table_name, list);
    }

    const sources: SourceStats[] = config.sources.map((s) => ({
      name: s.name,
      ops: 0,
      batches: 0,
      snapshotDone: false,
      finished: false,
    }));
    const statsByName = new Map(sources.map((s) => [s.name, s]));
    const executor: SqlExecutor | undefined = plan.sql?.createExecutor();

    const auth = config.api.auth ? createAuthenticator(resolveAuthConfig(config.api.auth)) : undefined;
    const app = createRestApp({
      info: { title: config.app_name, version: '1' },
      ...(auth ? { auth } : {}),
      endpoints: config.endpoints.map((ep) => ({
        name: ep.name,
        path: ep.path,
        store: endpointStores.find(([n]) => n === ep.name)![1],
      })),
      onInternalError: (e, req) => log.error(`${req.method} ${req.path} failed: ${e.stack ?? e.message}`),
      health: () => ({
        sources: Object.fromEntries(
          sources.map((s) => [
            s.name,
            { ops: s.ops, phase: s.finished ? 'done' : s.snapshotDone ? 'live' : 'snapshot' },
          ]),
        ),
      }),
    });
    server = await startHttpServer(app, config.api.rest);
    const protoDir = protoDirOf(config.home_dir);
    writeProtos(protoDir, plan.endpointSchemas);
    grpc = await startGrpcServer({
      endpoints: endpointStores.map(([name, store]) => ({ name, store })),
      host: config.api.grpc.host,
      port: config.api.grpc.port,
      protoDir,
      ...(auth ? { auth } : {}),
      onInternalError: (e, call) => log.error(`gRPC ${call.method} failed: ${e.stack ?? e.message}`),
    });

    // One batch at a time through SQL and into the store, in arrival order:
    // the SQL executor is single-threaded state, and awaiting the chain is
    // the backpressure each connector sees.
    let chain: Promise<void> = Promise.resolve();
    let failure: unknown;
    const process = async (source: SourceConfig, batch: OpBatch): Promise<void> => {
      const stats = statsByName.get(source.name)!;
      stats.ops += batch.ops.length;
      stats.batches += 1;
      const writes = new Map<EndpointStore, Operation[]>();
      const add = (table: string, ops: readonly Operation[]) => {
        for (const es of endpointsByTable.get(table) ?? []) {
          const list = writes.get(es);
          if (list) list.push(...ops);
          else writes.set(es, [...ops]);
        }
      };
      add(source.name, batch.ops);
      if (executor && plan.sql?.inputs.includes(source.name)) {
        for (const [table, ops] of executor.push(source.name, batch.ops)) add(table, ops);
      }
      await Promise.all([...writes].map(([es, ops]) => es.apply(ops)));
      // The store holds this batch durably now (LMDB committed it): let the source drop what
      // comes before (a Postgres slot's confirmed LSN). Until checkpoints exist this is the
      // durability point; a failed acknowledgement only delays the source's cleanup.
      const connector = plan.connectors.get(source.connection);
      if (batch.position !== null && connector?.acknowledge) {
        connector.acknowledge(batch.table, batch.position).catch((e: unknown) => {
          if (!abort.signal.aborted) {
            log.warn(
              `source ${source.name}: acknowledging position ${batch.position} failed: ${e instanceof Error ? e.message : String(e)}`,
            );
          }
        });
      }
    };
    const enqueue = (source: SourceConfig, batch: OpBatch): Promise<void> => {
      const next = chain.then(() => {
        if (failure) throw failure;
        return process(source, batch);
      });
      chain = next.catch((e) => {
        failure ??= e;
      });
      return next;
    };

    const runs: Promise<void>[] = [];
    for (const [connName, connector] of plan.connectors) {
      const connSources = config.sources.filter((s) => s.connection === connName);
      const byTable = new Map(connSources.map((s) => [s.table_name, s]));
      runs.push(
        connector
          .start({
            tables: connSources.map((s) => ({
              name: s.table_name,
              ...(s.columns ? { columns: s.columns } : {}),
              resumeFrom: null,
            })),
            signal: abort.signal,
            sink: {
              write: (batch) => enqueue(byTable.get(batch.table)!, batch),
              snapshotDone: async (table) => {
                const s = byTable.get(table);
                if (s) {
                  statsByName.get(s.name)!.snapshotDone = true;
                  log.info(
                    `source ${s.name}: snapshot done (${statsByName.get(s.name)!.ops.toLocaleString('en-US')} ops)`,
                  );
                }
              },
            },
          })
          .then(() => {
            for (const s of connSources) statsByName.get(s.name)!.finished = true;
          }),
      );
    }
    const ingestion = Promise.all(runs).then(async () => {
      await chain;
      if (failure) throw failure;
    });

    let stopped = false;
    return {
      url: server.url,
      grpcAddress: grpc.address,
      store,
      sources,
      endpointRows: () => endpointStores.map(([name, es]) => [name, es.count()]),
      ingestion,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        abort.abort();
        await Promise.allSettled(runs);
        await chain;
        await Promise.allSettled([...plan.connectors.values()].map((c) => c.close()));
        await grpc?.close();
        await server?.close();
        await store.close();
      },
    };
  } catch (e) {
    abort.abort();
    await grpc?.close();
    await server?.close();
    await Promise.allSettled([...plan.connectors.values()].map((c) => c.close()));
    await store.close();
    throw e;
  }
}

/**
 * The store indexes of an endpoint from `index.secondary`, as in Dozer: the
 * default one per field minus `skip_default`, plus `create`.
 */
export function secondaryIndexesOf(ep: EndpointConfig, schema: Schema): SecondaryIndexDefinition[] {
  const { skip_default, create } = ep.index.secondary;
  const where = `endpoint "${ep.name}": index.secondary`;
  const names = schema.fields.map((f) => f.name);
  const check = (field: string, key: string) => {
    if (!names.includes(field)) {
      throw new ConfigError(
        `${where}.${key} names "${field}", not a field of "${ep.table_name}" (fields: ${names.join(', ')})`,
      );
    }
  };
  for (const f of skip_default) check(f, 'skip_default');
  const defaults = defaultSecondaryIndexes(schema, ep.index.primary_key).filter(
    (ix) => !skip_default.includes(ix.fields[0]!),
  );
  const extra = create.map((c, i): SecondaryIndexDefinition => {
    if ('sorted_inverted' in c) {
      for (const f of c.sorted_inverted.fields) check(f, `create[${i}].sorted_inverted.fields`);
      return { kind: 'sorted', fields: c.sorted_inverted.fields };
    }
    check(c.full_text.field, `create[${i}].full_text.field`);
    const type = schema.fields.find((f) => f.name === c.full_text.field)!.type;
    if (type !== 'string' && type !== 'text') {
      throw new ConfigError(
        `${where}.create[${i}].full_text.field: "${c.full_text.field}" is ${type}; full-text indexes need a string or text field`,
      );
    }
    return { kind: 'full_text', field: c.full_text.field };
  });
  return [...defaults, ...extra];
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
