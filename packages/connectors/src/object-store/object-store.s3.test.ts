import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_CREDENTIALS, type S3TestServer, startS3Server } from '../../../../test/support/s3.js';
import { type ConnectorLogger, silentLogger } from '../connector.js';
import { ConnectorError } from '../errors.js';
import type { ObjectStoreConfig, ObjectStoreTableConfig, S3StorageConfig } from './config.js';
import { objectStoreConnector } from './index.js';
import { type RecordingSink, recordingSink } from './test-sink.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/parquet');
const BUCKET = 'dozer-object-store-test';
const ctx = { name: 's3files', logger: silentLogger };

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
});
afterAll(async () => {
  await s3?.close();
});

function storage(overrides: Partial<S3StorageConfig> = {}): S3StorageConfig {
  return {
    kind: 's3',
    bucket: BUCKET,
    region: 'us-east-1',
    endpoint: s3.endpoint,
    force_path_style: true,
    access_key_id: S3RVER_CREDENTIALS.accessKeyId,
    secret_access_key: S3RVER_CREDENTIALS.secretAccessKey,
    ...overrides,
  };
}

function config(table: Partial<ObjectStoreTableConfig>, s = storage()): ObjectStoreConfig {
  return {
    storage: s,
    tables: [{ name: 't', pattern: '*.csv', format: 'csv', poll_interval_ms: 0, ...table }],
  };
}

async function runOnce(cfg: ObjectStoreConfig, resumeFrom: string | null = null): Promise<RecordingSink> {
  const c = objectStoreConnector.create(cfg, ctx);
  const sink = recordingSink();
  try {
    await c.start({ tables: [{ name: 't', resumeFrom }], sink, signal: new AbortController().signal });
  } finally {
    await c.close();
  }
  return sink;
}

describe('object_store on S3 (s3rver)', () => {
  it('snapshots a prefix, then polls for new objects and reads each once', async () => {
    await s3.put(BUCKET, 'orders/2024-01-01.csv', 'id,item\n1,"a, b"\n2,"x\ny"\n');
    await s3.put(BUCKET, 'orders/2024-01-02.csv', 'id,item\n3,c\n');
    await s3.put(BUCKET, 'other/2024-01-01.csv', 'id,item\n99,no\n');
    const c = objectStoreConnector.create(config({ prefix: 'orders/', poll_interval_ms: 10 }), ctx);
    const [table] = await c.listTables();
    expect(table!.schema.fields.map((f) => [f.name, f.type])).toEqual([
      ['id', 'int'],
      ['item', 'string'],
    ]);
    const sink = recordingSink();
    const ac = new AbortController();
    const running = c.start({ tables: [{ name: 't', resumeFrom: null }], sink, signal: ac.signal });
    await sink.until(() => sink.snapshots.length === 1);
    expect(sink.snapshots).toEqual([['t', 'orders/2024-01-02.csv\u0000~']]);
    await s3.put(BUCKET, 'orders/2024-01-03.csv', 'id,item\n4,d\n');
    await sink.until(() => sink.rows().length === 4);
    await s3.put(BUCKET, 'orders/2024-01-04.csv', 'id,item\n5,e\n');
    await sink.until(() => sink.rows().length === 5);
    ac.abort();
    await running;
    await c.close();
    expect(sink.rows()).toEqual([
      [1n, 'a, b'],
      [2n, 'x\ny'],
      [3n, 'c'],
      [4n, 'd'],
      [5n, 'e'],
    ]);
  });

  it('resumes mid-object from every batch position (ranged reads)', async () => {
    const body = `id,text\n${Array.from({ length: 9 }, (_, i) => `${i + 1},"é ${i + 1}\n😀"`).join('\n')}\n`;
    await s3.put(BUCKET, 'resume/a.csv', body);
    await s3.put(BUCKET, 'resume/b.csv', 'id,text\n10,last\n');
    const cfg = config({ prefix: 'resume/', batch_size: 2 });
    const full = await runOnce(cfg);
    const all = full.rows();
    expect(all.map((r) => r[0])).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
    let consumed = 0;
    for (const batch of full.batches) {
      consumed += batch.ops.length;
      const resumed = await runOnce(cfg, batch.position);
      expect(resumed.rows(), `resume from ${JSON.stringify(batch.position)}`).toEqual(all.slice(consumed));
    }
  });

  it('reads JSON lines and Parquet objects', async () => {
    await s3.put(BUCKET, 'events/e.jsonl', '{"id": 1, "v": "x"}\n{"id": 2, "v": null}\n');
    const jsonl = await runOnce(config({ prefix: 'events/', pattern: '*.jsonl', format: 'jsonl' }));
    expect(jsonl.rows()).toEqual([
      [1n, 'x'],
      [2n, null],
    ]);
    await s3.put(BUCKET, 'pq/rows.parquet', readFileSync(join(FIXTURES, 'rows-2500.parquet')));
    const cfg = config({ prefix: 'pq/', pattern: '*.parquet', format: 'parquet', batch_size: 1000 });
    const parquet = await runOnce(cfg);
    expect(parquet.rows().length).toBe(2500);
    expect(parquet.rows()[2499]).toEqual([2499n, 'name 2499', 1249.5]);
    const resumed = await runOnce(cfg, parquet.batches[0]!.position);
    expect(resumed.rows().map((r) => r[0])).toEqual(Array.from({ length: 1500 }, (_, i) => BigInt(i + 1000)));
  });

  it('says that a bucket is missing and how to fix it', async () => {
    const c = objectStoreConnector.create(config({}, storage({ bucket: 'no-such-bucket' })), ctx);
    const err = await c.listTables().catch((e: unknown) => e);
    await c.close();
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).retryable).toBe(false);
    expect((err as Error).message).toBe(
      `cannot list s3://no-such-bucket/*: bucket "no-such-bucket" does not exist at ${s3.endpoint}; create it or fix storage.bucket (and storage.region/endpoint)`,
    );
  });

  it('retries with backoff through an outage and resumes where it was', async () => {
    await s3.put(BUCKET, 'outage/1.csv', 'id\n1\n');
    const warnings: string[] = [];
    let sawOutage: () => void = () => {};
    const outageSeen = new Promise<void>((resolve) => {
      sawOutage = resolve;
    });
    const logger: ConnectorLogger = {
      ...silentLogger,
      warn: (m, f) => {
        warnings.push(`${m} attempt ${f?.attempt}`);
        sawOutage();
      },
    };
    const c = objectStoreConnector.create(config({ prefix: 'outage/', poll_interval_ms: 10 }), {
      name: 's3files',
      logger,
    });
    const sink = recordingSink();
    const ac = new AbortController();
    const running = c.start({ tables: [{ name: 't', resumeFrom: null }], sink, signal: ac.signal });
    await sink.until(() => sink.snapshots.length === 1);
    await s3.stop();
    await outageSeen;
    await s3.restart();
    await s3.put(BUCKET, 'outage/2.csv', 'id\n2\n');
    await sink.until(() => sink.rows().length === 2);
    ac.abort();
    await running;
    await c.close();
    expect(sink.rows()).toEqual([[1n], [2n]]);
    expect(warnings[0]).toBe('object_store read failed; retrying attempt 1');
  });
});
