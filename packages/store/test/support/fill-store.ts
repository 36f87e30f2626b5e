// Applies batches of 200 rows to a fresh store at argv[2] until an apply fails (run under a file
// size limit, `ulimit -f`, so that LMDB's writes fail as on a full disk), then tries one more
// apply, reads, and closes. Prints one JSON line per event.
import { insertOp, makeSchema } from '@dozer/core';
import { openStore } from '../../src/index.js';

const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'v', type: 'string', nullable: false },
  ],
  ['id'],
);
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
// An unhandled rejection would end the process: reported as a line instead, for the test to see.
process.on('unhandledRejection', (e) => say({ unhandled: String(e) }));
const store = openStore({ path: process.argv[2]! });
const ep = store.openEndpoint({ name: 't', schema });
const PER = 200;
let committed = 0;
for (let b = 0; b < 100_000; b++) {
  const ops = Array.from({ length: PER }, (_, i) => insertOp([BigInt(b * PER + i), 'x'.repeat(200)]));
  try {
    await ep.apply(ops);
    committed = b + 1;
  } catch (e) {
    say({ failed: b, committed, message: (e as Error).message });
    break;
  }
}
try {
  await ep.apply([insertOp([-1n, 'after'])]);
  say({ after: 'accepted' });
} catch (e) {
  say({ after: (e as Error).message });
}
say({ read: ep.get([0n]) !== undefined, count: ep.count() });
await store.close().catch((e: unknown) => say({ close: (e as Error).message }));
say({ done: true });
