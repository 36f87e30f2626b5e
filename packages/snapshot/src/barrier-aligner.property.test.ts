import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBarrierAligner } from './barrier-aligner.js';

type Msg = { kind: 'data'; id: string; seg: number } | { kind: 'barrier'; epoch: bigint };
type Event = { input: string } & ({ kind: 'msg'; msg: Msg } | { kind: 'end' });

/** Per input: how many data messages precede each barrier and follow the last, and whether it ends (early). */
const plan = fc
  .record({
    epochs: fc.nat(4),
    inputs: fc.array(
      fc.record({
        segments: fc.array(fc.nat(3), { minLength: 6, maxLength: 6 }),
        cut: fc.nat(5),
        ends: fc.boolean(),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    schedule: fc.array(fc.nat(), { minLength: 80, maxLength: 80 }),
    awaitEach: fc.boolean(),
  })
  .map(({ epochs, inputs, schedule, awaitEach }) => ({
    epochs,
    // Input 0 carries every epoch; the others may end after fewer barriers.
    inputs: inputs.map((x, i) => {
      const carried = i === 0 ? epochs : Math.min(epochs, x.cut);
      return { carried, ends: x.ends || carried < epochs, segments: x.segments.slice(0, carried + 1) };
    }),
    schedule,
    awaitEach,
  }));

describe('BarrierAligner under random interleavings of its inputs', () => {
  it('delivers what precedes barrier E on every input before snapshot E and nothing after it, in arrival order', async () => {
    await fc.assert(
      fc.asyncProperty(plan, async ({ epochs, inputs, schedule, awaitEach }) => {
        const names = inputs.map((_, i) => `in${i}`);
        // Each input's own stream, in order.
        const streams: Event[][] = inputs.map((x, i) => {
          const input = names[i]!;
          const out: Event[] = [];
          x.segments.forEach((n, seg) => {
            if (seg > 0) out.push({ input, kind: 'msg', msg: { kind: 'barrier', epoch: BigInt(seg) } });
            for (let d = 0; d < n; d++)
              out.push({ input, kind: 'msg', msg: { kind: 'data', id: `${input}.${seg}.${d}`, seg } });
          });
          if (x.ends) out.push({ input, kind: 'end' });
          return out;
        });
        // One random interleaving of the streams.
        const arrival: Event[] = [];
        const cursors = streams.map(() => 0);
        for (let step = 0; ; step++) {
          const open = streams.map((_s, i) => i).filter((i) => cursors[i]! < streams[i]!.length);
          if (open.length === 0) break;
          const i = open[(schedule[step % schedule.length]! + step) % open.length]!;
          arrival.push(streams[i]![cursors[i]!++]!);
        }

        const log: string[] = [];
        const aligner = createBarrierAligner<Msg>({
          inputs: names,
          onData: (_input, m) => {
            log.push(m.id);
          },
          onSnapshot: async (e) => {
            await Promise.resolve();
            log.push(`snapshot ${e}`);
          },
          onForward: (e) => {
            log.push(`forward ${e}`);
          },
        });
        const pending: Promise<void>[] = [];
        for (const ev of arrival) {
          const p = ev.kind === 'end' ? aligner.end(ev.input) : aligner.push(ev.input, ev.msg);
          if (awaitEach) await p;
          else pending.push(p);
        }
        await Promise.all(pending);

        // The one correct order: data grouped by the epoch it belongs to, each group in arrival order.
        const expected: string[] = [];
        for (let seg = 0; seg <= epochs; seg++) {
          if (seg > 0) expected.push(`snapshot ${seg}`, `forward ${seg}`);
          for (const ev of arrival)
            if (ev.kind === 'msg' && ev.msg.kind === 'data' && ev.msg.seg === seg) expected.push(ev.msg.id);
        }
        expect(log).toEqual(expected);
        expect([aligner.held, aligner.aligning, aligner.lastEpoch]).toEqual([
          0,
          undefined,
          epochs === 0 ? undefined : BigInt(epochs),
        ]);
      }),
      { numRuns: 300 },
    );
  });
});
