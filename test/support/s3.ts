import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as S3 from '@aws-sdk/client-s3';

/*
 * vitest passes its `ssr.resolve.conditions` (which include `module` and
 * `import`) to Node as --conditions, so even require() of the AWS SDK
 * resolves its packages' `exports` to their `dist-es` builds, whose
 * extensionless imports Node cannot load. CommonJS requests that land in a
 * `dist-es` folder are sent to the `dist-cjs` twin that every @aws-sdk and
 * @smithy package ships. Test processes only; installed once per process.
 */
const M = Module as unknown as {
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
};
const original = M._resolveFilename;
if (!(original as { dozerCjsTwin?: boolean }).dozerCjsTwin) {
  const patched = function resolveCjsTwin(
    this: unknown,
    request: string,
    parent: unknown,
    isMain: boolean,
    options?: unknown,
  ) {
    const resolved = original.call(this, request, parent, isMain, options);
    if (resolved.includes('/dist-es/') && /[\\/]node_modules[\\/]/.test(resolved)) {
      const cjs = resolved.replace('/dist-es/', '/dist-cjs/');
      if (existsSync(cjs)) return cjs;
    }
    return resolved;
  };
  (patched as { dozerCjsTwin?: boolean }).dozerCjsTwin = true;
  M._resolveFilename = patched;
}

const require = createRequire(import.meta.url);
/** The AWS SDK, loaded through the resolver fix above (use it rather than importing the SDK in a test). */
export const sdk = require('@aws-sdk/client-s3') as typeof S3;

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

/** The credentials s3rver accepts, in the SDK's shape. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** A real S3 wire-protocol server (s3rver) on 127.0.0.1, with its data in a temporary directory. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** An SDK client for the test's own setup (path-style, s3rver's credentials). */
  readonly client: S3.S3Client;
  createBucket(bucket: string): Promise<void>;
  put(bucket: string, key: string, body: string | Uint8Array): Promise<void>;
  /** Stops serving (connections are refused) but keeps the data, to simulate an outage. */
  stop(): Promise<void>;
  /** Serves again on the same port and data after `stop()`. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data. */
  close(): Promise<void>;
}

/** Starts s3rver on a free port. Call `close()` in afterAll. */
export async function startS3Server(): Promise<S3TestServer> {
  const directory = mkdtempSync(join(tmpdir(), 'dozer-s3rver-'));
  let server: S3rverInstance | null = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new sdk.S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  return {
    endpoint,
    client,
    async createBucket(bucket) {
      await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
    },
    async put(bucket, key, body) {
      await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async stop() {
      await server?.close();
      server = null;
    },
    async restart() {
      server = new S3rver({ address: '127.0.0.1', port, silent: true, directory });
      await server.run();
    },
    async close() {
      client.destroy();
      await server?.close();
      server = null;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
