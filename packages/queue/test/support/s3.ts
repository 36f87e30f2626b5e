import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as S3 from '@aws-sdk/client-s3';

// vitest hands Node its resolve conditions (including `module`), so CommonJS
// require() of the AWS SDK's @smithy dependencies lands in their `dist-es`
// builds, which Node cannot load; send those to the `dist-cjs` twin each
// package ships. Test processes only (see packages/connectors/test/support/s3.ts).
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
const sdk = require('@aws-sdk/client-s3') as typeof S3;

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** s3rver on 127.0.0.1 with its data in a temporary directory; `stop`/`restart` simulate an outage. */
export interface S3TestServer {
  readonly endpoint: string;
  readonly client: S3.S3Client;
  createBucket(bucket: string): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startS3Server(): Promise<S3TestServer> {
  const directory = mkdtempSync(join(tmpdir(), 'dozer-queue-s3rver-'));
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
