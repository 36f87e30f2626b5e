import { DozerError, type Operation, type Row, type Schema } from '@dozer/core';
import { type EndpointStore, type Filter, parseFilter, type StoreChange } from '@dozer/store';
import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import {
  andFilters,
  authorize,
  getVisible,
  parseJsonText,
  tenantFilter,
  whenExpired,
  withTenant,
} from '../access.js';
import type { Authenticator } from '../auth.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { followChanges } from '../live.js';
import { type EndpointProtoLayout, endpointProtoLayout, isMessageType } from './endpoint-proto.js';
import type {
  CountResponse,
  GetEndpointsResponse,
  GetFieldsRequest,
  GetFieldsResponse,
  OnEventRequest,
  QueryRequest,
  QueryResponse,
} from './generated/dozer/common.gen.js';
import type { Operation as PbOperation } from './generated/dozer/types.gen.js';
import type {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
} from './generated/grpc/health/v1/health.gen.js';
import { isMalformed, loadProtos, MALFORMED } from './loader.js';
import { toServiceError } from './status.js';
import { fieldsToProto, rowToProto, scalarFromProto, scalarToProto } from './values.js';

/** One endpoint served over gRPC: its name (service and token grants) and store. */
export interface GrpcEndpoint {
  readonly name: string;
  readonly store: EndpointStore;
}

/** Options of {@link startGrpcServer}. */
export interface GrpcOptions {
  readonly endpoints: readonly GrpcEndpoint[];
  /** Interface to listen on, e.g. `0.0.0.0` or `127.0.0.1`. */
  readonly host: string;
  /** Port (0 picks a free one). */
  readonly port: number;
  /** Verifies `authorization: Bearer <token>` metadata; without it the API is open. Health and reflection stay open. */
  readonly auth?: Authenticator;
  /**
   * Directory where `dozer build` wrote the endpoints' `.proto` files (see
   * {@link generateEndpointProto}); each is checked against the schema and
   * loaded. Without it they are generated from the schemas at start.
   */
  readonly protoDir?: string;
  /**
   * Most events buffered for one live stream whose client does not read;
   * past it the stream ends with RESOURCE_EXHAUSTED (resume with
   * `after_version`). Default 10,000.
   */
  readonly maxPendingEvents?: number;
  /** Called with every error that is a server fault, for the log. */
  readonly onInternalError?: (error: Error, call: { method: string }) => void;
}

/** A running gRPC server. */
export interface RunningGrpcServer {
  /** `host:port`, as a gRPC client dials it. */
  readonly address: string;
  readonly port: number;
  /** Ends the live streams (status UNAVAILABLE), marks health NOT_SERVING and stops the server. */
  close(): Promise<void>;
}

/** Fully qualified name of the common service. */
export const COMMON_SERVICE = 'dozer.common.CommonGrpcService';
const HEALTH_SERVICE = 'grpc.health.v1.Health';

type Plain = { [key: string]: unknown };

/**
 * Starts the gRPC API over the endpoints: the common service
 * (`dozer.common.CommonGrpcService`), one typed service per endpoint
 * (`dozer.generated.<name>.<Name>`), `grpc.health.v1.Health` and server
 * reflection (v1 and v1alpha).
 */
export async function startGrpcServer(options: GrpcOptions): Promise<RunningGrpcServer> {
  const eps = new Map<string, GrpcEndpoint>();
  for (const ep of options.endpoints) {
    if (eps.has(ep.name)) throw new DozerError('CONFIG', `endpoint "${ep.name}" is listed twice`);
    eps.set(ep.name, ep);
  }
  const def = loadProtos(
    options.endpoints.map((e) => ({ name: e.name, schema: e.store.schema })),
    options.protoDir,
  );
  const service = (name: string) => def[name] as ServiceDefinition;
  const server = new Server();
  const ctx: Ctx = {
    options,
    maxPending: options.maxPendingEvents ?? 10_000,
    streams: new Set(),
  };

  server.addService(service(COMMON_SERVICE), commonService(ctx, eps));
  const serviceNames = [COMMON_SERVICE];
  for (const ep of options.endpoints) {
    const layout = endpointProtoLayout({ name: ep.name, schema: ep.store.schema });
    server.addService(service(layout.fullServiceName), typedService(ctx, ep, layout));
    serviceNames.push(layout.fullServiceName);
  }
  const health = healthService(serviceNames);
  server.addService(service(HEALTH_SERVICE), health.implementation);
  new ReflectionService(def).addToServer(server);

  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, ServerCredentials.createInsecure(), (err, port) => {
      if (!err) return resolve(port);
      reject(
        /EADDRINUSE|address already in use/i.test(err.message)
          ? new DozerError(
              'CONFIG',
              `port ${options.port} on ${options.host} is already in use; set api.grpc.port in dozer.yaml to a free port`,
              { cause: err },
            )
          : new DozerError('CONFIG', `cannot listen for gRPC on ${host}:${options.port}: ${err.message}`, {
              cause: err,
            }),
      );
    });
  });
  return {
    address: `${host}:${port}`,
    port,
    close: async () => {
      health.shutdown();
      for (const end of [...ctx.streams]) end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

interface Ctx {
  readonly options: GrpcOptions;
  readonly maxPending: number;
  /** Ends each open live stream (on shutdown). */
  readonly streams: Set<() => void>;
}

interface CallLike {
  readonly metadata: { get(key: string): (string | Buffer)[] };
  readonly request: unknown;
}

function authorizationOf(call: CallLike): string | undefined {
  const v = call.metadata.get('authorization')[0];
  return v === undefined ? undefined : v.toString();
}

function reportInternal(ctx: Ctx, method: string, e: unknown): void {
  const st = toServiceError(e);
  if (st.code === status.INTERNAL && e instanceof Error) ctx.options.onInternalError?.(e, { method });
}

/** A unary handler: malformed requests and thrown errors become statuses from the one table. */
function unary<Req, Res>(ctx: Ctx, method: string, fn: (req: Req, call: CallLike) => Promise<Res> | Res) {
  const handler: handleUnaryCall<Req, Res> = (call, callback) => {
    if (isMalformed(call.request)) {
      return callback({ code: status.INVALID_ARGUMENT, details: call.request[MALFORMED] });
    }
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (res) => callback(null, res),
        (e: unknown) => {
          reportInternal(ctx, method, e);
          callback(toServiceError(e) as ServiceError);
        },
      );
  };
  return handler;
}

interface LiveSpec {
  readonly store: EndpointStore;
  readonly filter: Filter | undefined;
  readonly after: bigint | undefined;
  /** When the caller's token expires: the stream ends with UNAUTHENTICATED then. */
  readonly expiresAt: number | undefined;
  readonly toMessage: (change: StoreChange) => Plain;
}

/**
 * A live stream handler. `open` checks the request and the caller's access
 * and says what to follow; the changes then go out in order. Response
 * headers are sent once the stream follows the feed, so a client that saw
 * them knows every later commit reaches it.
 */
function liveStream<Req>(ctx: Ctx, method: string, open: (req: Req, call: CallLike) => Promise<LiveSpec>) {
  const handler: handleServerStreamingCall<Req, Plain> = (call) => {
    if (isMalformed(call.request)) {
      call.emit('error', { code: status.INVALID_ARGUMENT, details: call.request[MALFORMED] });
      return;
    }
    let done = false;
    let unsubscribe: (() => void) | undefined;
    let cancelExpiry: (() => void) | undefined;
    const finish = () => {
      if (done) return false;
      done = true;
      unsubscribe?.();
      cancelExpiry?.();
      ctx.streams.delete(shutdown);
      return true;
    };
    const shutdown = () => {
      if (finish()) call.emit('error', { code: status.UNAVAILABLE, details: 'the server is shutting down' });
    };
    ctx.streams.add(shutdown);
    call.on('cancelled', finish);
    call.on('close', finish);
    open(call.request, call)
      .then((spec) => {
        if (done) return;
        let lastSent = spec.after ?? spec.store.version();
        unsubscribe = followChanges(spec.store, { filter: spec.filter, after: spec.after }, (changes) => {
          if (done) return;
          for (const c of changes) {
            call.write(spec.toMessage(c));
            lastSent = c.version;
          }
          if (call.writableLength > ctx.maxPending && finish()) {
            call.emit('error', {
              code: status.RESOURCE_EXHAUSTED,
              details: `the client reads too slowly (over ${ctx.maxPending} events waiting); reconnect with after_version ${lastSent}`,
            });
          }
        });
        cancelExpiry = whenExpired(spec.expiresAt, () => {
          if (finish()) call.emit('error', { code: status.UNAUTHENTICATED, details: 'the token expired' });
        });
        call.sendMetadata(new Metadata());
      })
      .catch((e: unknown) => {
        if (!finish()) return;
        reportInternal(ctx, method, e);
        call.emit('error', toServiceError(e));
      });
  };
  return handler;
}

const OP_TYPE = { insert: 'INSERT', delete: 'DELETE', update: 'UPDATE' } as const;

function opFields<R>(op: Operation, record: (row: Row) => R): { old?: R; new?: R } {
  switch (op.kind) {
    case 'insert':
      return { new: record(op.new) };
    case 'delete':
      return { old: record(op.old) };
    case 'update':
      return { old: record(op.old), new: record(op.new) };
  }
}

/** `after_version` of a request: a uint64 as a decimal string (proto-loader's `longs: String`). */
function afterVersion(raw: string | undefined): bigint | undefined {
  if (raw === undefined) return undefined;
  return BigInt(raw);
}

function commonService(ctx: Ctx, eps: Map<string, GrpcEndpoint>): UntypedServiceImplementation {
  const auth = ctx.options.auth;
  const endpoint = (name: string | undefined): GrpcEndpoint => {
    if (!name) throw new BadRequestError(`endpoint is required (endpoints: ${[...eps.keys()].join(', ')})`);
    const ep = eps.get(name);
    if (!ep)
      throw new BadRequestError(`unknown endpoint "${name}" (endpoints: ${[...eps.keys()].join(', ')})`);
    return ep;
  };
  return {
    query: unary(ctx, 'query', async (req: QueryRequest, call): Promise<QueryResponse> => {
      const ep = endpoint(req.endpoint);
      const tenant = await tenantFilter(auth, authorizationOf(call), ep);
      const q = ep.store.parseQuery(parseJsonText(req.query, 'query') ?? {});
      const schema = ep.store.schema;
      const page = await ep.store.answerPage(withTenant(q, tenant));
      return {
        fields: fieldsToProto(schema),
        records: page.rows.map((r) => rowToProto(schema, r)),
        ...(page.cursor === undefined ? {} : { next_cursor: page.cursor }),
      };
    }),
    count: unary(ctx, 'count', async (req: QueryRequest, call): Promise<CountResponse> => {
      const ep = endpoint(req.endpoint);
      const tenant = await tenantFilter(auth, authorizationOf(call), ep);
      const q = ep.store.parseQuery(parseJsonText(req.query, 'query') ?? {});
      return { count: String(await ep.store.answerCount(andFilters(q.filter, tenant))) };
    }),
    getFields: unary(ctx, 'getFields', async (req: GetFieldsRequest, call): Promise<GetFieldsResponse> => {
      const ep = endpoint(req.endpoint);
      await tenantFilter(auth, authorizationOf(call), ep);
      const schema = ep.store.schema;
      return {
        fields: fieldsToProto(schema),
        primary_index: schema.primaryKey.map((i) => schema.fields[i]!.name),
      };
    }),
    getEndpoints: unary(ctx, 'getEndpoints', async (_req: unknown, call): Promise<GetEndpointsResponse> => {
      if (!auth) return { endpoints: [...eps.keys()] };
      const access = await auth.authenticate(authorizationOf(call));
      return { endpoints: [...eps.keys()].filter((n) => access.canRead(n)) };
    }),
    OnEvent: liveStream(ctx, 'OnEvent', async (req: OnEventRequest, call): Promise<LiveSpec> => {
      const ep = endpoint(req.endpoint);
      const { tenant, expiresAt } = await authorize(auth, authorizationOf(call), ep);
      const json = parseJsonText(req.filter, 'filter');
      const filter = json === undefined ? undefined : parseFilter(json, ep.store.schema);
      const schema = ep.store.schema;
      const record = (row: Row) => rowToProto(schema, row);
      return {
        store: ep.store,
        expiresAt,
        filter: andFilters(filter, tenant),
        after: afterVersion(req.after_version),
        toMessage: (c): PbOperation & Plain => ({
          typ: OP_TYPE[c.op.kind] as PbOperation['typ'],
          ...opFields(c.op, record),
          endpoint: ep.name,
          version: String(c.version),
        }),
      };
    }),
  };
}

/** Default protobuf values of the scalar carriers, for proto3 fields left out of a request. */
const ZERO: { readonly [type: string]: unknown } = {
  int: '0',
  uint: '0',
  float: 0,
  boolean: false,
  string: '',
  text: '',
  binary: new Uint8Array(0),
  date: '',
  json: '',
};

/** A row as the endpoint's typed `Record` message (NULL: field left out). */
function typedRecordEncoder(layout: EndpointProtoLayout): (row: Row) => Plain {
  const fields = layout.fields;
  return (row) => {
    const out: Plain = {};
    for (const f of fields) {
      const v = row[f.index];
      if (v !== null && v !== undefined) out[f.protoName] = scalarToProto(f.field, v);
    }
    return out;
  };
}

/** The key values of a typed `GetRequest`. */
function keyFromRequest(layout: EndpointProtoLayout, req: Plain): Row {
  return layout.keyFields.map((f) => {
    let pb = req[f.protoName];
    if (pb === undefined) {
      if (isMessageType(f.field.type)) {
        throw new BadRequestError(
          `GetRequest.${f.protoName} is required (primary key field "${f.field.name}")`,
        );
      }
      pb = ZERO[f.field.type];
    }
    return scalarFromProto(f.field, pb, `GetRequest.${f.protoName}`);
  });
}

function typedService(ctx: Ctx, ep: GrpcEndpoint, layout: EndpointProtoLayout): UntypedServiceImplementation {
  const auth = ctx.options.auth;
  const { store } = ep;
  const schema: Schema = store.schema;
  const record = typedRecordEncoder(layout);
  const method = (name: string) => `${layout.fullServiceName}/${name}`;
  const impl: UntypedServiceImplementation = {
    query: unary(ctx, method('query'), async (req: { query?: string }, call) => {
      const tenant = await tenantFilter(auth, authorizationOf(call), ep);
      const q = store.parseQuery(parseJsonText(req.query, 'query') ?? {});
      const page = await store.answerPage(withTenant(q, tenant));
      return {
        records: page.rows.map(record),
        ...(page.cursor === undefined ? {} : { next_cursor: page.cursor }),
      };
    }),
    count: unary(ctx, method('count'), async (req: { query?: string }, call) => {
      const tenant = await tenantFilter(auth, authorizationOf(call), ep);
      const q = store.parseQuery(parseJsonText(req.query, 'query') ?? {});
      return { count: String(await store.answerCount(andFilters(q.filter, tenant))) };
    }),
    on_event: liveStream(
      ctx,
      method('on_event'),
      async (req: { filter?: string; after_version?: string }, call): Promise<LiveSpec> => {
        const { tenant, expiresAt } = await authorize(auth, authorizationOf(call), ep);
        const json = parseJsonText(req.filter, 'filter');
        const filter = json === undefined ? undefined : parseFilter(json, schema);
        return {
          store,
          expiresAt,
          filter: andFilters(filter, tenant),
          after: afterVersion(req.after_version),
          toMessage: (c) => ({
            typ: OP_TYPE[c.op.kind],
            ...opFields(c.op, record),
            version: String(c.version),
          }),
        };
      },
    ),
  };
  if (layout.keyFields.length > 0) {
    impl.get = unary(ctx, method('get'), async (req: Plain, call) => {
      const tenant = await tenantFilter(auth, authorizationOf(call), ep);
      const key = keyFromRequest(layout, req);
      const row = getVisible(store, key, tenant);
      if (!row) {
        const shown = layout.keyFields.map((f, i) => `${f.field.name}=${String(key[i])}`).join(', ');
        throw new NotFoundError(`no record with key ${shown} in endpoint "${ep.name}"`);
      }
      return record(row);
    });
  }
  return impl;
}

type ServingStatus = HealthCheckResponse_ServingStatus;

/** `grpc.health.v1.Health`: SERVING for "" (the server) and each served service until shutdown. */
function healthService(services: readonly string[]) {
  const known = new Set(['', ...services, HEALTH_SERVICE]);
  let serving = true;
  const watchers = new Set<{ write(r: HealthCheckResponse): void; end(): void }>();
  const statusOf = (service: string): ServingStatus =>
    known.has(service) ? (serving ? 'SERVING' : 'NOT_SERVING') : 'SERVICE_UNKNOWN';
  const check: handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (call, callback) => {
    const service = call.request.service ?? '';
    if (!known.has(service)) {
      return callback({ code: status.NOT_FOUND, details: `unknown service "${service}"` });
    }
    callback(null, { status: statusOf(service) });
  };
  const watch: handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse> = (call) => {
    const service = call.request.service ?? '';
    call.write({ status: statusOf(service) });
    const w = {
      write: (r: HealthCheckResponse) => call.write(r),
      end: () => call.end(),
    };
    watchers.add(w);
    const drop = () => watchers.delete(w);
    call.on('cancelled', drop);
    call.on('close', drop);
  };
  return {
    implementation: { Check: check, Watch: watch } as UntypedServiceImplementation,
    shutdown: () => {
      serving = false;
      for (const w of [...watchers]) {
        w.write({ status: 'NOT_SERVING' });
        w.end();
      }
      watchers.clear();
    },
  };
}
