import { DozerError, type JsonValue } from '@dozer/core';
import { sign, verify } from 'hono/jwt';

/** How tokens are signed: a shared secret (HS256) or an RSA key pair (RS256, PEM). */
export type AuthConfig =
  | {
      readonly algorithm: 'HS256';
      readonly secret: string;
      readonly issuer?: string;
      readonly audience?: string;
    }
  | {
      readonly algorithm: 'RS256';
      /** PEM public key, to verify. */
      readonly publicKey: string;
      /** PEM private key, only needed to issue tokens. */
      readonly privateKey?: string;
      readonly issuer?: string;
      readonly audience?: string;
    };

/**
 * What a token grants, in its `dozer` claim:
 * - `endpoints`: the endpoint names it may read (all when absent);
 * - `filters`: per endpoint name (or `*` for every endpoint) a `$filter`
 *   that is ANDed into every query, count, stream and key lookup: tenant
 *   isolation. An endpoint with its own entry uses it instead of `*`.
 */
export interface AccessClaims {
  readonly endpoints?: readonly string[];
  readonly filters?: { readonly [endpoint: string]: JsonValue };
}

/** The verified caller of one request. */
export interface AuthContext {
  readonly subject: string | undefined;
  /** When the token expires (milliseconds since the epoch), if it does: live streams end then. */
  readonly expiresAt: number | undefined;
  /** Whether the token grants this endpoint at all. */
  canRead(endpoint: string): boolean;
  /** The tenant `$filter` JSON for this endpoint, if any. */
  filterFor(endpoint: string): JsonValue | undefined;
}

/** Verifies bearer tokens. */
export interface Authenticator {
  /** Checks an `Authorization` header value; throws {@link UnauthenticatedError} when missing or bad. */
  authenticate(authorization: string | undefined): Promise<AuthContext>;
  /**
   * The caller of an `Authorization` value that `authenticate` accepted
   * before and that has not expired, at once (no promise); undefined when
   * `authenticate` must decide.
   */
  known?(authorization: string | undefined): AuthContext | undefined;
}

/** A request without valid credentials (HTTP 401, gRPC UNAUTHENTICATED). */
export class UnauthenticatedError extends DozerError {
  override name = 'UnauthenticatedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAUTHENTICATED', message, options);
  }
}

/** Valid credentials that do not grant what was asked (HTTP 403, gRPC PERMISSION_DENIED). */
export class PermissionDeniedError extends DozerError {
  override name = 'PermissionDeniedError';
  constructor(message: string) {
    super('PERMISSION_DENIED', message);
  }
}

/** Builds an {@link Authenticator} for signed JWT bearer tokens. */
export function createAuthenticator(config: AuthConfig): Authenticator {
  const key = config.algorithm === 'HS256' ? config.secret : config.publicKey;
  if (!key)
    throw new DozerError(
      'CONFIG',
      `api.auth: ${config.algorithm} needs ${config.algorithm === 'HS256' ? 'a secret' : 'a public key'}`,
    );
  // Checking a signature (WebCrypto, async) costs several times a whole key lookup, and a
  // client sends the same token with every request: a token that verified is kept, by the
  // Authorization value that carried it, until it expires. Only verified tokens are kept, so
  // a bad one is checked (and refused) every time; past MAX_VERIFIED the memory starts over.
  const verified = new Map<string, AuthContext>();
  const known = (authorization: string | undefined): AuthContext | undefined => {
    if (authorization === undefined) return undefined;
    const ctx = verified.get(authorization);
    if (ctx === undefined || ctx.expiresAt === undefined || Date.now() < ctx.expiresAt) return ctx;
    verified.delete(authorization); // authenticate() says why it is refused
    return undefined;
  };
  return {
    known,
    async authenticate(authorization) {
      const remembered = known(authorization);
      if (remembered !== undefined) return remembered;
      if (!authorization) {
        throw new UnauthenticatedError(
          'missing credentials: send "Authorization: Bearer <token>" (dozer security generate-token issues one)',
        );
      }
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!m) throw new UnauthenticatedError('the Authorization header must be "Bearer <token>"');
      const token = m[1]!;
      let payload: { [k: string]: unknown };
      try {
        payload = (await verify(token, key, {
          alg: config.algorithm,
          ...(config.issuer ? { iss: config.issuer } : {}),
          ...(config.audience ? { aud: config.audience } : {}),
        })) as { [k: string]: unknown };
      } catch (e) {
        throw new UnauthenticatedError(`invalid token: ${(e as Error).message}`, { cause: e });
      }
      const claims = readClaims(payload.dozer);
      const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
      const context: AuthContext = {
        subject: sub,
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
        canRead: (endpoint) => claims.endpoints === undefined || claims.endpoints.includes(endpoint),
        filterFor: (endpoint) => claims.filters?.[endpoint] ?? claims.filters?.['*'],
      };
      if (verified.size >= MAX_VERIFIED) verified.clear();
      verified.set(authorization, context);
      return context;
    },
  };
}

/** Most verified tokens an authenticator remembers. */
const MAX_VERIFIED = 10_000;

function readClaims(raw: unknown): AccessClaims {
  if (raw === undefined) return {};
  const bad = () =>
    new UnauthenticatedError(
      'invalid token: the "dozer" claim must be {"endpoints"?: [names], "filters"?: {endpoint: filter}}',
    );
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad();
  const { endpoints, filters } = raw as { endpoints?: unknown; filters?: unknown };
  if (
    endpoints !== undefined &&
    (!Array.isArray(endpoints) || !endpoints.every((e) => typeof e === 'string'))
  )
    throw bad();
  if (filters !== undefined && (filters === null || typeof filters !== 'object' || Array.isArray(filters)))
    throw bad();
  return {
    ...(endpoints !== undefined ? { endpoints: endpoints as string[] } : {}),
    ...(filters !== undefined ? { filters: filters as { [k: string]: JsonValue } } : {}),
  };
}

/** Options of {@link generateToken}. */
export interface TokenOptions extends AccessClaims {
  readonly subject?: string;
  /** Lifetime in seconds; no expiry when absent. */
  readonly expiresInSeconds?: number;
}

/** Issues a signed token (HS256 with the secret, RS256 with the private key). */
export async function generateToken(config: AuthConfig, options: TokenOptions = {}): Promise<string> {
  const key = config.algorithm === 'HS256' ? config.secret : config.privateKey;
  if (!key)
    throw new DozerError('CONFIG', 'api.auth: issuing RS256 tokens needs the private key (private_key_file)');
  const now = Math.floor(Date.now() / 1000);
  const dozer: { [k: string]: JsonValue } = {};
  if (options.endpoints) dozer.endpoints = [...options.endpoints];
  if (options.filters) dozer.filters = { ...options.filters };
  return sign(
    {
      iat: now,
      ...(options.subject ? { sub: options.subject } : {}),
      ...(options.expiresInSeconds !== undefined ? { exp: now + options.expiresInSeconds } : {}),
      ...(config.issuer ? { iss: config.issuer } : {}),
      ...(config.audience ? { aud: config.audience } : {}),
      ...(Object.keys(dozer).length ? { dozer } : {}),
    },
    key,
    config.algorithm,
  );
}
