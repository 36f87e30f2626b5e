import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DozerError } from '@dozer/core';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import { endpointProtoLayout, generateEndpointProto, type ProtoEndpoint } from './endpoint-proto.js';

/**
 * How @grpc/proto-loader maps messages to objects, and what the ts-proto
 * types in `generated/` describe (buf.gen.yaml): field names as written,
 * 64-bit integers as decimal strings (exact both ways), enums as names,
 * bytes as Buffers, absent fields left out (no defaults filled in).
 */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: false,
};

/**
 * 64-bit integers stay exact only when protobufjs (under proto-loader) has
 * long.js: without it, it reads and writes int64 through doubles. It looks
 * long.js up with `require("long")`, which returns long's ES module
 * namespace instead of the class when `import` is among the resolve
 * conditions (as under vitest); then it is given the class here.
 */
function ensureExactLongs(): void {
  const fromLoader = createRequire(createRequire(import.meta.url).resolve('@grpc/proto-loader'));
  const protobufPath = fromLoader.resolve('protobufjs');
  const protobuf = fromLoader(protobufPath) as { util: { Long: unknown }; configure(): void };
  if (protobuf.util.Long) return;
  const long = createRequire(protobufPath)('long') as { default?: unknown; isLong?: unknown };
  const Long = typeof long.isLong === 'function' ? long : long.default;
  if (!Long)
    throw new DozerError('INTERNAL', 'long.js is missing: 64-bit integers would lose precision over gRPC');
  protobuf.util.Long = Long;
  protobuf.configure();
}
ensureExactLongs();

/** The fixed protos shipped with the package (`protos/` beside `src/` and `dist/`). */
export const PROTOS_DIR = fileURLToPath(new URL('../../protos/', import.meta.url));

export const FIXED_PROTO_FILES = ['dozer/common.proto', 'dozer/types.proto', 'grpc/health/v1/health.proto'];

/**
 * Writes what a client needs to call the API into `dir` (what `dozer build`
 * does): each endpoint's generated `<name>.proto` and the fixed protos they
 * import (`dozer/types.proto`, `dozer/common.proto`,
 * `grpc/health/v1/health.proto`), creating the folders. Returns the paths written.
 */
export function writeProtoFiles(dir: string, endpoints: readonly ProtoEndpoint[]): string[] {
  const written: string[] = [];
  fs.mkdirSync(dir, { recursive: true });
  for (const rel of FIXED_PROTO_FILES) {
    const to = path.join(dir, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(PROTOS_DIR, rel), to);
    written.push(to);
  }
  for (const ep of endpoints) {
    const to = path.join(dir, endpointProtoLayout(ep).fileName);
    fs.writeFileSync(to, generateEndpointProto(ep));
    written.push(to);
  }
  return written;
}

/** Set on a request that did not decode, so the handler answers INVALID_ARGUMENT instead of grpc-js's INTERNAL. */
export const MALFORMED = Symbol('malformed request');

export interface Malformed {
  readonly [MALFORMED]: string;
}

/**
 * Loads the fixed protos and one generated `.proto` per endpoint. With
 * `protoDir` the files `dozer build` wrote there are loaded, after checking
 * that each still matches the endpoint's schema; without it they are
 * generated into a temporary directory first.
 */
export function loadProtos(
  endpoints: readonly ProtoEndpoint[],
  protoDir: string | undefined,
): PackageDefinition {
  let dir = protoDir;
  let tmp: string | undefined;
  if (dir === undefined) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-protos-'));
    dir = tmp;
    for (const ep of endpoints) {
      fs.writeFileSync(path.join(dir, endpointProtoLayout(ep).fileName), generateEndpointProto(ep));
    }
  } else {
    for (const ep of endpoints) {
      const file = path.join(dir, endpointProtoLayout(ep).fileName);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new DozerError(
          'CONFIG',
          `no generated .proto for endpoint "${ep.name}" at ${file}: run dozer build`,
          {
            cause: e,
          },
        );
      }
      if (text !== generateEndpointProto(ep)) {
        throw new DozerError(
          'CONFIG',
          `${file} does not match the schema of endpoint "${ep.name}" (the schema changed since it was written): run dozer build`,
        );
      }
    }
  }
  try {
    const files = [...FIXED_PROTO_FILES, ...endpoints.map((ep) => endpointProtoLayout(ep).fileName)];
    // The package's own fixed protos first: copies that `dozer build` wrote beside the endpoint files are for clients.
    const def = loadSync(files, { ...LOADER_OPTIONS, includeDirs: [PROTOS_DIR, dir] });
    for (const value of Object.values(def)) {
      if (!('format' in value)) markMalformed(value as ServiceDefinition);
    }
    return def;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Wraps each method's request decoder: a request that does not decode becomes a {@link Malformed} marker. */
function markMalformed(service: ServiceDefinition): void {
  for (const method of Object.values(service) as MethodDefinition<unknown, unknown>[]) {
    const decode = method.requestDeserialize;
    const typeName = (method as { requestType?: { type?: { name?: string } } }).requestType?.type?.name;
    (method as { requestDeserialize: (b: Buffer) => unknown }).requestDeserialize = (bytes: Buffer) => {
      try {
        return decode(bytes);
      } catch (e) {
        const what = typeName ? `a valid ${typeName} message` : 'a valid protobuf message';
        return { [MALFORMED]: `the request is not ${what}: ${(e as Error).message}` } satisfies Malformed;
      }
    };
  }
}

/** True when a request did not decode. */
export function isMalformed(request: unknown): request is Malformed {
  return typeof request === 'object' && request !== null && MALFORMED in request;
}
