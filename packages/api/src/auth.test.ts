import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeSchema } from '@dozer/core';
import { openStore, type Store } from '@dozer/store';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AuthConfig, createAuthenticator, generateToken } from './auth.js';
import { createRestApp, type RunningServer, startHttpServer } from './rest.js';

const { publicKey, privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const CONFIGS: Array<[string, AuthConfig]> = [
  ['HS256', { algorithm: 'HS256', secret: 'a-long-enough-test-secret-0123456789' }],
  ['RS256', { algorithm: 'RS256', publicKey, privateKey }],
];

describe.each(CONFIGS)('bearer tokens (%s) on REST', (_alg, config) => {
  let dir: string;
  let store: Store;
  let app: ReturnType<typeof createRestApp>;
  let server: RunningServer;
  const url = () => server.url;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-auth-'));
    // Reads that may scan go through a read thread, tenant filters included.
    store = openStore({ path: dir, readThreadMinRows: 0 });
    const docs = store.openEndpoint({
      name: 'docs',
      schema: makeSchema(
        [
          { name: 'id', type: 'int', nullable: false },
          { name: 'tenant', type: 'string', nullable: false },
        ],
        ['id'],
      ),
    });
    await docs.apply([
      { kind: 'insert', new: [1n, 'acme'] },
      { kind: 'insert', new: [2n, 'acme'] },
      { kind: 'insert', new: [3n, 'globex'] },
    ]);
    const other = store.openEndpoint({
      name: 'other',
      schema: makeSchema([{ name: 'id', type: 'int', nullable: false }], ['id']),
    });
    app = createRestApp({
      endpoints: [
        { name: 'docs', path: '/docs-records', store: docs },
        { name: 'other', path: '/other', store: other },
      ],
      auth: createAuthenticator(config),
    });
    server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = async (p: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const init: RequestInit =
      body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(body) };
    const res = await fetch(`${url()}${p}`, init);
    return { status: res.status, body: (await res.json()) as unknown };
  };

  it('refuses missing, malformed, tampered and expired tokens with 401', async () => {
    expect(await call('/docs-records')).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
    expect(await call('/docs-records', 'not-a-jwt')).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHENTICATED' },
    });
    const good = await generateToken(config);
    const [h, , s] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ dozer: { filters: {} }, iat: 1 })).toString('base64url')}.${s}`;
    expect((await call('/docs-records', forged)).status).toBe(401);
    const expired = await generateToken(config, { expiresInSeconds: -60 });
    expect(await call('/docs-records', expired)).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHENTICATED' },
    });
    // Health and the API documents stay open.
    expect((await fetch(`${url()}/health`)).status).toBe(200);
    expect((await fetch(`${url()}/openapi.json`)).status).toBe(200);
  });

  it('serves everything to a token without restrictions', async () => {
    const token = await generateToken(config, { subject: 'admin' });
    expect((await call('/docs-records', token)).body).toHaveLength(3);
  });

  it('never shows a tenant another tenant’s rows: list, query, count, key lookup', async () => {
    const token = await generateToken(config, { filters: { docs: { tenant: 'acme' } } });
    expect((await call('/docs-records', token)).body).toEqual([
      { id: '1', tenant: 'acme' },
      { id: '2', tenant: 'acme' },
    ]);
    expect((await call('/docs-records/query', token, { $filter: { id: { $gte: 2 } } })).body).toEqual([
      { id: '2', tenant: 'acme' },
    ]);
    expect((await call('/docs-records/query', token, { $filter: { tenant: 'globex' } })).body).toEqual([]);
    expect((await call('/docs-records/count', token, {})).body).toEqual({ count: 2 });
    expect((await call('/docs-records/1', token)).status).toBe(200);
    expect(await call('/docs-records/3', token)).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
  });

  it('refuses endpoints the token does not grant with 403', async () => {
    const token = await generateToken(config, { endpoints: ['docs'] });
    expect((await call('/docs-records', token)).status).toBe(200);
    // Also once the token is remembered (the grant, or its refusal, is kept per endpoint).
    for (let i = 0; i < 2; i++) {
      expect(await call('/other', token)).toMatchObject({ status: 403, body: { code: 'PERMISSION_DENIED' } });
      expect((await call('/docs-records/1', token)).status).toBe(200);
      expect((await call('/other/1', token)).status).toBe(403);
    }
    const wrongField = await generateToken(config, { filters: { '*': { tenant: 'acme' } } });
    const res = await call('/other', wrongField);
    expect(res.status).toBe(403);
    expect((res.body as { message: string }).message).toContain('unknown field "tenant"');
  });

  it('answered the reads that may scan on a read thread of the store', () => {
    expect(store.readThreadReads()).toBeGreaterThan(0);
  });
});

describe('token configuration', () => {
  it('needs a private key to issue RS256 tokens', async () => {
    await expect(generateToken({ algorithm: 'RS256', publicKey })).rejects.toThrow('needs the private key');
  });
  it('does not accept an HS256 token where RS256 is configured', async () => {
    const hs = await generateToken({ algorithm: 'HS256', secret: 'some-secret-that-is-long-enough-123' });
    await expect(
      createAuthenticator({ algorithm: 'RS256', publicKey }).authenticate(`Bearer ${hs}`),
    ).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });
  it('refuses a token once it expires, also one accepted (and remembered) before', async () => {
    const config: AuthConfig = { algorithm: 'HS256', secret: 'a-long-enough-test-secret-0123456789' };
    const auth = createAuthenticator(config);
    const token = await generateToken(config, { subject: 'ann', expiresInSeconds: 60 });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      expect((await auth.authenticate(`Bearer ${token}`)).subject).toBe('ann');
      // A tampered copy of a remembered token is still checked, and refused.
      await expect(auth.authenticate(`Bearer ${token.slice(0, -2)}xx`)).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
      });
      vi.setSystemTime(Date.now() + 59_000);
      expect((await auth.authenticate(`Bearer ${token}`)).subject).toBe('ann');
      expect(auth.known?.(`Bearer ${token}`)?.subject).toBe('ann');
      vi.setSystemTime(Date.now() + 2_000);
      expect(auth.known?.(`Bearer ${token}`)).toBeUndefined();
      await expect(auth.authenticate(`Bearer ${token}`)).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
        message: expect.stringMatching(/expired/),
      });
    } finally {
      vi.useRealTimers();
    }
  });
});
