// Micro-nodes for the runtime's own tests (runtime.test.ts); loaded by worker threads from this file.
import type { MicroNode, MicroNodeContext } from './micro-node.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Forwards every batch of every input port to `out`, optionally sleeping first, optionally throwing on a value. */
export function relay(
  args: { readonly sleepMs?: number; readonly throwOn?: string } | undefined,
  ctx: MicroNodeContext,
): MicroNode {
  return {
    onBatch(_port, batch) {
      if (args?.sleepMs) Atomics.wait(sleeper, 0, 0, args.sleepMs);
      for (const op of batch.ops) {
        if (op.kind === 'insert' && args?.throwOn !== undefined && op.new[0] === BigInt(args.throwOn)) {
          throw new RangeError(`value ${args.throwOn} is not allowed here`);
        }
      }
      ctx.emit('out', batch);
    },
  };
}

/**
 * Collects the values of every input during an epoch and emits, at the
 * barrier, one row per value tagged with its port, in port order: what it
 * saw in each epoch. Keeps a running count as its state.
 */
export function collector(_args: unknown, ctx: MicroNodeContext): MicroNode {
  const ports = [...ctx.inputs.keys()].sort();
  let seen = new Map<string, bigint[]>();
  let total = 0n;
  return {
    onBatch(port, batch) {
      const list = seen.get(port) ?? [];
      for (const op of batch.ops) if (op.kind === 'insert') list.push(op.new[0] as bigint);
      seen.set(port, list);
      total += BigInt(batch.ops.length);
    },
    onBarrier(epoch) {
      const ops = ports.flatMap((p, i) =>
        (seen.get(p) ?? []).map((v) => ({ kind: 'insert' as const, new: [v, BigInt(i), epoch, total] })),
      );
      seen = new Map();
      ctx.emit('out', { table: 'seen', ops, position: null });
    },
    snapshot() {
      return new TextEncoder().encode(String(total));
    },
    restore(bytes) {
      total = BigInt(new TextDecoder().decode(bytes));
    },
  };
}

/** A factory that fails. */
export function broken(): MicroNode {
  throw new Error('cannot build this node: no such table');
}
