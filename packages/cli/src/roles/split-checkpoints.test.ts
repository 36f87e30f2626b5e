import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalObjectStore, Timestamp } from '@dozer/core';
import { createCheckpointStore } from '@dozer/snapshot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../logger.js';
import { encodePipelineRecord, PIPELINE_OPERATOR } from './checkpointing.js';
import {
  firstEpochOf,
  Generations,
  processorCheckpointStore,
  processorCheckpointView,
  processorRecovery,
  readGeneration,
  SPLIT_PREFIX,
} from './split-checkpoints.js';

let dir: string;
const lines: string[] = [];
const log: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-split-cp-'));
  lines.length = 0;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function open() {
  const objects = createLocalObjectStore(dir);
  const checkpoints = createCheckpointStore({ store: objects, prefix: 'checkpoints', logger: { warn() {} } });
  return { objects, checkpoints };
}

async function commitCheckpoint(epoch: bigint, fingerprint: string) {
  const { checkpoints } = open();
  const record = await checkpoints.writeBlob(
    PIPELINE_OPERATOR,
    epoch,
    encodePipelineRecord(fingerprint, Timestamp.now()),
  );
  await checkpoints.commit({
    epoch,
    createdAt: new Date(),
    storeEpoch: epoch,
    sources: new Map([['orders', `pos-${epoch}`]]),
    operators: new Map([[PIPELINE_OPERATOR, record]]),
  });
}

describe('generations of the split roles', () => {
  it('start from the newest checkpoint of the same pipeline, else rebuild, with epochs above every one seen', async () => {
    const { objects, checkpoints } = open();
    const generations = new Generations(objects, checkpoints, 'fp-1', log, 'the API');
    const first = await generations.bump('the API started', 'newest');
    expect(first).toMatchObject({ generation: 1, epoch: null, floor: 0n });
    expect(await readGeneration(objects)).toEqual(first);

    await commitCheckpoint(3n, 'fp-1');
    await commitCheckpoint(4n, 'fp-1');
    // A trigger of an abandoned epoch above the newest checkpoint: no later epoch may reuse it.
    await objects.put(`${SPLIT_PREFIX}/${first.id}/trigger/6`, new Uint8Array());
    const second = await generations.bump('the processor started', 'newest');
    expect(second).toMatchObject({ generation: 2, epoch: 4n, floor: 6n });
    expect(second.id).not.toBe(first.id);
    expect(lines.at(-1)).toContain('every role resumes from checkpoint 4');
    // Each generation's epochs lie above every earlier generation's.
    expect(firstEpochOf(second)).toBeGreaterThan(firstEpochOf(first) + (1n << 23n));

    // Another dozer.yaml (another fingerprint) cannot continue it: every role rebuilds.
    const other = new Generations(objects, checkpoints, 'fp-2', log, 'the API');
    expect(await other.bump('the API started', 'newest')).toMatchObject({ generation: 3, epoch: null });
    expect(lines.some((l) => l.includes('checkpoint 4 was written for other sources'))).toBe(true);
    expect(await generations.bump('cannot resume', 'none')).toMatchObject({ generation: 4, epoch: null });
  });

  it('notices a generation another role began', async () => {
    const { objects, checkpoints } = open();
    const a = new Generations(objects, checkpoints, 'fp', log, 'a');
    const b = new Generations(objects, checkpoints, 'fp', log, 'b');
    const mine = await a.bump('a started', 'newest');
    expect(await a.waitForChange(mine, 400)).toBeUndefined();
    const theirs = await b.bump('b started', 'newest');
    expect((await a.waitForChange(mine, 5000))?.id).toBe(theirs.id);
  });
});

describe("a processor's state in a shared checkpoint", () => {
  it('is kept under operator ids of its own, so two processors never collide', async () => {
    const { checkpoints } = open();
    const bytes = (s: string) => new TextEncoder().encode(s);
    const a = await processorCheckpointStore(checkpoints, 'join').writeBlob(
      'sql',
      1n,
      bytes('state of join'),
    );
    const b = await processorCheckpointStore(checkpoints, 'agg').writeBlob('sql', 1n, bytes('state of agg'));
    await checkpoints.commit({
      epoch: 1n,
      createdAt: new Date(),
      storeEpoch: 1n,
      sources: new Map(),
      operators: new Map([
        ['join/sql', a],
        ['agg/sql', b],
      ]),
    });
    const loaded = (await checkpoints.loadLatest())!;
    const text = (u: Uint8Array) => new TextDecoder().decode(u);
    expect(text(processorCheckpointView(loaded, 'join').blob('sql'))).toBe('state of join');
    expect(text(processorCheckpointView(loaded, 'agg').blob('sql'))).toBe('state of agg');
  });

  it('resumes only with the sources it took as exact then, naming both lists otherwise', async () => {
    const { checkpoints } = open();
    const record = encodePipelineRecord('fp-1', Timestamp.now(), new Set(['orders']));
    const ref = await processorCheckpointStore(checkpoints, 'agg').writeBlob(PIPELINE_OPERATOR, 5n, record);
    await checkpoints.commit({
      epoch: 5n,
      createdAt: new Date(),
      storeEpoch: 5n,
      sources: new Map(),
      operators: new Map([[`agg/${PIPELINE_OPERATOR}`, ref]]),
    });
    const generation = { id: '2-x', generation: 2, epoch: 5n, floor: 5n };
    const recovered = await processorRecovery(checkpoints, generation, 'agg', 'fp-1', new Set(['orders']));
    expect(recovered.restore).toBeDefined();
    // The table lost REPLICA IDENTITY FULL since: its normalizer would start without its rows.
    await expect(processorRecovery(checkpoints, generation, 'agg', 'fp-1', new Set())).rejects.toThrow(
      "checkpoint 5 took other sources' changes as exact (orders; now: none), so its state does not fit",
    );
    await expect(
      processorRecovery(checkpoints, generation, 'agg', 'fp-2', new Set(['orders'])),
    ).rejects.toThrow(/written for another dozer\.yaml/);
  });
});
