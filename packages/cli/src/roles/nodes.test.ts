import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/index.js';
import { processorShare, selectNode, serveUpstreams } from './nodes.js';

const BASE = `version: 1
app_name: a
connections: [{ name: lake, kind: object_store }]
sources:
  - { name: customers, connection: lake }
  - { name: orders, connection: lake }
sql: |
  SELECT o.id AS id, c.region AS region, o.amount AS amount
  FROM orders o JOIN customers c ON o.customer_id = c.id INTO enriched;
  WITH big AS (SELECT * FROM enriched WHERE amount > 90)
  SELECT region, COUNT(*) AS n FROM big GROUP BY region INTO big_by_region;
  SELECT region, SUM(amount) AS total FROM enriched GROUP BY region INTO by_region;
  SELECT region, total FROM by_region WHERE total > 100 INTO top_regions;
endpoints:
  - { name: top, path: /top, table_name: top_regions }
  - { name: big, path: /big, table_name: big_by_region }
  - { name: customers, path: /customers, table_name: customers }
`;

const LISTS = `nodes:
  ingestors:
    - { name: csv, port: 7001, sources: [customers] }
    - { name: jsonl, port: 7002, sources: [orders] }
  processors:
    - { name: join, port: 7003, tables: [enriched] }
    - { name: agg, port: 7004, tables: [big_by_region, by_region, top_regions] }
`;

const load = (text: string) => parseConfig(text, 'dozer.yaml', { env: {} });

describe('processorShare', () => {
  it('a processor runs its statements, reads what it does not compute from the owners, writes what others need', () => {
    const config = load(BASE + LISTS);
    const join = processorShare(config, config.nodes.processors[0]!);
    expect(join.inputs).toEqual(['orders', 'customers']);
    // Nothing serves `enriched`, but "agg" reads it.
    expect(join.outputs).toEqual(['enriched']);
    expect(join.upstreams).toEqual([
      {
        kind: 'ingestor',
        address: { host: '127.0.0.1', port: 7002 },
        node: { name: 'jsonl', command: 'ingest --node jsonl' },
        command: 'ingest --node jsonl',
        needs: [{ table: 'orders', who: 'nodes.processors[0] (join), for enriched' }],
      },
      {
        kind: 'ingestor',
        address: { host: '127.0.0.1', port: 7001 },
        node: { name: 'csv', command: 'ingest --node csv' },
        command: 'ingest --node csv',
        needs: [{ table: 'customers', who: 'nodes.processors[0] (join), for enriched' }],
      },
    ]);
    expect(join.sql).toMatch(/INTO enriched;/);
    expect(join.sql).not.toMatch(/by_region/);

    const agg = processorShare(config, config.nodes.processors[1]!);
    // The CTE `big` and `by_region` (computed here) are no inputs; `by_region` is no output.
    expect(agg.inputs).toEqual(['enriched']);
    expect(agg.outputs).toEqual(['big_by_region', 'top_regions']);
    expect(agg.upstreams.map((u) => [u.node?.name, u.needs.map((n) => n.table)])).toEqual([
      ['join', ['enriched']],
    ]);
    // Blanked statements keep the lines: errors point into dozer.yaml's SQL as written.
    expect(agg.sql!.split('\n').length).toBe(config.sql!.split('\n').length);
  });

  it('the one-node form: every source from the one ingestor, outputs as before', () => {
    const config = load(BASE);
    const share = processorShare(config, config.nodes.processors[0]!);
    expect(share.inputs).toBeUndefined();
    expect(share.outputs).toBeUndefined();
    expect(share.sql).toBe(config.sql);
    expect(share.upstreams).toEqual([
      {
        kind: 'ingestor',
        address: { host: '127.0.0.1', port: 50052 },
        command: 'ingest',
        needs: [
          { table: 'customers', who: 'sources[0] (customers)' },
          { table: 'orders', who: 'sources[1] (orders)' },
        ],
      },
    ]);
  });
});

describe('serveUpstreams', () => {
  it('reads each endpoint table from its owner: INTO tables from processors, sources from ingestors', () => {
    const config = load(BASE + LISTS);
    expect(serveUpstreams(config).map((u) => [u.kind, u.node?.name, u.needs.map((n) => n.table)])).toEqual([
      ['processor', 'agg', ['top_regions', 'big_by_region']],
      ['ingestor', 'csv', ['customers']],
    ]);
  });

  it('the one-node form reads everything from the processor', () => {
    const config = load(BASE);
    expect(serveUpstreams(config).map((u) => [u.kind, u.command, u.needs.length])).toEqual([
      ['processor', 'process', 3],
    ]);
  });
});

describe('selectNode', () => {
  const nodes = [{ name: 'a' }, { name: 'b' }];
  it('picks by name, or the only one', () => {
    expect(selectNode(nodes, 'processor', 'b')).toBe(nodes[1]);
    expect(selectNode([nodes[0]!], 'ingestor', undefined)).toBe(nodes[0]);
  });
  it('several without --node, an unknown name, or none: a ConfigError naming them', () => {
    expect(() => selectNode(nodes, 'ingestor', undefined)).toThrow(
      'nodes.ingestors lists 2 ingestors (a, b): pass --node <name> to say which one "dozer ingest" runs here',
    );
    expect(() => selectNode(nodes, 'processor', 'c')).toThrow(
      '--node c: dozer.yaml has no processor of that name (processors: a, b); pass one of those',
    );
    expect(() => selectNode([], 'processor', undefined)).toThrow(/lists no processors/);
  });
});
