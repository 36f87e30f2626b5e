export { type AccessEndpoint, tenantFilter } from './access.js';
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
export { type CorsOptions, corsMiddleware, corsOriginProblem } from './cors.js';
export { BadRequestError, HTTP_STATUS_BY_CODE, httpStatusOf, NotFoundError } from './errors.js';
export {
  ENDPOINT_PROTO_VERSION,
  type EndpointProtoLayout,
  endpointProtoLayout,
  generateEndpointProto,
  type ProtoEndpoint,
  type ProtoField,
} from './grpc/endpoint-proto.js';
export { PROTOS_DIR, writeProtoFiles } from './grpc/loader.js';
export {
  COMMON_SERVICE,
  type GrpcEndpoint,
  type GrpcOptions,
  type RunningGrpcServer,
  startGrpcServer,
} from './grpc/server.js';
export { GRPC_STATUS_BY_CODE, grpcStatusOf } from './grpc/status.js';
export { type FollowOptions, followChanges } from './live.js';
export {
  formatMetrics,
  HttpMetrics,
  METRICS_CONTENT_TYPE,
  type MetricFamily,
  type MetricSample,
} from './metrics.js';
export { fieldJsonSchema, type OpenApiEndpoint, openApiDocument } from './openapi.js';
export {
  createRestApp,
  type Readiness,
  type RestEndpoint,
  type RestOptions,
  type RunningServer,
  startHttpServer,
} from './rest.js';
