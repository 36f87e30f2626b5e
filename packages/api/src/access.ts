import type { Row, Schema } from '@dozer/core';
import { type EndpointStore, type Filter, parseFilter, type Query } from '@dozer/store';
import { type AuthContext, type Authenticator, PermissionDeniedError } from './auth.js';
import { BadRequestError } from './errors.js';

/** An endpoint as the access check sees it: its name (for token grants) and store. */
export interface AccessEndpoint {
  readonly name: string;
  readonly store: EndpointStore;
}

/**
 * Checks the caller's `Authorization` value for an endpoint and returns its
 * tenant filter (undefined: none, or no auth configured). Throws
 * UnauthenticatedError (no or bad token) or PermissionDeniedError (the token
 * does not grant the endpoint, or its filter does not fit the schema).
 */
export async function tenantFilter(
  auth: Authenticator | undefined,
  authorization: string | undefined,
  ep: AccessEndpoint,
): Promise<Filter | undefined> {
  return (await authorize(auth, authorization, ep)).tenant;
}

/** What a caller may see of an endpoint: its tenant filter and when its token expires. */
export interface Access {
  readonly tenant: Filter | undefined;
  /** Milliseconds since the epoch; undefined when the token does not expire (or auth is off). */
  readonly expiresAt: number | undefined;
}

const OPEN: Access = { tenant: undefined, expiresAt: undefined };

/**
 * What each endpoint grants a caller, or why not, per verified token (an
 * authenticator hands out the same context for the same token while it is
 * valid): the tenant filter is parsed once, not on every request.
 */
const grants = new WeakMap<AuthContext, Map<AccessEndpoint, Access | { denied: string }>>();

/** {@link tenantFilter}, with the token's expiry (live streams end when it passes). */
export async function authorize(
  auth: Authenticator | undefined,
  authorization: string | undefined,
  ep: AccessEndpoint,
): Promise<Access> {
  if (!auth) return OPEN;
  return grant(await auth.authenticate(authorization), ep);
}

/**
 * {@link authorize} at once when no check has to be awaited: without auth, or
 * for a token the authenticator has verified before (see `Authenticator.known`).
 * Undefined when {@link authorize} must decide; throws PermissionDeniedError.
 */
export function knownAccess(
  auth: Authenticator | undefined,
  authorization: string | undefined,
  ep: AccessEndpoint,
): Access | undefined {
  if (!auth) return OPEN;
  const ctx = auth.known?.(authorization);
  return ctx === undefined ? undefined : grant(ctx, ep);
}

function grant(ctx: AuthContext, ep: AccessEndpoint): Access {
  let known = grants.get(ctx);
  if (known === undefined) {
    known = new Map();
    grants.set(ctx, known);
  }
  let granted = known.get(ep);
  if (granted === undefined) {
    granted = grantOf(ctx, ep);
    known.set(ep, granted);
  }
  if ('denied' in granted) throw new PermissionDeniedError(granted.denied);
  return granted;
}

function grantOf(ctx: AuthContext, ep: AccessEndpoint): Access | { denied: string } {
  if (!ctx.canRead(ep.name)) return { denied: `the token does not grant endpoint "${ep.name}"` };
  const json = ctx.filterFor(ep.name);
  if (json === undefined) return { tenant: undefined, expiresAt: ctx.expiresAt };
  try {
    return { tenant: parseFilter(json, ep.store.schema), expiresAt: ctx.expiresAt };
  } catch (e) {
    return { denied: `the token's filter does not apply to endpoint "${ep.name}": ${(e as Error).message}` };
  }
}

/**
 * Calls `onExpired` when the time `expiresAt` passes (nothing when undefined).
 * Returns the function that cancels it. Expiries past setTimeout's ~24.8-day
 * limit are waited for in steps.
 */
export function whenExpired(expiresAt: number | undefined, onExpired: () => void): () => void {
  if (expiresAt === undefined) return () => {};
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      timer = undefined;
      onExpired();
      return;
    }
    timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
    timer.unref();
  };
  arm();
  return () => {
    if (timer) clearTimeout(timer);
  };
}

/** Both filters (either may be absent). */
export function andFilters(a: Filter | undefined, b: Filter | undefined): Filter | undefined {
  if (!a) return b;
  if (!b) return a;
  return { kind: 'and', filters: [a, b] };
}

/** The query with the tenant filter ANDed into its filter. */
export function withTenant(q: Query, tenant: Filter | undefined): Query {
  if (!tenant) return q;
  const filter = andFilters(q.filter, tenant);
  return filter ? { ...q, filter } : q;
}

/** Equality on every primary key field. */
export function keyFilter(schema: Schema, key: Row): Filter {
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

/** The row with this key, or undefined, also when it lies outside the caller's tenant filter. */
export function getVisible(store: EndpointStore, key: Row, tenant: Filter | undefined): Row | undefined {
  const row = store.get(key);
  if (!row || !tenant) return row;
  // A row outside the caller's tenant filter does not exist for them.
  return store.query({ filter: andFilters(keyFilter(store.schema, key), tenant)!, limit: 1 })[0];
}

/** Parses JSON text from a request field; empty or absent text is undefined. */
export function parseJsonText(text: string | undefined, what: string): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequestError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}
