import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type Connector,
  type ConnectorLogger,
  createConnectorRegistry,
  generatorConnector,
  type IngestSink,
  loadConnectorFactory,
  silentLogger,
} from '@dozer/connectors';
import { decodeBatch, isDozerError, type OpBatch } from '@dozer/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectorOnThread, type EncodedBatch, type EncodedIngestSink } from './connector-thread.js';

let dir: string;
const open: Connector[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-connector-thread-'));
});
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((c) => c.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

// Live ops after the snapshot: inserts, updates and deletes of every column type the template has.
const GENERATOR = {
  seed: 11,
  rate: 0,
  batch_size: 97,
  tables: [{ name: 'trips', rows: 1500, max_ops: 2500 }],
};

function onThread(config: unknown, logger: ConnectorLogger = silentLogger, window?: number): Connector {
  const c = connectorOnThread({
    origin: { builtin: 'generator' },
    config,
    name: 'gen',
    logger,
    local: generatorConnector.create(config as never, { name: 'gen', logger }),
    ...(window === undefined ? {} : { window }),
  });
  open.push(c);
  return c;
}

/**
 * A connector that a test writes as a plugin module, of one table `t`, whose
 * `start` runs `body` (JS source; `sink`, `signal` and `context` in scope).
 */
async function plugin(
  name: string,
  body: string,
  logger: ConnectorLogger = silentLogger,
): Promise<Connector> {
  const file = path.join(dir, `${name}.mjs`);
  fs.writeFileSync(
    file,
    `const schema = { fields: [{ name: 'id', type: 'int', nullable: false }], primaryKey: [0] };
export const connector = {
  kind: ${JSON.stringify(name)},
  validateConfig: () => [],
  create: (config, context) => ({
    listTables: async () => [{ name: 't', schema }],
    comparePositions: (a, b) => Number(a) - Number(b),
    start: async ({ sink, signal }) => { ${body} },
    close: async () => {},
  }),
};
`,
  );
  const origin = { module: pathToFileURL(file).href };
  const factory = await loadConnectorFactory(origin);
  const c = connectorOnThread({
    origin,
    config: {},
    name,
    logger,
    local: factory.create({}, { name, logger }),
  });
  open.push(c);
  return c;
}

/** Runs a connector to its end into a sink that keeps every batch. */
async function drain(c: Connector, sink?: Partial<EncodedIngestSink>) {
  const batches: OpBatch[] = [];
  const snapshots: string[] = [];
  await c.listTables();
  await c.start({
    tables: [{ name: 'trips', resumeFrom: null }],
    signal: new AbortController().signal,
    sink: {
      async write(b) {
        batches.push(b);
      },
      async snapshotDone(table, position) {
        snapshots.push(`${table}@${position}`);
      },
      ...sink,
    },
  });
  return { batches, snapshots };
}

describe('connectorOnThread', () => {
  it('delivers the same batches, positions and snapshot end as the connector on this thread', async () => {
    const here = generatorConnector.create(GENERATOR as never, { name: 'gen', logger: silentLogger });
    const expected = await drain(here);
    await here.close();
    const threaded = await drain(onThread(GENERATOR));
    expect(threaded.snapshots).toEqual(expected.snapshots);
    expect(threaded.batches.length).toBe(expected.batches.length);
    expect(threaded.batches).toEqual(expected.batches);
    const kinds = new Set(threaded.batches.flatMap((b) => b.ops.map((o) => o.kind)));
    expect([...kinds].sort()).toEqual(['delete', 'insert', 'update']);
  });

  it('hands an encoding sink the bytes, which decode to the batch, with its position and op count', async () => {
    const here = generatorConnector.create(GENERATOR as never, { name: 'gen', logger: silentLogger });
    const expected = await drain(here);
    await here.close();
    const encoded: EncodedBatch[] = [];
    const { batches } = await drain(onThread(GENERATOR), {
      async writeEncoded(b) {
        encoded.push(b);
      },
    });
    expect(batches).toEqual([]); // every batch came encoded
    expect(encoded.map((b) => decodeBatch(b.schema, b.bytes))).toEqual(expected.batches);
    expect(encoded.map((b) => [b.table, b.position, b.opCount])).toEqual(
      expected.batches.map((b) => [b.table, b.position, b.ops.length]),
    );
    expect(encoded[3]!.decode()).toEqual(expected.batches[3]);
  });

  it('runs at most `window` batches ahead of a sink that has not taken them', async () => {
    const written: unknown[] = [];
    const logger: ConnectorLogger = { ...silentLogger, info: (m) => written.push(m) };
    // Logs each write once the sink let it go on.
    const c = await plugin(
      'dozer-test-window',
      `for (let i = 1n; i <= 10n; i++) {
         await sink.write({ table: 't', ops: [{ kind: 'insert', new: [i] }], position: String(i) });
         context.logger.info('written ' + i);
       }`,
      logger,
    );
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const taken: unknown[] = [];
    const run = startT(c, {
      ...nullSink,
      async write(b) {
        taken.push(b.position);
        await gate;
      },
    });
    while (taken.length === 0) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    // The sink holds the first batch; the connector's first two writes returned, its third
    // waits: with a window of 4 (the default), 3 batches are out and not taken.
    expect(taken).toEqual(['1']);
    expect(written).toEqual(['written 1', 'written 2', 'written 3']);
    release();
    await run;
    expect(taken).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(written).toHaveLength(10);
  });

  it('fails start with the error of a sink that refuses a batch, and stops the connector', async () => {
    const c = onThread({ ...GENERATOR, tables: [{ name: 'trips', rows: 100, max_ops: undefined }] });
    let calls = 0;
    const refused = new Error('the log is closed');
    await expect(
      drain(c, {
        async write() {
          if (++calls === 2) throw refused;
        },
      }),
    ).rejects.toBe(refused);
    // The generator would run forever (no max_ops): it was stopped.
    const after = calls;
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toBe(after);
  });

  it('stops a connector that runs forever when the signal aborts', async () => {
    const c = onThread({ ...GENERATOR, tables: [{ name: 'trips', rows: 10, rate: 50 }] });
    await c.listTables();
    const abort = new AbortController();
    let ops = 0;
    const run = c.start({
      tables: [{ name: 'trips', resumeFrom: null }],
      signal: abort.signal,
      sink: {
        async write(b) {
          ops += b.ops.length;
        },
        async snapshotDone() {},
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    await run;
    expect(ops).toBeGreaterThan(10);
  });

  it('passes log lines to the logger here and answers comparePositions on this thread', async () => {
    const lines: unknown[] = [];
    const logger: ConnectorLogger = { ...silentLogger, info: (m, f) => lines.push([m, f]) };
    const c = await plugin(
      'dozer-test-logs',
      `context.logger.info('connected', { lsn: '0/16B3748', n: 3n });
       await sink.write({ table: 't', ops: [{ kind: 'insert', new: [7n] }], position: '1' });`,
      logger,
    );
    const got: OpBatch[] = [];
    await startT(c, { ...nullSink, write: async (b) => void got.push(b) });
    expect(lines).toEqual([['connected', { lsn: '0/16B3748', n: 3n }]]);
    expect(got).toEqual([{ table: 't', ops: [{ kind: 'insert', new: [7n] }], position: '1' }]);
    expect(c.comparePositions('2', '10')).toBeLessThan(0);
  });

  it('fails start with the connector error, code and retryable kept across the thread', async () => {
    const c = await plugin(
      'dozer-test-fails',
      `const e = new Error('source went away'); e.name = 'ConnectorError'; e.code = 'CONNECTOR'; e.retryable = true; throw e;`,
    );
    const e = await startT(c).catch((x: unknown) => x);
    expect(isDozerError(e)).toBe(true);
    expect(e).toMatchObject({
      message: 'source went away',
      name: 'ConnectorError',
      code: 'CONNECTOR',
      retryable: true,
    });
  });

  it('fails start, and every later call, when the thread dies of an uncaught exception', async () => {
    const c = await plugin(
      'dozer-test-crash',
      `setTimeout(() => { throw new Error('bug in a socket handler'); }, 10); await new Promise(() => {});`,
    );
    const e = await startT(c).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'CONNECTOR' });
    expect((e as Error).message).toContain(
      'connection "dozer-test-crash": its connector thread failed: bug in a socket handler',
    );
    await expect(c.listTables()).rejects.toBe(e);
    await c.close();
  });

  it('refuses a batch of a table that was not requested', async () => {
    const c = await plugin(
      'dozer-test-other',
      `await sink.write({ table: 'other', ops: [], position: '1' });`,
    );
    await expect(startT(c)).rejects.toMatchObject({
      code: 'CONNECTOR',
      message:
        'connection "dozer-test-other": its connector wrote a batch of table "other", which was not requested',
    });
  });

  it('gets from the registry where built-in and plugin kinds load from, and nothing for kinds registered by hand', async () => {
    const registry = createConnectorRegistry({ resolveFrom: dir });
    await registry.resolve('generator');
    expect(registry.origin('generator')).toEqual({ builtin: 'generator' });
    await plugin('dozer-test-origin', '');
    const url = pathToFileURL(path.join(dir, 'dozer-test-origin.mjs')).href;
    expect(registry.origin(url)).toBeUndefined(); // not resolved yet
    await registry.resolve(url);
    expect(registry.origin(url)).toEqual({ module: url });
    const hand = createConnectorRegistry({ builtins: false });
    hand.register(generatorConnector as never);
    expect(hand.origin('generator')).toBeUndefined();
  });
});

const nullSink: IngestSink = { async write() {}, async snapshotDone() {} };

/** Starts a plugin connector of {@link plugin} on its table `t`. */
function startT(c: Connector, sink: IngestSink = nullSink): Promise<void> {
  return c.start({ tables: [{ name: 't', resumeFrom: null }], signal: new AbortController().signal, sink });
}
