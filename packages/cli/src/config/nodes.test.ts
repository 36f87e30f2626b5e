import { resolve } from 'node:path';
import { ConfigError } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './index.js';

const HEAD = 'version: 1\napp_name: a\n';

function errorsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, 'dozer.yaml', { env });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message.split('\n');
  }
  throw new Error('expected the config to be rejected');
}

describe('nodes: defaults', () => {
  it('lets `dozer run` work without a nodes section: local objects under home_dir, 64 MiB logs', () => {
    const config = parseConfig(HEAD, 'conf/dozer.yaml', { env: {} });
    expect(config.nodes).toEqual({
      ingestor: { host: '127.0.0.1', port: 50052 },
      processor: { host: '127.0.0.1', port: 50053 },
      ingestors: [{ name: 'ingestor', host: '127.0.0.1', port: 50052, sources: [] }],
      processors: [{ name: 'processor', host: '127.0.0.1', port: 50053, tables: [] }],
      listed: false,
      object_store: { kind: 'local', path: resolve('conf', '.dozer', 'objects') },
      queue: {
        memory_limit_bytes: 64 * 1024 * 1024,
        offload_at_bytes: 32 * 1024 * 1024,
        segment_bytes: 8 * 1024 * 1024,
      },
    });
  });

  it('reads addresses, an S3 store and queue sizes, with variables in numbers', () => {
    const config = parseConfig(
      `${HEAD}nodes:
  ingestor: { host: ingest-1.internal, port: 7001 }
  processor: { host: proc-1.internal, port: "\${PROC_PORT}" }
  object_store:
    kind: s3
    bucket: dozer-data
    prefix: apps/a/
    region: eu-west-1
    endpoint: http://127.0.0.1:9000
    force_path_style: true
    credentials: { access_key_id: AK, secret_access_key: "\${SECRET}" }
  queue: { memory_limit_bytes: 4096, segment_bytes: 512 }
`,
      '/srv/dozer.yaml',
      { env: { PROC_PORT: '7002', SECRET: 's3cr3t' } },
    );
    expect(config.nodes).toEqual({
      ingestor: { host: 'ingest-1.internal', port: 7001 },
      processor: { host: 'proc-1.internal', port: 7002 },
      ingestors: [{ name: 'ingestor', host: 'ingest-1.internal', port: 7001, sources: [] }],
      processors: [{ name: 'processor', host: 'proc-1.internal', port: 7002, tables: [] }],
      listed: false,
      object_store: {
        kind: 's3',
        bucket: 'dozer-data',
        prefix: 'apps/a/',
        region: 'eu-west-1',
        endpoint: 'http://127.0.0.1:9000',
        force_path_style: true,
        credentials: { access_key_id: 'AK', secret_access_key: 's3cr3t' },
      },
      queue: { memory_limit_bytes: 4096, offload_at_bytes: 2048, segment_bytes: 512 },
    });
  });

  it('resolves a local path against the config file', () => {
    const config = parseConfig(
      `${HEAD}nodes: { object_store: { path: ../shared/objects } }\n`,
      '/srv/app/dozer.yaml',
      {
        env: {},
      },
    );
    expect(config.nodes.object_store).toEqual({ kind: 'local', path: '/srv/shared/objects' });
  });
});

describe('nodes: errors name the line and key', () => {
  it('an s3 store without a bucket, with a bad bucket or prefix, or with a local path', () => {
    expect(errorsOf(`${HEAD}nodes:\n  object_store: { kind: s3, path: ./x }\n`)).toEqual([
      'dozer.yaml:4:17: nodes.object_store: an s3 store needs a bucket, e.g. `bucket: my-dozer-data`',
      'dozer.yaml:4:35: nodes.object_store.path: path is a setting of the local store; an s3 store takes bucket and prefix',
    ]);
    expect(
      errorsOf(`${HEAD}nodes:\n  object_store:\n    kind: s3\n    bucket: My_Bucket\n    prefix: /a\n`),
    ).toEqual([
      'dozer.yaml:6:13: nodes.object_store.bucket: "My_Bucket" is not an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens',
      'dozer.yaml:7:13: nodes.object_store.prefix: expected a key prefix ending in "/" and not starting with one, like "dozer/", got "/a"',
    ]);
  });

  it('s3 keys on a local store say to add kind: s3', () => {
    expect(errorsOf(`${HEAD}nodes:\n  object_store:\n    bucket: dozer-data\n`)).toEqual([
      'dozer.yaml:5:13: nodes.object_store.bucket: bucket is a setting of an s3 store; add `kind: s3` (the default kind is local, a directory given by path)',
    ]);
  });

  it('an unknown kind, an unknown key, and a misspelt queue key', () => {
    expect(
      errorsOf(
        `${HEAD}nodes:\n  object_store: { kind: gcs }\n  ingester: {}\n  queue: { memory_limit: 10 }\n`,
      ),
    ).toEqual([
      'dozer.yaml:4:25: nodes.object_store.kind: expected local (a directory) or s3 (a bucket), got string "gcs"',
      'dozer.yaml:5:3: unknown key "ingester" in nodes; did you mean "ingestor"?',
      'dozer.yaml:6:12: unknown key "memory_limit" in nodes.queue; did you mean "memory_limit_bytes"?',
    ]);
  });

  it('queue sizes: positive, and offloading starts before memory is full', () => {
    expect(errorsOf(`${HEAD}nodes:\n  queue: { memory_limit_bytes: 0 }\n`)).toEqual([
      'dozer.yaml:4:32: nodes.queue.memory_limit_bytes: expected a number of bytes of at least 1, got number 0',
    ]);
    expect(
      errorsOf(`${HEAD}nodes:\n  queue:\n    memory_limit_bytes: 1000\n    offload_at_bytes: 2000\n`),
    ).toEqual([
      'dozer.yaml:6:23: nodes.queue.offload_at_bytes: 2000 is more than nodes.queue.memory_limit_bytes (1000); offloading must start before memory is full: lower offload_at_bytes or raise memory_limit_bytes',
    ]);
  });

  it('listeners that collide on one machine, and port 0 for a node', () => {
    expect(
      errorsOf(
        `${HEAD}api: { rest: { port: 7000 } }\nnodes:\n  ingestor: { port: 7000 }\n  processor: { host: 0.0.0.0, port: 50051 }\n`,
      ),
    ).toEqual([
      'dozer.yaml:5:21: nodes.ingestor.port: nodes.ingestor and api.rest both listen on 127.0.0.1 port 7000; give each its own port',
      'dozer.yaml:6:37: nodes.processor.port: nodes.processor and api.grpc both listen on this machine port 50051; give each its own port',
    ]);
    expect(errorsOf(`${HEAD}nodes:\n  processor: { port: 0 }\n`)).toEqual([
      'dozer.yaml:4:22: nodes.processor.port: expected a fixed port from 1 to 65535; the next role connects to it, so 0 (any free port) cannot work',
    ]);
  });

  it('http_port: where a role serves /health and /metrics, any free one with 0, never one another listener has', () => {
    const config = parseConfig(
      `${HEAD}nodes:\n  ingestor: { port: 7000, http_port: "\${INGEST_HTTP}" }\n  processor: { port: 7001, http_port: 0 }\n`,
      'dozer.yaml',
      { env: { INGEST_HTTP: '9100' } },
    );
    expect(config.nodes.ingestors[0]).toMatchObject({ name: 'ingestor', port: 7000, http_port: 9100 });
    expect(config.nodes.processors[0]).toMatchObject({ name: 'processor', port: 7001, http_port: 0 });
    expect(parseConfig(HEAD, 'dozer.yaml', { env: {} }).nodes.ingestors[0]).not.toHaveProperty('http_port');
    expect(
      errorsOf(
        `${HEAD}api: { rest: { port: 9100 } }\nnodes:\n  ingestor: { http_port: 9100 }\n  processor: { http_port: 50052 }\n`,
      ),
    ).toEqual([
      'dozer.yaml:5:26: nodes.ingestor.http_port: nodes.ingestor.http_port and api.rest both listen on 127.0.0.1 port 9100; give each its own port',
      'dozer.yaml:6:27: nodes.processor.http_port: nodes.processor.http_port and nodes.ingestor both listen on 127.0.0.1 port 50052; give each its own port',
    ]);
    expect(errorsOf(`${HEAD}nodes:\n  processor: { http_port: 70000 }\n`)).toEqual([
      'dozer.yaml:4:27: nodes.processor.http_port: expected a port number from 0 to 65535, got number 70000',
    ]);
  });

  it('accepts the same port on different hosts (roles on separate machines)', () => {
    const config = parseConfig(
      `${HEAD}nodes:\n  ingestor: { host: 10.0.0.1, port: 7000 }\n  processor: { host: 10.0.0.2, port: 7000 }\n`,
      'dozer.yaml',
      { env: {} },
    );
    expect(config.nodes.processor).toEqual({ host: '10.0.0.2', port: 7000 });
  });
});

// Two ingestors (customers CSV, orders JSON lines) and two chained processors.
const LISTED = `${HEAD}connections: [{ name: lake, kind: object_store }]
sources:
  - { name: customers, connection: lake }
  - { name: orders, connection: lake }
sql: |
  SELECT o.id AS id, c.region AS region, o.amount AS amount
  FROM orders o JOIN customers c ON o.customer_id = c.id INTO enriched;
  SELECT region, SUM(amount) AS total FROM enriched GROUP BY region INTO By_Region;
`;

describe('nodes: the list form', () => {
  it('reads several ingestors and processors, each with what it owns', () => {
    const config = parseConfig(
      `${LISTED}nodes:
  ingestors:
    - { name: csv, port: 7001, sources: [customers] }
    - { name: jsonl, host: 10.0.0.2, port: 7002, sources: [orders] }
  processors:
    - { name: join, port: 7003, tables: [enriched] }
    - { name: agg, port: 7004, tables: [by_region] }
`,
      'dozer.yaml',
      { env: {} },
    );
    expect(config.nodes.listed).toBe(true);
    expect(config.nodes.ingestors).toEqual([
      { name: 'csv', host: '127.0.0.1', port: 7001, sources: ['customers'] },
      { name: 'jsonl', host: '10.0.0.2', port: 7002, sources: ['orders'] },
    ]);
    // INTO names compare as SQL does (unquoted names fold), and load as the SQL writes them.
    expect(config.nodes.processors).toEqual([
      { name: 'join', host: '127.0.0.1', port: 7003, tables: ['enriched'] },
      { name: 'agg', host: '127.0.0.1', port: 7004, tables: ['By_Region'] },
    ]);
  });

  it('takes a port from a variable', () => {
    const config = parseConfig(
      `${LISTED}nodes:
  ingestors: [{ name: all, port: "\${INGEST_PORT}", sources: [customers, orders] }]
  processors: [{ name: p, port: 7003, tables: [enriched, by_region] }]
`,
      'dozer.yaml',
      { env: { INGEST_PORT: '7101' } },
    );
    expect(config.nodes.ingestors[0]?.port).toBe(7101);
  });

  it('the one-node form loads as lists of one that own everything', () => {
    const config = parseConfig(LISTED, 'dozer.yaml', { env: {} });
    expect(config.nodes.ingestors).toEqual([
      { name: 'ingestor', host: '127.0.0.1', port: 50052, sources: ['customers', 'orders'] },
    ]);
    expect(config.nodes.processors).toEqual([
      { name: 'processor', host: '127.0.0.1', port: 50053, tables: ['enriched', 'By_Region'] },
    ]);
  });

  it('errors: mixed forms, duplicate names, unknown, twice-owned and unowned sources and tables', () => {
    expect(
      errorsOf(`${LISTED}nodes:
  ingestor: { port: 7000 }
  ingestors:
    - { name: a, port: 7001, sources: [customers, ordrs] }
    - { name: a, port: 7002, sources: [customers] }
  processors:
    - { name: p, port: 7003, tables: [enriched, orders] }
`),
    ).toEqual([
      'dozer.yaml:12:13: nodes.ingestor: the one-node form (nodes.ingestor, nodes.processor) and the lists (nodes.ingestors, nodes.processors) do not mix; make this node an entry of nodes.ingestors, with a name and what it owns',
      'dozer.yaml:14:5: nodes.ingestors: no node owns the source "orders"; add it to the sources of one of them (a)',
      'dozer.yaml:14:51: nodes.ingestors[0].sources[1]: unknown source "ordrs"; did you mean "orders"? (sources: customers, orders)',
      'dozer.yaml:15:15: nodes.ingestors[1].name: duplicate node name "a", already used by nodes.ingestors[0] on line 14; each node needs its own name (the --node of its command)',
      'dozer.yaml:15:40: nodes.ingestors[1].sources[0]: source "customers" is already owned by nodes.ingestors[0] (a) on line 14; each source belongs to exactly one of nodes.ingestors',
      'dozer.yaml:17:5: nodes.processors: no node owns the INTO table "By_Region"; add it to the tables of one of them (p)',
      'dozer.yaml:17:49: nodes.processors[0].tables[1]: unknown INTO table "orders" (SQL outputs: enriched, By_Region)',
    ]);
  });

  it('errors: no processors for the INTO tables, a missing port, ports that collide', () => {
    expect(
      errorsOf(`${LISTED}api: { rest: { port: 7001 } }
nodes:
  ingestors:
    - { name: a, port: 7001, sources: [customers] }
    - { name: b, sources: [orders] }
`),
    ).toEqual([
      'dozer.yaml:13:3: nodes.processors: no node owns the INTO tables "enriched", "By_Region"; add nodes.processors, e.g. [{ name: processor-1, port: 50060, tables: [enriched, By_Region] }]',
      'dozer.yaml:14:24: nodes.ingestors[0].port: nodes.ingestors[0] and api.rest both listen on 127.0.0.1 port 7001; give each its own port',
      'dozer.yaml:15:7: nodes.ingestors[1].port: required key is missing',
    ]);
  });

  it("errors: processors that read each other's tables would wait for each other forever", () => {
    const sql = `sql: |
  SELECT id, amount FROM orders INTO a;
  SELECT id, amount FROM a INTO b;
  SELECT id, amount FROM b INTO c;
  SELECT id, amount FROM c INTO d;
`;
    const text = LISTED.replace(/sql: \|[\s\S]*$/, sql);
    expect(
      errorsOf(`${text}nodes:
  ingestors: [{ name: i, port: 7001, sources: [customers, orders] }]
  processors:
    - { name: p, port: 7002, tables: [a, c] }
    - { name: q, port: 7003, tables: [b, d] }
`),
    ).toEqual([
      "dozer.yaml:15:38: nodes.processors[0].tables: the processors p, q read each other's tables in a cycle (p reads b from q; q reads a from p); each would wait for the next to start: give the statements of that cycle to one processor",
    ]);
    // A chain is fine.
    expect(
      parseConfig(
        `${text}nodes:
  ingestors: [{ name: i, port: 7001, sources: [customers, orders] }]
  processors:
    - { name: p, port: 7002, tables: [a, b] }
    - { name: q, port: 7003, tables: [c, d] }
`,
        'dozer.yaml',
        { env: {} },
      ).nodes.processors.map((n) => n.name),
    ).toEqual(['p', 'q']);
  });
});
