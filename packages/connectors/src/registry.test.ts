import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError, type OpBatch } from '@dozer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './connector.js';
import { ConnectorError } from './errors.js';
import { generatorConnector } from './generator/generator-connector.js';
import { createConnectorRegistry } from './registry.js';

const fixtures = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
let project: string;

beforeAll(() => {
  // A user project with the plugins installed in its node_modules.
  project = mkdtempSync(join(tmpdir(), 'dozer-connectors-'));
  cpSync(join(fixtures, 'echo-plugin'), join(project, 'node_modules', 'dozer-connector-echo'), {
    recursive: true,
  });
  mkdirSync(join(project, 'node_modules', '@acme'), { recursive: true });
  cpSync(join(fixtures, 'bad-plugin'), join(project, 'node_modules', '@acme', 'dozer-bad'), {
    recursive: true,
  });
  mkdirSync(join(project, 'app', 'src'), { recursive: true });
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('connector registry', () => {
  it('has the built-in kinds', async () => {
    const r = createConnectorRegistry();
    expect(r.kinds()).toEqual(['generator', 'nexmark', 'postgres', 'mysql', 'object_store']);
    expect(await r.resolve('generator')).toBe(generatorConnector);
    for (const kind of r.kinds()) expect((await r.resolve(kind)).kind).toBe(kind);
  });

  it('refuses to register a kind twice', () => {
    const r = createConnectorRegistry();
    expect(() => r.register(generatorConnector)).toThrow('connector kind "generator" is already registered');
    const empty = createConnectorRegistry({ builtins: false });
    empty.register(generatorConnector);
    expect(empty.kinds()).toEqual(['generator']);
  });

  it('names the built-in kinds for an unknown single-word kind, without loading a package of that name', async () => {
    const r = createConnectorRegistry({ resolveFrom: project });
    const e = await r.resolve('postgress').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toBe(
      'unknown connector kind "postgress": built-in kinds are generator, nexmark, postgres, mysql, object_store; a plugin kind is a scoped or hyphenated npm package name (@acme/dozer-x, dozer-connector-x) or a file: URL',
    );
  });

  it('says how to install a plugin package that is missing', async () => {
    const r = createConnectorRegistry({ resolveFrom: project });
    await expect(r.resolve('dozer-connector-kafka')).rejects.toThrow(
      `unknown connector kind "dozer-connector-kafka": it is not built in (built-in kinds: generator, nexmark, postgres, mysql, object_store) and no package "dozer-connector-kafka" is installed under ${project}; if it is a plugin, install it with \`npm install dozer-connector-kafka\``,
    );
  });

  it('loads a plugin package by name from the node_modules of the project or a parent directory, and remembers it', async () => {
    const r = createConnectorRegistry({ resolveFrom: join(project, 'app', 'src') });
    const f = await r.resolve('dozer-connector-echo');
    expect(f.kind).toBe('echo');
    expect(await r.resolve('dozer-connector-echo')).toBe(f);
    expect(r.kinds()).toEqual([
      'generator',
      'nexmark',
      'postgres',
      'mysql',
      'object_store',
      'dozer-connector-echo',
    ]);
    // The loaded plugin works through the interface.
    expect(f.validateConfig({ words: ['a', 7] })).toEqual([
      { path: ['words', 1], message: 'expected a string' },
    ]);
    const c = f.create({ words: ['hi', 'there'] }, { name: 'e', logger: silentLogger });
    const batches: OpBatch[] = [];
    await c.start({
      tables: [{ name: 'echo', resumeFrom: null }],
      sink: { write: async (b) => void batches.push(b), snapshotDone: async () => {} },
      signal: new AbortController().signal,
    });
    expect(batches).toEqual([
      {
        table: 'echo',
        ops: [
          { kind: 'insert', new: ['hi'] },
          { kind: 'insert', new: ['there'] },
        ],
        position: '2',
      },
    ]);
  });

  it('loads a plugin module by file URL', async () => {
    const r = createConnectorRegistry();
    const url = pathToFileURL(join(fixtures, 'echo-plugin', 'lib', 'index.js')).href;
    expect((await r.resolve(url)).kind).toBe('echo');
  });

  it('explains a plugin that exports the wrong thing', async () => {
    const r = createConnectorRegistry({ resolveFrom: project });
    const e = await r.resolve('@acme/dozer-bad').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectorError);
    expect((e as ConnectorError).retryable).toBe(false);
    expect((e as Error).message).toBe(
      'connector plugin "@acme/dozer-bad" does not export a connector: its `create` is not a function. A plugin must export `const connector: ConnectorFactory` (or a default export) with kind, validateConfig() and create()',
    );
    // Not cached: fixing the install and retrying works without a restart.
    await expect(r.resolve('@acme/dozer-bad')).rejects.toThrow(ConnectorError);
  });

  it('reports a file: URL that does not exist', async () => {
    const r = createConnectorRegistry();
    const url = pathToFileURL(join(fixtures, 'nope', 'index.js')).href;
    await expect(r.resolve(url)).rejects.toThrow(`connector plugin "${url}" was not found`);
  });
});
