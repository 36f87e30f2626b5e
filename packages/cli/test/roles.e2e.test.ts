import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DozerProcess, freePort, spawnDozer, until } from './helpers.js';
import {
  configText,
  contents,
  expectedContents,
  freePorts,
  orders,
  type Ports,
  settle,
  stopped,
  writeData,
} from './roles-fixture.js';

// `dozer ingest`, `dozer process` and `dozer serve` as three processes on
// loopback, over a directory of CSV and JSON-lines files, with a queue memory
// bound so small that the logs offload to the object store all the time. The
// endpoints must serve what the data says, and exactly what `dozer run`
// serves on the same files.

describe('dozer ingest / process / serve as three processes', () => {
  let dir: string;
  let split: Ports;
  let splitConfig: string;
  const running: DozerProcess[] = [];
  const expected = expectedContents();

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-roles-e2e-'));
    const data = path.join(dir, 'data');
    writeData(data);
    splitConfig = path.join(dir, 'split.yaml');
    return (async () => {
      split = { ...(await freePorts()), ingestorHttp: await freePort(), processorHttp: await freePort() };
      fs.writeFileSync(
        splitConfig,
        configText(data, './split-home', '{ kind: local, path: ./split-objects }', split),
      );
      fs.writeFileSync(
        path.join(dir, 'run.yaml'),
        configText(data, './run-home', '{ kind: local, path: ./run-objects }', await freePorts()),
      );
    })();
  });

  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the join and the aggregate, offloading the logs to the object store, and equals dozer run', async () => {
    // Downstream first: each waits, retrying, for the role it reads from.
    const serve = spawnDozer(['serve', '-c', splitConfig]);
    running.push(serve);
    await serve.waitFor(/the processor at 127\.0\.0\.1:\d+ is unreachable .*retrying/);
    const processor = spawnDozer(['process', '-c', splitConfig]);
    running.push(processor);
    // A role without an API serves its status at http_port: not ready (503) while it waits for its upstream.
    const processorStatus = `http://127.0.0.1:${split.processorHttp}`;
    const ingestorStatus = `http://127.0.0.1:${split.ingestorHttp}`;
    await processor.waitFor(`health and metrics at ${processorStatus}/health`);
    await processor.waitFor(/the ingestor at 127\.0\.0\.1:\d+ is unreachable/);
    const waiting = await fetch(`${processorStatus}/health`);
    expect(waiting.status).toBe(503);
    expect(await waiting.json()).toMatchObject({
      status: 'NOT_SERVING',
      phase: 'connecting',
      role: 'processor',
      node: 'processor',
    });
    const ingestor = spawnDozer(['ingest', '-c', splitConfig]);
    running.push(ingestor);
    await ingestor.waitFor('Ingesting 2 source(s)');
    await processor.waitFor('Processing 2 source log(s)');
    await serve.waitFor('Serving 3 endpoint(s)');
    const base = `http://127.0.0.1:${split.rest}`;
    await settle(base, expected, 'the three roles to serve the expected contents');
    const served = await contents(base);
    expect(served).toEqual(expected);
    // The API role is ready once it applied its logs up to where they ended when it connected.
    await until(async () => (await fetch(`${base}/ready`)).status === 200, 10_000, 'dozer serve ready');

    // Both roles ready, with what they read and wrote: every order delivered, read and logged.
    const orderCount = orders.length;
    const ingestorHealth = await fetch(`${ingestorStatus}/health`);
    expect(ingestorHealth.status).toBe(200);
    const ih = (await ingestorHealth.json()) as {
      generation: number;
      restarts: number;
      sources: Record<string, { ops: number; phase: string }>;
      logs: Record<string, { next: number; segments: number }>;
      checkpoint: { coordinator: boolean };
    };
    expect(ih).toMatchObject({ status: 'SERVING', phase: 'serving', role: 'ingestor', node: 'ingestor' });
    expect(ih.sources.orders).toMatchObject({ ops: orderCount, phase: 'live' });
    expect(ih.logs.orders!.next).toBeGreaterThan(0);
    expect(ih.logs.orders!.segments).toBeGreaterThan(0);
    expect(ih.checkpoint.coordinator).toBe(true);
    const ph = (await (await fetch(`${processorStatus}/health`)).json()) as {
      inputs: Record<string, { ops: number; phase: string }>;
      logs: Record<string, { next: number }>;
    };
    expect(ph).toMatchObject({ status: 'SERVING', role: 'processor', generation: ih.generation });
    expect(ph.inputs.orders!.ops).toBe(orderCount);
    expect(Object.keys(ph.logs).sort()).toEqual(['big_orders', 'by_region', 'customers']);
    const ingestorMetrics = await (await fetch(`${ingestorStatus}/metrics`)).text();
    expect(ingestorMetrics).toContain('dozer_role_serving{role="ingestor",node="ingestor"} 1');
    expect(ingestorMetrics).toContain(`dozer_source_ops_total{source="orders"} ${orderCount}`);
    expect(ingestorMetrics).toMatch(/^dozer_log_reads [1-9]\d*$/m);
    const processorMetrics = await (await fetch(`${processorStatus}/metrics`)).text();
    expect(processorMetrics).toContain(`dozer_input_ops_total{input="orders"} ${orderCount}`);
    expect(processorMetrics).toMatch(/^dozer_log_next_offset\{log="big_orders"\} [1-9]\d*$/m);
    expect((await fetch(`${processorStatus}/orders`)).status).toBe(404);
    // The API role's /metrics: the tables it applies, caught up.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^dozer_table_ops_total\{table="big_orders"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^dozer_table_live\{table="big_orders"\} 1$/m);

    // The logs really went through the object store: segment files of both queues.
    const segments = (queue: string, log: string) => {
      const at = path.join(dir, 'split-objects', queue, log, 'segments');
      return fs.existsSync(at) ? fs.readdirSync(at).filter((f) => f.endsWith('.seg')) : [];
    };
    expect(segments('ingest', 'orders').length).toBeGreaterThan(5);
    expect(segments('process', 'big_orders').length).toBeGreaterThan(0);

    // The same files through `dozer run` serve the same contents.
    const runConfig = path.join(dir, 'run.yaml');
    const runPorts = fs.readFileSync(runConfig, 'utf8').match(/rest: \{ host: 127\.0\.0\.1, port: (\d+) \}/)!;
    const run = spawnDozer(['run', '-c', runConfig]);
    running.push(run);
    await run.waitFor('Serving 3 endpoint(s)');
    const runBase = `http://127.0.0.1:${runPorts[1]}`;
    await settle(runBase, expected, 'dozer run to serve the expected contents');
    expect(await contents(runBase)).toEqual(served);
    // dozer run commits what its roles consumed, so retention deletes those segments.
    const runSegments = () => {
      const at = path.join(dir, 'run-objects', 'ingest', 'orders', 'segments');
      return fs.existsSync(at) ? fs.readdirSync(at).filter((f) => f.endsWith('.seg')).length : 0;
    };
    await until(async () => runSegments() < 3, 30_000, 'dozer run to delete the consumed segments');
    await stopped(run);

    // A restarted processor: the API notices, reconnects and rebuilds the same contents.
    await stopped(processor);
    await serve.waitFor(/lost the processor at .*reconnecting/);
    const again = spawnDozer(['process', '-c', splitConfig]);
    running.push(again);
    await again.waitFor('Processing 2 source log(s)');
    await until(
      async () => (serve.stdout().match(/Serving 3 endpoint\(s\)/g) ?? []).length >= 2,
      60_000,
      'the API to serve again',
    );
    await settle(base, expected, 'the API to rebuild after the processor restarted');
    // The ingestor followed the generation the new processor began: its status tells, serving again.
    const restarted = await fetch(`${ingestorStatus}/health`);
    expect(restarted.status).toBe(200);
    const rh = (await restarted.json()) as { generation: number; restarts: number };
    expect(rh.generation).toBeGreaterThan(ih.generation);
    expect(rh.restarts).toBeGreaterThan(ih.restarts);

    // Ctrl-C stops each role cleanly, downstream first.
    await stopped(serve);
    await stopped(again);
    await stopped(ingestor);
  }, 300_000);
});
