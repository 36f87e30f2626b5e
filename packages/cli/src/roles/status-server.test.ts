import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalObjectStore, insertOp, makeSchema } from '@dozer/core';
import { openLogQueue, serveLogs } from '@dozer/queue';
import { afterEach, describe, expect, it } from 'vitest';
import type { SourceStats } from '../progress.js';
import { ingestorReport, RoleStatus, type StatusServer, startStatusServer } from './status-server.js';

// The status server of `dozer ingest` / `dozer process`, over real HTTP on loopback.

const open: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function serve(status: RoleStatus): Promise<StatusServer> {
  const server = await startStatusServer(status, { host: '127.0.0.1', port: 0 }, 'nodes.ingestor.http_port');
  open.push(server);
  return server;
}

describe('role status server', () => {
  it('is not ready (503) until the role serves, then 200 with the role, its generation and restarts', async () => {
    const status = new RoleStatus('processor', 'agg');
    const { url } = await serve(status);
    status.phase = 'connecting';
    const waiting = await fetch(`${url}/health`);
    expect(waiting.status).toBe(503);
    expect(await waiting.json()).toMatchObject({
      status: 'NOT_SERVING',
      phase: 'connecting',
      role: 'processor',
    });
    status.generation = 4;
    status.report = { health: () => ({ upstream: 'the ingestor' }), metrics: () => [] };
    status.phase = 'serving';
    const ready = await fetch(`${url}/health`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('content-type')).toBe('application/json');
    expect(await ready.json()).toMatchObject({
      status: 'SERVING',
      role: 'processor',
      node: 'agg',
      generation: 4,
      restarts: 0,
      upstream: 'the ingestor',
    });
    const serving = await (await fetch(`${url}/metrics`)).text();
    expect(serving).toContain('dozer_role_serving{role="processor",node="agg"} 1');
    expect(serving).toContain('dozer_role_generation{role="processor",node="agg"} 4');

    // A restart drops the old start's report and counts.
    status.restart();
    const restarting = await fetch(`${url}/health`);
    expect(restarting.status).toBe(503);
    const body = (await restarting.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ phase: 'restarting', restarts: 1 });
    expect(body).not.toHaveProperty('upstream');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('dozer_role_serving{role="processor",node="agg"} 0');
    expect(metrics).toContain('dozer_role_restarts_total{role="processor",node="agg"} 1');
  });

  it('answers other paths and methods with JSON errors, and a failing report with 500', async () => {
    const status = new RoleStatus('ingestor', 'ingestor');
    const { url } = await serve(status);
    const missing = await fetch(`${url}/orders`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      code: 'NOT_FOUND',
      message: 'no route /orders: this role serves GET /health and GET /metrics',
    });
    const post = await fetch(`${url}/health`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${url}/health?verbose=1`, { method: 'HEAD' });
    expect(head.status).toBe(503);
    expect(await head.text()).toBe('');
    status.phase = 'serving';
    status.report = {
      health: () => {
        throw new Error('stats gone');
      },
      metrics: () => [],
    };
    const broken = await fetch(`${url}/health`);
    expect(broken.status).toBe(500);
    expect(await broken.json()).toEqual({ code: 'INTERNAL', message: 'cannot report /health: stats gone' });
  });

  it('names the setting when its port is taken', async () => {
    const first = await serve(new RoleStatus('ingestor', 'ingestor'));
    const port = Number(new URL(first.url).port);
    await expect(
      startStatusServer(
        new RoleStatus('ingestor', 'ingestor'),
        { host: '127.0.0.1', port },
        'nodes.ingestor.http_port',
      ),
    ).rejects.toThrow(
      `cannot serve /health and /metrics on 127.0.0.1:${port} (nodes.ingestor.http_port): listen EADDRINUSE: address already in use 127.0.0.1:${port}; is another process listening there?`,
    );
  });

  it("reports an ingestor's sources, its logs as the queue holds them and the reads of its log server", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-status-'));
    open.push({ close: () => fs.rmSync(dir, { recursive: true, force: true }) });
    const queue = openLogQueue({
      store: createLocalObjectStore(path.join(dir, 'objects')),
      prefix: 'ingest',
    });
    open.push({ close: () => queue.close({ flush: false }) });
    const schema = makeSchema([{ name: 'id', type: 'int', nullable: false }], ['id']);
    const orders = await queue.openLog('orders', schema);
    for (let i = 0; i < 3; i++)
      await orders.append({ table: 'orders', ops: [insertOp([BigInt(i)])], position: null });
    const logs = await serveLogs(queue, { host: '127.0.0.1', port: 0 });
    open.push(logs);
    const sources: SourceStats[] = [
      { name: 'orders', ops: 3, batches: 3, snapshotDone: true, finished: false },
    ];
    const status = new RoleStatus('ingestor', 'ingestor');
    status.report = ingestorReport({ sources, logs: new Map([['orders', orders]]) }, logs, {
      health: () => ({ coordinator: true }),
    });
    status.phase = 'serving';
    const { url } = await serve(status);
    expect(await (await fetch(`${url}/health`)).json()).toMatchObject({
      sources: { orders: { ops: 3, phase: 'live' } },
      logs: { orders: { next: 3, segments: 0 } },
      reads: 0,
      checkpoint: { coordinator: true },
    });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('dozer_source_ops_total{source="orders"} 3');
    expect(metrics).toContain('dozer_log_next_offset{log="orders"} 3');
    expect(metrics).toMatch(/^dozer_log_memory_bytes\{log="orders"\} [1-9]\d*$/m);
    expect(metrics).toContain('dozer_log_reads 0');
  });
});
