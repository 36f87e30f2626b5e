import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '@dozer/core';
import { isScalar, LineCounter, parseDocument } from 'yaml';
import { crossCheck, endpointTables, type IssueSink, tableIssues } from './cross-checks.js';
import {
  DEFAULT_API,
  DEFAULT_CHECKPOINT,
  DEFAULT_HOME_DIR,
  DEFAULT_NODE_ADDRESSES,
  DEFAULT_OBJECT_STORE_DIR,
  DEFAULT_QUEUE_MEMORY_LIMIT_BYTES,
  DEFAULT_SEGMENT_BYTES,
  DEFAULT_THREADS,
} from './defaults.js';
import { substituteEnv } from './env-substitution.js';
import {
  type ConfigIssue,
  type ConfigPath,
  configErrorFromIssues,
  describeValue,
  formatPath,
} from './issues.js';
import { listedNodePortPaths, type NodeLists, nodeListsWithDefaults } from './nodes.js';
import { NUMERIC_PATHS, type RawConfig, rawConfigSchema } from './schema.js';
import { scanSqlOutputs } from './sql-outputs.js';
import type {
  DozerConfig,
  EndpointConfig,
  NodesConfig,
  ObjectStoreSettings,
  ParseConfigOptions,
  SecondaryIndexSpec,
} from './types.js';
import { YamlLocator } from './yaml-locator.js';
import { isPlainObject, valueAt, zodIssuesToConfigIssues } from './zod-issues.js';

// Positions stay with the config they came from, so checks made after
// loading (endpoint tables against the compiled SQL) can point into the file.
const locators = new WeakMap<DozerConfig, YamlLocator>();

/**
 * Reads, validates and fills in defaults of a dozer.yaml file. Throws one
 * {@link ConfigError} listing every problem, each as `file:line:column: ...`.
 */
export function loadConfig(path: string, options: ParseConfigOptions = {}): DozerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(e);
    throw new ConfigError(
      `${path}: cannot read the config file (${reason}); create one with \`dozer init\``,
      {
        cause: e,
      },
    );
  }
  return parseConfig(text, path, options);
}

/**
 * Same as {@link loadConfig} on text already read; `fileName` is used in
 * messages and `home_dir` is resolved against its directory.
 */
export function parseConfig(text: string, fileName: string, options: ParseConfigOptions = {}): DozerConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const locator = new YamlLocator(fileName, doc, lineCounter);
  if (doc.errors.length > 0) {
    throw configErrorFromIssues(
      doc.errors.map((e) => ({
        file: fileName,
        ...locator.positionOfOffset(e.pos[0]),
        path: [],
        message: `invalid YAML: ${e.message}`,
      })),
    );
  }

  const issues: ConfigIssue[] = [];
  const substituted = substituteEnv(doc, options.env ?? process.env, text, locator, issues);
  // A failed substitution leaves `${VAR}` in place; more complaints about that value would only repeat it.
  const unresolved = new Set(issues.map((i) => formatPath(i.path)));
  const raw: unknown = doc.toJS({ maxAliasCount: 1000 });
  for (const path of [...NUMERIC_PATHS, ...listedNodePortPaths(raw)]) {
    const node = locator.nodeAt(path);
    if (
      isScalar(node) &&
      substituted.has(node) &&
      typeof node.value === 'string' &&
      /^\d+$/.test(node.value)
    ) {
      setAt(raw, path, Number(node.value));
    }
  }

  if (!isPlainObject(raw)) {
    const message =
      raw == null
        ? 'the file has no settings; run `dozer init` for a commented example'
        : `expected a map of settings at the top level, got ${describeValue(raw)}`;
    throw configErrorFromIssues([...issues, locator.issueAt([], message)]);
  }

  const parsed = rawConfigSchema.safeParse(raw);
  const later: ConfigIssue[] = parsed.success
    ? []
    : zodIssuesToConfigIssues(parsed.error.issues, raw, locator);
  const sql = valueAt(raw, ['sql']);
  later.push(
    ...crossCheck(
      raw,
      locator,
      options.connectionValidators,
      typeof sql === 'string' ? scanSqlOutputs(sql) : [],
    ),
  );
  issues.push(...later.filter((i) => !unresolved.has(formatPath(i.path))));
  if (issues.length > 0 || !parsed.success) throw configErrorFromIssues(issues);

  const config = withDefaults(parsed.data, fileName);
  locators.set(config, locator);
  return config;
}

/**
 * Checks that every endpoint serves a source or one of `sqlOutputs` (the
 * tables the compiled SQL writes). Returns issues in the same form as
 * `loadConfig` errors, located in the file when `config` came from
 * `loadConfig`/`parseConfig`; throw them with `configErrorFromIssues`.
 */
export function checkEndpointTables(config: DozerConfig, sqlOutputs: readonly string[]): ConfigIssue[] {
  const sink: IssueSink = locators.get(config) ?? {
    issueAt: (path: ConfigPath, message: string) => ({
      file: 'dozer.yaml',
      line: 0,
      column: 0,
      path,
      message,
    }),
  };
  return tableIssues(
    endpointTables(config),
    config.sources.map((s) => s.name),
    sqlOutputs,
    sink,
  );
}

function setAt(data: unknown, path: ConfigPath, value: unknown): void {
  const parent = valueAt(data, path.slice(0, -1));
  const key = path[path.length - 1];
  if (isPlainObject(parent) && key !== undefined) parent[key] = value;
}

function nodesWithDefaults(
  raw: RawConfig['nodes'],
  baseDir: string,
  homeDir: string,
): Omit<NodesConfig, keyof NodeLists> {
  const nodes = raw ?? {};
  const os = nodes.object_store ?? {};
  // cross-checks.ts made sure an s3 store has a bucket and a local one has no s3 keys.
  const objectStore: ObjectStoreSettings =
    os.kind === 's3'
      ? {
          kind: 's3',
          bucket: os.bucket!,
          prefix: os.prefix ?? '',
          ...(os.region === undefined ? {} : { region: os.region }),
          ...(os.endpoint === undefined ? {} : { endpoint: os.endpoint }),
          force_path_style: os.force_path_style ?? false,
          ...(os.credentials === undefined
            ? {}
            : {
                credentials: {
                  access_key_id: os.credentials.access_key_id,
                  secret_access_key: os.credentials.secret_access_key,
                  ...(os.credentials.session_token === undefined
                    ? {}
                    : { session_token: os.credentials.session_token }),
                },
              }),
        }
      : {
          kind: 'local',
          path:
            os.path === undefined ? resolve(homeDir, DEFAULT_OBJECT_STORE_DIR) : resolve(baseDir, os.path),
        };
  const q = nodes.queue ?? {};
  const memory = q.memory_limit_bytes ?? DEFAULT_QUEUE_MEMORY_LIMIT_BYTES;
  const offloadAt = q.offload_at_bytes ?? Math.max(1, Math.floor(memory / 2));
  return {
    ingestor: {
      host: nodes.ingestor?.host ?? DEFAULT_NODE_ADDRESSES.ingestor.host,
      port: nodes.ingestor?.port ?? DEFAULT_NODE_ADDRESSES.ingestor.port,
    },
    processor: {
      host: nodes.processor?.host ?? DEFAULT_NODE_ADDRESSES.processor.host,
      port: nodes.processor?.port ?? DEFAULT_NODE_ADDRESSES.processor.port,
    },
    object_store: objectStore,
    queue: {
      memory_limit_bytes: memory,
      offload_at_bytes: offloadAt,
      segment_bytes: q.segment_bytes ?? Math.min(DEFAULT_SEGMENT_BYTES, offloadAt),
    },
  };
}

function withDefaults(raw: RawConfig, fileName: string): DozerConfig {
  const api = raw.api ?? {};
  const baseDir = dirname(resolve(fileName));
  const homeDir = resolve(baseDir, raw.home_dir ?? DEFAULT_HOME_DIR);
  const config: DozerConfig = {
    version: raw.version,
    app_name: raw.app_name,
    home_dir: homeDir,
    base_dir: baseDir,
    connections: (raw.connections ?? []).map((c) => ({
      name: c.name,
      kind: c.kind,
      config: c.config ?? {},
      thread: c.thread ?? true,
    })),
    sources: (raw.sources ?? []).map((s) => ({
      name: s.name,
      connection: s.connection,
      table_name: s.table_name ?? s.name,
      ...(s.columns === undefined ? {} : { columns: s.columns }),
    })),
    ...(raw.sql === undefined ? {} : { sql: raw.sql }),
    threads: raw.threads ?? DEFAULT_THREADS,
    endpoints: (raw.endpoints ?? []).map(
      (e): EndpointConfig => ({
        name: e.name,
        path: e.path,
        table_name: e.table_name,
        index: {
          ...(e.index?.primary_key === undefined ? {} : { primary_key: e.index.primary_key }),
          secondary: {
            skip_default: e.index?.secondary?.skip_default ?? [],
            create: (e.index?.secondary?.create ?? []).map(
              (c): SecondaryIndexSpec =>
                c.sorted_inverted !== undefined
                  ? { sorted_inverted: { fields: c.sorted_inverted.fields } }
                  : { full_text: { field: c.full_text!.field } },
            ),
          },
        },
        conflict_resolution: {
          on_insert: e.conflict_resolution?.on_insert ?? 'update',
          on_update: e.conflict_resolution?.on_update ?? 'upsert',
          on_delete: e.conflict_resolution?.on_delete ?? 'nothing',
        },
      }),
    ),
    api: {
      rest: {
        host: api.rest?.host ?? DEFAULT_API.rest.host,
        port: api.rest?.port ?? DEFAULT_API.rest.port,
        ...(api.rest?.cors === undefined
          ? {}
          : { cors: { origins: api.rest.cors.origins, max_age_s: api.rest.cors.max_age_s ?? 600 } }),
      },
      grpc: { host: api.grpc?.host ?? DEFAULT_API.grpc.host, port: api.grpc?.port ?? DEFAULT_API.grpc.port },
      default_limit: api.default_limit ?? DEFAULT_API.default_limit,
      max_limit: api.max_limit ?? DEFAULT_API.max_limit,
      read_threads: api.read_threads ?? DEFAULT_API.read_threads,
      ...(api.auth === undefined
        ? {}
        : {
            auth: {
              algorithm: api.auth.algorithm,
              ...(api.auth.secret === undefined ? {} : { secret: api.auth.secret }),
              ...(api.auth.public_key_file === undefined
                ? {}
                : { public_key_file: resolve(dirname(resolve(fileName)), api.auth.public_key_file) }),
              ...(api.auth.private_key_file === undefined
                ? {}
                : { private_key_file: resolve(dirname(resolve(fileName)), api.auth.private_key_file) }),
              ...(api.auth.issuer === undefined ? {} : { issuer: api.auth.issuer }),
              ...(api.auth.audience === undefined ? {} : { audience: api.auth.audience }),
            },
          }),
    },
    nodes: {
      ...nodesWithDefaults(raw.nodes, baseDir, homeDir),
      ...nodeListsWithDefaults(raw, raw.sql === undefined ? [] : scanSqlOutputs(raw.sql)),
    },
    checkpoint: {
      interval_ms: raw.checkpoint?.interval_ms ?? DEFAULT_CHECKPOINT.interval_ms,
      retain: raw.checkpoint?.retain ?? DEFAULT_CHECKPOINT.retain,
    },
  };
  return config;
}
