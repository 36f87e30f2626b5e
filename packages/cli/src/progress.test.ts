import { describe, expect, it } from 'vitest';
import { lagJson, Progress, type SourceStats } from './progress.js';

const source = (lag?: SourceStats['lag']): SourceStats => ({
  name: 'orders',
  ops: 1200,
  batches: 3,
  snapshotDone: true,
  finished: false,
  ...(lag ? { lag } : {}),
});

describe('the progress line and the health of a source', () => {
  it('says how far a source is behind once it is a second or more', () => {
    const line = (s: SourceStats) =>
      new Progress({ sources: [s], endpointRows: () => [['orders', 7]] }).statusLine();
    expect(line(source({ behindOps: 40, behindMillis: 2500 }))).toBe(
      'orders: 1,200 ops 0/s (live, 2.5 s behind) → orders: 7 rows',
    );
    expect(line(source({ behindOps: 2, behindMillis: 300 }))).toBe(
      'orders: 1,200 ops 0/s (live) → orders: 7 rows',
    );
    expect(line(source())).toBe('orders: 1,200 ops 0/s (live) → orders: 7 rows');
    // In its snapshot: the rows left, by the connector's estimate.
    const snapshot = { ...source({ behindOps: 48_800, behindMillis: null }), snapshotDone: false };
    expect(line(snapshot)).toBe('orders: 1,200 ops 0/s (snapshot, ~48,800 rows left) → orders: 7 rows');
    // Told when 1,000 ops were in: the 200 delivered since come off (in /health too), never below 0.
    const told = { ...source({ behindOps: 48_800, behindMillis: null, atOps: 1000 }), snapshotDone: false };
    expect(line(told)).toBe('orders: 1,200 ops 0/s (snapshot, ~48,600 rows left) → orders: 7 rows');
    expect(lagJson(told)).toEqual({ ops: 48_600, ms: null });
    const past = { ...source({ behindOps: 100, behindMillis: null, atOps: 1000 }), snapshotDone: false };
    expect(line(past)).toBe('orders: 1,200 ops 0/s (snapshot, ~0 rows left) → orders: 7 rows');
    // Live, the connector's figure stands (changes keep arriving).
    expect(lagJson(source({ behindOps: 40, behindMillis: 10, atOps: 1000 }))).toEqual({ ops: 40, ms: 10 });
  });

  it('shows the lag in /health as ops and ms, null where the connector cannot tell', () => {
    expect(lagJson(source({ behindOps: 40, behindMillis: null }))).toEqual({ ops: 40, ms: null });
    expect(lagJson(source())).toBeUndefined();
  });
});
