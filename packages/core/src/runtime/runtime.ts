import { MessageChannel, type Worker } from 'node:worker_threads';
import { decodeStreamMessage, encodeStreamMessage } from '../codec.js';
import { ConfigError } from '../errors.js';
import type { OpBatch, StreamMessage } from '../operation.js';
import { OutChannel } from './channel.js';
import { FrameWriter, readFrame } from './frame.js';
import { deserializeError, MicroNodeError, type MicroRuntimeSpec } from './micro-node.js';
import { NodeFailure, NodeHost } from './node-host.js';
import { HOST, type PlannedEdge, planRuntime, type RuntimePlan } from './plan.js';
import type { HostMessage, WorkerInit, WorkerMessage } from './protocol.js';
import { spawnModuleWorker } from './spawn.js';

/** How a {@link MicroRuntime} runs. */
export interface MicroRuntimeOptions {
  /**
   * 0: single-thread mode, every node runs inline on the caller's thread
   * (batches are passed as objects, never encoded; for tests and
   * debugging). n ≥ 1: the nodes are spread over at most n worker threads
   * (never more threads than nodes); n = 1 runs them all on one worker.
   */
  readonly threads: number;
  /** Receives every batch that reaches an output, in order per output, with the epoch it belongs to. */
  readonly onOutput?: (output: string, batch: OpBatch, epoch: bigint) => void;
  /** Frames in flight per channel between two threads before the sender waits; default 4. */
  readonly channelCapacity?: number;
  /** A frame to another thread is cut once it holds this many bytes; default 1 MiB. */
  readonly frameBytes?: number;
}

/** A running graph of micro-nodes. Created by {@link startMicroRuntime}. */
export interface MicroRuntime {
  /** Worker threads in use (0 in single-thread mode). */
  readonly threads: number;
  /** Node id → the worker thread it runs on (0 for every node in single-thread mode). */
  readonly assignment: ReadonlyMap<string, number>;
  /** Worker threads still running (0 once closed or failed). */
  readonly liveThreads: number;
  /**
   * Sends a batch into an input. The batch is encoded and queued at once
   * (so calls keep their order); the promise resolves when the channels it
   * went into have room again: await it before sending more, that is the
   * backpressure. Rejects with a {@link MicroNodeError} once the runtime failed.
   */
  send(input: string, batch: OpBatch): Promise<void>;
  /**
   * Sends the barrier of `epoch` (default: the last one + 1; it must grow)
   * into every input. Resolves with the epoch once every node passed it, so
   * every output batch of the epoch has been given to `onOutput`. Several
   * barriers may be in flight (pipelining); each node holds back at most
   * the batches of the epochs in flight, so their number bounds memory.
   */
  barrier(epoch?: bigint): Promise<bigint>;
  /**
   * The state of every node that has some, by node id. Waits for the
   * barriers in flight; batches sent since the last barrier are an error
   * (send a barrier first), so the states form a consistent cut.
   */
  snapshot(): Promise<Map<string, Uint8Array>>;
  /** Gives states from {@link MicroRuntime.snapshot} back to their nodes; same rules. */
  restore(states: ReadonlyMap<string, Uint8Array>): Promise<void>;
  /** Stops every worker thread and waits until they have exited. Idempotent. */
  close(): Promise<void>;
}

interface Waiter {
  readonly epoch: bigint;
  readonly promise: Promise<bigint>;
  resolve(epoch: bigint): void;
  reject(e: unknown): void;
  passed: number;
}

/**
 * Starts the micro-nodes of `spec`: in worker threads (each thread imports
 * its nodes' modules and calls their factories) or, with `threads: 0`,
 * inline. Resolves once every node is created.
 * @throws ConfigError for a malformed spec; MicroNodeError when a node
 *   cannot be created (naming it).
 */
export async function startMicroRuntime(
  spec: MicroRuntimeSpec,
  options: MicroRuntimeOptions,
): Promise<MicroRuntime> {
  const plan = planRuntime(spec, options.threads);
  const rt = new Runtime(plan, options);
  await rt.start();
  return rt;
}

class Runtime implements MicroRuntime {
  readonly threads: number;
  readonly assignment: ReadonlyMap<string, number>;
  private readonly inputEdges = new Map<string, PlannedEdge[]>();
  private readonly workers: Worker[] = [];
  private readonly channels: OutChannel[] = [];
  private readonly writers: FrameWriter[] = [];
  private inline: NodeHost | null = null;
  private live = 0;
  private readonly exits: Promise<void>[] = [];
  /** Epochs issued and not yet complete, oldest first; `outputBarriers` index into it past `trimmed`. */
  private readonly issued: bigint[] = [];
  private trimmed = 0;
  private readonly outputBarriers = new Map<number, number>();
  private readonly waiters = new Map<bigint, Waiter>();
  private lastEpoch = 0n;
  private dirty = false;
  private flushScheduled = false;
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  private requests = 0;
  private readonly replies = new Map<
    number,
    { left: number; states: Map<string, Uint8Array>; done(): void }
  >();
  private failWaiters: ((e: Error) => void)[] = [];

  constructor(
    private readonly plan: RuntimePlan,
    private readonly options: MicroRuntimeOptions,
  ) {
    this.threads = plan.threads;
    this.assignment = new Map(plan.nodes.map((n) => [n.spec.id, n.thread]));
    for (const e of plan.edges) {
      if (e.fromNode !== null) continue;
      const list = this.inputEdges.get(e.fromPort);
      if (list) list.push(e);
      else this.inputEdges.set(e.fromPort, [e]);
    }
  }

  get liveThreads(): number {
    return this.live;
  }

  async start(): Promise<void> {
    if (this.plan.threads === 0) {
      this.inline = new NodeHost(this.plan, 0, {
        remote: (edge, message) => this.output(edge, message),
        passed: (epoch) => this.passed(epoch),
      });
      try {
        await this.inline.create();
      } catch (e) {
        throw this.toError(e, 0);
      }
      return;
    }
    const capacity = this.options.channelCapacity ?? 4;
    const frameBytes = this.options.frameBytes ?? 1 << 20;
    const peers: { thread: number; port: import('node:worker_threads').MessagePort }[][] = [];
    for (let t = 0; t < this.plan.threads; t++) peers.push([]);
    const linked = new Set<string>();
    for (const e of this.plan.edges) {
      const a = Math.min(e.fromThread, e.toThread);
      const b = Math.max(e.fromThread, e.toThread);
      if (a === HOST || a === b || linked.has(`${a}:${b}`)) continue;
      linked.add(`${a}:${b}`);
      const { port1, port2 } = new MessageChannel();
      peers[a]!.push({ thread: b, port: port1 });
      peers[b]!.push({ thread: a, port: port2 });
    }
    const ready: Promise<void>[] = [];
    for (let t = 0; t < this.plan.threads; t++) {
      const init: WorkerInit = { thread: t, plan: this.plan, capacity, frameBytes, peers: peers[t]! };
      const worker = spawnWorker(
        init,
        peers[t]!.map((p) => p.port),
      );
      this.workers.push(worker);
      this.live++;
      this.channels.push(new OutChannel((m, tr) => worker.postMessage(m, tr), capacity));
      this.writers.push(new FrameWriter());
      this.exits.push(
        new Promise((resolve) =>
          worker.once('exit', (code) => {
            this.live--;
            if (this.closing === null && this.failure === null) {
              void this.fail(
                new MicroNodeError(`worker thread ${t} exited unexpectedly (exit code ${code})`, null, t),
              );
            }
            resolve();
          }),
        ),
      );
      ready.push(
        new Promise<void>((resolve, reject) => {
          this.failWaiters.push(reject);
          worker.on('message', (items: (ArrayBuffer | number | WorkerMessage)[]) => {
            let frames = 0;
            for (const m of items) {
              if (typeof m === 'object' && !(m instanceof ArrayBuffer) && m.t === 'ready') resolve();
              else frames += this.message(t, m);
            }
            // One acknowledgement for every frame of the message.
            if (frames > 0 && this.failure === null) this.channels[t]!.sendAck(frames);
          });
        }),
      );
      worker.on('error', (e) => {
        void this.fail(new MicroNodeError(`worker thread ${t} failed: ${e.message}`, null, t, e));
      });
    }
    await Promise.all(ready);
  }

  send(input: string, batch: OpBatch): Promise<void> {
    const edges = this.inputEdges.get(input);
    if (edges === undefined) {
      return Promise.reject(
        new ConfigError(
          `send: unknown input "${input}"; inputs: ${[...this.inputEdges.keys()].join(', ') || 'none'}`,
        ),
      );
    }
    const refused = this.refusal();
    if (refused) return refused;
    this.dirty = true;
    return this.dispatch(edges, { kind: 'batch', batch });
  }

  barrier(epoch?: bigint): Promise<bigint> {
    const refused = this.refusal();
    if (refused) return refused as Promise<never>;
    const e = epoch ?? this.lastEpoch + 1n;
    if (e <= this.lastEpoch) {
      return Promise.reject(
        new ConfigError(`barrier: epoch ${e} is not after the last one (${this.lastEpoch})`),
      );
    }
    this.lastEpoch = e;
    this.dirty = false;
    this.issued.push(e);
    let resolve!: (x: bigint) => void;
    let reject!: (x: unknown) => void;
    const promise = new Promise<bigint>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.waiters.set(e, { epoch: e, promise, resolve, reject, passed: 0 });
    const nodeHosts = this.inline !== null ? (this.inline.size > 0 ? 1 : 0) : this.workers.length;
    const all = [...this.inputEdges.values()].flat();
    void this.dispatch(all, { kind: 'barrier', epoch: e }).catch(() => undefined);
    if (nodeHosts === 0) this.complete(e);
    return promise;
  }

  async snapshot(): Promise<Map<string, Uint8Array>> {
    await this.quiesce('snapshot');
    if (this.inline !== null) return this.guardInline(() => this.inline!.snapshot());
    const states = await this.request((id) => ({ t: 'snapshot', id }), this.workers.length);
    return states;
  }

  async restore(states: ReadonlyMap<string, Uint8Array>): Promise<void> {
    for (const id of states.keys()) {
      if (!this.assignment.has(id)) throw new ConfigError(`restore: no micro-node "${id}" in this runtime`);
    }
    await this.quiesce('restore');
    if (this.inline !== null) {
      this.guardInline(() => this.inline!.restore(states));
      return;
    }
    const per = this.workers.map(() => new Map<string, Uint8Array>());
    for (const [id, bytes] of states) per[this.assignment.get(id)!]!.set(id, bytes);
    let k = 0;
    await this.request((id) => ({ t: 'restore', id, states: per[k++]! }), this.workers.length);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      const closed = new MicroNodeError('the micro-node runtime was closed', null, null);
      this.rejectAll(closed);
      if (this.inline !== null) {
        this.inline.close();
        return;
      }
      for (const w of this.workers) w.postMessage([{ t: 'close' } satisfies HostMessage]);
      await Promise.all(this.exits);
    })();
    return this.closing;
  }

  // --- internals ---

  private refusal(): Promise<never> | null {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing)
      return Promise.reject(new MicroNodeError('the micro-node runtime is closed', null, null));
    return null;
  }

  private async quiesce(what: string): Promise<void> {
    const refused = this.refusal();
    if (refused) await refused;
    await Promise.all([...this.waiters.values()].map((w) => w.promise));
    if (this.dirty) {
      throw new ConfigError(`${what}: batches were sent after the last barrier; send a barrier first`);
    }
  }

  private dispatch(edges: readonly PlannedEdge[], message: StreamMessage): Promise<void> {
    if (this.inline !== null) {
      try {
        for (const e of edges) {
          if (e.toNode === null) this.output(e, message);
          else this.inline.deliver(e, message);
        }
      } catch (err) {
        const error = this.toError(err, 0);
        void this.fail(error);
        return Promise.reject(error);
      }
      return Promise.resolve();
    }
    // Every edge of one input carries the same schema: encode once.
    let bytes: Uint8Array;
    try {
      bytes = encodeStreamMessage(edges[0]?.schema ?? { fields: [], primaryKey: [] }, message);
    } catch (err) {
      return Promise.reject(err);
    }
    const touched = new Set<number>();
    let lastSchema = edges[0]?.schema;
    for (const e of edges) {
      if (e.schema !== lastSchema) {
        bytes = encodeStreamMessage(e.schema, message);
        lastSchema = e.schema;
      }
      if (e.toNode === null) this.output(e, message);
      else {
        this.writers[e.toThread]!.add(e.id, bytes);
        touched.add(e.toThread);
      }
    }
    this.scheduleFlush();
    return Promise.resolve().then(async () => {
      this.flush();
      await Promise.all([...touched].map((t) => this.channels[t]!.drained()));
      if (this.failure) throw this.failure;
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.failure) return;
    for (let t = 0; t < this.writers.length; t++) {
      const w = this.writers[t]!;
      if (!w.empty) this.channels[t]!.sendFrame(w.finish());
    }
  }

  /** Handles one item of a worker's message; 1 when it was a frame (to acknowledge). */
  private message(thread: number, m: ArrayBuffer | number | WorkerMessage): number {
    if (this.failure) return 0;
    if (typeof m === 'number') {
      this.channels[thread]!.credit(m);
      return 0;
    }
    if (m instanceof ArrayBuffer) {
      try {
        readFrame(m, (id, bytes) => {
          const edge = this.plan.edges[id]!;
          this.output(edge, decodeStreamMessage(edge.schema, bytes));
        });
      } catch (e) {
        void this.fail(this.toError(e, thread));
      }
      return 1;
    }
    switch (m.t) {
      case 'passed':
        this.passed(m.epoch);
        return 0;
      case 'states':
      case 'restored': {
        const r = this.replies.get(m.id);
        if (r === undefined) return 0;
        if (m.t === 'states') for (const [k, v] of m.states) r.states.set(k, v);
        if (--r.left === 0) r.done();
        return 0;
      }
      case 'error': {
        const cause = deserializeError(m.error);
        const what =
          m.node === null
            ? `worker thread ${m.thread}`
            : `micro-node "${m.node}" on worker thread ${m.thread}`;
        void this.fail(new MicroNodeError(`${what} failed: ${cause.message}`, m.node, m.thread, cause));
        return 0;
      }
      default:
        return 0;
    }
  }

  private output(edge: PlannedEdge, message: StreamMessage): void {
    const seen = this.outputBarriers.get(edge.id) ?? 0;
    if (message.kind === 'barrier') {
      this.outputBarriers.set(edge.id, seen + 1);
      return;
    }
    const epoch = this.issued[seen - this.trimmed] ?? this.lastEpoch + 1n;
    if (this.options.onOutput) {
      try {
        this.options.onOutput(edge.toPort, message.batch, epoch);
      } catch (e) {
        void this.fail(
          new MicroNodeError(
            `onOutput threw for output "${edge.toPort}": ${e instanceof Error ? e.message : String(e)}`,
            null,
            null,
            e,
          ),
        );
      }
    }
  }

  private passed(epoch: bigint): void {
    const w = this.waiters.get(epoch);
    if (w === undefined) return;
    w.passed++;
    if (w.passed >= (this.inline !== null ? 1 : this.workers.length)) this.complete(epoch);
  }

  private complete(epoch: bigint): void {
    const w = this.waiters.get(epoch);
    if (w === undefined) return;
    this.waiters.delete(epoch);
    // Epochs complete in order: every output has seen this barrier and those before it.
    while (this.issued.length > 0 && this.issued[0]! <= epoch) {
      this.issued.shift();
      this.trimmed++;
    }
    w.resolve(epoch);
  }

  private request(make: (id: number) => HostMessage, count: number): Promise<Map<string, Uint8Array>> {
    const id = ++this.requests;
    const states = new Map<string, Uint8Array>();
    return new Promise<Map<string, Uint8Array>>((resolve, reject) => {
      this.replies.set(id, {
        left: count,
        states,
        done: () => {
          this.replies.delete(id);
          resolve(states);
        },
      });
      this.failWaiters.push(reject);
      this.flush();
      for (let t = 0; t < this.workers.length; t++) this.channels[t]!.sendControl(make(id));
    });
  }

  private guardInline<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      const error = this.toError(e, 0);
      void this.fail(error);
      throw error;
    }
  }

  private toError(e: unknown, thread: number): Error {
    if (e instanceof MicroNodeError) return e;
    if (e instanceof NodeFailure) {
      const msg = e.error instanceof Error ? e.error.message : String(e.error);
      const where = this.inline !== null ? 'single-thread mode' : `worker thread ${thread}`;
      return new MicroNodeError(`micro-node "${e.node}" (${where}) failed: ${msg}`, e.node, thread, e.error);
    }
    return new MicroNodeError(
      `micro-node runtime failed: ${e instanceof Error ? e.message : String(e)}`,
      null,
      thread,
      e,
    );
  }

  private async fail(error: Error): Promise<void> {
    if (this.failure) return;
    this.failure = error;
    // The threads end first, so that whoever sees the error sees no thread left running.
    await Promise.all(this.workers.map((w) => w.terminate()));
    await Promise.all(this.exits);
    this.rejectAll(error);
  }

  private rejectAll(error: Error): void {
    for (const w of this.waiters.values()) w.reject(error);
    this.waiters.clear();
    const fw = this.failWaiters;
    this.failWaiters = [];
    for (const f of fw) f(error);
    this.replies.clear();
  }
}

/**
 * Starts a worker on the entry file next to this module: `worker.js` in a
 * build, `worker.ts` when running from the TypeScript sources.
 */
function spawnWorker(init: WorkerInit, transferList: import('node:worker_threads').MessagePort[]): Worker {
  const here = import.meta.url;
  const entry = new URL(here.endsWith('.ts') ? './worker.ts' : './worker.js', here);
  return spawnModuleWorker(entry, 'the micro-node runtime', { workerData: init, transferList });
}
