import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import {
  checkEndpointTables,
  configErrorFromIssues,
  formatConfigIssue,
  loadConfig,
  parseConfig,
} from './index.js';
import type { ConnectionValidator, DozerConfig } from './types.js';

const FULL = `version: 1
app_name: trips-demo
home_dir: ./state
connections:
  - name: gen
    kind: generator
    config: { seed: 42, rate: 20, tables: [{ name: trips, rows: 1000 }] }
sources:
  - name: trips
    connection: gen
    table_name: trips_v2
    columns: [id, fare]
sql: |
  SELECT id, fare FROM trips WHERE fare > 100 INTO big_trips;
endpoints:
  - name: big_trips
    path: /big-trips
    table_name: big_trips
    index:
      primary_key: [id]
      secondary:
        skip_default: [fare]
        create:
          - sorted_inverted: { fields: [id, fare] }
          - full_text: { field: note }
    conflict_resolution: { on_insert: update, on_update: upsert }
threads: 2
checkpoint: { interval_ms: 1000, retain: 5 }
api:
  rest: { host: 0.0.0.0, port: 9090 }
  grpc: { host: 0.0.0.0, port: 9091 }
  default_limit: 20
  max_limit: 100
  read_threads: 2
`;

/** The lines of the ConfigError that parsing `text` throws. */
function errorsOf(text: string, options: Parameters<typeof parseConfig>[2] = { env: {} }): string[] {
  try {
    parseConfig(text, 'dozer.yaml', options);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message.split('\n');
  }
  throw new Error('expected the config to be rejected');
}

const HEAD = 'version: 1\napp_name: a\n';

describe('parseConfig: a valid file', () => {
  it('returns every section typed, with paths resolved against the file', () => {
    const config = parseConfig(FULL, '/srv/app/dozer.yaml', { env: {} });
    expect(config).toEqual({
      version: 1,
      app_name: 'trips-demo',
      home_dir: '/srv/app/state',
      base_dir: '/srv/app',
      connections: [
        {
          name: 'gen',
          kind: 'generator',
          config: { seed: 42, rate: 20, tables: [{ name: 'trips', rows: 1000 }] },
          thread: true,
        },
      ],
      sources: [{ name: 'trips', connection: 'gen', table_name: 'trips_v2', columns: ['id', 'fare'] }],
      sql: 'SELECT id, fare FROM trips WHERE fare > 100 INTO big_trips;\n',
      threads: 2,
      endpoints: [
        {
          name: 'big_trips',
          path: '/big-trips',
          table_name: 'big_trips',
          index: {
            primary_key: ['id'],
            secondary: {
              skip_default: ['fare'],
              create: [{ sorted_inverted: { fields: ['id', 'fare'] } }, { full_text: { field: 'note' } }],
            },
          },
          conflict_resolution: { on_insert: 'update', on_update: 'upsert', on_delete: 'nothing' },
        },
      ],
      api: {
        rest: { host: '0.0.0.0', port: 9090 },
        grpc: { host: '0.0.0.0', port: 9091 },
        default_limit: 20,
        max_limit: 100,
        read_threads: 2,
      },
      nodes: {
        ingestor: { host: '127.0.0.1', port: 50052 },
        processor: { host: '127.0.0.1', port: 50053 },
        ingestors: [{ name: 'ingestor', host: '127.0.0.1', port: 50052, sources: ['trips'] }],
        processors: [{ name: 'processor', host: '127.0.0.1', port: 50053, tables: ['big_trips'] }],
        listed: false,
        object_store: { kind: 'local', path: '/srv/app/state/objects' },
        queue: {
          memory_limit_bytes: 64 * 1024 * 1024,
          offload_at_bytes: 32 * 1024 * 1024,
          segment_bytes: 8 * 1024 * 1024,
        },
      },
      checkpoint: { interval_ms: 1000, retain: 5 },
    } satisfies DozerConfig);
  });

  it('fills in defaults for everything optional', () => {
    const config = parseConfig(
      `${HEAD}connections: [{ name: gen, kind: generator }]\nsources: [{ name: trips, connection: gen }]\n` +
        'endpoints: [{ name: trips, path: /trips, table_name: trips }]\n',
      'conf/dozer.yaml',
      { env: {} },
    );
    expect(config.home_dir).toBe(resolve('conf', '.dozer'));
    expect(config.connections[0]?.config).toEqual({});
    expect(config.sources[0]).toEqual({ name: 'trips', connection: 'gen', table_name: 'trips' });
    expect(config.sql).toBeUndefined();
    expect(config.threads).toBe(0);
    expect(config.checkpoint).toEqual({ interval_ms: 5000, retain: 3 });
    expect(config.endpoints[0]?.index).toEqual({ secondary: { skip_default: [], create: [] } });
    expect(config.api).toEqual({
      rest: { host: '127.0.0.1', port: 8080 },
      grpc: { host: '127.0.0.1', port: 50051 },
      default_limit: 50,
      max_limit: 5000,
      read_threads: 1,
    });
  });

  it('accepts a file with only a version and a name', () => {
    const config = parseConfig(HEAD, 'dozer.yaml', { env: {} });
    expect(config.connections).toEqual([]);
    expect(config.sources).toEqual([]);
    expect(config.endpoints).toEqual([]);
  });

  it('accepts an endpoint over a source directly, and npm package names as connector kinds', () => {
    const config = parseConfig(
      `${HEAD}connections:\n  - { name: k, kind: "@acme/dozer-kafka" }\n  - { name: l, kind: dozer-connector-x }\n` +
        'sources: [{ name: t, connection: k }]\nendpoints: [{ name: t, path: /t, table_name: t }]\n',
      'dozer.yaml',
      { env: {} },
    );
    expect(config.connections.map((c) => c.kind)).toEqual(['@acme/dozer-kafka', 'dozer-connector-x']);
  });
});

describe('parseConfig: errors name file, line, column and key path', () => {
  it('reports a missing key at its parent object', () => {
    expect(errorsOf(`${HEAD}connections:\n- name: gen\n  config: {}\n`)).toEqual([
      'dozer.yaml:4:3: connections[0].kind: required key is missing',
    ]);
    expect(errorsOf('version: 1\nsql: ""\n')).toEqual(['dozer.yaml:1:1: app_name: required key is missing']);
  });

  it('reports a wrong type at the value', () => {
    const text = `${HEAD}api:\n  rest:\n    host: localhost\n    port: 80a\n`;
    expect(errorsOf(text)).toEqual(['dozer.yaml:6:11: api.rest.port: expected a number, got string "80a"']);
    expect(errorsOf(`${HEAD}sources: trips\n`)).toEqual([
      'dozer.yaml:3:10: sources: expected a list, got string "trips"',
    ]);
    expect(errorsOf(`${HEAD}connections:\n  - name: gen\n    kind:\n`)).toEqual([
      'dozer.yaml:5:5: connections[0].kind: expected a string, got an empty value',
    ]);
  });

  it('reports out-of-range numbers and the config version', () => {
    expect(errorsOf('version: 2\napp_name: a\napi: { rest: { port: 70000 }, max_limit: 0 }\n')).toEqual([
      'dozer.yaml:1:10: version: expected 1, the only config version this Dozer reads, got number 2',
      'dozer.yaml:3:22: api.rest.port: expected a port number from 0 to 65535, got number 70000',
      'dozer.yaml:3:42: api.max_limit: expected a whole number of at least 1, got number 0',
    ]);
    expect(errorsOf('version: 1\napp_name: a\nthreads: -1\n')).toEqual([
      'dozer.yaml:3:10: threads: expected a whole number of worker threads, 0 or more, got number -1',
    ]);
    expect(errorsOf('version: 1\napp_name: a\nthreads: 1.5\n')).toHaveLength(1);
    expect(errorsOf('version: 1\napp_name: a\ncheckpoint: { interval_ms: -5, retain: 0 }\n')).toEqual([
      'dozer.yaml:3:28: checkpoint.interval_ms: expected milliseconds between checkpoints, 0 to turn checkpoints off, got number -5',
      'dozer.yaml:3:40: checkpoint.retain: expected how many complete checkpoints to keep, at least 1, got number 0',
    ]);
  });

  it("reads a connection's thread switch and refuses what is not a boolean", () => {
    const text = (thread: string) =>
      `${HEAD}connections:\n  - name: gen\n    kind: generator\n    thread: ${thread}\nsources:\n  - name: trips\n    connection: gen\n`;
    expect(parseConfig(text('false'), '/x/dozer.yaml', { env: {} }).connections[0]!.thread).toBe(false);
    expect(errorsOf(text('"no"'))).toEqual([
      'dozer.yaml:6:13: connections[0].thread: expected true or false, got string "no"',
    ]);
  });

  it('suggests the connection meant by a misspelt reference', () => {
    const text = `${HEAD}connections:\n  - name: gen\n    kind: generator\nsources:\n  - name: trips\n    connection: gne\n`;
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:8:17: sources[0].connection: unknown connection "gne"; did you mean "gen"? (connections: gen)',
    ]);
  });

  it('says so when a source refers to a connection and none exist', () => {
    expect(errorsOf(`${HEAD}sources:\n  - name: trips\n    connection: pg\n`)).toEqual([
      'dozer.yaml:5:17: sources[0].connection: unknown connection "pg"; no connections are defined: add one under connections',
    ]);
  });

  it('reports unknown keys at the key, with the likely intended one or the allowed ones', () => {
    const text = `${HEAD}connections: [{ name: gen, kind: generator }]\nsources:\n  - name: trips\n    conection: gen\nendpints: []\n`;
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:6:5: unknown key "conection" in sources[0]; did you mean "connection"?',
      'dozer.yaml:7:1: unknown key "endpints" at the top level; did you mean "endpoints"?',
    ]);
    expect(errorsOf(`${HEAD}api:\n  rest: { tls: true }\n`)).toEqual([
      'dozer.yaml:4:11: unknown key "tls" in api.rest; expected one of: host, port, cors',
    ]);
  });

  it('reports invalid YAML with the parser reason', () => {
    const text = `${HEAD}sources:\n  - name: trips\n    connection: [gen\n`;
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:6:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(errorsOf(`${HEAD}app_name: b\n`)).toEqual([
      'dozer.yaml:3:1: invalid YAML: Map keys must be unique',
    ]);
  });

  it('rejects an empty file and a file that is not a map', () => {
    expect(errorsOf('# nothing yet\n')).toEqual([
      'dozer.yaml:1:1: the file has no settings; run `dozer init` for a commented example',
    ]);
    expect(errorsOf('- a\n- b\n')).toEqual([
      'dozer.yaml:1:1: expected a map of settings at the top level, got a list',
    ]);
  });

  it('reports an endpoint table that is neither a source nor an SQL output, listing both', () => {
    const text =
      `${HEAD}connections: [{ name: gen, kind: generator }]\nsources: [{ name: trips, connection: gen }]\n` +
      'sql: |\n  -- INTO commented_out\n  SELECT * FROM trips INTO big_trips;\n' +
      'endpoints:\n  - name: big\n    path: /big\n    table_name: big_trip\n';
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:11:17: endpoints[0].table_name: unknown table "big_trip"; did you mean "big_trips"? (sources: trips; SQL outputs: big_trips)',
    ]);
  });

  it('reports duplicate names and paths, and paths without a leading slash', () => {
    const text =
      `${HEAD}connections:\n  - { name: gen, kind: generator }\n  - { name: gen, kind: generator }\n` +
      'sources:\n  - { name: trips, connection: gen }\n  - { name: trips, connection: gen }\n' +
      'endpoints:\n  - { name: a, path: /trips, table_name: trips }\n  - { name: a, path: /trips/, table_name: trips }\n' +
      '  - { name: b, path: trips, table_name: trips }\n';
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:5:13: connections[1].name: duplicate connection name "gen", already used by connections[0] on line 4; each connection name must be unique',
      'dozer.yaml:8:13: sources[1].name: duplicate source name "trips", already used by sources[0] on line 7; each source name must be unique',
      'dozer.yaml:11:13: endpoints[1].name: duplicate endpoint name "a", already used by endpoints[0] on line 10; each endpoint name must be unique',
      'dozer.yaml:11:22: endpoints[1].path: duplicate endpoint path "/trips/", already used by endpoints[0] on line 10; each endpoint path must be unique',
      'dozer.yaml:12:22: endpoints[2].path: expected a path starting with "/", got "trips"; write "/trips"',
    ]);
  });

  it('refuses endpoint paths the API answers itself', () => {
    const text =
      `${HEAD}connections: [{ name: gen, kind: generator }]\nsources: [{ name: trips, connection: gen }]\n` +
      'endpoints:\n  - { name: a, path: /metrics, table_name: trips }\n  - { name: b, path: /docs/trips, table_name: trips }\n' +
      '  - { name: c, path: /healthy, table_name: trips }\n  - { name: d, path: /ready, table_name: trips }\n';
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:6:22: endpoints[0].path: "/metrics" is taken by the API itself (/health, /ready, /metrics, /docs, /openapi.json); choose another path',
      'dozer.yaml:7:22: endpoints[1].path: "/docs/trips" is taken by the API itself (/health, /ready, /metrics, /docs, /openapi.json); choose another path',
      'dozer.yaml:9:22: endpoints[3].path: "/ready" is taken by the API itself (/health, /ready, /metrics, /docs, /openapi.json); choose another path',
    ]);
  });

  it('rejects names SQL cannot use and repeated columns', () => {
    const text = `${HEAD}connections: [{ name: gen, kind: generator }]\nsources:\n  - name: my-trips\n    connection: gen\n    columns: [id, fare, id]\n`;
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:5:11: sources[0].name: expected a name made of letters, digits and _ that does not start with a digit (SQL and the APIs use it as an identifier), got string "my-trips"',
      'dozer.yaml:7:25: sources[0].columns[2]: column "id" is listed twice',
    ]);
  });

  it('checks secondary index shapes', () => {
    const text =
      `${HEAD}endpoints:\n  - name: e\n    path: /e\n    table_name: e\n    index:\n      secondary:\n        create:\n` +
      '          - { sorted_inverted: { fields: [a] }, full_text: { field: b } }\n          - full_text: { feld: b }\n';
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:6:17: endpoints[0].table_name: unknown table "e" (sources: none; SQL outputs: none)',
      'dozer.yaml:10:13: endpoints[0].index.secondary.create[0]: expected exactly one of sorted_inverted or full_text, e.g. { sorted_inverted: { fields: [a, b] } } or { full_text: { field: c } }',
      'dozer.yaml:11:26: unknown key "feld" in endpoints[0].index.secondary.create[1].full_text; did you mean "field"?',
    ]);
  });

  it('checks conflict resolution modes and names the allowed ones', () => {
    const text = `${HEAD}endpoints:\n  - name: e\n    path: /e\n    table_name: e\n    conflict_resolution: { on_insert: upsert }\n`;
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:6:17: endpoints[0].table_name: unknown table "e" (sources: none; SQL outputs: none)',
      'dozer.yaml:7:39: endpoints[0].conflict_resolution.on_insert: expected nothing (keep the existing record), update (overwrite it) or panic (stop with an error), got string "upsert"',
    ]);
  });

  it('checks the API limits and ports against each other, defaults included', () => {
    expect(errorsOf(`${HEAD}api:\n  default_limit: 6000\n`)).toEqual([
      'dozer.yaml:4:18: api.default_limit: api.default_limit (6000) is more than api.max_limit (5000); lower default_limit or raise max_limit',
    ]);
    expect(errorsOf(`${HEAD}api:\n  grpc: { port: 8080 }\n`)).toEqual([
      'dozer.yaml:4:17: api.grpc.port: REST and gRPC both listen on port 8080; give each server its own port',
    ]);
    // Different interfaces may share a port number.
    expect(
      parseConfig(`${HEAD}api:\n  grpc: { host: 10.0.0.1, port: 8080 }\n`, 'dozer.yaml', { env: {} }).api.grpc
        .port,
    ).toBe(8080);
  });

  it('api.rest.cors: exact origins or "*" alone, each checked where it is written', () => {
    const cors = (yaml: string) =>
      parseConfig(`${HEAD}api:\n  rest:\n    cors: ${yaml}\n`, 'dozer.yaml', { env: { AGE: '30' } }).api.rest
        .cors;
    expect(parseConfig(HEAD, 'dozer.yaml', { env: {} }).api.rest).not.toHaveProperty('cors');
    expect(cors('{ origins: [https://app.example.com, "http://localhost:5173"] }')).toEqual({
      origins: ['https://app.example.com', 'http://localhost:5173'],
      max_age_s: 600,
    });
    expect(cors(`{ origins: ["*"], max_age_s: "\${AGE}" }`)).toEqual({ origins: ['*'], max_age_s: 30 });
    expect(
      errorsOf(
        `${HEAD}api:\n  rest:\n    cors:\n      origins:\n        - https://app.example.com/\n        - "*"\n`,
      ),
    ).toEqual([
      'dozer.yaml:7:11: api.rest.cors.origins[0]: "https://app.example.com/" is not an origin as browsers send it: expected "https://app.example.com" (scheme, host and port only, no path or trailing slash)',
      'dozer.yaml:8:11: api.rest.cors.origins[1]: "*" allows every origin: give "*" alone, or only the origins to allow',
    ]);
    expect(errorsOf(`${HEAD}api:\n  rest: { cors: { origins: [] } }\n`)).toEqual([
      'dozer.yaml:4:28: api.rest.cors.origins: expected at least one origin such as https://app.example.com, or "*" for any, got an empty list',
    ]);
    expect(errorsOf(`${HEAD}api:\n  rest: { cors: { origin: [x] } }\n`)[0]).toMatch(
      /unknown key "origin" in api\.rest\.cors; did you mean "origins"\?/,
    );
  });

  it('collects every error of the file into one ConfigError, in file order', () => {
    const text =
      'version: 1\nconnections:\n  - name: gen\n    kind: gnerator\nsources:\n  - name: trips\n    connection: gne\n' +
      'api:\n  rest:\n    port: 80a\n';
    expect(errorsOf(text)).toEqual([
      'dozer.yaml:1:1: app_name: required key is missing',
      'dozer.yaml:4:11: connections[0].kind: unknown connector kind "gnerator"; did you mean "generator"? (built-in kinds: generator, nexmark, postgres, mysql, object_store; a plugin is named by its npm package name, e.g. @acme/dozer-connector-x)',
      'dozer.yaml:7:17: sources[0].connection: unknown connection "gne"; did you mean "gen"? (connections: gen)',
      'dozer.yaml:10:11: api.rest.port: expected a number, got string "80a"',
    ]);
  });
});

describe('connector kinds and their validators', () => {
  const generator: ConnectionValidator = (config) => {
    const c = config as { rate?: unknown; tables?: unknown };
    const issues: { path: (string | number)[]; message: string }[] = [];
    if (c.rate !== undefined && typeof c.rate !== 'number')
      issues.push({ path: ['rate'], message: 'expected a number' });
    if (!Array.isArray(c.tables))
      issues.push({ path: ['tables'], message: 'required: the tables to generate' });
    else if (c.tables.length > 0 && typeof c.tables[0] !== 'object') {
      issues.push({ path: ['tables', 0], message: 'expected a map' });
    }
    return issues;
  };
  const validators = new Map([['generator', generator]]);

  it('maps the issue paths a connector returns to lines inside its config', () => {
    const text =
      `${HEAD}connections:\n  - name: gen\n    kind: generator\n    config:\n      rate: fast\n      tables:\n        - trips\n` +
      '  - name: gen2\n    kind: generator\n';
    expect(errorsOf(text, { env: {}, connectionValidators: validators })).toEqual([
      'dozer.yaml:7:13: connections[0].config.rate: expected a number',
      'dozer.yaml:9:11: connections[0].config.tables[0]: expected a map',
      'dozer.yaml:10:5: connections[1].config.tables: required: the tables to generate',
    ]);
  });

  it('passes the connector its config after env substitution', () => {
    const seen: unknown[] = [];
    const spy = new Map([
      [
        'generator',
        (c: unknown) => {
          seen.push(c);
          return [];
        },
      ],
    ]);
    parseConfig(
      `${HEAD}connections:\n  - name: gen\n    kind: generator\n    config: { key: "\${KEY}" }\n`,
      'd.yaml',
      {
        env: { KEY: 's3cret' },
        connectionValidators: spy,
      },
    );
    expect(seen).toEqual([{ key: 's3cret' }]);
  });

  it('accepts exactly the kinds that have validators, listing them when one is unknown', () => {
    const text = `${HEAD}connections:\n  - name: pg\n    kind: postgres\n`;
    expect(errorsOf(text, { env: {}, connectionValidators: validators })).toEqual([
      'dozer.yaml:5:11: connections[0].kind: unknown connector kind "postgres" (built-in kinds: generator; a plugin is named by its npm package name, e.g. @acme/dozer-connector-x)',
    ]);
    expect(parseConfig(text, 'dozer.yaml', { env: {} }).connections[0]?.kind).toBe('postgres');
  });

  it('reports a validator that throws instead of crashing the load', () => {
    const broken = new Map([
      [
        'generator',
        (() => {
          throw new Error('boom');
        }) as ConnectionValidator,
      ],
    ]);
    expect(
      errorsOf(`${HEAD}connections:\n  - { name: g, kind: generator, config: { a: 1 } }\n`, {
        env: {},
        connectionValidators: broken,
      }),
    ).toEqual([
      'dozer.yaml:4:41: connections[0].config: the generator connector could not check its settings: boom',
    ]);
  });
});

describe('checkEndpointTables', () => {
  const text = `${HEAD}connections: [{ name: gen, kind: generator }]\nsources: [{ name: trips, connection: gen }]\nsql: "SELECT * FROM trips INTO big"\nendpoints:\n  - name: e\n    path: /e\n    table_name: big\n`;

  it('locates endpoints whose table the compiled SQL does not write', () => {
    const config = parseConfig(text, 'dozer.yaml', { env: {} });
    expect(checkEndpointTables(config, ['big'])).toEqual([]);
    const issues = checkEndpointTables(config, ['bigg', 'small']);
    expect(issues.map(formatConfigIssue)).toEqual([
      'dozer.yaml:9:17: endpoints[0].table_name: unknown table "big"; did you mean "bigg"? (sources: trips; SQL outputs: bigg, small)',
    ]);
    expect(configErrorFromIssues(issues)).toBeInstanceOf(ConfigError);
  });

  it('still reports, without a position, for a config built by hand', () => {
    const config = { ...parseConfig(text, 'dozer.yaml', { env: {} }) };
    expect(checkEndpointTables(config, []).map(formatConfigIssue)).toEqual([
      'dozer.yaml: endpoints[0].table_name: unknown table "big" (sources: trips; SQL outputs: none)',
    ]);
  });
});

describe('loadConfig', () => {
  it('reads the file, names it in errors and resolves home_dir beside it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dozer-config-'));
    const file = join(dir, 'dozer.yaml');
    writeFileSync(file, `${HEAD}home_dir: data\n`);
    expect(loadConfig(file, { env: {} }).home_dir).toBe(join(dir, 'data'));
    writeFileSync(file, `${HEAD}home_dir: 3\n`);
    expect(() => loadConfig(file, { env: {} })).toThrow(
      `${file}:3:11: home_dir: expected a string, got number 3`,
    );
  });

  it('says how to create a missing file', () => {
    const file = join(tmpdir(), 'no-such-dir-dozer', 'dozer.yaml');
    expect(() => loadConfig(file)).toThrow(
      new ConfigError(`${file}: cannot read the config file (no such file); create one with \`dozer init\``),
    );
  });
});
