import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DozerProcess, freePort, lakeYaml, runDozer, spawnDozer } from './helpers.js';
import {
  contents,
  ENDPOINTS_YAML,
  expectedContents,
  LAKE_TABLES,
  settle,
  stopped,
  writeData,
} from './roles-fixture.js';

// Several ingestors and chained processors (nodes.ingestors / nodes.processors),
// each a real process on loopback: ingestor "csv" runs the customers CSV,
// "jsonl" the orders JSON lines; processor "join" computes `enriched` (a join
// of both), processor "agg" reads `enriched` from "join" and computes the
// aggregate and the filter the endpoints serve; the API reads those from
// "agg" and the customers source straight from "csv". The queue memory bound
// is so small that every log offloads to the object store. The endpoints must
// equal what the data says, and what `dozer run` serves on the same files.

interface NodePorts {
  rest: number;
  grpc: number;
  csv: number;
  jsonl: number;
  join: number;
  agg: number;
}

async function nodePorts(): Promise<NodePorts> {
  const [rest, grpc, csv, jsonl, join, agg] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  return { rest: rest!, grpc: grpc!, csv: csv!, jsonl: jsonl!, join: join!, agg: agg! };
}

function nodesConfig(data: string, home: string, objects: string, p: NodePorts, nodes?: string): string {
  return `version: 1
app_name: nodes-e2e
home_dir: ${JSON.stringify(home)}
${lakeYaml(data, LAKE_TABLES)}sql: |
  SELECT o.id AS id, c.name AS customer, c.region AS region, o.amount AS amount
  FROM orders o JOIN customers c ON o.customer_id = c.id
  INTO enriched;
  SELECT region, COUNT(*) AS orders, SUM(amount) AS total
  FROM enriched GROUP BY region
  INTO by_region;
  SELECT id, customer, amount FROM enriched WHERE amount >= 90 INTO big_orders;
${ENDPOINTS_YAML}api:
  rest: { host: 127.0.0.1, port: ${p.rest} }
  grpc: { host: 127.0.0.1, port: ${p.grpc} }
nodes:
${
  nodes ??
  `  ingestors:
    - { name: csv, host: 127.0.0.1, port: ${p.csv}, sources: [customers] }
    - { name: jsonl, host: 127.0.0.1, port: ${p.jsonl}, sources: [orders] }
  processors:
    - { name: join, host: 127.0.0.1, port: ${p.join}, tables: [enriched] }
    - { name: agg, host: 127.0.0.1, port: ${p.agg}, tables: [by_region, big_orders] }`
}
  object_store: { kind: local, path: ${JSON.stringify(objects)} }
  queue: { memory_limit_bytes: 4096, offload_at_bytes: 1024, segment_bytes: 1024 }
`;
}

describe('several ingestors and chained processors, each its own process', () => {
  let dir: string;
  let data: string;
  let ports: NodePorts;
  let config: string;
  const running: DozerProcess[] = [];
  const expected = expectedContents();
  const start = (args: string[]) => {
    const p = spawnDozer(args);
    running.push(p);
    return p;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-nodes-e2e-'));
    data = path.join(dir, 'data');
    writeData(data);
    ports = await nodePorts();
    config = path.join(dir, 'nodes.yaml');
    fs.writeFileSync(config, nodesConfig(data, './nodes-home', './nodes-objects', ports));
  });

  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the join, the aggregate over it and a source, offloading every log, and equals dozer run', async () => {
    // Downstream first: each waits, retrying, for the nodes it reads from.
    const serve = start(['serve', '-c', config]);
    await serve.waitFor(
      /the processor "agg" at 127\.0\.0\.1:\d+ is unreachable .*"dozer process --node agg".*retrying/,
    );
    await serve.waitFor(/the ingestor "csv" at 127\.0\.0\.1:\d+ is unreachable/);
    const agg = start(['process', '-c', config, '--node', 'agg']);
    await agg.waitFor(/the processor "join" at 127\.0\.0\.1:\d+ is unreachable/);
    let join = start(['process', '-c', config, '--node', 'join']);
    const csv = start(['ingest', '-c', config, '--node', 'csv']);
    const jsonl = start(['ingest', '-c', config, '--node', 'jsonl']);
    await csv.waitFor('Ingesting 1 source(s)');
    await jsonl.waitFor('Ingesting 1 source(s)');
    await join.waitFor('Processing 2 input log(s)');
    await agg.waitFor('Processing 1 input log(s)');
    await serve.waitFor('Serving 3 endpoint(s)');
    const base = `http://127.0.0.1:${ports.rest}`;
    await settle(base, expected, 'the five nodes to serve the expected contents');
    const served = await contents(base);
    expect(served).toEqual(expected);

    // Every node's logs went through the object store, each under its own prefix.
    const segments = (...at: string[]) => {
      const d = path.join(dir, 'nodes-objects', ...at, 'segments');
      return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.seg')).length : 0;
    };
    expect(segments('ingest', 'jsonl', 'orders')).toBeGreaterThan(5);
    expect(segments('ingest', 'csv', 'customers')).toBeGreaterThan(0);
    expect(segments('process', 'join', 'enriched')).toBeGreaterThan(5);
    expect(segments('process', 'agg', 'big_orders')).toBeGreaterThan(0);
    // "join" writes only what another node reads; "agg" does not forward sources (the API reads them from "csv").
    expect(fs.existsSync(path.join(dir, 'nodes-objects', 'process', 'agg', 'customers'))).toBe(false);

    // The same files and SQL through `dozer run` serve the same contents.
    const runPorts = await nodePorts();
    const runConfig = path.join(dir, 'run.yaml');
    fs.writeFileSync(runConfig, nodesConfig(data, './run-home', './run-objects', runPorts));
    const run = start(['run', '-c', runConfig]);
    await run.waitFor('Serving 3 endpoint(s)');
    const runBase = `http://127.0.0.1:${runPorts.rest}`;
    await settle(runBase, expected, 'dozer run to serve the expected contents');
    expect(await contents(runBase)).toEqual(served);
    await stopped(run);

    // A restarted middle processor: "agg" notices, reconnects and rebuilds, and so does the API.
    await stopped(join);
    await agg.waitFor(
      /lost the processor "join" at 127\.0\.0\.1:\d+ while reading log "enriched".*reconnecting/,
    );
    join = start(['process', '-c', config, '--node', 'join']);
    await join.waitFor('Processing 2 input log(s)');
    await settle(base, expected, 'the API to rebuild after the processor "join" restarted');

    // Ctrl-C stops each node cleanly, downstream first.
    await stopped(serve);
    await stopped(agg);
    await stopped(join);
    await stopped(csv);
    await stopped(jsonl);
  }, 300_000);

  it('without --node among several, or with an unknown one, names the nodes; config errors name the line', async () => {
    const none = await runDozer(['ingest', '-c', config]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(
      'nodes.ingestors lists 2 ingestors (csv, jsonl): pass --node <name> to say which one "dozer ingest" runs here',
    );
    const unknown = await runDozer(['process', '-c', config, '--node', 'jion']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      '--node jion: dozer.yaml has no processor of that name (processors: join, agg); pass one of those',
    );

    const serveNode = await runDozer(['serve', '-c', config, '--node', 'agg']);
    expect(serveNode.code).toBe(2);
    expect(serveNode.stderr).toContain('"dozer serve" takes none');

    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(
      bad,
      nodesConfig(
        data,
        './bad-home',
        './bad-objects',
        ports,
        `  processor: { port: ${ports.agg} }
  ingestors:
    - { name: csv, port: ${ports.csv}, sources: [customers, orders] }
    - { name: jsonl, port: ${ports.jsonl}, sources: [orders] }
  processors:
    - { name: join, port: ${ports.join}, tables: [enriched, by_region] }`,
      ),
    );
    const lineOf = (text: string) =>
      fs
        .readFileSync(bad, 'utf8')
        .split('\n')
        .findIndex((l) => l.includes(text)) + 1;
    const result = await runDozer(['process', '-c', bad, '--node', 'join']);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^dozer: .*bad\.yaml:\d+:\d+: nodes\.processor: the one-node form/);
    expect(result.stderr).toContain(
      `bad.yaml:${lineOf('name: jsonl')}:45: nodes.ingestors[1].sources[0]: source "orders" is already owned by nodes.ingestors[0] (csv) on line ${lineOf('name: csv')}; each source belongs to exactly one of nodes.ingestors`,
    );
    expect(result.stderr).toContain(
      `bad.yaml:${lineOf('processors:') + 1}:5: nodes.processors: no node owns the INTO table "big_orders"; add it to the tables of one of them (join)`,
    );
  });
});
