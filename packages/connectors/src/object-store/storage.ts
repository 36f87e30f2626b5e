import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type {
  GetObjectCommand as GetObjectCommandType,
  ListObjectsV2CommandOutput,
  ListObjectsV2Command as ListObjectsV2CommandType,
  S3Client,
  S3ClientConfig,
} from '@aws-sdk/client-s3';
import { ConnectorError } from '../errors.js';
import type { LocalStorageConfig, S3StorageConfig } from './config.js';

/** A file (object) as listed. */
export interface StoredFile {
  readonly key: string;
  readonly size: number;
  /** Last modified, milliseconds since the epoch. */
  readonly modified: number;
}

/** The storage a table's files live in: a local directory or an S3 bucket. */
export interface FileStorage {
  /** `local directory /data` or `s3://bucket`, for messages. */
  readonly label: string;
  /**
   * The files whose key starts with `prefix`, sorted by key (JavaScript
   * string order). Keys with a path segment below the prefix's folder
   * that starts with `.` are left out: they are temporary files of
   * writers that rename into place.
   */
  list(prefix: string): Promise<StoredFile[]>;
  /** The bytes of `file` from byte `start` on, in chunks. */
  read(file: StoredFile, start: number, signal: AbortSignal): AsyncIterable<Uint8Array>;
  /** Bytes `start` (inclusive) to `end` (exclusive) of `file`. */
  readRange(file: StoredFile, start: number, end: number): Promise<Uint8Array>;
  close(): void;
}

/** The storage a config names. */
export function createFileStorage(config: LocalStorageConfig | S3StorageConfig): FileStorage {
  return config.kind === 'local' ? new LocalStorage(config.path) : new S3Storage(config);
}

interface S3Sdk {
  S3Client: new (config: S3ClientConfig) => S3Client;
  GetObjectCommand: typeof GetObjectCommandType;
  ListObjectsV2Command: typeof ListObjectsV2CommandType;
}
let sdk: S3Sdk | null = null;

/**
 * The AWS SDK, loaded on first use: it takes a while to load and setups
 * that only read local directories never need it.
 */
function s3Sdk(): S3Sdk {
  sdk ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as S3Sdk;
  return sdk;
}

const hidden = (key: string) => key.startsWith('.') || key.includes('/.');

class LocalStorage implements FileStorage {
  readonly label: string;
  constructor(private readonly root: string) {
    this.label = `local directory ${root}`;
  }

  async list(prefix: string): Promise<StoredFile[]> {
    try {
      const st = await stat(this.root);
      if (!st.isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new ConnectorError(
        `storage.path: ${this.root} is not a readable directory (${(e as Error).message}); create it or fix storage.path`,
        { cause: e },
      );
    }
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash + 1);
    const out: StoredFile[] = [];
    await this.walk(base, prefix, out);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private async walk(dirKey: string, prefix: string, out: StoredFile[]): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(join(this.root, dirKey), { withFileTypes: true });
    } catch (e) {
      // A prefix directory that does not exist (yet) holds no files.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
        return;
      throw new ConnectorError(`cannot list ${join(this.root, dirKey)}: ${(e as Error).message}`, {
        cause: e,
        retryable: true,
      });
    }
    for (const ent of entries) {
      if (ent.name.startsWith('.')) continue;
      const key = dirKey + ent.name;
      if (ent.isDirectory()) {
        // Only descend where keys can still start with the prefix.
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix))
          await this.walk(`${key}/`, prefix, out);
      } else if (ent.isFile() && key.startsWith(prefix)) {
        const st = await stat(join(this.root, key)).catch(() => null);
        if (st !== null) out.push({ key, size: st.size, modified: st.mtimeMs });
      }
    }
  }

  async *read(file: StoredFile, start: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    const stream = createReadStream(join(this.root, file.key), { start, highWaterMark: 1 << 20, signal });
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } catch (e) {
      if (signal.aborted) return;
      throw new ConnectorError(`cannot read ${join(this.root, file.key)}: ${(e as Error).message}`, {
        cause: e,
        retryable: (e as NodeJS.ErrnoException).code !== 'EACCES',
      });
    } finally {
      stream.destroy();
    }
  }

  async readRange(file: StoredFile, start: number, end: number): Promise<Uint8Array> {
    const fh = await open(join(this.root, file.key), 'r');
    try {
      const buf = Buffer.allocUnsafe(end - start);
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  }

  close(): void {}
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'TimeoutError',
  'RequestTimeout',
  'SlowDown',
  'InternalError',
  'ServiceUnavailable',
]);
const AUTH_NAMES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'Forbidden',
  'ExpiredToken',
  'InvalidToken',
]);

class S3Storage implements FileStorage {
  readonly label: string;
  private readonly client: S3Client;
  private readonly where: string;

  constructor(private readonly config: S3StorageConfig) {
    this.label = `s3://${config.bucket}`;
    this.where = config.endpoint === undefined ? `region ${config.region}` : `${config.endpoint}`;
    const options: S3ClientConfig = {
      region: config.region,
      forcePathStyle: config.force_path_style ?? false,
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      ...(config.access_key_id !== undefined && config.secret_access_key !== undefined
        ? {
            credentials: {
              accessKeyId: config.access_key_id,
              secretAccessKey: config.secret_access_key,
              ...(config.session_token === undefined ? {} : { sessionToken: config.session_token }),
            },
          }
        : {}),
    };
    this.client = new (s3Sdk().S3Client)(options);
  }

  async list(prefix: string): Promise<StoredFile[]> {
    const out: StoredFile[] = [];
    // Only segments below the prefix's folder count as hidden: a prefix may itself name a dot folder.
    const base = prefix.slice(0, prefix.lastIndexOf('/') + 1).length;
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new (s3Sdk().ListObjectsV2Command)({
            Bucket: this.config.bucket,
            Prefix: prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
      } catch (e) {
        throw this.error(e, `list s3://${this.config.bucket}/${prefix}*`);
      }
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || o.Key.endsWith('/') || hidden(o.Key.slice(base))) continue;
        out.push({ key: o.Key, size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async *read(file: StoredFile, start: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    // A range starting at the end is answered with 416 by S3: there is nothing to read.
    if (start >= file.size) return;
    let body: AsyncIterable<Uint8Array>;
    try {
      const res = await this.client.send(
        new (s3Sdk().GetObjectCommand)({
          Bucket: this.config.bucket,
          Key: file.key,
          ...(start > 0 ? { Range: `bytes=${start}-` } : {}),
        }),
        { abortSignal: signal },
      );
      body = res.Body as unknown as AsyncIterable<Uint8Array>;
    } catch (e) {
      if (signal.aborted) return;
      throw this.error(e, `read s3://${this.config.bucket}/${file.key}`);
    }
    try {
      for await (const chunk of body) yield chunk;
    } catch (e) {
      if (signal.aborted) return;
      throw this.error(e, `read s3://${this.config.bucket}/${file.key}`);
    } finally {
      (body as { destroy?: () => void }).destroy?.();
    }
  }

  async readRange(file: StoredFile, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    try {
      const res = await this.client.send(
        new (s3Sdk().GetObjectCommand)({
          Bucket: this.config.bucket,
          Key: file.key,
          Range: `bytes=${start}-${end - 1}`,
        }),
      );
      return await res.Body!.transformToByteArray();
    } catch (e) {
      throw this.error(e, `read s3://${this.config.bucket}/${file.key}`);
    }
  }

  close(): void {
    this.client.destroy();
  }

  /** A ConnectorError saying what failed, whether a retry may help, and what to fix. */
  private error(e: unknown, what: string): ConnectorError {
    const err = e as {
      name?: string;
      code?: string;
      message?: string;
      $metadata?: { httpStatusCode?: number };
    };
    const name = err.name ?? '';
    const status = err.$metadata?.httpStatusCode;
    const msg = err.message ?? String(e);
    if (name === 'NoSuchBucket') {
      return new ConnectorError(
        `cannot ${what}: bucket "${this.config.bucket}" does not exist at ${this.where}; create it or fix storage.bucket (and storage.region/endpoint)`,
        { cause: e },
      );
    }
    if (AUTH_NAMES.has(name) || status === 403 || status === 401) {
      return new ConnectorError(
        `cannot ${what}: access denied (${name || status}: ${msg}); check storage.access_key_id and storage.secret_access_key, and that they may s3:ListBucket and s3:GetObject on bucket "${this.config.bucket}"`,
        { cause: e },
      );
    }
    const retryable =
      NETWORK_CODES.has(name) ||
      NETWORK_CODES.has(err.code ?? '') ||
      (status !== undefined && status >= 500) ||
      status === undefined;
    return new ConnectorError(`cannot ${what} at ${this.where}: ${name ? `${name}: ` : ''}${msg}`, {
      cause: e,
      retryable,
    });
  }
}
