import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createConnectorRegistry } from '@dozer/connectors';
import { createLocalObjectStore } from '@dozer/core';
import { openLogQueue } from '@dozer/queue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/index.js';
import type { Logger } from '../logger.js';
import { planPipeline } from '../pipeline.js';
import { isOnThread } from './connector-thread.js';
import { AckPolicy, startIngestor } from './ingest.js';

let dir: string;
const log: Logger = { info() {}, warn() {}, error() {} };

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-ingest-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `text` as dozer.yaml, the built-in connectors checking their configs, and their registry. */
async function parse(text: string) {
  const registry = createConnectorRegistry();
  const builtins = await Promise.all(registry.kinds().map((k) => registry.resolve(k)));
  const config = parseConfig(text, path.join(dir, 'dozer.yaml'), {
    connectionValidators: new Map(builtins.map((f) => [f.kind, (c: unknown) => f.validateConfig(c)])),
  });
  return { config, registry };
}

async function ingestor(deferStart: boolean, connectorThreads = false, name = 'ingest') {
  const { config, registry } = await parse(
    `version: 1
app_name: ingest-test
connections:
  - name: gen
    kind: generator
    config: { seed: 1, rate: 0, batch_size: 64, tables: [{ name: trips, rows: 500, max_ops: 300 }] }
sources:
  - { name: trips, connection: gen }
endpoints:
  - { name: trips, path: /trips, table_name: trips }
`,
  );
  const plan = await planPipeline(config, registry, log, { connectorThreads });
  const queue = openLogQueue({ store: createLocalObjectStore(path.join(dir, 'objects')), prefix: name });
  const running = await startIngestor({
    config,
    connectors: plan.connectors,
    sourceSchemas: plan.sourceSchemas,
    queue,
    log,
    ack: AckPolicy.caller,
    deferStart,
  });
  return { running, queue };
}

describe('startIngestor with deferStart', () => {
  it('starts the connectors only on begin()', async () => {
    const { running, queue } = await ingestor(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(running.sources[0]!.ops).toBe(0);
    running.begin();
    running.begin(); // once
    await running.finished;
    expect(running.sources[0]!.ops).toBe(800);
    await running.stop();
    await queue.close();
  });

  it('stopped before begin(), starts nothing and still settles finished', async () => {
    const { running, queue } = await ingestor(true);
    await running.stop();
    running.begin();
    await running.finished;
    expect(running.sources[0]!.ops).toBe(0);
    await queue.close();
  });
});

describe('startIngestor with connectors on their own threads', () => {
  it('puts a connection on a thread unless it says thread: false', async () => {
    const config = async (thread: string) =>
      parse(
        `version: 1
app_name: thread-switch
connections:
  - { name: gen, kind: generator, ${thread} config: { seed: 1, tables: [{ name: trips, rows: 1 }] } }
sources:
  - { name: trips, connection: gen }
`,
      );
    for (const [thread, on] of [
      ['', true],
      ['thread: true,', true],
      ['thread: false,', false],
    ] as const) {
      const { config: c, registry } = await config(thread);
      const plan = await planPipeline(c, registry, log, { connectorThreads: true });
      expect(isOnThread(plan.connectors.get('gen')!)).toBe(on);
      await plan.connectors.get('gen')!.close();
    }
    const { config: c, registry } = await config('');
    const plain = await planPipeline(c, registry, log);
    expect(isOnThread(plain.connectors.get('gen')!)).toBe(false);
  });

  it('fills the log with the entries the connector on this thread gives, appended as encoded there', async () => {
    const entries = async (threads: boolean) => {
      const { running, queue } = await ingestor(true, threads, threads ? 'threads' : 'here');
      const log = running.logs.get('trips')!;
      let encoded = 0;
      const appendEncoded = log.appendEncoded.bind(log);
      log.appendEncoded = (bytes) => {
        encoded++;
        return appendEncoded(bytes);
      };
      running.begin();
      await running.finished;
      // Batches of a connector on its own thread are not decoded and encoded again here.
      expect(encoded).toBe(threads ? running.sources[0]!.batches : 0);
      expect(running.sources[0]!).toMatchObject({ ops: 800, snapshotDone: true, finished: true });
      const out: unknown[] = [];
      for await (const e of log.read({ from: 0n })) {
        out.push(e.message);
        if (e.offset === log.next - 1n) break;
      }
      await running.stop();
      await queue.close();
      return out;
    };
    const here = await entries(false);
    const threaded = await entries(true);
    expect(here.length).toBeGreaterThan(10);
    expect(threaded).toEqual(here);
  });
});
