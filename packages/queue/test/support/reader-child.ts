// A reader process for the "killed mid-stream" test: reads log "orders" as
// reader "proc" from its committed offset, commits after every entry up to
// `stopAt`, prints each commit, then keeps the stream open until killed.
import { createLocalObjectStore } from '@dozer/core';
import { connectLogClient } from '../../src/index.js';

const [address, storeDir, stopAtArg] = process.argv.slice(2);
const stopAt = BigInt(stopAtArg!);
const client = connectLogClient({ address: address!, store: createLocalObjectStore(storeDir!) });
for await (const e of client.read('orders', { reader: 'proc', from: 'committed' })) {
  if (e.offset >= stopAt) {
    process.stdout.write('stalled\n');
    await new Promise(() => {}); // hold the stream open, mid-stream, until SIGKILL
  }
  await client.commit('orders', 'proc', e.offset + 1n);
  process.stdout.write(`committed ${e.offset + 1n}\n`);
}
