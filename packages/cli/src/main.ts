#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateToken } from '@dozer/api';
import { createConnectorRegistry, silentLogger } from '@dozer/connectors';
import { ConfigError, isDozerError, type JsonValue } from '@dozer/core';
import { resolveAuthConfig } from './auth.js';
import { type DozerConfig, loadConfig, renderInitTemplate } from './config/index.js';
import { createLogger } from './logger.js';
import { planPipeline, startPipeline } from './pipeline.js';
import { Progress } from './progress.js';
import { protoDirOf, writeProtos } from './protos.js';
import { VERSION } from './version.js';

const HELP = `dozer ${VERSION}: real-time SQL over your data, served as REST APIs

Usage: dozer <command> [options]

Commands:
  init [dir]        write a commented sample dozer.yaml (uses the built-in generator)
  run               ingest, transform with SQL, store and serve over REST and gRPC
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
  const configPath = path.resolve(values.config ?? 'dozer.yaml');
  try {
    switch (command) {
      case 'init':
        return init(positionals[1] ?? '.', Boolean(values.force));
      case 'run':
        return await run(configPath);
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
  if (isDozerError(e)) {
    process.stderr.write(`dozer: ${e.message}\n`);
    return e.code === 'CONFIG' || e.code === 'SQL' ? 2 : 1;
  }
  process.stderr.write(
    `dozer: unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  return 1;
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
    const connector = factory.create(conn.config, { name: conn.name, logger: silentLogger });
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
  fs.rmSync(home, { recursive: true, force: true });
  process.stdout.write(`Removed ${home}\n`);
  return 0;
}

async function run(configPath: string): Promise<number> {
  const { config, registry } = await load(configPath);
  let progress: Progress | undefined;
  const log = createLogger((line) => (progress ? progress.log(line) : process.stderr.write(`${line}\n`)));
  log.info(`dozer ${VERSION}: starting "${config.app_name}" (home ${config.home_dir})`);
  const plan = await planPipeline(config, registry, log);
  const pipeline = await startPipeline(plan, log);
  progress = new Progress({ sources: pipeline.sources, endpointRows: () => pipeline.endpointRows() });
  log.info(`REST API listening on ${pipeline.url}`);
  log.info(
    `gRPC API listening on ${pipeline.grpcAddress} (reflection on; .proto files in ${protoDirOf(config.home_dir)})`,
  );
  for (const ep of config.endpoints) log.info(`  ${pipeline.url}${ep.path}`);
  process.stdout.write(
    `Serving ${config.endpoints.length} endpoint(s) at ${pipeline.url} — try: curl ${pipeline.url}${config.endpoints[0]?.path ?? '/health'}\n`,
  );
  progress.start();

  let exitCode = 0;
  let stopping = false;
  await new Promise<void>((resolve) => {
    const shutdown = (why: string) => {
      if (stopping) {
        log.warn('second interrupt: exiting now');
        process.exit(130);
      }
      stopping = true;
      log.info(`${why}: shutting down (Ctrl-C again to force)`);
      resolve();
    };
    process.once('SIGINT', () => shutdown('interrupted'));
    process.once('SIGTERM', () => shutdown('terminated'));
    pipeline.ingestion.then(
      () => {
        if (!stopping) log.info('all sources finished; still serving (Ctrl-C to stop)');
      },
      (e) => {
        exitCode = 1;
        log.error(`ingestion failed: ${e instanceof Error ? e.message : String(e)}`);
        shutdown('failure');
      },
    );
  });
  process.on('SIGINT', () => process.exit(130));
  progress.stop();
  progress = undefined;
  await pipeline.stop();
  log.info('stopped cleanly');
  return exitCode;
}

const invokedDirectly = process.argv[1] && /main\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
