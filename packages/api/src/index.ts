export {
  type AccessClaims,
  type AuthConfig,
  type AuthContext,
  type Authenticator,
  createAuthenticator,
  generateToken,
  PermissionDeniedError,
  type TokenOptions,
  UnauthenticatedError,
} from './auth.js';
export { BadRequestError, HTTP_STATUS_BY_CODE, httpStatusOf, NotFoundError } from './errors.js';
export { fieldJsonSchema, type OpenApiEndpoint, openApiDocument } from './openapi.js';
export {
  createRestApp,
  type RestEndpoint,
  type RestOptions,
  type RunningServer,
  startHttpServer,
} from './rest.js';
