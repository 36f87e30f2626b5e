import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, describeWithBrowser } from '../../../test/support/services.js';
import { type DozerProcess, freePort, runDozer, spawnDozer } from './helpers.js';

// A web page of another origin calling `dozer run`'s REST API from real Chromium:
// with api.rest.cors listing the page's origin the browser lets it read
// answers (after a preflight for the token and the JSON body), the paging
// cursor and the live change stream; a page of an origin not listed is blocked
// by the browser.

const SECRET = 'cors-e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/** A page server: every path answers an empty HTML page, so the page's origin is this server's. */
async function pageServer(): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort();
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>dashboard</title><p>dashboard</p>');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describeWithBrowser('a web page of another origin calls the REST API from Chromium (api.rest.cors)', () => {
  let dir: string;
  let dozer: DozerProcess | undefined;
  let api: string;
  let token: string;
  let browser: Browser;
  const pages: Array<Awaited<ReturnType<typeof pageServer>>> = [];
  const env = { DOZER_JWT_SECRET: SECRET };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-cors-'));
    pages.push(await pageServer(), await pageServer());
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const file = path.join(dir, 'dozer.yaml');
    fs.writeFileSync(
      file,
      `version: 1
app_name: cors-e2e
home_dir: ./home
connections:
  - name: gen
    kind: generator
    config: {"seed": 5, "rate": 20, "batch_size": 10, "tables": [{"name": "trips", "rows": 100, "max_ops": 100000}]}
sources:
  - name: trips
    connection: gen
endpoints:
  - name: trips
    path: /trips
    table_name: trips
api:
  rest:
    host: 127.0.0.1
    port: ${port}
    cors: { origins: ["${pages[0]!.url}"] }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
  auth: { algorithm: HS256, secret: "\${DOZER_JWT_SECRET}" }
`,
    );
    const generated = await runDozer(['security', 'generate-token', '-c', file], { env });
    expect(generated.code).toBe(0);
    token = generated.stdout.trim();
    dozer = spawnDozer(['run', '-c', file], { env });
    await dozer.waitFor('Serving 1 endpoint(s)');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    if (dozer) {
      dozer.child.kill('SIGINT');
      await dozer.exited;
    }
    for (const p of pages) await p.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the page's script at `origin` and returns what it gives. */
  async function onPage<T>(origin: string, script: (args: { api: string; token: string }) => Promise<T>) {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(script, { api, token });
    } finally {
      await page.close();
    }
  }

  it('lets a listed origin read pages with their cursor, query with a JSON body, and follow live changes', async () => {
    const got = await onPage(pages[0]!.url, async ({ api, token }) => {
      const auth = { authorization: `Bearer ${token}` };
      const first = await fetch(`${api}/trips?limit=3`, { headers: auth });
      const cursor = first.headers.get('x-next-cursor');
      const rows = (await first.json()) as Array<{ id: string }>;
      const next = await fetch(`${api}/trips?limit=3&after=${encodeURIComponent(cursor ?? '')}`, {
        headers: auth,
      });
      const nextRows = (await next.json()) as Array<{ id: string }>;
      // A JSON body and a token: the browser sends a preflight first.
      const query = await fetch(`${api}/trips/query`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ $filter: { id: { $lt: 5 } }, $order_by: { id: 'asc' } }),
      });
      const queried = (await query.json()) as Array<{ id: string }>;
      // EventSource cannot send headers: /events takes the token as access_token.
      const event = await new Promise<{ op: string; version: string }>((resolve, reject) => {
        const source = new EventSource(`${api}/trips/events?access_token=${encodeURIComponent(token)}`);
        const timer = setTimeout(() => reject(new Error('no live change within 20 s')), 20_000);
        source.onmessage = (e) => {
          clearTimeout(timer);
          source.close();
          resolve(JSON.parse(e.data as string) as { op: string; version: string });
        };
        source.onerror = () => {
          clearTimeout(timer);
          source.close();
          reject(new Error('the event stream failed'));
        };
      });
      const noToken = await fetch(`${api}/trips?limit=1`);
      return {
        status: first.status,
        rows: rows.length,
        cursor,
        nextIds: nextRows.map((r) => r.id),
        firstIds: rows.map((r) => r.id),
        queryStatus: query.status,
        queried: queried.map((r) => r.id),
        event,
        noToken: { status: noToken.status, body: await noToken.json() },
      };
    });
    expect(got.status).toBe(200);
    expect(got.rows).toBe(3);
    expect(got.cursor).toBeTruthy();
    expect(got.nextIds).toHaveLength(3);
    expect(got.nextIds.some((id) => got.firstIds.includes(id))).toBe(false);
    expect(got.queryStatus).toBe(200);
    // The filter and the order applied (live changes may have deleted some of the first ids).
    const ids = got.queried.map(Number);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => id < 5)).toBe(true);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(['insert', 'update', 'delete']).toContain(got.event.op);
    // The page reads why it was refused, too.
    expect(got.noToken.status).toBe(401);
    expect(got.noToken.body).toMatchObject({ code: 'UNAUTHENTICATED' });
  }, 60_000);

  it('blocks a page of an origin that is not listed, though the server answers any other client', async () => {
    const blocked = await onPage(pages[1]!.url, async ({ api, token }) => {
      try {
        await fetch(`${api}/trips?limit=1`, { headers: { authorization: `Bearer ${token}` } });
        return 'read';
      } catch (e) {
        return (e as Error).name;
      }
    });
    expect(blocked).toBe('TypeError');
    const direct = await fetch(`${api}/trips?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(direct.status).toBe(200);
  }, 60_000);
});
