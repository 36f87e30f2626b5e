import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DozerProcess, spawnDozer, until } from './helpers.js';
import {
  configText,
  contents,
  expectedContents,
  freePorts,
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
      split = await freePorts();
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
    const ingestor = spawnDozer(['ingest', '-c', splitConfig]);
    running.push(ingestor);
    await ingestor.waitFor('Ingesting 2 source(s)');
    await processor.waitFor('Processing 2 source log(s)');
    await serve.waitFor('Serving 3 endpoint(s)');
    const base = `http://127.0.0.1:${split.rest}`;
    await settle(base, expected, 'the three roles to serve the expected contents');
    const served = await contents(base);
    expect(served).toEqual(expected);
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

    // Ctrl-C stops each role cleanly, downstream first.
    await stopped(serve);
    await stopped(again);
    await stopped(ingestor);
  }, 300_000);
});
