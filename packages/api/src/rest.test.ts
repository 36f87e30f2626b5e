import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Decimal, makeSchema, Timestamp } from '@dozer/core';
import { openStore, type Store } from '@dozer/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from './auth.js';
import { createRestApp, type RunningServer, startHttpServer } from './rest.js';

// The REST app over a real LMDB store, served by @hono/node-server on
// loopback and called over HTTP.
describe('REST app', () => {
  let dir: string;
  let store: Store;
  let app: ReturnType<typeof createRestApp>;
  let server: RunningServer;
  const url = () => server.url;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-rest-'));
    // Reads that may scan go through a read thread of the store.
    store = openStore({ path: dir, defaultLimit: 2, maxLimit: 10, readThreadMinRows: 0 });
    const orders = store.openEndpoint({
      name: 'orders',
      schema: makeSchema(
        [
          { name: 'id', type: 'int', nullable: false },
          { name: 'total', type: 'decimal', nullable: false },
          { name: 'at', type: 'timestamp', nullable: true },
        ],
        ['id'],
      ),
    });
    await orders.apply([
      {
        kind: 'insert',
        new: [9007199254740993n, Decimal.parse('10.50'), Timestamp.parse('2024-05-01T10:00:00.123456Z')],
      },
      { kind: 'insert', new: [1n, Decimal.parse('3'), null] },
      { kind: 'insert', new: [2n, Decimal.parse('7.25'), null] },
    ]);
    const lines = store.openEndpoint({
      name: 'lines',
      schema: makeSchema(
        [
          { name: 'order_id', type: 'int', nullable: false },
          { name: 'sku', type: 'string', nullable: false },
        ],
        ['order_id', 'sku'],
      ),
    });
    await lines.apply([{ kind: 'insert', new: [1n, 'a,b'] }]);
    app = createRestApp({
      endpoints: [
        { name: 'orders', path: '/orders', store: orders },
        { name: 'lines', path: '/orders/lines', store: lines },
      ],
    });
    server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = async (p: string) => {
    const res = await fetch(`${url()}${p}`);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
  };
  const post = async (p: string, body: string) => {
    const res = await fetch(`${url()}${p}`, { method: 'POST', body });
    return { status: res.status, body: await res.json() };
  };

  it('serves pages in key order with the default limit, the same on every request', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await get('/orders');
      expect(res.status).toBe(200);
      expect(res.type).toBe('application/json; charset=UTF-8');
      expect(res.body).toEqual([
        { id: '1', total: '3', at: null },
        { id: '2', total: '7.25', at: null },
      ]);
    }
    expect((await get('/orders?skip=2&limit=5')).body).toEqual([
      { id: '9007199254740993', total: '10.50', at: '2024-05-01T10:00:00.123456Z' },
    ]);
  });

  it('looks up by key exactly past 2^53, and by composite key with an encoded comma', async () => {
    expect((await get('/orders/9007199254740993')).body).toMatchObject({
      id: '9007199254740993',
      total: '10.50',
    });
    expect((await get('/orders/9007199254740992')).status).toBe(404);
    expect((await get('/orders/lines/1,a%2Cb')).body).toEqual({ order_id: '1', sku: 'a,b' });
    const bad = await get('/orders/lines/1');
    expect(bad).toMatchObject({
      status: 400,
      body: { code: 'INVALID_QUERY', message: 'key "1" must have 2 comma-separated values (order_id,sku)' },
    });
    expect((await get('/orders/abc')).body).toEqual({
      code: 'TYPE',
      message: 'key.id: expected an integer or a string of digits for int field "id", got string "abc"',
    });
  });

  it('queries and counts with filters, and rejects bad requests with 400', async () => {
    expect(
      (await post('/orders/query', '{"$filter": {"total": {"$gte": "7"}}, "$order_by": {"total": "desc"}}'))
        .body,
    ).toEqual([
      { id: '9007199254740993', total: '10.50', at: '2024-05-01T10:00:00.123456Z' },
      { id: '2', total: '7.25', at: null },
    ]);
    expect((await post('/orders/count', '{"$filter": {"at": null}}')).body).toEqual({ count: 2 });
    expect((await post('/orders/count', '')).body).toEqual({ count: 3 });
    expect(await post('/orders/query', '{"$limit": 11}')).toMatchObject({
      status: 400,
      body: { code: 'INVALID_QUERY' },
    });
    expect(await post('/orders/query', '[1')).toMatchObject({ status: 400, body: { code: 'INVALID_QUERY' } });
    expect(await post('/orders/count', '{"$filter": {}, "$limit": 1}')).toEqual({
      status: 400,
      body: { code: 'INVALID_QUERY', message: 'unknown key "$limit" in count body (expected $filter)' },
    });
    expect((await get('/orders?limit=x')).status).toBe(400);
    expect(await get('/nowhere')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect((await get('/health')).body).toEqual({ status: 'SERVING' });
    // Without a readiness check, ready as soon as it listens.
    expect(await get('/ready')).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('answers GET /ready with 503 and what it waits for until the data is ready, without a token', async () => {
    let waiting: string[] | null = ['source "orders": in its snapshot'];
    const ready = createRestApp({
      endpoints: [{ name: 'orders', path: '/orders', store: store.endpoint('orders')! }],
      auth: createAuthenticator({ algorithm: 'HS256', secret: 'a-long-enough-test-secret-0123456789' }),
      ready: () => (waiting === null ? { ready: true } : { ready: false, waiting }),
    });
    const s = await startHttpServer(ready, { host: '127.0.0.1', port: 0 });
    try {
      const at = async (method = 'GET') => {
        const res = await fetch(`${s.url}/ready`, { method });
        return { status: res.status, body: method === 'HEAD' ? await res.text() : await res.json() };
      };
      expect(await at()).toEqual({
        status: 503,
        body: { ready: false, waiting: ['source "orders": in its snapshot'] },
      });
      expect((await at('HEAD')).status).toBe(503);
      waiting = null;
      expect(await at()).toEqual({ status: 200, body: { ready: true } });
      expect(await at('HEAD')).toEqual({ status: 200, body: '' });
      // The data itself still needs the token.
      expect((await fetch(`${s.url}/orders`)).status).toBe(401);
    } finally {
      await s.close();
    }
  });

  const message = async (res: Promise<{ body: unknown }>) =>
    ((await res).body as { message: string }).message;

  it('refuses a query parameter the route does not take with 400 naming it and the accepted ones', async () => {
    expect(await get('/orders?limt=5')).toEqual({
      status: 400,
      type: 'application/json; charset=UTF-8',
      body: {
        code: 'INVALID_QUERY',
        message:
          'unknown query parameter "limt": GET /orders takes "limit", "skip", "after"; did you mean "limit"?',
      },
    });
    expect(await message(get('/orders?$limit=1'))).toBe(
      'unknown query parameter "$limit": GET /orders takes "limit", "skip", "after"; did you mean "limit"?',
    );
    expect(await message(get('/orders?limit=1&limit=2'))).toBe(
      'query parameter "limit" is given more than once on GET /orders; give it once',
    );
    expect(await message(get('/orders?access_token=abc'))).toBe(
      'unknown query parameter "access_token": GET /orders takes "limit", "skip", "after"; send the token as the header "Authorization: Bearer <token>" (only /events takes access_token)',
    );
    expect((await get('/orders/1?fields=id')).body).toEqual({
      code: 'INVALID_QUERY',
      message: 'unknown query parameter "fields": GET /orders/<key> takes no query parameters',
    });
    expect((await get('/orders/oapi?v=2')).status).toBe(400);
    expect(await message(get('/orders/events?limit=1'))).toBe(
      'unknown query parameter "limit": GET /orders/events takes "filter", "after", "access_token"',
    );
    expect(await message(post('/orders/query?limit=1', '{}'))).toBe(
      'unknown query parameter "limit": POST /orders/query takes no query parameters',
    );
    expect(await message(post('/orders/count?$filter=x', '{}'))).toBe(
      'unknown query parameter "$filter": POST /orders/count takes no query parameters; $-keys such as $filter and $order_by go in the JSON body of POST <path>/query',
    );
    // The accepted ones still work, an empty query string is no parameter, and keys are unaffected.
    expect((await get('/orders?limit=1&skip=1')).body).toEqual([{ id: '2', total: '7.25', at: null }]);
    expect((await get('/orders?')).status).toBe(200);
    expect((await get('/orders/lines/1,a%2Cb?')).body).toEqual({ order_id: '1', sku: 'a,b' });
  });

  it('takes exactly the query parameters the OpenAPI document lists, on every route', async () => {
    type Operation = { parameters?: { name: string; in: string }[] };
    const doc = (await (await fetch(`${url()}/orders/oapi`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const checked: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths)) {
      const target = p.replace('{key}', '1');
      for (const [method, op] of Object.entries(ops)) {
        const listed = (op.parameters ?? []).filter((x) => x.in === 'query').map((x) => x.name);
        const call = async (query: string) => {
          const res = await fetch(`${url()}${target}?${query}`, {
            method: method.toUpperCase(),
            ...(method === 'post' ? { body: '{}' } : {}),
          });
          if (res.status === 400) return res.text();
          await res.body?.cancel(); // the event stream does not end by itself
          return '';
        };
        // Each listed parameter is taken (its value may still be refused, never its name)...
        for (const name of listed) expect(await call(`${name}=1`)).not.toMatch(/unknown query parameter/);
        // ...and one that is not listed is refused, naming the listed ones.
        const refused = JSON.parse(await call('nosuch=1')) as { message: string };
        expect(refused.message).toMatch(/^unknown query parameter "nosuch"/);
        for (const name of listed) expect(refused.message).toContain(`"${name}"`);
        checked.push(`${method} ${p}`);
      }
    }
    expect(checked.sort()).toEqual([
      'get /orders',
      'get /orders/events',
      'get /orders/oapi',
      'get /orders/{key}',
      'post /orders/count',
      'post /orders/query',
    ]);
  });

  it('answered the reads that may scan on a read thread of the store', () => {
    expect(store.readThreadReads()).toBeGreaterThan(0);
  });
});

describe('OpenAPI, Swagger UI and compression', () => {
  let dir: string;
  let store: Store;
  let app: ReturnType<typeof createRestApp>;
  let server: RunningServer;
  const url = () => server.url;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-oapi-'));
    store = openStore({ path: dir });
    const ep = store.openEndpoint({
      name: 'trip_stats',
      schema: makeSchema(
        [
          { name: 'id', type: 'int', nullable: false },
          { name: 'fare', type: 'decimal', nullable: false, precision: 10, scale: 2 },
          { name: 'at', type: 'timestamp', nullable: true },
          { name: 'note', type: 'text', nullable: true },
        ],
        ['id'],
      ),
    });
    await ep.apply(
      Array.from({ length: 200 }, (_, i) => ({
        kind: 'insert' as const,
        new: [
          BigInt(i),
          Decimal.parse(`${i}.50`),
          null,
          'a note long enough to make the answer worth compressing',
        ],
      })),
    );
    app = createRestApp({
      endpoints: [{ name: 'trip_stats', path: '/stats', store: ep }],
      info: { title: 'Trips', version: '3' },
    });
    server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('describes every route and the real field types in OpenAPI 3.1', async () => {
    const doc = (await (await fetch(`${url()}/openapi.json`)).json()) as {
      openapi: string;
      info: unknown;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toEqual({ title: 'Trips', version: '3' });
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/stats',
      '/stats/count',
      '/stats/events',
      '/stats/oapi',
      '/stats/query',
      '/stats/{key}',
    ]);
    const props = doc.components.schemas.TripStatsRecord!.properties;
    expect(props.id).toMatchObject({ type: 'string', format: 'int64' });
    expect(props.fare).toMatchObject({
      type: 'string',
      format: 'decimal',
      description: 'exact decimal (precision 10, scale 2)',
    });
    expect(props.at).toMatchObject({ type: ['string', 'null'], format: 'date-time' });
    const own = (await (await fetch(`${url()}/stats/oapi`)).json()) as { paths: object };
    expect(Object.keys(own.paths)).toContain('/stats/{key}');
  });

  it('serves Swagger UI from local assets', async () => {
    const page = await fetch(`${url()}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('/docs/swagger-ui-bundle.js');
    expect(html).toContain('"/openapi.json"');
    const js = await fetch(`${url()}/docs/swagger-ui-bundle.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=UTF-8');
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    expect((await fetch(`${url()}/docs/../../etc/passwd`)).status).toBe(404);
  });
});
