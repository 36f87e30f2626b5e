import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import { makeSchema } from '@dozer/core';
import { openStore, type Store } from '@dozer/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRestApp, type RunningServer, startHttpServer } from './rest.js';

// The REST app behind @hono/node-server on loopback: the paths that read
// Node's request directly (bodies, headers) rather than a WHATWG Request.

/** A raw HTTP request, so that headers (chunked bodies, encodings) are exactly as written. */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; chunks?: string[] },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
        );
      },
    );
    req.on('error', reject);
    for (const c of options.chunks ?? []) req.write(c);
    req.end();
  });
}

describe('REST over HTTP', () => {
  let dir: string;
  let store: Store;
  let server: RunningServer;
  const items = () => store.endpoint('items')!;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-rest-http-'));
    store = openStore({ path: dir });
    const items = store.openEndpoint({
      name: 'items',
      schema: makeSchema(
        [
          { name: 'id', type: 'int', nullable: false },
          { name: 'name', type: 'string', nullable: false },
        ],
        ['id'],
      ),
    });
    await items.apply(
      Array.from({ length: 200 }, (_, i) => ({
        kind: 'insert' as const,
        new: [BigInt(i), `item number ${i}`],
      })),
    );
    const app = createRestApp({
      endpoints: [{ name: 'items', path: '/items', store: items }],
      maxBodyBytes: 256,
    });
    server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads query bodies, sent whole or chunked', async () => {
    const body = '{"$filter": {"id": {"$lt": 2}}}';
    const whole = await request(`${server.url}/items/query`, { method: 'POST', chunks: [body] });
    expect(JSON.parse(whole.body.toString())).toEqual([
      { id: '0', name: 'item number 0' },
      { id: '1', name: 'item number 1' },
    ]);
    const chunked = await request(`${server.url}/items/count`, {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      chunks: ['{"$filter": ', '{"id": {"$lt": 2}}}'],
    });
    expect(JSON.parse(chunked.body.toString())).toEqual({ count: 2 });
  });

  it('refuses bodies over the limit with 413, declared or chunked, and keeps serving', async () => {
    const big = `{"$filter": {"name": "${'x'.repeat(300)}"}}`;
    const declared = await request(`${server.url}/items/query`, { method: 'POST', chunks: [big] });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body.toString())).toEqual({
      code: 'INVALID_QUERY',
      message: 'request body over 256 bytes',
    });
    const chunked = await request(`${server.url}/items/query`, {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      chunks: [big.slice(0, 200), big.slice(200)],
    });
    expect(chunked.status).toBe(413);
    const bad = await request(`${server.url}/items/query`, { method: 'POST', chunks: ['{"$limit": '] });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).message).toMatch(/request body is not valid JSON/);
    expect((await request(`${server.url}/items/1`, {})).status).toBe(200);
  });

  it('pages with the x-next-cursor header, also while rows are inserted between pages', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const body = JSON.stringify({
        $filter: { id: { $gte: 190 } },
        $order_by: { id: 'desc' },
        $limit: 4,
        ...(after ? { $after: after } : {}),
      });
      const res = await request(`${server.url}/items/query`, { method: 'POST', chunks: [body] });
      expect(res.status).toBe(200);
      seen.push(...(JSON.parse(res.body.toString()) as { id: string }[]).map((r) => r.id));
      after = res.headers['x-next-cursor'] as string | undefined;
      pages++;
      // A row that sorts before the cursor, inserted mid-way, neither repeats nor shifts the pages.
      if (pages === 1) await items().apply([{ kind: 'insert', new: [500n, 'late'] }]);
      if (!after) break;
    }
    expect(seen).toEqual(['199', '198', '197', '196', '195', '194', '193', '192', '191', '190']);
    expect(pages).toBe(3);
    const list = await request(`${server.url}/items?limit=150`, {});
    const next = await request(
      `${server.url}/items?limit=150&after=${encodeURIComponent(list.headers['x-next-cursor'] as string)}`,
      {},
    );
    expect((JSON.parse(next.body.toString()) as { id: string }[]).map((r) => r.id)).toEqual([
      ...Array.from({ length: 50 }, (_, i) => String(150 + i)),
      '500',
    ]);
    const bad = await request(`${server.url}/items?after=not-a-cursor`, {});
    expect(bad.status).toBe(400);
    await items().apply([{ kind: 'delete', old: [500n, 'late'] }]);
  });

  it('compresses large answers only for clients that accept it', async () => {
    const plain = await request(`${server.url}/items?limit=200`, {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gz = await request(`${server.url}/items?limit=200`, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe(plain.body.toString());
    expect(JSON.parse(plain.body.toString())).toHaveLength(200);
    // The client's preference decides the encoding; the cursor of the next page survives compression.
    const df = await request(`${server.url}/items?limit=150`, {
      headers: { 'accept-encoding': 'gzip;q=0.5, deflate' },
    });
    expect(df.headers['content-encoding']).toBe('deflate');
    expect(df.headers.vary).toBe('Accept-Encoding');
    expect(JSON.parse(inflateSync(df.body).toString())).toHaveLength(150);
    expect(df.headers['x-next-cursor']).toBe(
      (await request(`${server.url}/items?limit=150`, {})).headers['x-next-cursor'],
    );
    const refused = await request(`${server.url}/items?limit=200`, {
      headers: { 'accept-encoding': 'gzip;q=0' },
    });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(refused.body.toString()).toBe(plain.body.toString());
    // Swagger UI's assets are compressed too.
    const js = await request(`${server.url}/docs/swagger-ui-bundle.js`, {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(js.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(js.body).length).toBeGreaterThan(100_000);
    // A small answer (and a small error) is sent as it is, with its length, even to such a client.
    for (const path of ['/items?limit=1', '/items/no-such-key']) {
      const small = await request(`${server.url}${path}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(small.headers['content-encoding']).toBeUndefined();
      expect(small.headers['content-length']).toBe(String(small.body.length));
      expect(JSON.parse(small.body.toString())).toBeTruthy();
    }
  });
});
