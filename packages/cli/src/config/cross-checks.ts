import { corsOriginProblem } from '@dozer/api';
import { BUILTIN_CONNECTORS } from '@dozer/connectors';
import { DEFAULT_API, DEFAULT_NODE_ADDRESSES, DEFAULT_QUEUE_MEMORY_LIMIT_BYTES } from './defaults.js';
import { type ConfigIssue, type ConfigPath, closestMatch, didYouMean, formatPath } from './issues.js';
import { listedNodePaths, nodeListIssues } from './nodes.js';
import type { ConnectionValidator, DozerConfig } from './types.js';
import type { YamlLocator } from './yaml-locator.js';
import { isPlainObject, valueAt } from './zod-issues.js';

/** Connector kinds built into Dozer; a plugin is named by its npm package name instead. */
export const BUILTIN_CONNECTOR_KINDS: readonly string[] = BUILTIN_CONNECTORS.map((f) => f.kind);

/** Anything that can place an issue: the file's locator, or nothing for a config built by hand. */
export interface IssueSink {
  issueAt(path: ConfigPath, message: string): ConfigIssue;
}

interface Item {
  readonly index: number;
  readonly value: Record<string, unknown>;
}

function items(raw: unknown, key: string): Item[] {
  const list = valueAt(raw, [key]);
  if (!Array.isArray(list)) return [];
  return list.flatMap((value, index) => (isPlainObject(value) ? [{ index, value }] : []));
}

function str(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function list(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}

/**
 * The checks that relate values to each other: unique names and paths,
 * references between sections, connector kinds and their settings. They read
 * the raw data defensively so they still run when other parts are malformed.
 */
export function crossCheck(
  raw: unknown,
  locator: YamlLocator,
  validators: ReadonlyMap<string, ConnectionValidator> | undefined,
  sqlOutputs: readonly string[],
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const connections = items(raw, 'connections');
  const sources = items(raw, 'sources');
  const endpoints = items(raw, 'endpoints');

  checkUnique(connections, 'connections', 'name', 'connection name', locator, issues);
  checkUnique(sources, 'sources', 'name', 'source name', locator, issues);
  checkUnique(endpoints, 'endpoints', 'name', 'endpoint name', locator, issues);
  checkUnique(endpoints, 'endpoints', 'path', 'endpoint path', locator, issues, normalizeUrlPath);

  checkConnections(connections, locator, validators, issues);

  const auth = valueAt(raw, ['api', 'auth']);
  if (isPlainObject(auth)) {
    if (auth.algorithm === 'HS256' && str(auth, 'secret') === undefined) {
      issues.push(
        locator.issueAt(
          ['api', 'auth'],
          'api.auth: HS256 needs a secret: add `secret: ${DOZER_JWT_SECRET}` and set that variable (32+ random characters)',
        ),
      );
    }
    if (auth.algorithm === 'RS256' && str(auth, 'public_key_file') === undefined) {
      issues.push(
        locator.issueAt(
          ['api', 'auth'],
          'api.auth: RS256 needs public_key_file (a PEM file; private_key_file only to issue tokens)',
        ),
      );
    }
  }

  const connectionNames = connections.flatMap((c) => str(c.value, 'name') ?? []);
  for (const { index, value } of sources) {
    const ref = str(value, 'connection');
    if (ref !== undefined && !connectionNames.includes(ref)) {
      const hint =
        connectionNames.length === 0
          ? '; no connections are defined: add one under connections'
          : `${didYouMean(ref, connectionNames)} (connections: ${list(connectionNames)})`;
      issues.push(
        locator.issueAt(
          ['sources', index, 'connection'],
          `sources[${index}].connection: unknown connection ${JSON.stringify(ref)}${hint}`,
        ),
      );
    }
    const columns = value.columns;
    if (Array.isArray(columns)) {
      columns.forEach((col, i) => {
        if (typeof col === 'string' && columns.indexOf(col) < i) {
          issues.push(
            locator.issueAt(
              ['sources', index, 'columns', i],
              `sources[${index}].columns[${i}]: column ${JSON.stringify(col)} is listed twice`,
            ),
          );
        }
      });
    }
  }

  for (const { index, value } of endpoints) {
    const path = str(value, 'path');
    if (path === undefined) continue;
    const where = `endpoints[${index}].path`;
    if (!path.startsWith('/')) {
      issues.push(
        locator.issueAt(
          ['endpoints', index, 'path'],
          `${where}: expected a path starting with "/", got ${JSON.stringify(path)}; write ${JSON.stringify(`/${path}`)}`,
        ),
      );
    } else if (/[\s?#]/.test(path)) {
      issues.push(
        locator.issueAt(
          ['endpoints', index, 'path'],
          `${where}: ${JSON.stringify(path)} contains a space, "?" or "#"; use only URL path characters`,
        ),
      );
    } else if (RESERVED_PATHS.has(normalizeUrlPath(path).split('/')[1] ?? '')) {
      issues.push(
        locator.issueAt(
          ['endpoints', index, 'path'],
          `${where}: ${JSON.stringify(path)} is taken by the API itself (/health, /ready, /metrics, /docs, /openapi.json); choose another path`,
        ),
      );
    }
  }

  const sourceNames = sources.flatMap((s) => str(s.value, 'name') ?? []);
  const tables = endpoints.flatMap(({ index, value }) => {
    const table = str(value, 'table_name');
    return table === undefined ? [] : [{ index, table }];
  });
  issues.push(...tableIssues(tables, sourceNames, sqlOutputs, locator));
  issues.push(...apiIssues(raw, locator));
  issues.push(...nodesIssues(raw, locator));
  issues.push(...nodeListIssues(raw, locator, sourceNames, sqlOutputs));
  return issues;
}

/** First path segments the REST server answers itself. */
const RESERVED_PATHS = new Set(['health', 'ready', 'metrics', 'docs', 'openapi.json']);

function normalizeUrlPath(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

function checkUnique(
  entries: readonly Item[],
  listKey: string,
  field: string,
  what: string,
  locator: YamlLocator,
  issues: ConfigIssue[],
  normalize: (s: string) => string = (s) => s,
): void {
  const seen = new Map<string, number>();
  for (const { index, value } of entries) {
    const v = str(value, field);
    if (v === undefined) continue;
    const key = normalize(v);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, index);
      continue;
    }
    const firstLine = locator.positionOf([listKey, first, field]).line;
    issues.push(
      locator.issueAt(
        [listKey, index, field],
        `${listKey}[${index}].${field}: duplicate ${what} ${JSON.stringify(v)}, already used by ` +
          `${listKey}[${first}] on line ${firstLine}; each ${what} must be unique`,
      ),
    );
  }
}

/** Scoped names and names with `-` or `.` read as npm packages; bare words as (mistyped) built-ins. */
function looksLikeNpmPackage(kind: string): boolean {
  return /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/.test(kind) && /[@/.-]/.test(kind);
}

function checkConnections(
  connections: readonly Item[],
  locator: YamlLocator,
  validators: ReadonlyMap<string, ConnectionValidator> | undefined,
  issues: ConfigIssue[],
): void {
  const known = validators === undefined ? BUILTIN_CONNECTOR_KINDS : [...validators.keys()];
  const knownBuiltins = known.filter((k) => !looksLikeNpmPackage(k));
  for (const { index, value } of connections) {
    const kind = str(value, 'kind');
    if (kind === undefined) continue;
    const where = `connections[${index}].kind`;
    if (!known.includes(kind)) {
      const typo = closestMatch(kind, knownBuiltins);
      if (typo !== undefined || !looksLikeNpmPackage(kind)) {
        const hint = typo === undefined ? '' : `; did you mean ${JSON.stringify(typo)}?`;
        issues.push(
          locator.issueAt(
            ['connections', index, 'kind'],
            `${where}: unknown connector kind ${JSON.stringify(kind)}${hint} (built-in kinds: ${list(knownBuiltins)}; ` +
              'a plugin is named by its npm package name, e.g. @acme/dozer-connector-x)',
          ),
        );
      }
      continue;
    }
    const validate = validators?.get(kind);
    if (validate === undefined) continue;
    const config = value.config === undefined ? {} : value.config;
    let found: ReturnType<ConnectionValidator>;
    try {
      found = validate(config);
    } catch (e) {
      issues.push(
        locator.issueAt(
          ['connections', index, 'config'],
          `connections[${index}].config: the ${kind} connector could not check its settings: ${
            e instanceof Error ? e.message : String(e)
          }`,
        ),
      );
      continue;
    }
    for (const issue of found) {
      const path = ['connections', index, 'config', ...issue.path];
      issues.push(locator.issueAt(path, `${formatPath(path)}: ${issue.message}`));
    }
  }
}

/** Endpoint tables that are neither a source nor an SQL output. */
export function tableIssues(
  tables: readonly { readonly index: number; readonly table: string }[],
  sourceNames: readonly string[],
  sqlOutputs: readonly string[],
  sink: IssueSink,
): ConfigIssue[] {
  // SQL folds unquoted identifiers, so `INTO Big_Trips` makes `big_trips` too.
  const outputs = new Set(sqlOutputs.map((o) => o.toLowerCase()));
  const issues: ConfigIssue[] = [];
  for (const { index, table } of tables) {
    if (sourceNames.includes(table) || outputs.has(table.toLowerCase())) continue;
    issues.push(
      sink.issueAt(
        ['endpoints', index, 'table_name'],
        `endpoints[${index}].table_name: unknown table ${JSON.stringify(table)}` +
          `${didYouMean(table, [...sourceNames, ...sqlOutputs])} ` +
          `(sources: ${list(sourceNames)}; SQL outputs: ${list(sqlOutputs)})`,
      ),
    );
  }
  return issues;
}

function apiIssues(raw: unknown, locator: YamlLocator): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  // Values the schema rejects are reported there; compare only valid ones.
  const num = (path: ConfigPath, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = valueAt(raw, path);
    return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fallback;
  };
  const defaultLimit = num(['api', 'default_limit'], DEFAULT_API.default_limit, 1);
  const maxLimit = num(['api', 'max_limit'], DEFAULT_API.max_limit, 1);
  if (defaultLimit > maxLimit) {
    const givenDefault = valueAt(raw, ['api', 'default_limit']) !== undefined;
    const path = givenDefault ? ['api', 'default_limit'] : ['api', 'max_limit'];
    issues.push(
      locator.issueAt(
        path,
        `${formatPath(path)}: api.default_limit (${defaultLimit}) is more than api.max_limit (${maxLimit}); ` +
          'lower default_limit or raise max_limit',
      ),
    );
  }
  const origins = valueAt(raw, ['api', 'rest', 'cors', 'origins']);
  if (Array.isArray(origins)) {
    origins.forEach((o, i) => {
      if (typeof o !== 'string') return;
      const path = ['api', 'rest', 'cors', 'origins', i];
      const problem =
        o === '*'
          ? origins.length > 1
            ? '"*" allows every origin: give "*" alone, or only the origins to allow'
            : undefined
          : corsOriginProblem(o);
      if (problem !== undefined) issues.push(locator.issueAt(path, `${formatPath(path)}: ${problem}`));
    });
  }
  const host = (which: string, fallback: string): string => {
    const v = valueAt(raw, ['api', which, 'host']);
    return typeof v === 'string' ? v : fallback;
  };
  const restPort = num(['api', 'rest', 'port'], DEFAULT_API.rest.port, 0, 65535);
  const grpcPort = num(['api', 'grpc', 'port'], DEFAULT_API.grpc.port, 0, 65535);
  const restHost = host('rest', DEFAULT_API.rest.host);
  const grpcHost = host('grpc', DEFAULT_API.grpc.host);
  const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::';
  if (
    restPort === grpcPort &&
    restPort !== 0 &&
    (restHost === grpcHost || wildcard(restHost) || wildcard(grpcHost))
  ) {
    const path =
      valueAt(raw, ['api', 'grpc', 'port']) !== undefined ? ['api', 'grpc', 'port'] : ['api', 'rest', 'port'];
    issues.push(
      locator.issueAt(
        path,
        `${formatPath(path)}: REST and gRPC both listen on port ${restPort}; give each server its own port`,
      ),
    );
  }
  return issues;
}

/** The endpoint tables of a loaded config, for {@link tableIssues}. */
export function endpointTables(config: DozerConfig): { index: number; table: string }[] {
  return config.endpoints.map((e, index) => ({ index, table: e.table_name }));
}

const S3_KEYS = ['bucket', 'prefix', 'region', 'endpoint', 'force_path_style', 'credentials'] as const;

/** `nodes`: the object store's kind against its keys, queue sizes, and listeners that would collide. */
function nodesIssues(raw: unknown, locator: YamlLocator): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const os = valueAt(raw, ['nodes', 'object_store']);
  if (isPlainObject(os)) {
    const at = ['nodes', 'object_store'];
    if (os.kind === 's3') {
      if (os.path !== undefined) {
        issues.push(
          locator.issueAt(
            [...at, 'path'],
            'nodes.object_store.path: path is a setting of the local store; an s3 store takes bucket and prefix',
          ),
        );
      }
      if (os.bucket === undefined) {
        issues.push(
          locator.issueAt(at, 'nodes.object_store: an s3 store needs a bucket, e.g. `bucket: my-dozer-data`'),
        );
      } else if (typeof os.bucket === 'string' && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(os.bucket)) {
        issues.push(
          locator.issueAt(
            [...at, 'bucket'],
            `nodes.object_store.bucket: ${JSON.stringify(os.bucket)} is not an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens`,
          ),
        );
      }
      if (
        typeof os.prefix === 'string' &&
        os.prefix !== '' &&
        (!os.prefix.endsWith('/') || os.prefix.startsWith('/'))
      ) {
        issues.push(
          locator.issueAt(
            [...at, 'prefix'],
            `nodes.object_store.prefix: expected a key prefix ending in "/" and not starting with one, like "dozer/", got ${JSON.stringify(os.prefix)}`,
          ),
        );
      }
    } else if (os.kind === 'local' || os.kind === undefined) {
      for (const key of S3_KEYS) {
        if (os[key] === undefined) continue;
        issues.push(
          locator.issueAt(
            [...at, key],
            `nodes.object_store.${key}: ${key} is a setting of an s3 store; add \`kind: s3\` (the default kind is local, a directory given by path)`,
          ),
        );
      }
    }
  }

  const bytes = (key: string): number | undefined => {
    const v = valueAt(raw, ['nodes', 'queue', key]);
    return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : undefined;
  };
  const offloadAt = bytes('offload_at_bytes');
  const memory = bytes('memory_limit_bytes') ?? DEFAULT_QUEUE_MEMORY_LIMIT_BYTES;
  if (offloadAt !== undefined && offloadAt > memory) {
    issues.push(
      locator.issueAt(
        ['nodes', 'queue', 'offload_at_bytes'],
        `nodes.queue.offload_at_bytes: ${offloadAt} is more than nodes.queue.memory_limit_bytes (${memory}); ` +
          'offloading must start before memory is full: lower offload_at_bytes or raise memory_limit_bytes',
      ),
    );
  }

  // Listeners of one machine: a node's host is both where it listens and where the next role connects.
  const listener = (path: ConfigPath, fallback: { host: string; port: number }, key = 'port') => {
    const host = valueAt(raw, [...path, 'host']);
    const port = valueAt(raw, [...path, key]);
    return {
      /** The port's setting, and what listens there (`nodes.ingestor`, or its `http_port`). */
      at: [...path, key],
      what: key === 'port' ? path : [...path, key],
      host: typeof host === 'string' ? host : fallback.host,
      port: typeof port === 'number' && Number.isInteger(port) ? port : fallback.port,
      given: port !== undefined,
    };
  };
  // The list form's nodes require a port; a missing one is the schema's to report.
  const listed = listedNodePaths(raw);
  const nodePaths: ConfigPath[] = listed ?? [
    ['nodes', 'ingestor'],
    ['nodes', 'processor'],
  ];
  const fallbackOf = (path: ConfigPath) =>
    listed
      ? { host: '127.0.0.1', port: 0 }
      : path[1] === 'ingestor'
        ? DEFAULT_NODE_ADDRESSES.ingestor
        : DEFAULT_NODE_ADDRESSES.processor;
  const nodes = nodePaths.map((path) => listener(path, fallbackOf(path)));
  for (const n of nodes) {
    if (n.given && n.port === 0) {
      issues.push(
        locator.issueAt(
          n.at,
          `${formatPath(n.at)}: expected a fixed port from 1 to 65535; the next role connects to it, so 0 (any free port) cannot work`,
        ),
      );
    }
  }
  // A role's HTTP status port (0: any free one, nothing connects to it by config).
  const statusPorts = nodePaths
    .map((path) => listener(path, { host: fallbackOf(path).host, port: 0 }, 'http_port'))
    .filter((l) => l.given);
  const mine = [...nodes, ...statusPorts];
  const all = [
    ...mine,
    listener(['api', 'rest'], DEFAULT_API.rest),
    listener(['api', 'grpc'], DEFAULT_API.grpc),
  ];
  const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::';
  // Node pairs first; REST against gRPC is apiIssues' to report.
  for (let i = 0; i < mine.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!;
      const b = all[j]!;
      if (a.port !== b.port || a.port === 0) continue;
      if (a.host !== b.host && !wildcard(a.host) && !wildcard(b.host)) continue;
      const [blame, other] = a.given || !b.given ? [a, b] : [b, a];
      issues.push(
        locator.issueAt(
          blame.at,
          `${formatPath(blame.at)}: ${formatPath(blame.what)} and ${formatPath(other.what)} both listen on ${blame.host === other.host ? blame.host : 'this machine'} port ${a.port}; give each its own port`,
        ),
      );
    }
  }
  return issues;
}
