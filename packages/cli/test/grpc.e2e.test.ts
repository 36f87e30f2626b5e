import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { endpointProtoLayout } from '@dozer/api';
import { makeSchema } from '@dozer/core';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DozerProcess, freePort, getJson, runDozer, spawnDozer, until } from './helpers.js';

// A client that has only what `dozer build` wrote: the generated .proto of
// the endpoint and the fixed protos it imports.
describe('dozer build writes .proto files; dozer run serves them over gRPC', () => {
  let dir: string;
  let dozer: DozerProcess | undefined;
  let rest: string;
  let grpcAddress: string;
  let file: string;
  const clients: grpc.Client[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-grpc-'));
    const restPort = await freePort();
    const grpcPort = await freePort();
    rest = `http://127.0.0.1:${restPort}`;
    grpcAddress = `127.0.0.1:${grpcPort}`;
    file = path.join(dir, 'dozer.yaml');
    fs.writeFileSync(
      file,
      `version: 1
app_name: grpc-e2e
home_dir: ./home
connections:
  - name: gen
    kind: generator
    config: {"seed": 5, "rate": 0, "batch_size": 25, "tables": [{"name": "trips", "rows": 120, "max_ops": 0}]}
sources:
  - name: trips
    connection: gen
sql: |
  SELECT id, city, fare FROM trips WHERE fare > 50 INTO pricey;
endpoints:
  - name: pricey
    path: /pricey
    table_name: pricey
api:
  rest: { host: 127.0.0.1, port: ${restPort} }
  grpc: { host: 127.0.0.1, port: ${grpcPort} }
`,
    );
  });

  afterAll(() => {
    for (const c of clients) c.close();
    dozer?.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('build writes the endpoint .proto and the protos it imports', async () => {
    const res = await runDozer(['build', '-c', file]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('.proto file(s) for gRPC clients');
    const generated = path.join(dir, 'home', 'generated');
    const layout = endpointProtoLayout({ name: 'pricey', schema: makeSchema([], []) });
    expect(fs.existsSync(path.join(generated, layout.fileName))).toBe(true);
    expect(fs.existsSync(path.join(generated, 'dozer', 'types.proto'))).toBe(true);
    expect(fs.readFileSync(path.join(generated, layout.fileName), 'utf8')).toContain(
      `service ${layout.serviceName} {`,
    );
  });

  it('run answers the typed and the common service with what REST serves', async () => {
    dozer = spawnDozer(['run', '-c', file]);
    await dozer.waitFor('gRPC API listening on');
    const count = async () =>
      (
        (
          await getJson(`${rest}/pricey/count`, {
            method: 'POST',
            body: '{}',
            headers: { 'content-type': 'application/json' },
          })
        ).body as { count: number }
      ).count;
    await until(
      async () => (await getJson(`${rest}/health`)).status === 200 && (await count()) > 0,
      60_000,
      'rows in /pricey',
    );
    // The generator is done after its snapshot (max_ops 0); wait for the count to settle.
    let last = -1;
    await until(
      async () => {
        const n = await count();
        const settled = n === last;
        last = n;
        return settled;
      },
      30_000,
      'the count to settle',
    );
    const restRows = (await getJson(`${rest}/pricey?limit=1000`)).body as Array<{ id: string; fare: string }>;

    const generated = path.join(dir, 'home', 'generated');
    const layout = endpointProtoLayout({ name: 'pricey', schema: makeSchema([], []) });
    const def = loadSync([layout.fileName, 'dozer/common.proto'], {
      keepCase: true,
      longs: String,
      enums: String,
      includeDirs: [generated],
    });
    const Typed = grpc.makeGenericClientConstructor(
      def[layout.fullServiceName] as grpc.ServiceDefinition,
      layout.serviceName,
    );
    const Common = grpc.makeGenericClientConstructor(
      def['dozer.common.CommonGrpcService'] as grpc.ServiceDefinition,
      'CommonGrpcService',
    );
    const typed = new Typed(grpcAddress, grpc.credentials.createInsecure());
    const common = new Common(grpcAddress, grpc.credentials.createInsecure());
    clients.push(typed, common);
    const call = <T>(client: grpc.Client, method: string, req: unknown) =>
      new Promise<T>((resolve, reject) =>
        (client as unknown as Record<string, Function>)[method]!.call(client, req, (e: Error | null, r: T) =>
          e ? reject(e) : resolve(r),
        ),
      );

    const queried = await call<{ records: Array<{ id: string; city: string }> }>(typed, 'query', {
      query: JSON.stringify({ $limit: 1000 }),
    });
    expect(queried.records.map((r) => r.id).sort()).toEqual(restRows.map((r) => r.id).sort());
    const counted = await call<{ count: string }>(typed, 'count', { query: '{}' });
    expect(Number(counted.count)).toBe(restRows.length);
    const endpoints = await call<{ endpoints: string[] }>(common, 'getEndpoints', {});
    expect(endpoints.endpoints).toEqual(['pricey']);
    const bad = await call(typed, 'query', { query: '{"$limit": "lots"}' }).catch(
      (e: grpc.ServiceError) => e,
    );
    expect((bad as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});
