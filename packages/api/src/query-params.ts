import { BadRequestError } from './errors.js';

/**
 * The query parameters each REST route of an endpoint takes. The OpenAPI
 * document lists the same ones (a test holds the two together); anything
 * else in the query string is refused, so that a misspelt `?limt=5` is a 400
 * naming it rather than an answer that silently ignores it.
 */
export const ROUTE_QUERY_PARAMS = {
  list: ['limit', 'skip', 'after'],
  key: [],
  query: [],
  count: [],
  events: ['filter', 'after', 'access_token'],
  oapi: [],
} as const satisfies { readonly [route: string]: readonly string[] };

/** The query parameters of one request, by name (each given at most once). */
export type QueryParams = { readonly [name: string]: string | undefined };

const NONE: QueryParams = Object.freeze({});

/**
 * The query parameters of a request target (`/trips?limit=5`, or a whole
 * URL), checked against those the route takes: an unknown parameter or one
 * given twice is a {@link BadRequestError} that names it, lists the accepted
 * ones and, for a near miss, says which was meant. `route` names the route
 * in the message (`GET /trips`). A target without `?` costs one indexOf.
 */
export function readQueryParams(target: string, accepted: readonly string[], route: string): QueryParams {
  const q = target.indexOf('?');
  if (q === -1 || q === target.length - 1) return NONE;
  const params: { [name: string]: string } = Object.create(null);
  for (const [name, value] of new URLSearchParams(target.slice(q + 1))) {
    if (!accepted.includes(name)) throw new BadRequestError(unknownMessage(name, accepted, route));
    if (params[name] !== undefined)
      throw new BadRequestError(
        `query parameter "${name}" is given more than once on ${route}; give it once`,
      );
    params[name] = value;
  }
  return params;
}

function unknownMessage(name: string, accepted: readonly string[], route: string): string {
  const takes =
    accepted.length === 0
      ? `${route} takes no query parameters`
      : `${route} takes ${accepted.map((a) => `"${a}"`).join(', ')}`;
  let hint = '';
  const bare = name.startsWith('$') ? name.slice(1) : name;
  const meant =
    accepted.find((a) => a === bare.toLowerCase()) ?? accepted.find((a) => editDistance(a, bare) <= 2);
  if (meant !== undefined) hint = `; did you mean "${meant}"?`;
  else if (name === 'access_token')
    hint = '; send the token as the header "Authorization: Bearer <token>" (only /events takes access_token)';
  else if (name.startsWith('$'))
    hint = '; $-keys such as $filter and $order_by go in the JSON body of POST <path>/query';
  return `unknown query parameter "${name}": ${takes}${hint}`;
}

/** Levenshtein distance (names are short: a plain table is enough). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length]!;
}
