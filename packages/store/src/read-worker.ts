// A read thread of a store (see read-pool.ts): answers pages and counts of the
// endpoints it is asked about, from its own read transactions over the
// store's LMDB environment.
import { parentPort, workerData } from 'node:worker_threads';
import type { ReadReply, ReadRequest, ReadThreadInit } from './read-pool.js';
import { openReadSide } from './store.js';

const side = openReadSide(workerData as ReadThreadInit);
parentPort!.on('message', (m: ReadRequest & { id: number }) => {
  let reply: ReadReply;
  try {
    if (m.op === 'page') {
      const page = side.page(m.name, m.meta, m.query);
      reply = { id: m.id, ok: true, page };
      parentPort!.postMessage(reply, [page.bytes.buffer as ArrayBuffer]);
      return;
    }
    reply = { id: m.id, ok: true, count: side.count(m.name, m.meta, m.filter) };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    reply = { id: m.id, ok: false, error: { name: error.name, message: error.message } };
  }
  parentPort!.postMessage(reply);
});
