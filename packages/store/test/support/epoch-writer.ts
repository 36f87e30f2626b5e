// Applies the batches of epoch-ops.ts to the store in <dir>, marking epoch e after batch
// e * BATCHES_PER_EPOCH - 1 (marks not awaited: applies go on while a mark waits for its flush),
// releasing epochs older than the last two. On start it rolls back to the last marked epoch and
// resumes after it, as the API role does after a crash. Right after issuing batch <killAt> it
// kills itself with SIGKILL, with that apply (and the mark or applies issued with it) in flight.
import { openStore } from '../../src/index.js';
import { BATCHES_PER_EPOCH, bagDef, batch, depthAt, keyedDef } from './epoch-ops.js';

const killAt = Number(process.argv[3]);
const store = openStore({ path: process.argv[2]!, changeRetention: 100 });
const endpoints = { keyed: store.openEndpoint(keyedDef), bag: store.openEndpoint(bagDef) };
const resumed = store.epoch() ?? 0n;
if (store.epoch() !== null) await store.rollbackTo(resumed);
process.stdout.write(`resumed ${resumed}\n`);
const inFlight: Promise<void>[] = [];
const fail = (e: unknown) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
};
for (let i = Number(resumed) * BATCHES_PER_EPOCH; ; i++) {
  const { endpoint, ops } = batch(i);
  inFlight.push(endpoints[endpoint].apply(ops));
  if ((i + 1) % BATCHES_PER_EPOCH === 0) {
    const epoch = BigInt((i + 1) / BATCHES_PER_EPOCH);
    store.markEpoch(epoch).catch(fail);
    if (epoch > 2n) inFlight.push(store.releaseEpochsBefore(epoch - 2n));
  }
  if (i === killAt) process.kill(process.pid, 'SIGKILL');
  while (inFlight.length > depthAt(i)) await inFlight.shift();
}
