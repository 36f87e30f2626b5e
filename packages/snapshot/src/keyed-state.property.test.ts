import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalObjectStore, type ObjectStore } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCheckpointStore } from './checkpoint-store.js';
import { bytesCodec, createKeyedState, type KeyedState } from './keyed-state.js';

type Step =
  | { t: 'put'; k: number; v: number[] }
  | { t: 'del'; k: number }
  | { t: 'mutate'; k: number; b: number }
  | { t: 'clear' }
  | { t: 'checkpoint'; fail: boolean; commit: boolean }
  | { t: 'restart'; pick: number }
  | { t: 'compact' };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      t: fc.constant('put' as const),
      k: fc.nat(40),
      v: fc.array(fc.nat(255), { maxLength: 6 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('del' as const), k: fc.nat(40) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('mutate' as const), k: fc.nat(40), b: fc.nat(255) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('clear' as const) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('checkpoint' as const),
      fail: fc.boolean(),
      commit: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('compact' as const) }) },
);

const copy = (s: KeyedState<Uint8Array>) =>
  new Map([...s.entries()].map(([k, v]) => [k, Uint8Array.from(v)]));

describe('KeyedState under random changes, checkpoints, failed writes and restarts', () => {
  it('restores, at every committed checkpoint, exactly the state it had at that checkpoint', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 80, size: 'max' }),
        fc.nat(300),
        fc.nat(4),
        fc.constantFrom(0, 0.2, 1, Number.POSITIVE_INFINITY),
        fc.constantFrom('barrier' as const, 'background' as const, 'background' as const),
        async (steps, bulk, maxDeltas, maxDeltaRatio, compaction) => {
          const dir = await mkdtemp(join(tmpdir(), 'dozer-keyed-prop-'));
          try {
            const local = createLocalObjectStore(dir);
            let failNext = false;
            const store: ObjectStore = {
              ...local,
              put: async (key, bytes) => {
                if (failNext) {
                  failNext = false;
                  throw new Error('injected write failure');
                }
                await local.put(key, bytes);
              },
            };
            const cs = createCheckpointStore({ store, prefix: 'p', logger: { warn: () => {} } });
            const make = () => createKeyedState({ codec: bytesCodec, maxDeltas, maxDeltaRatio, compaction });
            let state = make();
            // Keys no step touches: they make bases large beside deltas, so that deltas are common.
            for (let i = 0; i < bulk; i++) state.put(`bulk${i}`, Uint8Array.of(i & 0xff, i >> 8));
            let epoch = 0n;
            const committed = new Map<bigint, Map<string, Uint8Array>>();
            for (const s of steps) {
              switch (s.t) {
                case 'put':
                  state.put(`k${s.k}`, Uint8Array.from(s.v));
                  break;
                case 'del':
                  state.delete(`k${s.k}`);
                  break;
                case 'mutate': {
                  const v = state.get(`k${s.k}`);
                  if (v !== undefined && v.length > 0) {
                    v[0] = s.b;
                    state.touch(`k${s.k}`);
                  }
                  break;
                }
                case 'clear':
                  state.clear();
                  break;
                case 'checkpoint': {
                  epoch++;
                  const snap = state.snapshot(epoch);
                  const expected = copy(state);
                  failNext = s.fail;
                  let chain: Awaited<ReturnType<typeof snap.write>>;
                  try {
                    chain = await snap.write(cs, 'op');
                  } catch {
                    expect(s.fail && snap.kind !== 'none').toBe(true);
                    break;
                  }
                  failNext = false;
                  if (!s.commit) break;
                  await cs.commit({
                    epoch,
                    createdAt: new Date(),
                    storeEpoch: null,
                    sources: new Map(),
                    operators: new Map([['op', chain]]),
                  });
                  committed.set(epoch, expected);
                  break;
                }
                case 'compact':
                  // Reads the chain back: a failed write would be a test bug here.
                  await state.compact(cs, 'op');
                  break;
                case 'restart': {
                  // A crash: everything since the chosen checkpoint is lost; the epoch counter goes on.
                  const epochs = [...committed.keys()];
                  if (epochs.length === 0) break;
                  const at = epochs[s.pick % epochs.length]!;
                  state = make();
                  state.restore((await cs.load(at)).state('op'));
                  expect(copy(state)).toEqual(committed.get(at));
                  break;
                }
              }
            }
            for (const [at, expected] of committed) {
              const back = make();
              back.restore((await cs.load(at)).state('op'));
              expect(copy(back)).toEqual(expected);
            }
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});
