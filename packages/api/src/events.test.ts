import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Decimal, makeSchema, Timestamp, type Value } from '@dozer/core';
import { type EndpointStore, openStore, type Store } from '@dozer/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthConfig, createAuthenticator, generateToken } from './auth.js';
import { createRestApp, type RunningServer, startHttpServer } from './rest.js';

// GET /<path>/events over real HTTP on loopback, read as a browser's
// EventSource would: frames separated by a blank line.

interface Frame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

function parseFrame(text: string): Frame {
  const f: Frame = {};
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) f.comment = line.slice(1).trim();
    else {
      const i = line.indexOf(':');
      const key = line.slice(0, i) as 'id' | 'event' | 'data';
      f[key] = line.slice(i + 1).replace(/^ /, '');
    }
  }
  return f;
}

async function openEvents(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  const frames: Frame[] = [];
  let finished = false;
  let notify: () => void = () => {};
  let ready: () => void = () => {};
  const readyP = new Promise<void>((r) => (ready = r));
  if (res.ok) {
    void (async () => {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf += value;
          let cut = buf.indexOf('\n\n');
          while (cut >= 0) {
            const f = parseFrame(buf.slice(0, cut));
            buf = buf.slice(cut + 2);
            if (f.comment?.startsWith('following')) ready();
            else if (f.comment === undefined) frames.push(f);
            cut = buf.indexOf('\n\n');
          }
          notify();
        }
      } catch {
        // aborted by the test
      }
      finished = true;
      notify();
    })();
  }
  return {
    res,
    ready: readyP,
    async take(n: number): Promise<Frame[]> {
      while (frames.length < n && !finished) await new Promise<void>((r) => (notify = r));
      return frames.slice(0, n);
    },
    async ended(): Promise<Frame[]> {
      while (!finished) await new Promise<void>((r) => (notify = r));
      return frames;
    },
    close: () => abort.abort(),
  };
}

const data = (f: Frame) =>
  JSON.parse(f.data!) as {
    op: string;
    old?: Record<string, unknown>;
    new?: Record<string, unknown>;
    version: string;
  };

describe('GET /<path>/events', () => {
  let dir: string;
  let store: Store;
  let trips: EndpointStore;
  let server: RunningServer;
  const auth: AuthConfig = { algorithm: 'HS256', secret: 'sse-test-secret-0123456789' };
  const row = (id: bigint, tenant: string, fare: string | null, city: string | null): Value[] => [
    id,
    tenant,
    fare === null ? null : Decimal.parse(fare),
    Timestamp.parse('2024-05-01T10:00:00.000001Z'),
    city,
  ];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-sse-'));
    store = openStore({ path: dir });
    trips = store.openEndpoint({
      name: 'trips',
      schema: makeSchema(
        [
          { name: 'id', type: 'int', nullable: false },
          { name: 'tenant', type: 'string', nullable: false },
          { name: 'fare', type: 'decimal', nullable: true },
          { name: 'at', type: 'timestamp', nullable: false },
          { name: 'city', type: 'string', nullable: true },
        ],
        ['id'],
      ),
    });
    const app = createRestApp({
      endpoints: [{ name: 'trips', path: '/trips', store: trips }],
      auth: createAuthenticator(auth),
      maxPendingEvents: 3,
      eventsHeartbeatMs: 0,
    });
    server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const token = (filters?: Record<string, unknown>) =>
    generateToken(auth, filters ? { filters: filters as never } : {}).then((t) => ({
      authorization: `Bearer ${t}`,
    }));

  it('streams inserts, updates and deletes in commit order, ids being versions, values exact', async () => {
    const admin = await token();
    const s = await openEvents(`${server.url}/trips/events`, { ...admin, 'accept-encoding': 'gzip' });
    expect(s.res.status).toBe(200);
    expect(s.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(s.res.headers.get('content-encoding')).toBeNull();
    await s.ready;
    const v0 = trips.version();
    const big = 9223372036854775807n;
    await trips.apply([{ kind: 'insert', new: row(big, 'acme', '12345678901234567890.05', 'Berlin') }]);
    await trips.apply([
      {
        kind: 'update',
        old: row(big, 'acme', '12345678901234567890.05', 'Berlin'),
        new: row(big, 'acme', null, 'Rome'),
      },
      { kind: 'delete', old: row(big, 'acme', null, 'Rome') },
    ]);
    const frames = await s.take(3);
    expect(frames.map((f) => BigInt(f.id!) - v0)).toEqual([1n, 2n, 3n]);
    expect(frames.map((f) => data(f).op)).toEqual(['insert', 'update', 'delete']);
    expect(data(frames[0]!)).toEqual({
      op: 'insert',
      new: {
        id: '9223372036854775807',
        tenant: 'acme',
        fare: '12345678901234567890.05',
        at: '2024-05-01T10:00:00.000001Z',
        city: 'Berlin',
      },
      version: String(v0 + 1n),
    });
    expect(data(frames[1]!)).toMatchObject({ old: { city: 'Berlin' }, new: { city: 'Rome', fare: null } });
    s.close();
  });

  it('applies a filter: updates into it arrive as inserts, out of it as deletes, others not at all', async () => {
    const s = await openEvents(
      `${server.url}/trips/events?filter=${encodeURIComponent('{"city": "Berlin"}')}`,
      await token(),
    );
    await s.ready;
    await trips.apply([
      { kind: 'insert', new: row(1n, 'acme', '1', 'Berlin') },
      { kind: 'insert', new: row(2n, 'acme', '2', 'Oslo') },
      { kind: 'update', old: row(1n, 'acme', '1', 'Berlin'), new: row(1n, 'acme', '1', 'Rome') },
      { kind: 'update', old: row(2n, 'acme', '2', 'Oslo'), new: row(2n, 'acme', '2', 'Berlin') },
    ]);
    const frames = await s.take(3);
    expect(frames.map((f) => `${data(f).op} ${(data(f).new ?? data(f).old)!.id}`)).toEqual([
      'insert 1',
      'delete 1',
      'insert 2',
    ]);
    s.close();
  });

  it('resumes after Last-Event-ID with the retained changes, then live ones', async () => {
    const admin = await token();
    const before = trips.version();
    await trips.apply([{ kind: 'insert', new: row(40n, 'acme', null, null) }]);
    await trips.apply([{ kind: 'insert', new: row(41n, 'acme', null, null) }]);
    const s = await openEvents(`${server.url}/trips/events`, {
      ...admin,
      'last-event-id': String(before + 1n),
    });
    await s.ready;
    await trips.apply([{ kind: 'delete', old: row(41n, 'acme', null, null) }]);
    const frames = await s.take(2);
    expect(frames.map((f) => [data(f).op, BigInt(f.id!) - before])).toEqual([
      ['insert', 2n],
      ['delete', 3n],
    ]);
    s.close();
  });

  it('never shows a tenant another tenant’s changes, and refuses missing or foreign tokens', async () => {
    const s = await openEvents(`${server.url}/trips/events`, await token({ trips: { tenant: 'globex' } }));
    await s.ready;
    await trips.apply([
      { kind: 'insert', new: row(50n, 'acme', null, 'secret') },
      { kind: 'insert', new: row(51n, 'globex', null, 'mine') },
      { kind: 'update', old: row(50n, 'acme', null, 'secret'), new: row(50n, 'globex', null, 'moved') },
    ]);
    const frames = await s.take(2);
    expect(frames.map((f) => `${data(f).op} ${data(f).new!.city}`)).toEqual(['insert mine', 'insert moved']);
    expect(JSON.stringify(frames)).not.toContain('secret');
    s.close();

    // As a browser's EventSource, which cannot send headers, would: the token in the URL.
    const viaQuery = await openEvents(
      `${server.url}/trips/events?access_token=${(await token({ trips: { tenant: 'globex' } })).authorization.slice(7)}`,
    );
    await viaQuery.ready;
    await trips.apply([
      { kind: 'insert', new: row(52n, 'acme', null, 'hidden') },
      { kind: 'insert', new: row(53n, 'globex', null, 'shown') },
    ]);
    expect((await viaQuery.take(1)).map((f) => data(f).new!.city)).toEqual(['shown']);
    viaQuery.close();
    expect((await fetch(`${server.url}/trips/events?access_token=forged`)).status).toBe(401);

    const anonymous = await fetch(`${server.url}/trips/events`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    const other = await generateToken(auth, { endpoints: ['flights'] });
    const denied = await fetch(`${server.url}/trips/events`, {
      headers: { authorization: `Bearer ${other}` },
    });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('ends the stream when the token expires, saying where to resume', async () => {
    const short = await generateToken(auth, { expiresInSeconds: 1 });
    const s = await openEvents(`${server.url}/trips/events`, { authorization: `Bearer ${short}` });
    await s.ready;
    const frames = await s.ended();
    expect(frames.at(-1)).toMatchObject({ event: 'error' });
    expect(frames.at(-1)!.data).toContain('the token expired; reconnect with Last-Event-ID');
  });

  it('answers a bad filter or resume point with 400 and a clear message', async () => {
    const admin = await token();
    const cases: [string, Record<string, string>, RegExp][] = [
      ['?filter=%7Bnope', {}, /query parameter filter is not valid JSON/],
      [`?filter=${encodeURIComponent('{"nope": 1}')}`, {}, /unknown field "nope"/],
      [`?filter=${encodeURIComponent('{"id": "x"}')}`, {}, /id/],
      [
        '',
        { 'last-event-id': 'yesterday' },
        /Last-Event-ID \/ after must be a version number, got "yesterday"/,
      ],
      [`?after=${trips.version() + 10n}`, {}, /ahead/],
    ];
    for (const [query, headers, message] of cases) {
      const res = await fetch(`${server.url}/trips/events${query}`, { headers: { ...admin, ...headers } });
      expect(res.status, String(message)).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('INVALID_QUERY');
      expect(body.message).toMatch(message);
    }
  });

  it('ends the stream of a client that falls too far behind, saying where to resume', async () => {
    const s = await openEvents(`${server.url}/trips/events`, await token());
    await s.ready;
    const from = trips.version();
    await trips.apply(
      [60n, 61n, 62n, 63n, 64n].map((id) => ({ kind: 'insert' as const, new: row(id, 'acme', null, null) })),
    );
    const frames = await s.ended();
    const last = frames[frames.length - 1]!;
    expect(last.event).toBe('error');
    expect(last.data).toContain(`reconnect with Last-Event-ID ${from}`);
  });
});
