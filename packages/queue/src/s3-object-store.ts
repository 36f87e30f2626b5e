import { createRequire } from 'node:module';
import type * as S3 from '@aws-sdk/client-s3';
import {
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreError,
  validateObjectKey,
  validateObjectPrefix,
} from '@dozer/core';

/** Options of {@link S3ObjectStore}. */
export interface S3ObjectStoreOptions {
  readonly bucket: string;
  /** Prepended to every key (`dozer/` stores `a/b` at `dozer/a/b`); empty or ending in `/`. Default empty. */
  readonly prefix?: string;
  /** Default `us-east-1`. */
  readonly region?: string;
  /** An S3-compatible endpoint (MinIO, s3rver, R2); default AWS. */
  readonly endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by most S3-compatible servers. Default false. */
  readonly forcePathStyle?: boolean;
  /** Default: the SDK's credential chain (environment, profile, instance role). */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /** SDK attempts per request (the SDK retries throttling and network errors). Default 3. */
  readonly maxAttempts?: number;
}

let sdk: typeof S3 | null = null;

/** The AWS SDK, loaded on first use: it is slow to load and local setups never need it. */
function s3Sdk(): typeof S3 {
  sdk ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof S3;
  return sdk;
}

/**
 * An `ObjectStore` on an S3 bucket (AWS or S3-compatible) through
 * `@aws-sdk/client-s3`. `put` is a single PutObject, which S3 makes visible
 * atomically; `list` pages through ListObjectsV2.
 */
export class S3ObjectStore implements ObjectStore {
  readonly client: S3.S3Client;
  readonly bucket: string;
  readonly prefix: string;
  /** `s3://bucket/prefix`, for messages. */
  readonly label: string;

  constructor(options: S3ObjectStoreOptions) {
    if (typeof options.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
      throw new ObjectStoreError(
        `S3 bucket name ${JSON.stringify(options.bucket)} is invalid: 3 to 63 lowercase letters, digits, dots and hyphens`,
      );
    }
    const prefix = options.prefix ?? '';
    if (prefix !== '') {
      validateObjectPrefix(prefix);
      if (!prefix.endsWith('/')) {
        throw new ObjectStoreError(`S3 key prefix ${JSON.stringify(prefix)} must end with "/"`);
      }
    }
    this.bucket = options.bucket;
    this.prefix = prefix;
    this.label = `s3://${options.bucket}/${prefix}`;
    const { S3Client } = s3Sdk();
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      maxAttempts: options.maxAttempts ?? 3,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.forcePathStyle === undefined ? {} : { forcePathStyle: options.forcePathStyle }),
      ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
    });
  }

  private fail(action: string, key: string, e: unknown): ObjectStoreError {
    const err = e as { name?: string; message?: string };
    return new ObjectStoreError(
      `cannot ${action} "${key}" in ${this.label}: ${err.name ?? 'Error'}: ${err.message ?? String(e)}`,
      { cause: e, retryable: true },
    );
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    validateObjectKey(key);
    const { PutObjectCommand } = s3Sdk();
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: bytes,
          ContentLength: bytes.length,
        }),
      );
    } catch (e) {
      throw this.fail('write', key, e);
    }
  }

  async get(key: string): Promise<Uint8Array> {
    validateObjectKey(key);
    const { GetObjectCommand } = s3Sdk();
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      if (out.Body === undefined) return new Uint8Array(0);
      return await out.Body.transformToByteArray();
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(key, this.label);
      throw this.fail('read', key, e);
    }
  }

  async list(prefix: string): Promise<string[]> {
    validateObjectPrefix(prefix);
    const { ListObjectsV2Command } = s3Sdk();
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const o of out.Contents ?? []) {
          if (o.Key !== undefined) keys.push(o.Key.slice(this.prefix.length));
        }
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (e) {
      throw this.fail('list', prefix, e);
    }
    return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    validateObjectKey(key);
    const { DeleteObjectCommand } = s3Sdk();
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw this.fail('delete', key, e);
    }
  }

  async exists(key: string): Promise<boolean> {
    validateObjectKey(key);
    const { HeadObjectCommand } = s3Sdk();
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw this.fail('check', key, e);
    }
  }

  /** Releases the SDK's sockets. */
  close(): void {
    this.client.destroy();
  }
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
}
