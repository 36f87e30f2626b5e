// Worker thread entry of the micro-node runtime: hosts the nodes assigned to this thread.
import { parentPort, workerData } from 'node:worker_threads';
import { decodeStreamMessage, encodeStreamMessage } from '../codec.js';
import type { StreamMessage } from '../operation.js';
import { OutChannel } from './channel.js';
import { FrameWriter, readFrame } from './frame.js';
import { serializeError } from './micro-node.js';
import { NodeFailure, NodeHost } from './node-host.js';
import { HOST, type PlannedEdge, type RuntimePlan } from './plan.js';
import type { HostMessage, WorkerInit, WorkerMessage } from './protocol.js';

const init = workerData as WorkerInit;
const plan: RuntimePlan = init.plan;
const me = init.thread;
const port = parentPort!;

type Item =
  | { readonly kind: 'frame'; readonly from: number; readonly frame: ArrayBuffer }
  | { readonly kind: 'snapshot'; readonly id: number }
  | { readonly kind: 'restore'; readonly id: number; readonly states: Map<string, Uint8Array> };

const inbox: Item[] = [];
const toHost = new OutChannel((m, t) => port.postMessage(m, t), init.capacity);
const out = new Map<number, OutChannel>([[HOST, toHost]]);
const writers = new Map<number, FrameWriter>();
let passed: bigint[] = [];
let failed = false;
let pumping = false;

const send = (msg: WorkerMessage) => toHost.sendControl(msg);

for (const { thread, port: p } of init.peers) {
  out.set(thread, new OutChannel((m, t) => p.postMessage(m, t), init.capacity));
  p.on('message', (items: (ArrayBuffer | number)[]) => {
    for (const m of items) {
      if (typeof m === 'number') out.get(thread)!.credit(m);
      else inbox.push({ kind: 'frame', from: thread, frame: m });
    }
    pump();
  });
}

// The last message encoded, so that an emit fanning out to several edges of one thread is encoded once.
let lastMessage: StreamMessage | null = null;
let lastSchema: unknown = null;
let lastBytes: Uint8Array | null = null;

const host = new NodeHost(plan, me, {
  remote(edge: PlannedEdge, message: StreamMessage) {
    if (message !== lastMessage || edge.schema !== lastSchema) {
      lastBytes = encodeStreamMessage(edge.schema, message);
      lastMessage = message;
      lastSchema = edge.schema;
    }
    let w = writers.get(edge.toThread);
    if (w === undefined) {
      w = new FrameWriter();
      writers.set(edge.toThread, w);
    }
    w.add(edge.id, lastBytes!);
    if (w.size >= init.frameBytes) out.get(edge.toThread)!.sendFrame(w.finish());
  },
  passed(epoch: bigint) {
    passed.push(epoch);
  },
});

function flush(): void {
  for (const [t, w] of writers) if (!w.empty) out.get(t)!.sendFrame(w.finish());
  lastMessage = null;
  lastBytes = null;
  for (const epoch of passed) send({ t: 'passed', thread: me, epoch });
  passed = [];
}

function blocked(): boolean {
  for (const c of out.values()) if (c.blocked) return true;
  return false;
}

function fail(e: unknown): void {
  failed = true;
  inbox.length = 0;
  const node = e instanceof NodeFailure ? e.node : null;
  const error = serializeError(e instanceof NodeFailure ? e.error : e);
  port.postMessage([{ t: 'error', thread: me, node, error } satisfies WorkerMessage]);
}

function handle(item: Item): void {
  if (item.kind === 'frame') {
    readFrame(item.frame, (id, bytes) => {
      const edge = plan.edges[id]!;
      host.deliver(edge, decodeStreamMessage(edge.schema, bytes));
    });
    out.get(item.from)!.sendAck(1);
    flush();
  } else if (item.kind === 'snapshot') {
    const states = host.snapshot();
    send({ t: 'states', thread: me, id: item.id, states });
  } else {
    host.restore(item.states);
    send({ t: 'restored', thread: me, id: item.id });
  }
}

function pump(): void {
  if (pumping || failed) return;
  pumping = true;
  // Corked while processing: what the frames produce, their acknowledgements and notices
  // go out as one message per channel.
  for (const c of out.values()) c.cork();
  try {
    while (inbox.length > 0 && !blocked()) handle(inbox.shift()!);
  } catch (e) {
    fail(e);
  } finally {
    pumping = false;
    if (!failed) for (const c of out.values()) c.uncork();
  }
}

port.on('message', (items: (ArrayBuffer | number | HostMessage)[]) => {
  for (const m of items) {
    if (typeof m === 'number') toHost.credit(m);
    else if (m instanceof ArrayBuffer) inbox.push({ kind: 'frame', from: HOST, frame: m });
    else if (m.t === 'snapshot') inbox.push({ kind: 'snapshot', id: m.id });
    else if (m.t === 'restore') inbox.push({ kind: 'restore', id: m.id, states: m.states });
    else if (m.t === 'close') {
      try {
        host.close();
      } finally {
        process.exit(0);
      }
    }
  }
  pump();
});

try {
  await host.create();
  send({ t: 'ready', thread: me });
} catch (e) {
  fail(e);
}
