import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { deflate, gzip } from 'node:zlib';
import { DozerError, type JsonValue, type Row, rowToObject, type Schema, valueFromJson } from '@dozer/core';
import { type EndpointStore, type Filter, parseFilter, type StoreChange } from '@dozer/store';
import { serve } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { compress } from 'hono/compress';
import { streamSSE } from 'hono/streaming';
import {
  andFilters,
  authorize,
  getVisible,
  knownAccess,
  tenantFilter,
  whenExpired,
  withTenant,
} from './access.js';
import type { Authenticator } from './auth.js';
import { type CorsOptions, corsMiddleware } from './cors.js';
import { swaggerUiAsset, swaggerUiPage } from './docs.js';
import { BadRequestError, httpStatusOf, NotFoundError } from './errors.js';
import { followChanges } from './live.js';
import { formatMetrics, HttpMetrics, METRICS_CONTENT_TYPE, type MetricFamily } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { type QueryParams, ROUTE_QUERY_PARAMS, readQueryParams } from './query-params.js';
import { rowJsonWriter } from './row-json.js';

/** One endpoint served over REST: a URL path over a store endpoint. */
export interface RestEndpoint {
  /** Endpoint name (for OpenAPI operation ids and token grants). */
  readonly name: string;
  /** URL path, starting with `/`, e.g. `/trips`. */
  readonly path: string;
  readonly store: EndpointStore;
}

export interface RestOptions {
  readonly endpoints: readonly RestEndpoint[];
  /** Largest accepted request body in bytes (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** Verifies bearer tokens; without it the API is open. `/health`, `/docs` and the OpenAPI documents stay open. */
  readonly auth?: Authenticator;
  /** Title and version of the OpenAPI document. */
  readonly info?: { readonly title: string; readonly version: string };
  /** Extra fields for `GET /health` (e.g. ingestion progress). */
  readonly health?: () => { [key: string]: JsonValue };
  /**
   * Whether the data served is complete enough to send traffic to, for `GET /ready` (a
   * readiness probe): 200 `{"ready": true}`, or 503 `{"ready": false, "waiting": [...]}` saying
   * what it waits for. Without it the API is ready as soon as it listens.
   */
  readonly ready?: () => Readiness;
  /**
   * Most changes buffered for one `/events` client that does not read; past
   * it the stream ends (an EventSource reconnects with `Last-Event-ID` and
   * resumes). Default 10,000.
   */
  readonly maxPendingEvents?: number;
  /** Milliseconds between keep-alive comments on `/events` streams (default 15,000; 0: none). */
  readonly eventsHeartbeatMs?: number;
  /** Called with every error that is a server fault (status 500+), for the log. */
  readonly onInternalError?: (error: Error, request: { method: string; path: string }) => void;
  /** Extra metric families for `GET /metrics` (e.g. ingestion and checkpoints), after the API's own. */
  readonly metrics?: () => readonly MetricFamily[];
  /** Which web pages of other origins may call the API from a browser; without it, none. */
  readonly cors?: CorsOptions;
}

/** What `GET /ready` answers (see {@link RestOptions.ready}). */
export interface Readiness {
  readonly ready: boolean;
  /** What the data still waits for, for people: `source "orders": in its snapshot`. */
  readonly waiting?: readonly string[];
}

/** The request metrics of each app {@link createRestApp} built, fed by {@link startHttpServer}. */
const requestMetrics = new WeakMap<Hono, HttpMetrics>();

/**
 * Builds the REST application (a Hono app, usable with any Hono adapter):
 * per endpoint `GET /<path>`, `GET /<path>/<key>`, `POST /<path>/query`,
 * `POST /<path>/count`, `GET /<path>/oapi`, `GET /<path>/events` (Server-Sent
 * Events of live changes); `GET /openapi.json`, Swagger UI
 * at `/docs`, `GET /health`, `GET /ready` and `GET /metrics`. Errors are JSON `{code, message}`;
 * responses are compressed when the client accepts it.
 */
export function createRestApp(options: RestOptions): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = err instanceof PayloadTooLargeError ? 413 : httpStatusOf(err);
    if (status >= 500) options.onInternalError?.(err, { method: c.req.method, path: c.req.path });
    const code = err instanceof DozerError ? err.code : 'INTERNAL';
    const message =
      status >= 500 && !(err instanceof DozerError) ? `internal error: ${err.message}` : err.message;
    return sendJsonText(c, JSON.stringify({ code, message }), status);
  });
  const noRoute = (c: Context) => {
    const paths = options.endpoints.map((e) => e.path).join(', ');
    return sendJsonText(
      c,
      JSON.stringify({
        code: 'NOT_FOUND',
        message: `no route ${c.req.method} ${c.req.path} (endpoints: ${paths})`,
      }),
      404,
    );
  };
  app.notFound(noRoute);
  // Only when asked for: a middleware on every route takes the routes off Hono's direct path.
  if (options.cors) app.use('*', corsMiddleware(options.cors));
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const readJson = (c: Context) => readJsonBody(c, maxBody);
  // JSON answers decide on compression themselves (sendJsonText): no middleware
  // runs on the API routes, so a route with one handler takes Hono's direct path
  // (no compose, no promise per layer). Only the Swagger UI assets go through
  // Hono's compress middleware.
  const compressor = compress();
  app.use('/docs', compressor);
  app.use('/docs/*', compressor);

  app.get('/health', (c) =>
    sendJsonText(c, JSON.stringify({ status: 'SERVING', ...(options.health?.() ?? {}) })),
  );
  app.get('/ready', (c) => {
    const r = options.ready?.() ?? { ready: true };
    return r.ready
      ? sendJsonText(c, '{"ready":true}')
      : sendJsonText(c, JSON.stringify({ ready: false, waiting: r.waiting ?? [] }), 503);
  });
  const httpMetrics = new HttpMetrics(options.endpoints);
  requestMetrics.set(app, httpMetrics);
  app.get('/metrics', (c) => {
    const keyed = options.endpoints.filter((e) => e.store.schema.primaryKey.length > 0);
    const text =
      httpMetrics.format() +
      formatMetrics([
        {
          name: 'dozer_endpoint_rows',
          help: 'Rows an endpoint holds (endpoints with a primary key)',
          type: 'gauge',
          samples: keyed.map((e) => ({ labels: { endpoint: e.name }, value: e.store.count() })),
        },
        {
          name: 'dozer_endpoint_version',
          help: "Changes applied to an endpoint's store (its change feed version)",
          type: 'counter',
          samples: options.endpoints.map((e) => ({
            labels: { endpoint: e.name },
            value: Number(e.store.version()),
          })),
        },
        ...(options.metrics?.() ?? []),
      ]);
    return c.body(text, 200, { 'content-type': METRICS_CONTENT_TYPE });
  });
  const info = options.info ?? { title: 'Dozer API', version: '1' };
  const docEndpoints = options.endpoints.map((e) => ({ name: e.name, path: e.path, schema: e.store.schema }));
  const fullDoc = JSON.stringify(openApiDocument(docEndpoints, info));
  app.get('/openapi.json', (c) => sendJsonText(c, fullDoc));
  app.get('/docs', (c) => c.html(swaggerUiPage('/openapi.json', info.title)));
  app.get('/docs/:asset', (c) => {
    const asset = swaggerUiAsset(c.req.param('asset'));
    if (!asset) throw new NotFoundError(`no such documentation asset: ${c.req.param('asset')}`);
    c.header('content-type', asset.type);
    c.header('cache-control', 'public, max-age=86400');
    return c.body(asset.body);
  });

  const auth = options.auth;
  /** The caller's tenant filter for an endpoint (undefined: none); throws when not allowed. */
  const guard = (c: Context, ep: RestEndpoint): Promise<Filter | undefined> =>
    tenantFilter(auth, header(c, 'authorization'), ep);
  /**
   * `answer` with the caller's tenant filter; at once without auth or for a token
   * verified before, so that the read routes answer synchronously: a Response (not
   * a promise of one) goes straight to @hono/node-server's fast path.
   */
  const withAccess = (
    c: Context,
    ep: RestEndpoint,
    answer: (tenant: Filter | undefined) => Answer,
  ): Answer => {
    const authorization = header(c, 'authorization');
    const known = knownAccess(auth, authorization, ep);
    return known ? answer(known.tenant) : tenantFilter(auth, authorization, ep).then(answer);
  };

  // Longer paths first, so that `/trips/big` is not taken for a key of `/trips`.
  const endpoints = [...options.endpoints].sort((a, b) => b.path.length - a.path.length);
  for (const ep of endpoints) {
    const { store } = ep;
    const toJson = rowJsonWriter(store.schema);
    const base = ep.path === '/' ? '' : ep.path.replace(/\/+$/, '');
    const epDoc = JSON.stringify(
      openApiDocument([{ name: ep.name, path: ep.path, schema: store.schema }], info),
    );
    // Each route refuses query parameters it does not take (see ROUTE_QUERY_PARAMS).
    const routes = {
      list: `GET ${base || '/'}`,
      key: `GET ${base}/<key>`,
      query: `POST ${base}/query`,
      count: `POST ${base}/count`,
      events: `GET ${base}/events`,
      oapi: `GET ${base}/oapi`,
    };
    const params = (c: Context, route: keyof typeof routes): QueryParams =>
      readQueryParams(requestTarget(c), ROUTE_QUERY_PARAMS[route], routes[route]);
    app.get(`${base}/oapi`, (c) => {
      params(c, 'oapi');
      return sendJsonText(c, epDoc);
    });
    const page = (c: Context, query: unknown, tenant: Filter | undefined): Answer => {
      // A query that may read many rows is answered by a read thread of the store (a promise).
      const answer = store.answerPageJson(withTenant(store.parseQuery(query ?? {}), tenant));
      return answer instanceof Promise
        ? answer.then((a) => sendJsonText(c, a.json, 200, a.cursor))
        : sendJsonText(c, answer.json, 200, answer.cursor);
    };
    app.get(base || '/', (c): Answer => {
      const { limit, skip, after } = params(c, 'list');
      const q: { [k: string]: unknown } = {};
      if (limit !== undefined) q.$limit = integerParam('limit', limit);
      if (skip !== undefined) q.$skip = integerParam('skip', skip);
      if (after !== undefined) q.$after = after;
      return withAccess(c, ep, (tenant) => page(c, q, tenant));
    });
    app.post(`${base}/query`, (c): Answer => {
      params(c, 'query');
      return withAccess(c, ep, (tenant) => {
        const body = readJson(c);
        return body instanceof Promise ? body.then((b) => page(c, b, tenant)) : page(c, body, tenant);
      });
    });
    app.post(`${base}/count`, async (c) => {
      params(c, 'count');
      const tenant = await guard(c, ep);
      const body = (await readJson(c)) ?? {};
      if (typeof body !== 'object' || Array.isArray(body)) {
        throw new BadRequestError('count body must be a JSON object like {"$filter": {...}}');
      }
      const unknown = Object.keys(body).filter((k) => k !== '$filter');
      if (unknown.length > 0)
        throw new BadRequestError(`unknown key "${unknown[0]}" in count body (expected $filter)`);
      const filter = (body as { $filter?: unknown }).$filter;
      const count = await store.answerCount(
        andFilters(filter === undefined ? undefined : parseFilter(filter, store.schema), tenant),
      );
      return sendJsonText(c, `{"count":${count}}`);
    });
    app.get(`${base}/events`, async (c) => {
      // A browser's EventSource cannot send headers: the token may come as
      // `?access_token=` (RFC 6750, section 2.3) on this route only.
      const { access_token: queryToken, filter: raw, after: afterParam } = params(c, 'events');
      const { tenant, expiresAt } = await authorize(
        auth,
        header(c, 'authorization') ?? (queryToken ? `Bearer ${queryToken}` : undefined),
        ep,
      );
      let filter: Filter | undefined;
      if (raw !== undefined && raw.trim() !== '') {
        let json: unknown;
        try {
          json = JSON.parse(raw);
        } catch (e) {
          throw new BadRequestError(`query parameter filter is not valid JSON: ${(e as Error).message}`);
        }
        filter = parseFilter(json, store.schema);
      }
      const lastId = header(c, 'last-event-id') ?? afterParam;
      let after: bigint | undefined;
      if (lastId !== undefined && lastId !== '') {
        if (!/^\d+$/.test(lastId))
          throw new BadRequestError(`Last-Event-ID / after must be a version number, got "${lastId}"`);
        after = BigInt(lastId);
      }
      return liveEvents(c, store, andFilters(filter, tenant), after, expiresAt, {
        maxPending: options.maxPendingEvents ?? 10_000,
        heartbeatMs: options.eventsHeartbeatMs ?? 15_000,
      });
    });
    const keyOf = keyParser(store.schema);
    const record = (c: Context, tenant: Filter | undefined) => {
      const raw = c.req.path.slice(base.length + 1);
      if (raw === '') return noRoute(c);
      const key = keyOf(raw);
      let text: string | undefined;
      if (tenant) {
        const row = getVisible(store, key, tenant);
        text = row && toJson(row);
      } else {
        // Written as JSON straight from the stored bytes.
        text = store.getJson(key);
      }
      if (text === undefined) throw new NotFoundError(`no record with key ${raw} in ${ep.path}`);
      return sendJsonText(c, text);
    };
    // A wildcard rather than `:key{.+}`, which Hono's RegExpRouter cannot take
    // (the app would fall back to the slower TrieRouter). The routes above are
    // registered first, so `/oapi` and `/events` are never taken for keys.
    app.get(`${base}/*`, (c): Answer => {
      params(c, 'key');
      return withAccess(c, ep, (tenant) => record(c, tenant));
    });
  }
  return app;
}

/**
 * The Server-Sent Events stream of an endpoint's changes: a comment line
 * once the stream follows the feed, then per change `id: <version>` and
 * `data: {"op", "old"?, "new"?, "version"}` (records in the JSON form).
 */
function liveEvents(
  c: Context,
  store: EndpointStore,
  filter: Filter | undefined,
  after: bigint | undefined,
  expiresAt: number | undefined,
  limits: { maxPending: number; heartbeatMs: number },
): Response {
  const schema = store.schema;
  const queue: StoreChange[] = [];
  let wake: (() => void) | undefined;
  let overflow = false;
  // Subscribed before the response starts, so an expired `after` is a 400, not a broken stream.
  const unsubscribe = followChanges(store, { filter, after }, (changes) => {
    if (overflow) return;
    for (const ch of changes) queue.push(ch);
    if (queue.length > limits.maxPending) overflow = true;
    wake?.();
  });
  const from = after ?? store.version();
  let expired = false;
  const cancelExpiry = whenExpired(expiresAt, () => {
    expired = true;
    wake?.();
  });
  c.header('cache-control', 'no-cache');
  return streamSSE(c, async (stream) => {
    let closed = false;
    stream.onAbort(() => {
      closed = true;
      wake?.();
    });
    const heartbeat =
      limits.heartbeatMs > 0
        ? setInterval(() => void stream.write(': keep-alive\n\n'), limits.heartbeatMs)
        : undefined;
    try {
      await stream.write(`: following changes after version ${from}\n\n`);
      let last = from;
      while (!closed) {
        if (overflow || expired) {
          const why = overflow
            ? `the client reads too slowly (over ${limits.maxPending} changes waiting)`
            : 'the token expired';
          await stream.writeSSE({
            event: 'error',
            data: JSON.stringify({ message: `${why}; reconnect with Last-Event-ID ${last}` }),
          });
          break;
        }
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        const batch = queue.splice(0, queue.length);
        let text = '';
        for (const ch of batch) text += `id: ${ch.version}\ndata: ${changeJson(schema, ch)}\n\n`;
        await stream.write(text);
        last = batch[batch.length - 1]!.version;
      }
    } finally {
      unsubscribe();
      cancelExpiry();
      if (heartbeat) clearInterval(heartbeat);
    }
  });
}

function changeJson(schema: Schema, ch: StoreChange): string {
  const op = ch.op;
  const parts = [`"op":"${op.kind}"`];
  if (op.kind !== 'insert') parts.push(`"old":${JSON.stringify(rowToObject(schema, op.old))}`);
  if (op.kind !== 'delete') parts.push(`"new":${JSON.stringify(rowToObject(schema, op.new))}`);
  parts.push(`"version":"${ch.version}"`);
  return `{${parts.join(',')}}`;
}

const JSON_TYPE = 'application/json; charset=UTF-8';

/** A handler's answer: a Response when it can be made at once, which Node writes without a promise. */
type Answer = Response | Promise<Response>;

/** Smallest answer worth compressing: below it gzip costs more than it saves. */
const COMPRESS_MIN_BYTES = 1024;
const compressors = { gzip: promisify(gzip), deflate: promisify(deflate) };

/**
 * A JSON text as the response, compressed when it is 1 KiB or more and the
 * client accepts gzip or deflate. The Response is built directly with a plain
 * headers object (a fresh one each time: Hono may keep it), which
 * @hono/node-server writes as it is; `c.header()` would build a WHATWG
 * Headers per answer and copy it back out. Node sets the length.
 */
function sendJsonText(c: Context, text: string, status = 200, cursor?: string): Response | Promise<Response> {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: a shorter text cannot reach the threshold.
  if (text.length * 3 >= COMPRESS_MIN_BYTES) {
    const accept = header(c, 'accept-encoding');
    const encoding = accept === undefined ? undefined : selectEncoding(accept);
    if (encoding !== undefined && Buffer.byteLength(text) >= COMPRESS_MIN_BYTES) {
      return compressors[encoding](text).then((body) => {
        const headers: { [k: string]: string } = {
          'content-type': JSON_TYPE,
          'content-encoding': encoding,
          vary: 'Accept-Encoding',
        };
        if (cursor !== undefined) headers[NEXT_CURSOR_HEADER] = cursor;
        return new Response(body, { status, headers });
      });
    }
  }
  return new Response(text, {
    status,
    headers:
      cursor === undefined
        ? { 'content-type': JSON_TYPE }
        : { 'content-type': JSON_TYPE, [NEXT_CURSOR_HEADER]: cursor },
  });
}

/**
 * gzip or deflate, whichever an Accept-Encoding value prefers by q-value
 * (gzip on a tie, `*` standing for both), or undefined when it takes neither.
 */
export function selectEncoding(accept: string): 'gzip' | 'deflate' | undefined {
  let gz: number | undefined;
  let df: number | undefined;
  let any: number | undefined;
  for (const part of accept.split(',')) {
    const [token = '', ...options] = part.split(';');
    let q = 1;
    for (const o of options) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(o);
      if (m) q = Number(m[1]);
    }
    const name = token.trim().toLowerCase();
    if (name === 'gzip' || name === 'x-gzip') gz = q;
    else if (name === 'deflate') df = q;
    else if (name === '*') any = q;
  }
  const g = gz ?? any ?? 0;
  const d = df ?? any ?? 0;
  if (g > 0 && g >= d) return 'gzip';
  return d > 0 ? 'deflate' : undefined;
}

/** The header carrying the cursor of the next page, when more rows follow. */
export const NEXT_CURSOR_HEADER = 'x-next-cursor';

function integerParam(name: string, raw: string): number {
  if (!/^\d+$/.test(raw))
    throw new BadRequestError(`query parameter ${name} must be a non-negative integer, got "${raw}"`);
  return Number(raw);
}

/** The request target as sent (`/trips?limit=5`), or under another adapter the whole URL. */
function requestTarget(c: Context): string {
  return (c.env as NodeEnv | undefined)?.incoming?.url ?? c.req.url;
}

/** A request header; straight from Node's parsed headers when served by @hono/node-server. */
function header(c: Context, name: string): string | undefined {
  const incoming = (c.env as NodeEnv | undefined)?.incoming;
  if (incoming) {
    const v = incoming.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }
  return c.req.header(name);
}

interface NodeEnv {
  readonly incoming?: IncomingMessage;
}

/** A body over the configured limit (HTTP 413). */
class PayloadTooLargeError extends BadRequestError {
  override name = 'PayloadTooLargeError';
  constructor(max: number) {
    super(`request body over ${max} bytes`);
  }
}

/**
 * The request body as text, at most `max` bytes. Under @hono/node-server it
 * is read from Node's request stream, which spares building a WHATWG
 * Request (and its AbortSignal and ReadableStream) for every query.
 */
function readBodyText(c: Context, max: number): string | Promise<string> {
  const declared = header(c, 'content-length');
  if (declared !== undefined && Number(declared) > max) throw new PayloadTooLargeError(max);
  const incoming = (c.env as NodeEnv | undefined)?.incoming;
  if (incoming && !incoming.readableEnded && incoming.complete && !incoming.readableFlowing) {
    // The whole message is in (a small body usually comes with the headers): take what the
    // parser buffered at once, without switching the stream to flowing mode and waiting for
    // its events. The stream then ends as usual.
    if (incoming.readableLength > max) throw new PayloadTooLargeError(max);
    const b = incoming.read() as Buffer | null;
    return b === null ? '' : b.toString('utf8');
  }
  if (incoming && !incoming.readableEnded) {
    // Listeners passed inline: a named closure costs a property definition per request under tsx.
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      incoming.on('data', (b: Buffer) => {
        if (size > max) return; // over the limit: the rest is dropped
        size += b.length;
        if (size > max) reject(new PayloadTooLargeError(max));
        else chunks.push(b);
      });
      incoming.once('end', () => {
        if (size <= max)
          resolve(
            chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'),
          );
      });
      incoming.once('error', reject);
    });
  }
  return readWebBody(c, max);
}

/** The body of a WHATWG Request (adapters other than @hono/node-server), at most `max` bytes. */
async function readWebBody(c: Context, max: number): Promise<string> {
  const body = c.req.raw.body;
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      throw new PayloadTooLargeError(max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** The body as JSON (undefined when empty); synchronous when the body is already in. */
function readJsonBody(c: Context, max: number): unknown {
  const text = readBodyText(c, max);
  return typeof text === 'string' ? parseJsonBody(text) : text.then(parseJsonBody);
}

function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequestError(`request body is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The parser of key values from the path segment after the endpoint path. A
 * single-field key is the whole (percent-decoded) segment; a composite key is
 * its values separated by `,`, each percent-encoded (so a comma inside a value
 * is `%2C`).
 */
function keyParser(schema: Schema): (raw: string) => Row {
  const pk = schema.primaryKey;
  const fields = pk.map((i) => ({ ...schema.fields[i]!, nullable: false }));
  const paths = fields.map((f) => `key.${f.name}`);
  const names = fields.map((f) => f.name).join(',');
  const value = (p: string, k: number) => {
    let text = p;
    if (p.includes('%')) {
      try {
        text = decodeURIComponent(p);
      } catch {
        throw new BadRequestError(`key part "${p}" is not valid percent-encoding`);
      }
    }
    return valueFromJson(fields[k]!, text, paths[k]!);
  };
  return (raw) => {
    if (pk.length === 0)
      throw new BadRequestError('this endpoint has no primary key; use POST /query with a $filter');
    if (pk.length === 1) return [value(raw, 0)];
    const parts = raw.split(',');
    if (parts.length !== pk.length)
      throw new BadRequestError(`key "${raw}" must have ${pk.length} comma-separated values (${names})`);
    return parts.map(value);
  };
}

/** A running HTTP server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves a Hono app over HTTP on `host:port` (port 0 picks a free one). */
export function startHttpServer(app: Hono, options: { host: string; port: number }): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info) => {
      const host = info.address.includes(':') ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((res, rej) => {
            const s = server as unknown as { closeAllConnections?: () => void };
            server.close((err) => (err ? rej(err) : res()));
            s.closeAllConnections?.();
          }),
      });
    });
    const metrics = requestMetrics.get(app);
    if (metrics !== undefined) {
      // Before Hono's listener, so that the time counts from the request's arrival.
      server.prependListener('request', (req: IncomingMessage, res: import('node:http').ServerResponse) => {
        const t0 = performance.now();
        res.once('finish', () => {
          const url = req.url ?? '/';
          const q = url.indexOf('?');
          metrics.observe(q < 0 ? url : url.slice(0, q), res.statusCode, (performance.now() - t0) / 1000);
        });
      });
    }
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'EADDRINUSE'
          ? new DozerError(
              'CONFIG',
              `port ${options.port} on ${options.host} is already in use; set api.rest.port in dozer.yaml to a free port`,
              { cause: e },
            )
          : e,
      );
    });
  });
}
