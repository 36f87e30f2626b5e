import type { OpBatch, StreamMessage } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { type BarrierAligner, createBarrierAligner } from './barrier-aligner.js';
import { BarrierOrderError, SnapshotError } from './errors.js';

type Msg = { kind: 'data'; id: string } | { kind: 'barrier'; epoch: bigint };
const data = (id: string): Msg => ({ kind: 'data', id });
const barrier = (epoch: bigint) => ({ kind: 'barrier' as const, epoch });

function setup(
  inputs: string[],
  opts: { after?: bigint; onSnapshot?: (e: bigint) => Promise<void> | void } = {},
) {
  const log: string[] = [];
  const aligner: BarrierAligner<Msg> = createBarrierAligner<Msg>({
    inputs,
    onData: (input, m) => {
      log.push(`${input}:${m.id}`);
    },
    onSnapshot: async (e) => {
      log.push(`snapshot ${e}`);
      await opts.onSnapshot?.(e);
    },
    onForward: (e) => {
      log.push(`forward ${e}`);
    },
    ...(opts.after === undefined ? {} : { after: opts.after }),
  });
  return { log, aligner };
}

describe('BarrierAligner', () => {
  it('holds an input after its barrier until every input has it, then snapshots, forwards and releases in order', async () => {
    const { log, aligner } = setup(['left', 'right']);
    await aligner.push('left', data('l1'));
    await aligner.push('left', barrier(1n));
    expect(aligner.isBlocked('left')).toBe(true);
    expect(aligner.aligning).toBe(1n);
    await aligner.push('left', data('l2'));
    await aligner.push('right', data('r1'));
    await aligner.push('left', data('l3'));
    expect(aligner.held).toBe(2);
    expect(log).toEqual(['left:l1', 'right:r1']);
    await aligner.push('right', barrier(1n));
    expect(log).toEqual(['left:l1', 'right:r1', 'snapshot 1', 'forward 1', 'left:l2', 'left:l3']);
    expect([aligner.held, aligner.aligning, aligner.lastEpoch, aligner.isBlocked('left')]).toEqual([
      0,
      undefined,
      1n,
      false,
    ]);
    await aligner.push('right', data('r2'));
    expect(log.at(-1)).toBe('right:r2');
  });

  it('takes core StreamMessages: batches are data, barriers align', async () => {
    const batches: OpBatch[] = [];
    const epochs: bigint[] = [];
    const aligner = createBarrierAligner<StreamMessage>({
      inputs: ['orders', 'customers'],
      onData: (_input, m) => {
        batches.push(m.batch);
      },
      onSnapshot: (e) => {
        epochs.push(e);
      },
      onForward: () => {},
    });
    const batch = (table: string): StreamMessage => ({
      kind: 'batch',
      batch: { table, ops: [], position: null },
    });
    await aligner.push('orders', { kind: 'barrier', epoch: 5n });
    await aligner.push('orders', batch('orders'));
    await aligner.push('customers', batch('customers'));
    await aligner.push('customers', { kind: 'barrier', epoch: 5n });
    expect(batches.map((b) => b.table)).toEqual(['customers', 'orders']);
    expect(epochs).toEqual([5n]);
  });

  it('releases a held barrier of the next epoch, which blocks its input again', async () => {
    const { log, aligner } = setup(['a', 'b']);
    await aligner.push('a', barrier(1n));
    await aligner.push('a', data('a1'));
    await aligner.push('a', barrier(2n));
    await aligner.push('a', data('a2'));
    await aligner.push('b', barrier(1n));
    expect(log).toEqual(['snapshot 1', 'forward 1', 'a:a1']);
    expect(aligner.isBlocked('a')).toBe(true);
    expect(aligner.aligning).toBe(2n);
    await aligner.push('b', data('b1'));
    await aligner.push('b', barrier(2n));
    expect(log).toEqual(['snapshot 1', 'forward 1', 'a:a1', 'b:b1', 'snapshot 2', 'forward 2', 'a:a2']);
  });

  it('rejects a barrier whose epoch does not increase on its input, naming the input, and goes on', async () => {
    const { log, aligner } = setup(['a', 'b']);
    await aligner.push('a', barrier(3n));
    await aligner.push('b', barrier(3n));
    const err = await aligner.push('a', barrier(2n)).catch((e) => e);
    expect(err).toBeInstanceOf(BarrierOrderError);
    expect(err.message).toBe('input "a" sent barrier 2 after barrier 3; epochs must increase');
    expect([err.input, err.epoch]).toEqual(['a', 2n]);
    await expect(aligner.push('b', barrier(3n))).rejects.toThrow(/input "b" sent barrier 3 after barrier 3/);
    await aligner.push('a', barrier(4n));
    await aligner.push('b', barrier(4n));
    expect(log).toEqual(['snapshot 3', 'forward 3', 'snapshot 4', 'forward 4']);
  });

  it('rejects a barrier of another epoch than the one being aligned, naming both', async () => {
    const { aligner } = setup(['a', 'b', 'c']);
    await aligner.push('a', barrier(1n));
    await expect(aligner.push('b', barrier(2n))).rejects.toThrow(
      'input "b" sent barrier 2 while inputs "a" are aligned on barrier 1; every input must carry every epoch, in order',
    );
    await aligner.push('b', barrier(1n));
    await aligner.push('c', barrier(1n));
    expect(aligner.lastEpoch).toBe(1n);
  });

  it('rejects barriers not above the restored epoch, unknown inputs and data after end', async () => {
    const { aligner } = setup(['a', 'b'], { after: 10n });
    await expect(aligner.push('a', barrier(10n))).rejects.toThrow(
      'input "a" sent barrier 10 after barrier 10',
    );
    await expect(aligner.push('x', data('?'))).rejects.toThrow(
      'unknown input "x"; the operator\'s inputs are: "a", "b"',
    );
    await aligner.end('b');
    await expect(aligner.push('b', data('late'))).rejects.toThrow('input "b" sent a message after it ended');
    expect(() => createBarrierAligner({ inputs: [], onData() {}, onSnapshot() {}, onForward() {} })).toThrow(
      SnapshotError,
    );
  });

  it('aligns without an input once it ended, also when its end was held behind a barrier', async () => {
    const { log, aligner } = setup(['a', 'b']);
    await aligner.push('a', barrier(1n));
    await aligner.end('a');
    await aligner.push('b', barrier(1n));
    await aligner.push('b', barrier(2n));
    await aligner.push('b', data('b1'));
    expect(log).toEqual(['snapshot 1', 'forward 1', 'snapshot 2', 'forward 2', 'b:b1']);
    // The last input still aligning ends: the epoch it was waiting for completes.
    const two = setup(['a', 'b']);
    await two.aligner.push('a', barrier(1n));
    await two.aligner.end('b');
    expect(two.log).toEqual(['snapshot 1', 'forward 1']);
  });

  it('keeps arrival order when callers do not await, and a failing snapshot fails the aligner for good', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { log, aligner } = setup(['a', 'b'], {
      onSnapshot: async (e) => {
        if (e === 1n) await gate;
        if (e === 2n) throw new Error('disk full');
      },
    });
    const pushes = [
      aligner.push('a', barrier(1n)),
      aligner.push('b', barrier(1n)),
      aligner.push('b', data('b1')),
      aligner.push('a', data('a1')),
    ];
    release();
    await Promise.all(pushes);
    expect(log).toEqual(['snapshot 1', 'forward 1', 'b:b1', 'a:a1']);
    await aligner.push('a', barrier(2n));
    await expect(aligner.push('b', barrier(2n))).rejects.toThrow('disk full');
    await expect(aligner.push('a', data('x'))).rejects.toThrow(
      'the barrier aligner failed earlier (disk full); it accepts no more messages',
    );
  });
});
