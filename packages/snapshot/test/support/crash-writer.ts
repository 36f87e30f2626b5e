// Checkpoints a keyed state into <dir> as fast as it can, forever, through the
// coordinator; prints "committed <epoch>" after each manifest. The crash test
// kills it with SIGKILL at a random moment and restarts it.
import { createLocalObjectStore } from '@dozer/core';
import {
  createCheckpointCoordinator,
  createCheckpointStore,
  createKeyedState,
  stringCodec,
} from '../../src/index.js';
import { applyEpoch } from './crash-model.js';

const dir = process.argv[2]!;
const cs = createCheckpointStore({ store: createLocalObjectStore(dir), prefix: 'ck' });
const state = createKeyedState({ codec: stringCodec });
const loaded = await cs.loadLatest();
if (loaded !== undefined) state.restore(loaded.state('counts'));
const listed = await cs.list();
const resumeAt = loaded?.manifest.epoch ?? 0n;
process.stdout.write(`resumed ${resumeAt} ${listed.at(-1) ?? 0n}\n`);

const coordinator = createCheckpointCoordinator({
  store: cs,
  participants: ['source', 'counts'],
  firstEpoch: resumeAt + 1n,
  retain: 2,
  inject: async (epoch) => {
    applyEpoch(state, Number(epoch));
    coordinator.acknowledge(epoch, 'source', { sources: new Map([['gen', `row-${epoch}`]]) });
    const chain = await state.snapshot(epoch).write(cs, 'counts');
    coordinator.acknowledge(epoch, 'counts', { operators: new Map([['counts', chain]]) });
  },
});
coordinator.onComplete((m) => {
  process.stdout.write(`committed ${m.epoch}\n`);
});
for (;;) {
  const o = await coordinator.trigger();
  if (o.status !== 'complete') throw o.error;
}
