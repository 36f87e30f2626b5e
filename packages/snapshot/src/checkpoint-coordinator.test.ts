import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalObjectStore } from '@dozer/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CheckpointCoordinator,
  type CheckpointCoordinatorOptions,
  createCheckpointCoordinator,
} from './checkpoint-coordinator.js';
import { type CheckpointStore, createCheckpointStore } from './checkpoint-store.js';
import { CheckpointAbortedError } from './errors.js';
import { createKeyedState, stringCodec } from './keyed-state.js';
import type { CheckpointManifest } from './manifest.js';

let dir: string;
let cs: CheckpointStore;
let warnings: string[];
let coordinators: CheckpointCoordinator[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dozer-coordinator-'));
  warnings = [];
  cs = createCheckpointStore({
    store: createLocalObjectStore(dir),
    prefix: 'ck',
    logger: { warn: (m) => warnings.push(m) },
  });
  coordinators = [];
});

afterEach(async () => {
  for (const c of coordinators) await c.close();
  await rm(dir, { recursive: true, force: true });
});

function coordinator(
  options: Partial<CheckpointCoordinatorOptions> & Pick<CheckpointCoordinatorOptions, 'inject'>,
) {
  const c = createCheckpointCoordinator({
    store: cs,
    participants: ['source', 'join', 'store'],
    logger: { warn: (m) => warnings.push(m) },
    now: () => new Date('2026-12-02T07:00:00Z'),
    ...options,
  });
  coordinators.push(c);
  return c;
}

describe('CheckpointCoordinator', () => {
  it('writes the manifest once every participant acknowledged, then tells listeners', async () => {
    const join = createKeyedState({ codec: stringCodec });
    join.put('k', 'v');
    const seenAtCompletion: bigint[][] = [];
    const c = coordinator({
      inject: async (epoch) => {
        // What the wiring does at the barrier: the source reports its position, the operator
        // writes its state, the store commits; each acknowledges.
        c.acknowledge(epoch, 'source', { sources: new Map([['orders', `lsn-${epoch}`]]) });
        const chain = await join.snapshot(epoch).write(cs, 'join');
        expect(await cs.list()).toEqual([]);
        c.acknowledge(epoch, 'join', { operators: new Map([['join', chain]]) });
        c.acknowledge(epoch, 'store', { storeEpoch: epoch });
      },
    });
    c.onComplete(async (m) => {
      seenAtCompletion.push(await cs.list());
      expect(m.epoch).toBe(1n);
    });
    const outcome = await c.trigger();
    expect(outcome.status).toBe('complete');
    const manifest = (outcome as { manifest: CheckpointManifest }).manifest;
    expect(seenAtCompletion).toEqual([[1n]]);
    const loaded = (await cs.loadLatest())!;
    expect(loaded.manifest).toEqual(manifest);
    expect(loaded.manifest).toEqual({
      epoch: 1n,
      createdAt: new Date('2026-12-02T07:00:00Z'),
      storeEpoch: 1n,
      sources: new Map([['orders', 'lsn-1']]),
      operators: new Map([['join', join.chain]]),
    });
    expect([c.lastCompleted, c.nextEpoch, c.inFlight]).toEqual([1n, 2n, undefined]);
  });

  it('aborts an epoch a participant fails: no manifest, abort listeners told, the next epoch proceeds', async () => {
    const events: string[] = [];
    let failEpoch = 1n;
    const c = coordinator({
      inject: (epoch) => {
        queueMicrotask(() => {
          c.acknowledge(epoch, 'source', { sources: new Map([['orders', `lsn-${epoch}`]]) });
          if (epoch === failEpoch) c.fail(epoch, 'join', new Error('state write failed: disk full'));
          else c.acknowledge(epoch, 'join');
          c.acknowledge(epoch, 'store');
        });
      },
    });
    c.onComplete((m) => {
      events.push(`complete ${m.epoch}`);
    });
    c.onAbort((e) => {
      events.push(`abort ${e.epoch}`);
    });
    const first = await c.trigger();
    expect(first.status).toBe('aborted');
    const error = (first as { error: CheckpointAbortedError }).error;
    expect(error).toBeInstanceOf(CheckpointAbortedError);
    expect(error.message).toBe(
      'checkpoint 1 aborted: participant "join" failed: state write failed: disk full',
    );
    expect(error.retryable).toBe(true);
    expect(await cs.list()).toEqual([]);
    expect(warnings).toEqual([error.message]);
    // A late acknowledgement of the aborted epoch is dropped.
    expect(c.acknowledge(1n, 'store')).toBe(false);
    failEpoch = 0n;
    expect((await c.trigger()).status).toBe('complete');
    expect(events).toEqual(['abort 1', 'complete 2']);
    expect(await cs.list()).toEqual([2n]);
    expect((await cs.loadLatest())!.manifest.sources.get('orders')).toBe('lsn-2');
  });

  it('aborts when injecting the barrier fails, when the manifest cannot be written, or when an ack never comes', async () => {
    const a = coordinator({
      inject: () => {
        throw new Error('source disconnected');
      },
    });
    const injected = await a.trigger();
    expect(injected.status === 'aborted' && injected.error.message).toBe(
      'checkpoint 1 aborted: injecting its barrier failed: source disconnected',
    );

    // Epoch 1 has a manifest already: writing it again must fail, and the epoch aborts.
    await cs.commit({
      epoch: 1n,
      createdAt: new Date(),
      storeEpoch: null,
      sources: new Map(),
      operators: new Map(),
    });
    const ackAll = (c: CheckpointCoordinator) => (epoch: bigint) => {
      for (const p of ['source', 'join', 'store']) c.acknowledge(epoch, p);
    };
    const b: CheckpointCoordinator = coordinator({ inject: (e) => ackAll(b)(e) });
    const dup = await b.trigger();
    expect(dup.status === 'aborted' && dup.error.message).toMatch(
      /^checkpoint 1 aborted: writing its manifest failed: cannot commit checkpoint 1: its manifest .* exists already/,
    );
    expect((await b.trigger()).status).toBe('complete');

    const c: CheckpointCoordinator = coordinator({
      firstEpoch: 10n,
      timeoutMs: 20,
      inject: (e) => {
        c.acknowledge(e, 'source');
      },
    });
    const slow = await c.trigger();
    expect(slow.status === 'aborted' && slow.error.message).toBe(
      'checkpoint 10 aborted: not acknowledged within 20 ms by "join", "store"',
    );
    expect(await cs.list()).toEqual([1n, 2n]);
  });

  it('aborts when two participants report the same source or operator', async () => {
    const c: CheckpointCoordinator = coordinator({
      inject: (e) => {
        c.acknowledge(e, 'source', { sources: new Map([['orders', 'a']]) });
        c.acknowledge(e, 'join', { sources: new Map([['orders', 'b']]) });
      },
    });
    const o = await c.trigger();
    expect(o.status === 'aborted' && o.error.message).toBe(
      'checkpoint 1 aborted: the position of source "orders" was reported by "join" and by another participant',
    );
  });

  it('rejects acknowledgements from strangers, twice, or for epochs not started', async () => {
    const c: CheckpointCoordinator = coordinator({
      inject: (e) => {
        expect(() => c.acknowledge(e, 'nobody')).toThrow(
          'acknowledge: unknown participant "nobody"; the participants are: "source", "join", "store"',
        );
        c.acknowledge(e, 'source');
        expect(() => c.acknowledge(e, 'source')).toThrow('acknowledge: "source" acknowledged epoch 1 twice');
        expect(() => c.acknowledge(e + 1n, 'join')).toThrow(
          /epoch 2 of "join" has not started \(the next is 2\)/,
        );
        c.acknowledge(e, 'join');
        c.acknowledge(e, 'store');
      },
    });
    expect((await c.trigger()).status).toBe('complete');
    expect(() => createCheckpointCoordinator({ store: cs, participants: [], inject: () => {} })).toThrow(
      /at least one participant/,
    );
  });

  it('checkpoints on its interval, one epoch at a time, and retains the last N', async () => {
    let inFlight = 0;
    let most = 0;
    const c: CheckpointCoordinator = coordinator({
      intervalMs: 5,
      retain: 2,
      inject: (e) => {
        inFlight++;
        most = Math.max(most, inFlight);
        setTimeout(() => {
          inFlight--;
          for (const p of ['source', 'join', 'store'])
            c.acknowledge(e, p, p === 'store' ? { storeEpoch: e } : {});
        }, 12);
      },
    });
    const epochs: bigint[] = [];
    const four = new Promise<void>((resolve) => {
      c.onComplete((m) => {
        epochs.push(m.epoch);
        if (epochs.length === 4) resolve();
      });
    });
    c.start();
    await four;
    await c.close();
    expect(epochs).toEqual([1n, 2n, 3n, 4n]);
    expect(most).toBe(1);
    expect(await cs.list()).toEqual([3n, 4n]);
    await expect(c.trigger()).rejects.toThrow('the checkpoint coordinator is closed');
  });

  it('close aborts the epoch in flight', async () => {
    const c = coordinator({ inject: () => {} });
    const pending = c.trigger();
    await new Promise((r) => setImmediate(r));
    expect(c.inFlight).toBe(1n);
    await c.close();
    const o = await pending;
    expect(o.status === 'aborted' && o.error.message).toBe(
      'checkpoint 1 aborted: the coordinator was closed',
    );
  });
});
