import { DozerError, type JsonValue, type Row, rowToObject, type Schema, valueFromJson } from '@dozer/core';
import { type EndpointStore, parseFilter } from '@dozer/store';
import { serve } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { BadRequestError, httpStatusOf, NotFoundError } from './errors.js';

/** One endpoint served over REST: a URL path over a store endpoint. */
export interface RestEndpoint {
  /** URL path, starting with `/`, e.g. `/trips`. */
  readonly path: string;
  readonly store: EndpointStore;
}

export interface RestOptions {
  readonly endpoints: readonly RestEndpoint[];
  /** Largest accepted request body in bytes (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** Extra fields for `GET /health` (e.g. ingestion progress). */
  readonly health?: () => { [key: string]: JsonValue };
  /** Called with every error that is a server fault (status 500+), for the log. */
  readonly onInternalError?: (error: Error, request: { method: string; path: string }) => void;
}

/**
 * Builds the REST application (a Hono app, usable with any Hono adapter):
 * per endpoint `GET /<path>`, `GET /<path>/<key>`, `POST /<path>/query`,
 * `POST /<path>/count`; and `GET /health`. Errors are JSON `{code, message}`.
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

  app.get('/health', (c) => c.json({ status: 'SERVING', ...(options.health?.() ?? {}) }));

  // Longer paths first, so that `/trips/big` is not taken for a key of `/trips`.
  const endpoints = [...options.endpoints].sort((a, b) => b.path.length - a.path.length);
  for (const ep of endpoints) {
    const { store } = ep;
    const base = ep.path === '/' ? '' : ep.path.replace(/\/+$/, '');
    app.get(base || '/', (c) => {
      const limit = c.req.query('limit');
      const skip = c.req.query('skip');
      const q: { [k: string]: unknown } = {};
      if (limit !== undefined) q.$limit = integerParam('limit', limit);
      if (skip !== undefined) q.$skip = integerParam('skip', skip);
      return sendRows(c, store.schema, store.query(store.parseQuery(q)));
    });
    app.post(`${base}/query`, async (c) => {
      const body = await readJson(c);
      return sendRows(c, store.schema, store.query(store.parseQuery(body ?? {})));
    });
    app.post(`${base}/count`, async (c) => {
      const body = (await readJson(c)) ?? {};
      if (typeof body !== 'object' || Array.isArray(body)) {
        throw new BadRequestError('count body must be a JSON object like {"$filter": {...}}');
      }
      const unknown = Object.keys(body).filter((k) => k !== '$filter');
      if (unknown.length > 0)
        throw new BadRequestError(`unknown key "${unknown[0]}" in count body (expected $filter)`);
      const filter = (body as { $filter?: unknown }).$filter;
      return c.json({
        count: store.count(filter === undefined ? undefined : parseFilter(filter, store.schema)),
      });
    });
    app.get(`${base}/:key{.+}`, (c) => {
      const raw = c.req.path.slice(base.length + 1);
      const key = parseKey(store.schema, raw);
      const row = store.get(key);
      if (!row) throw new NotFoundError(`no record with key ${raw} in ${ep.path}`);
      return sendJsonText(c, JSON.stringify(rowToObject(store.schema, row)));
    });
  }
  return app;
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
