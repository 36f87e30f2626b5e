import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DateValue,
  Decimal,
  Duration,
  Json,
  makeSchema,
  type Operation,
  Point,
  Timestamp,
} from '@dozer/core';
import { type EndpointStore, openStore, type Store } from '@dozer/store';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { GrpcReflection } from 'grpc-js-reflection-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthConfig, createAuthenticator, generateToken } from '../auth.js';
import { generateEndpointProto } from './endpoint-proto.js';
import { LOADER_OPTIONS, writeProtoFiles } from './loader.js';
import { type RunningGrpcServer, startGrpcServer } from './server.js';

// Real gRPC over loopback: a server over a real LMDB store, clients built
// from the .proto files as a user would (and, for reflection, from nothing).

type Client = grpc.Client & { [method: string]: (...args: unknown[]) => unknown };
type Msg = { [key: string]: unknown };

const { status } = grpc;
const BIG = 9007199254740993n; // 2^53 + 1

function unary(client: Client, method: string, req: Msg, md = new grpc.Metadata()): Promise<Msg> {
  return new Promise((resolve, reject) =>
    client[method]!(req, md, (e: grpc.ServiceError | null, r: Msg) => (e ? reject(e) : resolve(r))),
  );
}

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  const e = await p.then(
    () => undefined,
    (err: grpc.ServiceError) => err,
  );
  if (!e) throw new Error('expected the call to fail');
  return e;
}

function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

/** A server stream: resolves once the server says it follows the feed (its response headers). */
function openStream(client: Client, method: string, req: Msg, md = new grpc.Metadata()) {
  const call = client[method]!(req, md) as grpc.ClientReadableStream<Msg>;
  const events: Msg[] = [];
  let ended: grpc.ServiceError | undefined;
  let notify: () => void = () => {};
  call.on('data', (m: Msg) => {
    events.push(m);
    notify();
  });
  call.on('error', (e: grpc.ServiceError) => {
    ended = e;
    notify();
  });
  const ready = new Promise<void>((resolve, reject) => {
    call.on('metadata', () => resolve());
    call.on('error', reject);
  });
  ready.catch(() => {}); // a stream refused at once is inspected through end()
  return {
    ready,
    /** Waits for `n` events in all (or the end of the stream). */
    async take(n: number): Promise<Msg[]> {
      while (events.length < n && !ended) await new Promise<void>((r) => (notify = r));
      return events.slice(0, n);
    },
    async end(): Promise<grpc.ServiceError> {
      while (!ended) await new Promise<void>((r) => (notify = r));
      return ended;
    },
    cancel: () => call.cancel(),
  };
}

describe('gRPC server', () => {
  let dir: string;
  let store: Store;
  let trips: EndpointStore;
  let open: RunningGrpcServer;
  let secured: RunningGrpcServer;
  let protoDir: string;
  let pkg: grpc.GrpcObject;
  const auth: AuthConfig = { algorithm: 'HS256', secret: 'grpc-test-secret-0123456789' };

  const tripsSchema = makeSchema(
    [
      { name: 'id', type: 'int', nullable: false },
      { name: 'tenant', type: 'string', nullable: false },
      { name: 'fare', type: 'decimal', nullable: true },
      { name: 'at', type: 'timestamp', nullable: true },
      { name: 'city', type: 'string', nullable: true },
    ],
    ['id'],
  );
  const row = (id: bigint, tenant: string, fare: string | null, at: string | null, city: string | null) => [
    id,
    tenant,
    fare === null ? null : Decimal.parse(fare),
    at === null ? null : Timestamp.parse(at),
    city,
  ];

  const client = (server: RunningGrpcServer, name: string): Client => {
    const ctor = name
      .split('.')
      .reduce((o: unknown, k) => (o as Msg)[k], pkg) as grpc.ServiceClientConstructor;
    return new ctor(server.address, grpc.credentials.createInsecure()) as unknown as Client;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-grpc-'));
    // Reads that may scan go through a read thread of the store.
    store = openStore({ path: path.join(dir, 'store'), defaultLimit: 5, maxLimit: 10, readThreadMinRows: 0 });
    trips = store.openEndpoint({ name: 'trips', schema: tripsSchema });
    await trips.apply([
      {
        kind: 'insert',
        new: row(BIG, 'acme', '12345678901234567890.123456', '2024-05-01T10:00:00.123456Z', 'Berlin'),
      },
      { kind: 'insert', new: row(1n, 'acme', '3', null, 'Paris') },
      { kind: 'insert', new: row(2n, 'globex', '7.25', '1969-12-31T23:59:59.999999Z', null) },
    ]);
    // What `dozer build` does: write the endpoint's .proto and the protos it imports.
    protoDir = path.join(dir, 'protos');
    writeProtoFiles(protoDir, [{ name: 'trips', schema: trips.schema }]);
    // A client needs nothing but that directory.
    pkg = grpc.loadPackageDefinition(
      loadSync(['dozer/common.proto', 'grpc/health/v1/health.proto', 'trips.proto'], {
        ...LOADER_OPTIONS,
        includeDirs: [protoDir],
      }),
    );
    open = await startGrpcServer({
      endpoints: [{ name: 'trips', store: trips }],
      host: '127.0.0.1',
      port: 0,
      protoDir,
    });
    secured = await startGrpcServer({
      endpoints: [{ name: 'trips', store: trips }],
      host: '127.0.0.1',
      port: 0,
      auth: createAuthenticator(auth),
    });
  });
  afterAll(async () => {
    await open?.close();
    await secured?.close();
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists and describes every service by reflection, and a client built from reflection alone calls them', async () => {
    const reflection = new GrpcReflection(open.address, grpc.credentials.createInsecure());
    const services = await reflection.listServices();
    expect(services).toEqual(
      expect.arrayContaining([
        'dozer.common.CommonGrpcService',
        'dozer.generated.trips.Trips',
        'grpc.health.v1.Health',
      ]),
    );
    for (const s of services) {
      const methods = (await reflection.listMethods(s)).map((m) => m.name);
      expect(methods.length, s).toBeGreaterThan(0);
    }
    expect((await reflection.listMethods('dozer.generated.trips.Trips')).map((m) => m.name).sort()).toEqual([
      'count',
      'get',
      'on_event',
      'query',
    ]);
    expect(
      (await reflection.listMethods('dozer.common.CommonGrpcService')).map((m) => m.name).sort(),
    ).toEqual(['OnEvent', 'count', 'getEndpoints', 'getFields', 'query']);
    // Like grpcurl: no .proto at hand, everything from the server.
    const descriptor = await reflection.getDescriptorBySymbol('dozer.generated.trips.Trips');
    const reflected = descriptor.getPackageObject({ keepCase: true, longs: String, enums: String });
    const Trips = ((reflected.dozer as Msg).generated as Msg).trips as {
      Trips: grpc.ServiceClientConstructor;
    };
    const c = new Trips.Trips(open.address, grpc.credentials.createInsecure()) as unknown as Client;
    const got = await unary(c, 'get', { id: BIG.toString() });
    expect(got).toMatchObject({ id: BIG.toString(), tenant: 'acme', city: 'Berlin' });
    c.close();
  });

  it('common service: endpoints, fields, query and count, with int64, decimals and timestamps exact', async () => {
    const c = client(open, 'dozer.common.CommonGrpcService');
    expect(await unary(c, 'getEndpoints', {})).toEqual({ endpoints: ['trips'] });
    const fields = await unary(c, 'getFields', { endpoint: 'trips' });
    expect(fields.primary_index).toEqual(['id']);
    expect((fields.fields as Msg[]).map((f) => `${f.name}:${f.type}`)).toEqual([
      'id:int',
      'tenant:string',
      'fare:decimal',
      'at:timestamp',
      'city:string',
    ]);
    const res = await unary(c, 'query', {
      endpoint: 'trips',
      query: JSON.stringify({ $filter: { id: { $gt: '2' } } }),
    });
    expect(res.records).toEqual([
      {
        values: [
          { int_value: BIG.toString() },
          { string_value: 'acme' },
          { decimal_value: { unscaled: '12345678901234567890123456', scale: 6 } },
          { timestamp_value: { seconds: '1714557600', nanos: 123456000 } },
          { string_value: 'Berlin' },
        ],
      },
    ]);
    const neg = await unary(c, 'query', { endpoint: 'trips', query: '{"$filter": {"id": 2}}' });
    // Before 1970: whole seconds floor, nanos stay non-negative; NULL is a Value with nothing set.
    expect((neg.records as Msg[])[0]).toEqual({
      values: [
        { int_value: '2' },
        { string_value: 'globex' },
        { decimal_value: { unscaled: '725', scale: 2 } },
        { timestamp_value: { seconds: '-1', nanos: 999999000 } },
        {},
      ],
    });
    expect(await unary(c, 'count', { endpoint: 'trips', query: '{"$filter": {"tenant": "acme"}}' })).toEqual({
      count: '2',
    });
    expect(await unary(c, 'count', { endpoint: 'trips' })).toEqual({ count: '3' });
    // Exact values in filters: one microsecond or one last decimal digit apart is another value.
    const exact = (filter: unknown) =>
      unary(c, 'count', { endpoint: 'trips', query: JSON.stringify({ $filter: filter }) });
    expect(await exact({ id: BIG.toString() })).toEqual({ count: '1' });
    expect(await exact({ id: (BIG - 1n).toString() })).toEqual({ count: '0' });
    expect(await exact({ at: '2024-05-01T10:00:00.123456Z' })).toEqual({ count: '1' });
    expect(await exact({ at: '2024-05-01T10:00:00.123457Z' })).toEqual({ count: '0' });
    expect(await exact({ fare: '12345678901234567890.123456' })).toEqual({ count: '1' });
    expect(await exact({ fare: '12345678901234567890.123457' })).toEqual({ count: '0' });
    c.close();
  });

  it('typed service: query, count and get with the fields of the schema', async () => {
    const c = client(open, 'dozer.generated.trips.Trips');
    const res = await unary(c, 'query', { query: '{"$order_by": {"id": "desc"}, "$limit": 2}' });
    expect(res.records).toEqual([
      {
        id: BIG.toString(),
        tenant: 'acme',
        fare: { unscaled: '12345678901234567890123456', scale: 6 },
        at: { seconds: '1714557600', nanos: 123456000 },
        city: 'Berlin',
      },
      // NULLs are absent fields.
      {
        id: '2',
        tenant: 'globex',
        fare: { unscaled: '725', scale: 2 },
        at: { seconds: '-1', nanos: 999999000 },
      },
    ]);
    expect(await unary(c, 'count', { query: '{"$filter": {"city": null}}' })).toEqual({ count: '1' });
    expect(await unary(c, 'get', { id: '1' })).toEqual({
      id: '1',
      tenant: 'acme',
      fare: { unscaled: '3', scale: 0 },
      city: 'Paris',
    });
    // Cursor paging: next_cursor while more rows follow, then "$after" continues after the last record.
    const first = await unary(c, 'query', { query: '{"$limit": 2}' });
    expect((first.records as Msg[]).map((r) => r.id)).toEqual(['1', '2']);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await unary(c, 'query', {
      query: JSON.stringify({ $limit: 2, $after: first.next_cursor }),
    });
    expect((second.records as Msg[]).map((r) => r.id)).toEqual([BIG.toString()]);
    expect(second.next_cursor).toBeUndefined();
    const missing = await failure(unary(c, 'get', { id: '404' }));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.details).toMatch(/no record with key id=404 in endpoint "trips"/);
    c.close();
  });

  it('streams inserts, updates and deletes in commit order, and under a filter keeps a correct filtered view', async () => {
    const common = client(open, 'dozer.common.CommonGrpcService');
    const typed = client(open, 'dozer.generated.trips.Trips');
    const all = openStream(common, 'OnEvent', { endpoint: 'trips' });
    const berlin = openStream(typed, 'on_event', { filter: '{"city": "Berlin"}' });
    await Promise.all([all.ready, berlin.ready]);
    const v0 = trips.version();
    const ops: Operation[] = [
      { kind: 'insert', new: row(10n, 'acme', '1.5', null, 'Berlin') },
      {
        kind: 'update',
        old: row(10n, 'acme', '1.5', null, 'Berlin'),
        new: row(10n, 'acme', '2.5', null, 'Rome'),
      },
      {
        kind: 'update',
        old: row(10n, 'acme', '2.5', null, 'Rome'),
        new: row(10n, 'acme', '3.5', null, 'Berlin'),
      },
      { kind: 'insert', new: row(11n, 'acme', null, null, 'Oslo') },
      { kind: 'delete', old: row(10n, 'acme', '3.5', null, 'Berlin') },
    ];
    await trips.apply(ops.slice(0, 2));
    await trips.apply(ops.slice(2));
    const seen = await all.take(5);
    expect(seen.map((e) => `${e.typ} v${BigInt(e.version as string) - v0}`)).toEqual([
      'INSERT v1',
      'UPDATE v2',
      'UPDATE v3',
      'INSERT v4',
      'DELETE v5',
    ]);
    expect(seen[1]).toMatchObject({
      endpoint: 'trips',
      old: {
        values: [
          { int_value: '10' },
          {},
          { decimal_value: { unscaled: '15', scale: 1 } },
          {},
          { string_value: 'Berlin' },
        ],
      },
      new: {
        values: [
          { int_value: '10' },
          {},
          { decimal_value: { unscaled: '25', scale: 1 } },
          {},
          { string_value: 'Rome' },
        ],
      },
    });
    // Leaving the filter is a DELETE of the old row, entering it an INSERT of the new one; Oslo never shows.
    const filtered = await berlin.take(4);
    expect(
      filtered.map(
        (e) =>
          `${e.typ} ${((e.new ?? e.old) as Msg).city} ${((e.new ?? e.old) as { fare: Msg }).fare?.unscaled}`,
      ),
    ).toEqual(['INSERT Berlin 15', 'DELETE Berlin 15', 'INSERT Berlin 35', 'DELETE Berlin 35']);
    all.cancel();
    berlin.cancel();
    common.close();
    typed.close();
  });

  it('resumes a stream after a version: the retained changes first, then live ones', async () => {
    const c = client(open, 'dozer.common.CommonGrpcService');
    const before = trips.version();
    await trips.apply([
      { kind: 'insert', new: row(20n, 'acme', null, null, null) },
      { kind: 'insert', new: row(21n, 'acme', null, null, null) },
    ]);
    const s = openStream(c, 'OnEvent', { endpoint: 'trips', after_version: String(before + 1n) });
    await s.ready;
    await trips.apply([{ kind: 'delete', old: row(20n, 'acme', null, null, null) }]);
    const got = await s.take(2);
    expect(got.map((e) => [e.typ, BigInt(e.version as string) - before])).toEqual([
      ['INSERT', 2n],
      ['DELETE', 3n],
    ]);
    s.cancel();
    const ahead = await openStream(c, 'OnEvent', {
      endpoint: 'trips',
      after_version: String(trips.version() + 5n),
    }).end();
    expect(ahead.code).toBe(status.INVALID_ARGUMENT);
    c.close();
  });

  it('answers malformed requests with INVALID_ARGUMENT and a clear message, and keeps serving', async () => {
    const c = client(open, 'dozer.common.CommonGrpcService');
    const typed = client(open, 'dozer.generated.trips.Trips');
    const cases: [Promise<unknown>, RegExp][] = [
      [unary(c, 'query', { endpoint: 'trips', query: '{"$filter": ' }), /query is not valid JSON/],
      [unary(c, 'query', { endpoint: 'trips', query: '{"$filter": {"nope": 1}}' }), /unknown field "nope"/],
      [unary(c, 'query', { endpoint: 'trips', query: '{"$filter": {"id": "abc"}}' }), /id/],
      [unary(c, 'query', { endpoint: 'trips', query: '{"$limit": 11}' }), /limit/i],
      [unary(c, 'query', { endpoint: 'trips', query: '{"$frobnicate": 1}' }), /\$frobnicate/],
      [unary(c, 'count', { endpoint: 'flights' }), /unknown endpoint "flights" \(endpoints: trips\)/],
      [unary(c, 'getFields', {}), /endpoint is required/],
      [unary(typed, 'query', { query: '[1]' }), /query must be a JSON object/],
    ];
    for (const [p, message] of cases) {
      const e = await failure(p);
      expect(e.code, String(message)).toBe(status.INVALID_ARGUMENT);
      expect(e.details).toMatch(message);
    }
    const stream = await openStream(c, 'OnEvent', {
      endpoint: 'trips',
      filter: '{"fare": {"$near": 1}}',
    }).end();
    expect(stream.code).toBe(status.INVALID_ARGUMENT);
    expect(stream.details).toMatch(/unknown operator "\$near" at \$filter.fare/);
    // Bytes that are not a protobuf message at all: grpc-js would say INTERNAL, the server says what is wrong.
    const raw = await failure(
      new Promise((resolve, reject) =>
        c.makeUnaryRequest(
          '/dozer.common.CommonGrpcService/query',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0x2f, 0x00]), // field 5 with wire type 7, which does not exist
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      ),
    );
    expect(raw.code).toBe(status.INVALID_ARGUMENT);
    expect(raw.details).toMatch(/not a valid QueryRequest message/);
    expect(await unary(c, 'count', { endpoint: 'trips' })).toMatchObject({ count: expect.any(String) });
    c.close();
    typed.close();
  });

  it('needs a valid token when auth is on: UNAUTHENTICATED, PERMISSION_DENIED, and tenants see only their rows', async () => {
    const c = client(secured, 'dozer.common.CommonGrpcService');
    const typed = client(secured, 'dozer.generated.trips.Trips');
    const missing = await failure(unary(c, 'query', { endpoint: 'trips' }));
    expect(missing.code).toBe(status.UNAUTHENTICATED);
    expect(missing.details).toMatch(/missing credentials/);
    expect((await failure(unary(typed, 'count', {}, bearer('not.a.jwt')))).code).toBe(status.UNAUTHENTICATED);
    const stranger = await generateToken({ ...auth, secret: 'another-secret-0123456789' });
    expect((await failure(unary(typed, 'count', {}, bearer(stranger)))).code).toBe(status.UNAUTHENTICATED);
    expect((await openStream(typed, 'on_event', {}).end()).code).toBe(status.UNAUTHENTICATED);
    const other = await generateToken(auth, { endpoints: ['flights'] });
    const denied = await failure(unary(typed, 'query', {}, bearer(other)));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    expect(denied.details).toMatch(/does not grant endpoint "trips"/);
    expect(await unary(c, 'getEndpoints', {}, bearer(other))).toEqual({});

    const globex = bearer(await generateToken(auth, { filters: { trips: { tenant: 'globex' } } }));
    const ids = (res: Msg) => ((res.records ?? []) as Msg[]).map((r) => r.id);
    expect(ids(await unary(typed, 'query', { query: '{"$limit": 10}' }, globex))).toEqual(['2']);
    // The caller's own filter cannot widen the tenant's.
    expect(ids(await unary(typed, 'query', { query: '{"$filter": {"tenant": "acme"}}' }, globex))).toEqual(
      [],
    );
    expect(await unary(typed, 'count', {}, globex)).toEqual({ count: '1' });
    expect(await unary(c, 'count', { endpoint: 'trips' }, globex)).toEqual({ count: '1' });
    expect((await unary(c, 'query', { endpoint: 'trips' }, globex)).records).toHaveLength(1);
    expect((await failure(unary(typed, 'get', { id: '1' }, globex))).code).toBe(status.NOT_FOUND);
    expect(await unary(typed, 'get', { id: '2' }, globex)).toMatchObject({ id: '2', tenant: 'globex' });

    const stream = openStream(typed, 'on_event', {}, globex);
    const commonStream = openStream(c, 'OnEvent', { endpoint: 'trips' }, globex);
    await Promise.all([stream.ready, commonStream.ready]);
    await trips.apply([
      { kind: 'insert', new: row(30n, 'acme', null, null, 'secret') },
      { kind: 'insert', new: row(31n, 'globex', null, null, 'mine') },
      // A row moving between tenants leaves one view and enters the other, never showing the old tenant's data.
      {
        kind: 'update',
        old: row(30n, 'acme', null, null, 'secret'),
        new: row(30n, 'globex', null, null, 'moved'),
      },
      { kind: 'delete', old: row(31n, 'globex', null, null, 'mine') },
    ]);
    const seen = await stream.take(3);
    expect(
      seen.map((e) => `${e.typ} ${((e.new ?? e.old) as Msg).id} ${((e.new ?? e.old) as Msg).city}`),
    ).toEqual(['INSERT 31 mine', 'INSERT 30 moved', 'DELETE 31 mine']);
    expect((await commonStream.take(3)).map((e) => e.typ)).toEqual(['INSERT', 'INSERT', 'DELETE']);
    stream.cancel();
    commonStream.cancel();

    // A stream does not outlive its token.
    const shortLived = bearer(await generateToken(auth, { expiresInSeconds: 1 }));
    const expiring = openStream(typed, 'on_event', {}, shortLived);
    await expiring.ready;
    const end = await expiring.end();
    expect(end.code).toBe(status.UNAUTHENTICATED);
    expect(end.details).toBe('the token expired');
    c.close();
    typed.close();
  });

  it('reports health, and on close ends live streams and watchers', async () => {
    const dir2 = path.join(dir, 'store2');
    const s2 = openStore({ path: dir2 });
    const ep = s2.openEndpoint({ name: 'trips', schema: tripsSchema });
    const server = await startGrpcServer({
      endpoints: [{ name: 'trips', store: ep }],
      host: '127.0.0.1',
      port: 0,
    });
    const health = client(server, 'grpc.health.v1.Health');
    expect(await unary(health, 'Check', {})).toEqual({ status: 'SERVING' });
    expect(await unary(health, 'Check', { service: 'dozer.generated.trips.Trips' })).toEqual({
      status: 'SERVING',
    });
    expect((await failure(unary(health, 'Check', { service: 'nope.Nope' }))).code).toBe(status.NOT_FOUND);
    const watch = openStream(health, 'Watch', { service: '' });
    expect(await watch.take(1)).toEqual([{ status: 'SERVING' }]);
    const live = openStream(client(server, 'dozer.common.CommonGrpcService'), 'OnEvent', {
      endpoint: 'trips',
    });
    await live.ready;
    await server.close();
    expect((await live.end()).code).toBe(status.UNAVAILABLE);
    expect(await watch.take(2)).toEqual([{ status: 'SERVING' }, { status: 'NOT_SERVING' }]);
    await s2.close();
  });

  it('round-trips every key type exactly: a record read over gRPC, its key sent back, the same row found', async () => {
    const keyTypes = ['int', 'uint', 'decimal', 'timestamp', 'date', 'string', 'binary', 'boolean'] as const;
    const schema = makeSchema(
      [
        ...keyTypes.map((type) => ({ name: `k_${type}`, type, nullable: false })),
        { name: 'f', type: 'float', nullable: true },
        { name: 'j', type: 'json', nullable: true },
        { name: 'd', type: 'duration', nullable: true },
        { name: 'p', type: 'point', nullable: true },
      ],
      keyTypes.map((t) => `k_${t}`),
    );
    const s2 = openStore({ path: path.join(dir, 'keys') });
    const ep = s2.openEndpoint({ name: 'keys', schema });
    const rows = [
      [
        -(2n ** 63n),
        2n ** 64n - 1n,
        Decimal.parse('-98765432109876543210.000001'),
        Timestamp.parse('1900-01-01T00:00:00.000001Z'),
        DateValue.parse('1969-12-31'),
        'zwölf 🐘',
        new Uint8Array([0, 255, 7]),
        true,
        Number.MAX_VALUE,
        new Json({ a: [1, '2', null] }),
        new Duration(-1, 2, -3n),
        new Point(-0.5, 1e300),
      ],
      [
        2n ** 53n + 1n,
        2n ** 53n + 3n,
        Decimal.parse('0.10'),
        Timestamp.parse('2262-04-11T23:47:16.854775Z'),
        DateValue.parse('2024-02-29'),
        '',
        new Uint8Array(0),
        false,
        null,
        null,
        null,
        null,
      ],
    ];
    await ep.apply(rows.map((r) => ({ kind: 'insert' as const, new: r })));
    const server = await startGrpcServer({
      endpoints: [{ name: 'keys', store: ep }],
      host: '127.0.0.1',
      port: 0,
    });
    const protos = path.join(dir, 'keys-protos');
    writeProtoFiles(protos, [{ name: 'keys', schema: ep.schema }]);
    const def = loadSync('keys.proto', { ...LOADER_OPTIONS, includeDirs: [protos] });
    const Keys = (grpc.loadPackageDefinition(def).dozer as Msg).generated as {
      keys: { Keys: grpc.ServiceClientConstructor };
    };
    const c = new Keys.keys.Keys(server.address, grpc.credentials.createInsecure()) as unknown as Client;
    const records = (await unary(c, 'query', {})).records as Msg[];
    expect(records).toHaveLength(2);
    for (const record of records) {
      const key = Object.fromEntries(keyTypes.map((t) => [`k_${t}`, record[`k_${t}`]]));
      expect(await unary(c, 'get', key)).toEqual(record);
    }
    const first = records.find((r) => r.k_boolean === true)!;
    expect(first).toMatchObject({
      k_int: '-9223372036854775808',
      k_uint: '18446744073709551615',
      k_decimal: { unscaled: '-98765432109876543210000001', scale: 6 },
      k_timestamp: { seconds: '-2208988800', nanos: 1000 },
      k_date: '1969-12-31',
      k_string: 'zwölf 🐘',
      f: Number.MAX_VALUE,
      j: '{"a":[1,"2",null]}',
      d: { months: -1, days: 2, micros: '-3' },
      p: { x: -0.5, y: 1e300 },
    });
    expect([...(first.k_binary as Uint8Array)]).toEqual([0, 255, 7]);
    // A key that does not fit its type says which field and why.
    const bad = await failure(unary(c, 'get', { ...first, k_timestamp: { seconds: '1', nanos: 1 } }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/GetRequest.k_timestamp: nanos must be a multiple of 1000/);
    c.close();
    await server.close();
    await s2.close();
  });

  it('ends the stream of a client that stops reading with RESOURCE_EXHAUSTED, naming the version to resume after', async () => {
    const s3 = openStore({ path: path.join(dir, 'slow') });
    const ep = s3.openEndpoint({ name: 'trips', schema: tripsSchema, secondaryIndexes: [] });
    const server = await startGrpcServer({
      endpoints: [{ name: 'trips', store: ep }],
      host: '127.0.0.1',
      port: 0,
      maxPendingEvents: 10,
    });
    const c = client(server, 'dozer.common.CommonGrpcService');
    const call = c.OnEvent!({ endpoint: 'trips' }) as grpc.ClientReadableStream<Msg>;
    await new Promise((resolve) => call.once('metadata', resolve));
    call.pause(); // a client that does not read: HTTP/2 flow control stops the server's writes
    // The server may end the stream while the writes below still run: listen from now on.
    const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    const big = 'x'.repeat(4000);
    // ~10 MB: more than HTTP/2 windows and loopback socket buffers hold.
    for (let i = 0; i < 50; i++) {
      await ep.apply(
        Array.from({ length: 50 }, (_, j) => ({
          kind: 'insert' as const,
          new: row(BigInt(i * 50 + j), big, null, null, null),
        })),
      );
    }
    const received: Msg[] = [];
    call.on('data', (m: Msg) => received.push(m));
    call.resume();
    const e = await ended;
    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
    // The error destroys the paused client stream, so events it had buffered may be dropped
    // there; what it did deliver is in order, and the message says where to resume.
    const versions = received.map((m) => Number(m.version));
    expect(versions).toEqual(versions.map((_, i) => i + 1));
    const resumeAt = Number(/reconnect with after_version (\d+)$/.exec(e.details)?.[1]);
    expect(resumeAt).toBeGreaterThanOrEqual(versions.length);
    expect(resumeAt).toBeLessThan(2500);
    // Resuming there continues with the very next change.
    const again = c.OnEvent!({
      endpoint: 'trips',
      after_version: String(resumeAt),
    }) as grpc.ClientReadableStream<Msg>;
    const first = await new Promise<Msg>((resolve, reject) => {
      again.once('data', resolve);
      again.once('error', reject);
    });
    expect(Number(first.version)).toBe(resumeAt + 1);
    again.on('error', () => {});
    again.cancel();
    c.close();
    await server.close();
    await s3.close();
  }, 60_000);

  it('loads the .proto files dozer build wrote, and refuses ones the schema no longer matches', async () => {
    const stale = path.join(dir, 'stale');
    fs.mkdirSync(stale);
    fs.writeFileSync(
      path.join(stale, 'trips.proto'),
      generateEndpointProto({
        name: 'trips',
        schema: makeSchema([{ name: 'id', type: 'int', nullable: false }], ['id']),
      }),
    );
    await expect(
      startGrpcServer({
        endpoints: [{ name: 'trips', store: trips }],
        host: '127.0.0.1',
        port: 0,
        protoDir: stale,
      }),
    ).rejects.toThrow(/does not match the schema of endpoint "trips".*run dozer build/);
    await expect(
      startGrpcServer({
        endpoints: [{ name: 'trips', store: trips }],
        host: '127.0.0.1',
        port: 0,
        protoDir: path.join(dir, 'none'),
      }),
    ).rejects.toThrow(/no generated \.proto for endpoint "trips".*run dozer build/);
    await expect(
      startGrpcServer({ endpoints: [{ name: 'trips', store: trips }], host: '127.0.0.1', port: open.port }),
    ).rejects.toThrow(/already in use/);
  });

  it('answered the reads that may scan on a read thread of the store', () => {
    expect(store.readThreadReads()).toBeGreaterThan(0);
  });
});
