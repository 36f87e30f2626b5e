import type { MiddlewareHandler } from 'hono';

/**
 * Cross-origin requests from browsers (CORS): which web pages may call the
 * REST API. CORS is not access control (any other client calls the API
 * regardless; use tokens for that): it tells a browser whether a page of
 * another origin may read the answers.
 */
export interface CorsOptions {
  /**
   * Origins whose pages may call the API: exact `scheme://host[:port]`
   * strings as browsers send them (`https://app.example.com`), or `'*'`
   * for any page.
   */
  readonly origins: '*' | readonly string[];
  /** How long a browser may keep a preflight answer, in seconds (default 600). */
  readonly maxAgeSeconds?: number;
}

/** The answer headers a page may read besides the CORS-safelisted ones. */
const EXPOSED = 'x-next-cursor';
const METHODS = 'GET, HEAD, POST';

/**
 * `origin` when it is one (`scheme://host[:port]`, no path, as a browser
 * sends it), else a message saying what is wrong with it.
 */
export function corsOriginProblem(origin: string): string | undefined {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `"${origin}" is not a URL; expected an origin like https://app.example.com`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `"${origin}" is not an http or https origin`;
  if (url.origin !== origin) {
    return `"${origin}" is not an origin as browsers send it: expected "${url.origin}" (scheme, host and port only, no path or trailing slash)`;
  }
  return undefined;
}

/**
 * The CORS middleware of {@link CorsOptions}: answers preflight requests
 * (OPTIONS with `Access-Control-Request-Method`) itself, 204 for an allowed
 * origin and a JSON 403 naming the origin otherwise, and adds
 * `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` to the
 * answers to allowed origins. Requests without `Origin` pass untouched.
 * @throws TypeError when an origin is not one (see {@link corsOriginProblem}).
 */
export function corsMiddleware(options: CorsOptions): MiddlewareHandler {
  const any = options.origins === '*';
  const allowed = new Set(any ? [] : (options.origins as readonly string[]));
  for (const o of allowed) {
    const problem = corsOriginProblem(o);
    if (problem !== undefined) throw new TypeError(`CORS origins: ${problem}`);
  }
  const maxAge = String(options.maxAgeSeconds ?? 600);
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (origin === undefined) return next();
    const ok = any || allowed.has(origin);
    if (c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined) {
      if (!ok) {
        return c.json(
          {
            code: 'FORBIDDEN',
            message: `origin ${origin} may not call this API from a browser (allowed: ${[...allowed].join(', ') || 'none'})`,
          },
          403,
          { vary: 'Origin' },
        );
      }
      const headers: Record<string, string> = {
        'access-control-allow-origin': any ? '*' : origin,
        'access-control-allow-methods': METHODS,
        'access-control-max-age': maxAge,
      };
      // The headers a page may send: whatever it asks for (authorization, content-type,
      // last-event-id…); the API reads only those it knows.
      const asked = c.req.header('access-control-request-headers');
      if (asked) headers['access-control-allow-headers'] = asked;
      if (!any) headers.vary = 'Origin, Access-Control-Request-Headers';
      return c.body(null, 204, headers);
    }
    await next();
    if (!ok) return;
    const h = c.res.headers;
    h.set('access-control-allow-origin', any ? '*' : origin);
    h.set('access-control-expose-headers', EXPOSED);
    if (!any) h.append('vary', 'Origin');
  };
}
