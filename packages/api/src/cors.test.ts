import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { makeSchema } from '@dozer/core';
import { openStore, type Store } from '@dozer/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, generateToken } from './auth.js';
import { corsMiddleware, corsOriginProblem } from './cors.js';
import { createRestApp, type RunningServer, startHttpServer } from './rest.js';

// CORS on the REST app behind @hono/node-server on loopback, with raw requests
// (a browser's Origin and preflight headers, which fetch would not send as written).
// A real browser calling the API from another origin: packages/cli/test/cors.browser.e2e.test.ts.

function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const SECRET = 'cors-test-secret-of-enough-length';
const PAGE = 'https://app.example.com';

describe('CORS', () => {
  let dir: string;
  let store: Store;
  const servers: RunningServer[] = [];
  let listed: string;
  let any: string;
  let off: string;
  let token: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-cors-'));
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
      Array.from({ length: 5 }, (_, i) => ({ kind: 'insert' as const, new: [BigInt(i), `item ${i}`] })),
    );
    const auth = createAuthenticator({ algorithm: 'HS256', secret: SECRET });
    token = await generateToken({ algorithm: 'HS256', secret: SECRET });
    const start = async (cors?: Parameters<typeof createRestApp>[0]['cors']) => {
      const app = createRestApp({
        endpoints: [{ name: 'items', path: '/items', store: items }],
        auth,
        ...(cors ? { cors } : {}),
      });
      const s = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
      servers.push(s);
      return s.url;
    };
    listed = await start({ origins: [PAGE, 'http://localhost:5173'], maxAgeSeconds: 120 });
    any = await start({ origins: '*' });
    off = await start();
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers an allowed origin's preflight without a token, for the headers it asks", async () => {
    const res = await request(`${listed}/items/query`, 'OPTIONS', {
      origin: PAGE,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(PAGE);
    expect(res.headers['access-control-allow-methods']).toBe('GET, HEAD, POST');
    expect(res.headers['access-control-allow-headers']).toBe('authorization, content-type');
    expect(res.headers['access-control-max-age']).toBe('120');
    expect(res.headers.vary).toContain('Origin');
  });

  it('lets the page read answers and the paging cursor; errors too, so the page sees why', async () => {
    const auth = { origin: PAGE, authorization: `Bearer ${token}` };
    const page = await request(`${listed}/items?limit=2`, 'GET', auth);
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body)).toHaveLength(2);
    expect(page.headers['access-control-allow-origin']).toBe(PAGE);
    expect(page.headers['access-control-expose-headers']).toBe('x-next-cursor');
    expect(page.headers['x-next-cursor']).toBeTruthy();
    expect(page.headers.vary).toContain('Origin');
    const query = await request(
      `${listed}/items/query`,
      'POST',
      { ...auth, 'content-type': 'application/json' },
      '{"$filter":{"id":{"$gte":3}}}',
    );
    expect(JSON.parse(query.body)).toEqual([
      { id: '3', name: 'item 3' },
      { id: '4', name: 'item 4' },
    ]);
    expect(query.headers['access-control-allow-origin']).toBe(PAGE);
    const noToken = await request(`${listed}/items`, 'GET', { origin: PAGE });
    expect(noToken.status).toBe(401);
    expect(noToken.headers['access-control-allow-origin']).toBe(PAGE);
    const missing = await request(`${listed}/nothing`, 'GET', auth);
    expect(missing.status).toBe(404);
    expect(missing.headers['access-control-allow-origin']).toBe(PAGE);
  });

  it('refuses the preflight of another origin with a message, and gives its answers no CORS headers', async () => {
    const pre = await request(`${listed}/items`, 'OPTIONS', {
      origin: 'https://evil.example',
      'access-control-request-method': 'GET',
    });
    expect(pre.status).toBe(403);
    expect(JSON.parse(pre.body)).toEqual({
      code: 'FORBIDDEN',
      message:
        'origin https://evil.example may not call this API from a browser (allowed: https://app.example.com, http://localhost:5173)',
    });
    const res = await request(`${listed}/items`, 'GET', {
      origin: 'https://evil.example',
      authorization: `Bearer ${token}`,
    });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it("'*' allows any page; without cors no page gets CORS headers, and no origin leaves answers as they were", async () => {
    const pre = await request(`${any}/items`, 'OPTIONS', {
      origin: 'https://anyone.example',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    expect(pre.headers.vary).toBeUndefined();
    const got = await request(`${any}/items/1`, 'GET', {
      origin: 'https://anyone.example',
      authorization: `Bearer ${token}`,
    });
    expect(got.headers['access-control-allow-origin']).toBe('*');

    const offPre = await request(`${off}/items`, 'OPTIONS', {
      origin: PAGE,
      'access-control-request-method': 'GET',
    });
    expect(offPre.status).toBe(404);
    expect(offPre.headers['access-control-allow-origin']).toBeUndefined();
    const plain = await request(`${listed}/items/1`, 'GET', { authorization: `Bearer ${token}` });
    expect(plain.status).toBe(200);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
    expect(plain.headers.vary).toBeUndefined();
  });

  it('refuses origins that a browser never sends', () => {
    expect(corsOriginProblem('https://app.example.com')).toBeUndefined();
    expect(corsOriginProblem('http://localhost:5173')).toBeUndefined();
    expect(corsOriginProblem('https://app.example.com/')).toBe(
      '"https://app.example.com/" is not an origin as browsers send it: expected "https://app.example.com" (scheme, host and port only, no path or trailing slash)',
    );
    expect(corsOriginProblem('app.example.com')).toBe(
      '"app.example.com" is not a URL; expected an origin like https://app.example.com',
    );
    expect(corsOriginProblem('ftp://files.example.com')).toBe(
      '"ftp://files.example.com" is not an http or https origin',
    );
    expect(() => corsMiddleware({ origins: ['https://a.example/x'] })).toThrow(/CORS origins: /);
  });
});
