import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '@dozer/core';
import type { ConnectorFactory } from './connector.js';
import { ConnectorError } from './errors.js';
import { generatorConnector } from './generator/generator-connector.js';
import { mysqlConnector } from './mysql/index.js';
import { nexmarkConnector } from './nexmark/nexmark-connector.js';
import { objectStoreConnector } from './object-store/index.js';
import { postgresConnector } from './postgres/index.js';

/** Connector kinds by name, built-ins first, plugins loaded on demand. */
export interface ConnectorRegistry {
  /** Adds a kind; throws when one of that name exists. */
  register(factory: ConnectorFactory): void;
  /**
   * The factory for `kind`: a registered one, else, when `kind` is a plugin
   * name, the module's `connector` export (or its default export), loaded
   * with `import()` and remembered. A plugin name is an npm package name
   * that is scoped or has a hyphen (`@acme/dozer-mongo`,
   * `dozer-connector-kafka`), or a `file:` URL of a module; single words
   * are kept for built-in kinds, so `postgres` never loads the unrelated
   * npm package of that name.
   */
  resolve(kind: string): Promise<ConnectorFactory>;
  /** Names of the kinds registered or loaded so far. */
  kinds(): string[];
  /**
   * Where the factory of a resolved `kind` comes from, so that another
   * thread can load the same one: a built-in, or the URL of the plugin
   * module it was loaded from. `undefined` for kinds added with `register`
   * (their factory exists only here) and for kinds not resolved yet.
   */
  origin(kind: string): ConnectorOrigin | undefined;
}

/** See {@link ConnectorRegistry.origin}. */
export type ConnectorOrigin =
  | { readonly builtin: string }
  /** A plugin module's URL; its factory is the `connector` export, else the default export. */
  | { readonly module: string };

/** The factory a {@link ConnectorOrigin} names, loaded in this thread. */
export async function loadConnectorFactory(origin: ConnectorOrigin): Promise<ConnectorFactory> {
  if ('builtin' in origin) {
    const f = BUILTIN_CONNECTORS.find((c) => c.kind === origin.builtin);
    if (f === undefined) throw new ConnectorError(`no built-in connector kind "${origin.builtin}"`);
    return f;
  }
  return importFactory(origin.module, origin.module);
}

/** Options of {@link createConnectorRegistry}. */
export interface ConnectorRegistryOptions {
  /**
   * The directory plugin packages are looked up from, through its
   * `node_modules` and those of its parents, as Node does (default: the
   * current directory, i.e. the user's project).
   */
  readonly resolveFrom?: string;
  /** Skip the built-in connectors (for tests and embedding). */
  readonly builtins?: boolean;
}

// npm package names (lowercase, URL-safe), restricted to scoped or hyphenated ones.
const PLUGIN_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/[a-z0-9][a-z0-9._~-]*|[a-z0-9][a-z0-9._~]*-[a-z0-9._~-]*)$/;

/** The built-in connector kinds, in the order `kinds()` lists them. */
export const BUILTIN_CONNECTORS: readonly ConnectorFactory[] = [
  generatorConnector as ConnectorFactory,
  nexmarkConnector as ConnectorFactory,
  postgresConnector as ConnectorFactory,
  mysqlConnector as ConnectorFactory,
  objectStoreConnector as ConnectorFactory,
];

/**
 * A registry with the built-in connectors registered: `generator`,
 * `nexmark`, `postgres`, `mysql` and `object_store`.
 */
export function createConnectorRegistry(options: ConnectorRegistryOptions = {}): ConnectorRegistry {
  const factories = new Map<string, ConnectorFactory>();
  const origins = new Map<string, ConnectorOrigin>();
  const loading = new Map<string, Promise<ConnectorFactory>>();
  const resolveFrom = resolvePath(options.resolveFrom ?? process.cwd());

  const register = (factory: ConnectorFactory): void => {
    if (factories.has(factory.kind))
      throw new ConnectorError(`connector kind "${factory.kind}" is already registered`);
    factories.set(factory.kind, factory);
  };
  if (options.builtins !== false) {
    for (const f of BUILTIN_CONNECTORS) {
      register(f);
      origins.set(f.kind, { builtin: f.kind });
    }
  }

  const builtinList = () => [...factories.keys()].join(', ') || '(none)';

  const load = async (kind: string): Promise<ConnectorFactory> => {
    let url: string;
    if (kind.startsWith('file:')) url = kind;
    else if (PLUGIN_NAME.test(kind)) {
      const entry = findPackageEntry(kind, resolveFrom);
      if (entry === null) {
        throw new ConfigError(
          `unknown connector kind "${kind}": it is not built in (built-in kinds: ${builtinList()}) and no package "${kind}" is installed under ${resolveFrom}; if it is a plugin, install it with \`npm install ${kind}\``,
        );
      }
      url = pathToFileURL(entry).href;
    } else {
      throw new ConfigError(
        `unknown connector kind "${kind}": built-in kinds are ${builtinList()}; a plugin kind is a scoped or hyphenated npm package name (@acme/dozer-x, dozer-connector-x) or a file: URL`,
      );
    }
    const factory = await importFactory(url, kind);
    origins.set(kind, { module: url });
    return factory;
  };

  return {
    register,
    async resolve(kind) {
      const known = factories.get(kind);
      if (known !== undefined) return known;
      let pending = loading.get(kind);
      if (pending === undefined) {
        pending = load(kind).then(
          (f) => {
            factories.set(kind, f);
            return f;
          },
          (e: unknown) => {
            // A failed load is not cached: the user may install the package and try again.
            loading.delete(kind);
            throw e;
          },
        );
        loading.set(kind, pending);
      }
      return pending;
    },
    kinds: () => [...factories.keys()],
    origin: (kind) => (factories.has(kind) ? origins.get(kind) : undefined),
  };
}

/**
 * The factory a plugin module exports (`connector`, else the default
 * export), imported from `url`; `name` is the plugin as the user named it,
 * for messages.
 */
async function importFactory(url: string, name: string): Promise<ConnectorFactory> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const missing = (e as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && name.startsWith('file:');
    throw new ConnectorError(
      missing
        ? `connector plugin "${name}" was not found: ${(e as Error).message}`
        : `connector plugin "${name}" failed to load: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const factory = mod.connector ?? mod.default;
  const problem = factoryProblem(factory);
  if (problem !== null) {
    throw new ConnectorError(
      `connector plugin "${name}" does not export a connector: ${problem}. A plugin must export \`const connector: ConnectorFactory\` (or a default export) with kind, validateConfig() and create()`,
    );
  }
  return factory as ConnectorFactory;
}

function factoryProblem(f: unknown): string | null {
  if (f === undefined) return 'it has neither a `connector` nor a default export';
  if (f === null || typeof f !== 'object')
    return `its export is a ${f === null ? 'null' : typeof f}, not an object`;
  const o = f as Record<string, unknown>;
  if (typeof o.kind !== 'string' || o.kind === '') return 'its `kind` is not a non-empty string';
  for (const m of ['validateConfig', 'create']) {
    if (typeof o[m] !== 'function') return `its \`${m}\` is not a function`;
  }
  return null;
}

/**
 * The file `import(name)` would load for a package installed in a
 * `node_modules` at or above `from`. Resolution starts from the user's
 * project, not from where this package is installed, because plugins are
 * dependencies of the project. Reads the `exports` map (the `import` or
 * `default` condition of `"."`), then `module`, then `main`, then index.js.
 */
function findPackageEntry(name: string, from: string): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', name);
    const manifest = join(pkgDir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>;
      const target = exportTarget(pkg.exports) ?? stringOr(pkg.module) ?? stringOr(pkg.main) ?? 'index.js';
      return join(pkgDir, target);
    }
    if (dirname(dir) === dir) return null;
  }
}

function exportTarget(exports: unknown): string | undefined {
  if (typeof exports === 'string') return exports;
  if (exports === null || typeof exports !== 'object' || Array.isArray(exports)) return undefined;
  const map = exports as Record<string, unknown>;
  const root = Object.keys(map).some((k) => k.startsWith('.')) ? map['.'] : map;
  return conditionTarget(root);
}

function conditionTarget(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const m = v as Record<string, unknown>;
  for (const cond of ['import', 'node', 'default']) {
    const t = conditionTarget(m[cond]);
    if (t !== undefined) return t;
  }
  return undefined;
}

const stringOr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
