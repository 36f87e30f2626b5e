import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3TestServer, sdk, startS3Server } from '../../../test/support/s3.js';
import { type DozerProcess, spawnDozer } from './helpers.js';
import {
  configText,
  contents,
  expectedContents,
  freePorts,
  type Ports,
  settle,
  stopped,
  writeData,
} from './roles-fixture.js';

// The three roles sharing an S3 bucket (s3rver on loopback) as their object
// store, as they would on separate machines: the ingestor and the processor
// offload their logs there, and the processor and the API read the offloaded
// segments straight from the bucket.

const BUCKET = 'dozer-roles';
const PREFIX = 'app-1/';
const env = { S3_KEY: 'S3RVER', S3_SECRET: 'S3RVER' };

describe('dozer ingest / process / serve over an S3 object store', () => {
  let s3: S3TestServer | undefined;
  let dir: string;
  let ports: Ports;
  let config: string;
  const running: DozerProcess[] = [];

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-roles-s3-'));
    writeData(path.join(dir, 'data'));
    ports = await freePorts();
    config = path.join(dir, 'dozer.yaml');
    const store = `
    kind: s3
    bucket: ${BUCKET}
    prefix: ${PREFIX}
    endpoint: ${s3.endpoint}
    force_path_style: true
    credentials: { access_key_id: "\${S3_KEY}", secret_access_key: "\${S3_SECRET}" }`;
    fs.writeFileSync(config, configText(path.join(dir, 'data'), './home', store, ports));
  }, 60_000);

  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited));
    await s3?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the expected contents, with both queues offloaded to the bucket under its prefix', async () => {
    const ingestor = spawnDozer(['ingest', '-c', config], { env });
    running.push(ingestor);
    const processor = spawnDozer(['process', '-c', config], { env });
    running.push(processor);
    const serve = spawnDozer(['serve', '-c', config], { env });
    running.push(serve);
    await ingestor.waitFor('Ingesting 2 source(s)', 90_000);
    await processor.waitFor('Processing 2 source log(s)', 90_000);
    await serve.waitFor('Serving 3 endpoint(s)', 90_000);
    await ingestor.waitFor(`segments go to s3://${BUCKET}/${PREFIX}`);
    const expected = expectedContents();
    await settle(
      `http://127.0.0.1:${ports.rest}`,
      expected,
      'the roles over S3 to serve the expected contents',
    );
    expect(await contents(`http://127.0.0.1:${ports.rest}`)).toEqual(expected);

    const listed = await s3!.client.send(new sdk.ListObjectsV2Command({ Bucket: BUCKET, Prefix: PREFIX }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    expect(keys.filter((k) => k.startsWith(`${PREFIX}ingest/orders/segments/`)).length).toBeGreaterThan(5);
    expect(keys.some((k) => k.startsWith(`${PREFIX}process/big_orders/segments/`))).toBe(true);
    expect(keys).toContain(`${PREFIX}ingest/orders/index.json`);

    await stopped(serve);
    await stopped(processor);
    await stopped(ingestor);
  }, 300_000);
});
