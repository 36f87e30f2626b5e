import { describe, expect, it } from 'vitest';
import { alignBarriers } from './align.js';

describe('alignBarriers', () => {
  it('holds every reader at the barrier until the last one arrives, and calls onAligned once, before releasing them', async () => {
    const events: string[] = [];
    const arrive = alignBarriers(3, (epoch) => events.push(`aligned ${epoch}`));
    const released: string[] = [];
    const a = arrive(1n).then(() => released.push('a'));
    const b = arrive(1n).then(() => released.push('b'));
    await Promise.resolve();
    expect(events).toEqual([]);
    expect(released).toEqual([]);
    const c = arrive(1n).then(() => released.push('c'));
    expect(events).toEqual(['aligned 1']);
    await Promise.all([a, b, c]);
    expect(released.sort()).toEqual(['a', 'b', 'c']);
    // The next epoch aligns on its own.
    const d = arrive(2n);
    arrive(2n);
    expect(events).toEqual(['aligned 1']);
    arrive(2n);
    await d;
    expect(events).toEqual(['aligned 1', 'aligned 2']);
  });
});
