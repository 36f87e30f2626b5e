import { DozerError, type JsonValue, type Row, rowToObject, type Schema, valueFromJson } from '@dozer/core';
import { type EndpointStore, type Filter, parseFilter, type Query } from '@dozer/store';
import { serve } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import { type AuthContext, type Authenticator, PermissionDeniedError } from './auth.js';
import { swaggerUiAsset, swaggerUiPage } from './docs.js';
import { BadRequestError, httpStatusOf, NotFoundError } from './errors.js';
import { openApiDocument } from './openapi.js';

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
  /** Called with every error that is a server fault (status 500+), for the log. */
  readonly onInternalError?: (error: Error, request: { method: string; path: string }) => void;
}

/**
 * Builds the REST application (a Hono app, usable with any Hono adapter):
 * per endpoint `GET /<path>`, `GET /<path>/<key>`, `POST /<path>/query`,
 * `POST /<path>/count`, `GET /<path>/oapi`; `GET /openapi.json`, Swagger UI
 * at `/docs`, and `GET /health`. Errors are JSON `{code, message}`;
 * responses are compressed when the client accepts it.
 */
export function createRestApp(options: RestOptions): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = httpStatusOf(err);
    if (status >= 500) options.onInternalError?.(err, { method: c.req.method, path: c.req.path });
    const code = err instanceof DozerError ? err.code : 'INTERNAL';
    const message =
      status >= 500 && !(err instanceof DozerError) ? `internal error: ${err.message}` : err.message;
    return c.json({ code, message }, status as 400);
  });
  app.notFound((c) => {
    const paths = options.endpoints.map((e) => e.path).join(', ');
    return c.json(
      { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path} (endpoints: ${paths})` },
      404,
    );
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: options.maxBodyBytes ?? 1024 * 1024,
      onError: (c) =>
        c.json(
          {
            code: 'INVALID_QUERY',
            message: `request body over ${options.maxBodyBytes ?? 1024 * 1024} bytes`,
          },
          413,
        ),
    }),
  );

  app.use('*', compress());

  app.get('/health', (c) => c.json({ status: 'SERVING', ...(options.health?.() ?? {}) }));
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
  const guard = async (c: Context, ep: RestEndpoint): Promise<Filter | undefined> => {
    if (!auth) return undefined;
    const ctx: AuthContext = await auth.authenticate(c.req.header('authorization'));
    if (!ctx.canRead(ep.name))
      throw new PermissionDeniedError(`the token does not grant endpoint "${ep.name}"`);
    const json = ctx.filterFor(ep.name);
    if (json === undefined) return undefined;
    try {
      return parseFilter(json, ep.store.schema);
    } catch (e) {
      throw new PermissionDeniedError(
        `the token's filter does not apply to endpoint "${ep.name}": ${(e as Error).message}`,
      );
    }
  };

  // Longer paths first, so that `/trips/big` is not taken for a key of `/trips`.
  const endpoints = [...options.endpoints].sort((a, b) => b.path.length - a.path.length);
  for (const ep of endpoints) {
    const { store } = ep;
    const base = ep.path === '/' ? '' : ep.path.replace(/\/+$/, '');
    const epDoc = JSON.stringify(
      openApiDocument([{ name: ep.name, path: ep.path, schema: store.schema }], info),
    );
    app.get(`${base}/oapi`, (c) => sendJsonText(c, epDoc));
    app.get(base || '/', async (c) => {
      const tenant = await guard(c, ep);
      const limit = c.req.query('limit');
      const skip = c.req.query('skip');
      const q: { [k: string]: unknown } = {};
      if (limit !== undefined) q.$limit = integerParam('limit', limit);
      if (skip !== undefined) q.$skip = integerParam('skip', skip);
      return sendRows(c, store.schema, store.query(withTenant(store.parseQuery(q), tenant)));
    });
    app.post(`${base}/query`, async (c) => {
      const tenant = await guard(c, ep);
      const body = await readJson(c);
      return sendRows(c, store.schema, store.query(withTenant(store.parseQuery(body ?? {}), tenant)));
    });
    app.post(`${base}/count`, async (c) => {
      const tenant = await guard(c, ep);
      const body = (await readJson(c)) ?? {};
      if (typeof body !== 'object' || Array.isArray(body)) {
        throw new BadRequestError('count body must be a JSON object like {"$filter": {...}}');
      }
      const unknown = Object.keys(body).filter((k) => k !== '$filter');
      if (unknown.length > 0)
        throw new BadRequestError(`unknown key "${unknown[0]}" in count body (expected $filter)`);
      const filter = (body as { $filter?: unknown }).$filter;
      return c.json({
        count: store.count(
          andFilters(filter === undefined ? undefined : parseFilter(filter, store.schema), tenant),
        ),
      });
    });
    app.get(`${base}/:key{.+}`, async (c) => {
      const tenant = await guard(c, ep);
      const raw = c.req.path.slice(base.length + 1);
      const key = parseKey(store.schema, raw);
      let row = store.get(key);
      // A row outside the caller's tenant filter does not exist for them.
      if (row && tenant)
        row = store.query({
          filter: { kind: 'and', filters: [keyFilter(store.schema, key), tenant] },
          limit: 1,
        })[0];
      if (!row) throw new NotFoundError(`no record with key ${raw} in ${ep.path}`);
      return sendJsonText(c, JSON.stringify(rowToObject(store.schema, row)));
    });
  }
  return app;
}

function andFilters(a: Filter | undefined, b: Filter | undefined): Filter | undefined {
  if (!a) return b;
  if (!b) return a;
  return { kind: 'and', filters: [a, b] };
}

function withTenant(q: Query, tenant: Filter | undefined): Query {
  if (!tenant) return q;
  const filter = andFilters(q.filter, tenant);
  return filter ? { ...q, filter } : q;
}

function keyFilter(schema: Schema, key: Row): Filter {
  return {
    kind: 'and',
    filters: schema.primaryKey.map((i, k) => ({
      kind: 'compare' as const,
      field: schema.fields[i]!.name,
      op: '$eq' as const,
      value: key[k] ?? null,
    })),
  };
}

const JSON_TYPE = 'application/json; charset=UTF-8';

/** A JSON text as the response (Hono keeps a headers object it is given, so none is shared). */
function sendJsonText(c: Context, text: string): Response {
  c.header('content-type', JSON_TYPE);
  return c.body(text, 200);
}

function sendRows(c: Context, schema: Schema, rows: readonly Row[]): Response {
  const parts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) parts[i] = JSON.stringify(rowToObject(schema, rows[i]!));
  return sendJsonText(c, `[${parts.join(',')}]`);
}

function integerParam(name: string, raw: string): number {
  if (!/^\d+$/.test(raw))
    throw new BadRequestError(`query parameter ${name} must be a non-negative integer, got "${raw}"`);
  return Number(raw);
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequestError(`request body is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Key values from the path segment after the endpoint path. A single-field
 * key is the whole (percent-decoded) segment; a composite key is its values
 * separated by `,`, each percent-encoded (so a comma inside a value is `%2C`).
 */
function parseKey(schema: Schema, raw: string): Row {
  const pk = schema.primaryKey;
  if (pk.length === 0)
    throw new BadRequestError('this endpoint has no primary key; use POST /query with a $filter');
  const parts = pk.length === 1 ? [raw] : raw.split(',');
  if (parts.length !== pk.length) {
    const names = pk.map((i) => schema.fields[i]!.name).join(',');
    throw new BadRequestError(`key "${raw}" must have ${pk.length} comma-separated values (${names})`);
  }
  return parts.map((p, k) => {
    const field = schema.fields[pk[k]!]!;
    let text: string;
    try {
      text = decodeURIComponent(p);
    } catch {
      throw new BadRequestError(`key part "${p}" is not valid percent-encoding`);
    }
    return valueFromJson({ ...field, nullable: false }, text, `key.${field.name}`);
  });
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
