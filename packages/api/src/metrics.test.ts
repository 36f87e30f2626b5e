import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { insertOp, makeSchema } from '@dozer/core';
import { openStore, type Store } from '@dozer/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMetrics, HttpMetrics } from './metrics.js';
import { createRestApp, type RunningServer, startHttpServer } from './rest.js';

describe('the Prometheus text format', () => {
  it('writes HELP, TYPE and samples, escaping label values and help text', () => {
    expect(
      formatMetrics([
        {
          name: 'dozer_x_total',
          help: 'a\\b\nc',
          type: 'counter',
          samples: [{ labels: { source: 'say "hi"\\\n' }, value: 3 }, { value: Number.POSITIVE_INFINITY }],
        },
      ]),
    ).toBe(
      '# HELP dozer_x_total a\\\\b\\nc\n# TYPE dozer_x_total counter\n' +
        'dozer_x_total{source="say \\"hi\\"\\\\\\n"} 3\ndozer_x_total +Inf\n',
    );
  });

  it('puts a request under the endpoint whose path it is in, longest path first', () => {
    const m = new HttpMetrics([
      { name: 'trips', path: '/trips' },
      { name: 'big', path: '/trips/big/' },
    ]);
    expect(m.endpointOf('/trips')).toBe('trips');
    expect(m.endpointOf('/trips/42')).toBe('trips');
    expect(m.endpointOf('/trips/big/query')).toBe('big');
    expect(m.endpointOf('/tripsx')).toBe('other');
    expect(m.endpointOf('/health')).toBe('other');
  });
});

describe('GET /metrics', () => {
  let dir: string;
  let store: Store;
  let server: RunningServer;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-metrics-'));
    store = openStore({ path: dir });
    const fields = [
      { name: 'id', type: 'int' as const, nullable: false },
      { name: 'name', type: 'string' as const, nullable: false },
    ];
    const items = store.openEndpoint({ name: 'items', schema: makeSchema(fields, ['id']) });
    const log = store.openEndpoint({ name: 'log', schema: makeSchema(fields, []) });
    await items.apply([insertOp([1n, 'a']), insertOp([2n, 'b']), insertOp([3n, 'c'])]);
    await log.apply([insertOp([1n, 'x']), insertOp([1n, 'x'])]);
    const app = createRestApp({
      endpoints: [
        { name: 'items', path: '/items', store: items },
        { name: 'log', path: '/log', store: log },
      ],
      metrics: () => [
        {
          name: 'dozer_source_ops_total',
          help: 'ops',
          type: 'counter',
          samples: [{ labels: { source: 's' }, value: 7 }],
        },
      ],
    });
    server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('counts requests by endpoint and status, with their durations, beside the stores and the host figures', async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/items/1`)).status).toBe(200);
    expect((await fetch(`${server.url}/items/99`)).status).toBe(404);
    const bad = await fetch(`${server.url}/items/query`, { method: 'POST', body: '{nope' });
    expect(bad.status).toBe(400);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await fetch(`${server.url}/nowhere`)).status).toBe(404);

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const lines = (await res.text()).split('\n');
    const value = (sample: string) => {
      const line = lines.find((l) => l.startsWith(`${sample} `));
      return line === undefined ? undefined : Number(line.slice(sample.length + 1));
    };
    expect(lines).toContain('# TYPE dozer_http_requests_total counter');
    expect(value('dozer_http_requests_total{endpoint="items",status="200"}')).toBe(3);
    expect(value('dozer_http_requests_total{endpoint="items",status="404"}')).toBe(1);
    expect(value('dozer_http_requests_total{endpoint="items",status="400"}')).toBe(1);
    expect(value('dozer_http_requests_total{endpoint="other",status="200"}')).toBe(1);
    expect(value('dozer_http_requests_total{endpoint="other",status="404"}')).toBe(1);
    // The histogram: cumulative buckets ending in +Inf, which equals the count.
    expect(lines).toContain('# TYPE dozer_http_request_duration_seconds histogram');
    expect(value('dozer_http_request_duration_seconds_count{endpoint="items"}')).toBe(5);
    expect(value('dozer_http_request_duration_seconds_bucket{endpoint="items",le="+Inf"}')).toBe(5);
    const buckets = lines
      .filter((l) => l.startsWith('dozer_http_request_duration_seconds_bucket{endpoint="items"'))
      .map((l) => Number(l.split(' ')[1]));
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(value('dozer_http_request_duration_seconds_sum{endpoint="items"}')).toBeGreaterThan(0);
    // Rows of the keyed endpoint (a bag's would need a scan), and every endpoint's version.
    expect(value('dozer_endpoint_rows{endpoint="items"}')).toBe(3);
    expect(value('dozer_endpoint_rows{endpoint="log"}')).toBeUndefined();
    expect(value('dozer_endpoint_version{endpoint="items"}')).toBe(3);
    expect(value('dozer_endpoint_version{endpoint="log"}')).toBe(2);
    expect(value('dozer_source_ops_total{source="s"}')).toBe(7);
  });
});
