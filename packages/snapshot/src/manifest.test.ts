import { describe, expect, it } from 'vitest';
import { CheckpointCorruptError, SnapshotError } from './errors.js';
import {
  type CheckpointManifest,
  decodeManifest,
  encodeManifest,
  MANIFEST_FORMAT_VERSION,
} from './manifest.js';

const sha = (c: string) => c.repeat(64);

const manifest: CheckpointManifest = {
  epoch: 42n,
  createdAt: new Date('2026-12-02T06:41:22.123Z'),
  storeEpoch: 42n,
  sources: new Map([
    ['orders', '0/16B3748'],
    ['__proto__', 'file-7:row-3'],
  ]),
  operators: new Map([
    [
      'join-1',
      [
        {
          key: 'ck/state/join-1/00000000000000000040-0a0b0c0d.base',
          kind: 'base',
          epoch: 40n,
          bytes: 4096,
          sha256: sha('a'),
        },
        {
          key: 'ck/state/join-1/00000000000000000042-0e0f1011.delta',
          kind: 'delta',
          epoch: 42n,
          bytes: 96,
          sha256: sha('b'),
        },
      ],
    ],
    [
      'sql',
      [
        {
          key: 'ck/state/sql/00000000000000000042-12131415.blob',
          kind: 'blob',
          epoch: 42n,
          bytes: 100,
          sha256: sha('c'),
        },
      ],
    ],
  ]),
};

describe('checkpoint manifest', () => {
  it('round-trips every field, u64 epochs beyond 2^53 and a source named __proto__', async () => {
    const bytes = await encodeManifest(manifest);
    expect(await decodeManifest('ck/manifests/x.manifest', bytes, 42n)).toEqual(manifest);
    const big = { ...manifest, epoch: 2n ** 64n - 1n, storeEpoch: null };
    expect(await decodeManifest('k', await encodeManifest(big))).toEqual(big);
  });

  it('starts with magic DZCK and the format version, and stores its body as readable JSON', async () => {
    const bytes = Buffer.from(await encodeManifest(manifest));
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('DZCK');
    expect(bytes.readUInt16LE(4)).toBe(MANIFEST_FORMAT_VERSION);
    expect(bytes.toString('utf8')).toContain('"sources":{"orders":"0/16B3748"');
  });

  it('rejects any flipped byte, a truncated manifest, another version and an epoch that differs from its key', async () => {
    const bytes = await encodeManifest(manifest);
    for (const at of [0, 5, 9, 17, 30, bytes.length - 40, bytes.length - 1]) {
      const bad = new Uint8Array(bytes);
      bad[at]! ^= 0x01;
      await expect(decodeManifest('m', bad)).rejects.toThrow(CheckpointCorruptError);
    }
    await expect(decodeManifest('m', bytes.subarray(0, bytes.length - 10))).rejects.toThrow(/checksum/);
    await expect(decodeManifest('m', bytes.subarray(0, 10))).rejects.toThrow(/shorter than/);
    await expect(decodeManifest('ck/manifests/7.manifest', bytes, 7n)).rejects.toThrow(
      /"ck\/manifests\/7.manifest" is corrupt: it holds epoch 42 but its key says 7/,
    );
  });

  it('names the field when a well-checksummed body does not validate', async () => {
    const rewrap = async (body: unknown) => {
      // A manifest with a valid envelope around a body this build would never write.
      const good = Buffer.from(await encodeManifest(manifest));
      const json = Buffer.from(JSON.stringify(body), 'utf8');
      const file = Buffer.alloc(20 + json.length + 32);
      good.copy(file, 0, 0, 16);
      file.writeUInt32LE(json.length, 16);
      json.copy(file, 20);
      const { createHash } = await import('node:crypto');
      createHash('sha256')
        .update(file.subarray(0, 20 + json.length))
        .digest()
        .copy(file, 20 + json.length);
      return file;
    };
    const base = JSON.parse(
      Buffer.from(await encodeManifest(manifest))
        .subarray(20, -32)
        .toString('utf8'),
    );
    await expect(decodeManifest('m', await rewrap({ ...base, sources: { a: 1 } }))).rejects.toThrow(
      /the position of source "a" must be a string/,
    );
    const deltaFirst = { ...base, operators: { x: [base.operators['join-1'][1]] } };
    await expect(decodeManifest('m', await rewrap(deltaFirst))).rejects.toThrow(
      /operator "x": its state chain starts with a delta/,
    );
    await expect(decodeManifest('m', await rewrap({ ...base, epoch: 'forty' }))).rejects.toThrow(
      /"epoch" must be/,
    );
  });

  it('refuses to encode a chain that is not a base and deltas, or objects after the checkpoint', async () => {
    const ops = manifest.operators.get('join-1')!;
    await expect(
      encodeManifest({ ...manifest, operators: new Map([['j', [ops[1]!, ops[0]!]]]) }),
    ).rejects.toThrow(SnapshotError);
    await expect(encodeManifest({ ...manifest, epoch: 41n })).rejects.toThrow(/after the checkpoint/);
  });
});
