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
import { AckPolicy, startIngestor } from './ingest.js';

let dir: string;
const log: Logger = { info() {}, warn() {}, error() {} };

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-ingest-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function ingestor(deferStart: boolean) {
  const registry = createConnectorRegistry();
  const builtins = await Promise.all(registry.kinds().map((k) => registry.resolve(k)));
  const config = parseConfig(
    `version: 1
app_name: ingest-test
connections:
  - name: gen
    kind: generator
    config: { seed: 1, rate: 0, tables: [{ name: trips, rows: 500, max_ops: 0 }] }
sources:
  - { name: trips, connection: gen }
endpoints:
  - { name: trips, path: /trips, table_name: trips }
`,
    path.join(dir, 'dozer.yaml'),
    { connectionValidators: new Map(builtins.map((f) => [f.kind, (c: unknown) => f.validateConfig(c)])) },
  );
  const plan = await planPipeline(config, registry, log);
  const queue = openLogQueue({ store: createLocalObjectStore(path.join(dir, 'objects')), prefix: 'ingest' });
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
    expect(running.sources[0]!.ops).toBe(500);
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
