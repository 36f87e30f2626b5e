import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OpBatch } from '../operation.js';
import { makeSchema } from '../schema.js';
import { MicroNodeError, type MicroNodeSpec, type MicroRuntimeSpec } from './micro-node.js';
import { type MicroRuntime, startMicroRuntime } from './runtime.js';

// Each worker thread compiles the TypeScript sources it loads, which takes a while on a busy machine.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const MODULE = new URL('./test-nodes.ts', import.meta.url).href;
const one = makeSchema([{ name: 'v', type: 'int', nullable: false }], []);
const seen = makeSchema(
  [
    { name: 'v', type: 'int', nullable: false },
    { name: 'port', type: 'int', nullable: false },
    { name: 'epoch', type: 'int', nullable: false },
    { name: 'total', type: 'int', nullable: false },
  ],
  [],
);

const batch = (...values: number[]): OpBatch => ({
  table: 'in',
  ops: values.map((v) => ({ kind: 'insert', new: [BigInt(v)] })),
  position: null,
});

const relay = (
  id: string,
  args: Record<string, unknown> = {},
  extra: Partial<MicroNodeSpec> = {},
): MicroNodeSpec => ({
  id,
  module: MODULE,
  factory: 'relay',
  args,
  inputs: ['in'],
  outputs: [{ name: 'out', schema: one }],
  ...extra,
});

/** in → a → b → out, and in → c → collector ← b: two paths of different lengths into one node. */
function diamond(extra: (id: string) => Partial<MicroNodeSpec> = () => ({})): MicroRuntimeSpec {
  return {
    inputs: [{ name: 'in', schema: one }],
    outputs: ['out', 'seen'],
    nodes: [
      relay('a', {}, extra('a')),
      relay('b', {}, extra('b')),
      relay('c', {}, extra('c')),
      {
        id: 'collect',
        module: MODULE,
        factory: 'collector',
        inputs: ['x', 'y'],
        outputs: [{ name: 'out', schema: seen }],
        ...extra('collect'),
      },
    ],
    edges: [
      { from: { input: 'in' }, to: { node: 'a', port: 'in' } },
      { from: { node: 'a', port: 'out' }, to: { node: 'b', port: 'in' } },
      { from: { node: 'b', port: 'out' }, to: { output: 'out' } },
      { from: { input: 'in' }, to: { node: 'c', port: 'in' } },
      { from: { node: 'b', port: 'out' }, to: { node: 'collect', port: 'x' } },
      { from: { node: 'c', port: 'out' }, to: { node: 'collect', port: 'y' } },
      { from: { node: 'collect', port: 'out' }, to: { output: 'seen' } },
    ],
  };
}

const running: MicroRuntime[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function start(spec: MicroRuntimeSpec, threads: number) {
  const outputs: { output: string; values: bigint[][]; epoch: bigint }[] = [];
  const rt = await startMicroRuntime(spec, {
    threads,
    onOutput: (output, b, epoch) => {
      outputs.push({
        output,
        values: b.ops.map((op) => (op.kind === 'delete' ? op.old : op.new) as bigint[]),
        epoch,
      });
    },
  });
  running.push(rt);
  return { rt, outputs };
}

describe.each([0, 1, 2, 3])('micro-node runtime with threads: %i', (threads) => {
  it('delivers every batch in order per edge, and aligns epochs across inputs', async () => {
    const { rt, outputs } = await start(diamond(), threads);
    expect(rt.threads).toBe(Math.min(threads, 4));
    const pending: Promise<unknown>[] = [];
    // Several epochs in flight at once: batches of later epochs must not leak into earlier ones.
    for (let e = 1; e <= 20; e++) {
      for (let k = 0; k < 5; k++) pending.push(rt.send('in', batch(e * 100 + k * 2, e * 100 + k * 2 + 1)));
      pending.push(rt.barrier());
    }
    await Promise.all(pending);
    const out = outputs.filter((o) => o.output === 'out');
    expect(out.flatMap((o) => o.values.map((r) => r[0]))).toEqual(
      Array.from({ length: 20 }, (_, e) =>
        Array.from({ length: 10 }, (_, k) => BigInt((e + 1) * 100 + k)),
      ).flat(),
    );
    // Each batch is attributed to the epoch whose barrier follows it.
    for (const o of out) expect(o.epoch).toBe(o.values[0]![0]! / 100n);
    const collected = outputs.filter((o) => o.output === 'seen');
    expect(collected.map((o) => o.epoch)).toEqual(Array.from({ length: 20 }, (_, e) => BigInt(e + 1)));
    collected.forEach((o, e) => {
      const values = Array.from({ length: 10 }, (_, k) => BigInt((e + 1) * 100 + k));
      // Port x (via a, b) then port y (via c): each exactly the epoch's values, in order.
      expect(o.values).toEqual([
        ...values.map((v) => [v, 0n, BigInt(e + 1), BigInt((e + 1) * 20)]),
        ...values.map((v) => [v, 1n, BigInt(e + 1), BigInt((e + 1) * 20)]),
      ]);
    });
  });

  it('snapshots and restores node state between epochs', async () => {
    const first = await start(diamond(), threads);
    await first.rt.send('in', batch(1, 2, 3));
    await first.rt.barrier();
    const states = await first.rt.snapshot();
    expect([...states.keys()]).toEqual(['collect']);
    const second = await start(diamond(), threads);
    await second.rt.restore(states);
    await second.rt.send('in', batch(4));
    await second.rt.barrier();
    // The running total went on from 6 (3 values on each of two ports).
    expect(second.outputs.find((o) => o.output === 'seen')!.values[0]).toEqual([4n, 0n, 1n, 8n]);
    await second.rt.send('in', batch(5));
    await expect(second.rt.snapshot()).rejects.toThrow(/send a barrier first/);
  });

  it('rejects with an error naming the node that threw, and ends its threads', async () => {
    const spec = diamond((id) => (id === 'b' ? { args: { throwOn: '7' } } : {}));
    const { rt } = await start(spec, threads);
    await rt.send('in', batch(1));
    await rt.barrier();
    const sent = rt.send('in', batch(6, 7));
    const barrier = rt.barrier();
    const error = await barrier.then(
      () => null,
      (e: unknown) => e,
    );
    await sent.catch(() => undefined);
    expect(error).toBeInstanceOf(MicroNodeError);
    expect((error as MicroNodeError).node).toBe('b');
    expect((error as Error).message).toMatch(/micro-node "b" .*failed: value 7 is not allowed here/);
    expect(((error as Error).cause as Error).name).toBe('RangeError');
    expect(rt.liveThreads).toBe(0);
    await expect(rt.send('in', batch(1))).rejects.toBe(error);
  });
});

describe('micro-node runtime on worker threads', () => {
  it('bounds what is queued when a node is slower than its input (backpressure)', async () => {
    const spec: MicroRuntimeSpec = {
      inputs: [{ name: 'in', schema: one }],
      outputs: ['out'],
      nodes: [relay('fast', {}, { thread: 0 }), relay('slow', { sleepMs: 2 }, { thread: 1 })],
      edges: [
        { from: { input: 'in' }, to: { node: 'fast', port: 'in' } },
        { from: { node: 'fast', port: 'out' }, to: { node: 'slow', port: 'in' } },
        { from: { node: 'slow', port: 'out' }, to: { output: 'out' } },
      ],
    };
    let delivered = 0;
    const rt = await startMicroRuntime(spec, {
      threads: 2,
      channelCapacity: 2,
      onOutput: () => {
        delivered++;
      },
    });
    running.push(rt);
    let maxAhead = 0;
    for (let i = 0; i < 150; i++) {
      await rt.send('in', batch(i));
      maxAhead = Math.max(maxAhead, i + 1 - delivered);
    }
    await rt.barrier();
    expect(delivered).toBe(150);
    // Frames in flight: 2 per channel on 3 channels, plus one waiting in each thread's inbox and outbox.
    expect(maxAhead).toBeLessThanOrEqual(12);
    expect(maxAhead).toBeGreaterThan(2);
  });

  it('names the node whose factory fails, and starts no thread that stays', async () => {
    const spec: MicroRuntimeSpec = {
      inputs: [{ name: 'in', schema: one }],
      outputs: [],
      nodes: [{ id: 'bad', module: MODULE, factory: 'broken', inputs: ['in'] }],
      edges: [{ from: { input: 'in' }, to: { node: 'bad', port: 'in' } }],
    };
    await expect(startMicroRuntime(spec, { threads: 1 })).rejects.toThrow(
      /micro-node "bad" on worker thread 0 failed: cannot build this node: no such table/,
    );
  });

  it('refuses an assignment that sends data back to an earlier thread', async () => {
    const spec: MicroRuntimeSpec = {
      inputs: [{ name: 'in', schema: one }],
      outputs: ['out'],
      nodes: [relay('a', {}, { thread: 1 }), relay('b', {}, { thread: 0 })],
      edges: [
        { from: { input: 'in' }, to: { node: 'a', port: 'in' } },
        { from: { node: 'a', port: 'out' }, to: { node: 'b', port: 'in' } },
        { from: { node: 'b', port: 'out' }, to: { output: 'out' } },
      ],
    };
    await expect(startMicroRuntime(spec, { threads: 2 })).rejects.toThrow(
      /edge "a" → "b" goes from thread 1 back to thread 0/,
    );
  });

  it('spreads nodes over threads by weight, along the topological order', async () => {
    const { rt } = await start(diamond(), 2);
    expect(rt.threads).toBe(2);
    const a = rt.assignment;
    for (const [from, to] of [
      ['a', 'b'],
      ['b', 'collect'],
      ['c', 'collect'],
    ] as const) {
      expect(a.get(from)!).toBeLessThanOrEqual(a.get(to)!);
    }
    expect(new Set(a.values())).toEqual(new Set([0, 1]));
  });

  it('closes cleanly: every thread exits and further calls are refused', async () => {
    const { rt } = await start(diamond(), 3);
    expect(rt.liveThreads).toBe(3);
    await rt.send('in', batch(1));
    await rt.barrier();
    await rt.close();
    expect(rt.liveThreads).toBe(0);
    await expect(rt.send('in', batch(2))).rejects.toThrow(/closed/);
    await rt.close();
  });
});
