import { type Row, Timestamp } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { countBefore, tableOfEvent } from './events.js';
import { generateNexmark } from './generate.js';
import { NEXMARK_SCHEMAS } from './model.js';

const rowsOf = (batches: ReturnType<typeof generateNexmark>, table: string): Row[] =>
  batches
    .filter((b) => b.table === table)
    .flatMap((b) => b.ops.map((op) => (op.kind === 'insert' ? op.new : [])));

describe('nexmark event layout', () => {
  it('has 1 person, 3 auctions and 46 bids in every block of 50 events', () => {
    const kinds = Array.from({ length: 100 }, (_, n) => tableOfEvent(n));
    expect(kinds.slice(0, 5)).toEqual(['person', 'auction', 'auction', 'auction', 'bid']);
    for (const block of [kinds.slice(0, 50), kinds.slice(50)]) {
      expect(block.filter((k) => k === 'person')).toHaveLength(1);
      expect(block.filter((k) => k === 'auction')).toHaveLength(3);
      expect(block.filter((k) => k === 'bid')).toHaveLength(46);
    }
  });

  it('counts events of a table before any event number', () => {
    for (const n of [0, 1, 3, 4, 49, 50, 51, 123, 1000]) {
      for (const t of ['person', 'auction', 'bid'] as const) {
        const direct = Array.from({ length: n }, (_, i) => tableOfEvent(i)).filter((k) => k === t).length;
        expect(countBefore(t, n)).toBe(direct);
      }
    }
  });
});

describe('generateNexmark', () => {
  const batches = generateNexmark({ events: 5000, batchEvents: 1000 });
  const persons = rowsOf(batches, 'person');
  const auctions = rowsOf(batches, 'auction');
  const bids = rowsOf(batches, 'bid');

  it('makes one batch per table per chunk, positioned after the chunk', () => {
    expect(batches.map((b) => `${b.table}@${b.position}:${b.ops.length}`).slice(0, 4)).toEqual([
      'person@1000:20',
      'auction@1000:60',
      'bid@1000:920',
      'person@2000:20',
    ]);
    expect([persons.length, auctions.length, bids.length]).toEqual([100, 300, 4600]);
  });

  it('gives rows of the table schemas', () => {
    for (const [table, rows] of [
      ['person', persons],
      ['auction', auctions],
      ['bid', bids],
    ] as const) {
      const fields = NEXMARK_SCHEMAS[table].fields;
      for (const row of rows.slice(0, 50)) {
        expect(row).toHaveLength(fields.length);
        fields.forEach((f, i) => {
          const v = row[i];
          if (f.type === 'int') expect(typeof v).toBe('bigint');
          else if (f.type === 'string') expect(typeof v).toBe('string');
          else expect(v).toBeInstanceOf(Timestamp);
        });
      }
    }
  });

  it('numbers persons and auctions consecutively from 1000', () => {
    expect(persons.map((r) => r[0])).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(1000 + i)));
    expect(auctions.map((r) => r[0])).toEqual(Array.from({ length: 300 }, (_, i) => BigInt(1000 + i)));
  });

  it('bids on recent auctions by recent persons, half of them on the hot auction', () => {
    let hot = 0;
    batches.forEach((b) => {
      if (b.table !== 'bid') return;
      const end = Number(b.position);
      const lastAuction = 1000n + BigInt(countBefore('auction', end));
      const lastPerson = 1000n + BigInt(countBefore('person', end));
      for (const op of b.ops) {
        const row = op.kind === 'insert' ? op.new : [];
        const [auction, bidder, price] = row as [bigint, bigint, bigint];
        expect(auction).toBeGreaterThanOrEqual(1000n);
        expect(auction).toBeLessThan(lastAuction + 10n);
        expect(bidder).toBeGreaterThanOrEqual(1000n);
        expect(bidder).toBeLessThan(lastPerson + 10n);
        expect(price).toBeGreaterThanOrEqual(100n);
        if (auction % 100n === 0n) hot++;
      }
    });
    // The hot auction gets 1 - 1/hot_auction_ratio of the bids, plus the random ones that hit it.
    expect(hot / bids.length).toBeGreaterThan(0.45);
    expect(hot / bids.length).toBeLessThan(0.6);
  });

  it('advances event time by 100µs per event and lets auctions expire after they open', () => {
    const base = Timestamp.parse('2024-01-01T00:00:00Z').micros;
    expect((persons[1]![6] as Timestamp).micros).toBe(base + 50n * 100n);
    expect((bids[0]![5] as Timestamp).micros).toBe(base + 4n * 100n);
    for (const a of auctions) {
      expect((a[6] as Timestamp).micros).toBeGreaterThan((a[5] as Timestamp).micros);
      expect(a[4] as bigint).toBeGreaterThan(a[3] as bigint);
      expect(a[8] as bigint).toBeGreaterThanOrEqual(10n);
      expect(a[8] as bigint).toBeLessThan(15n);
    }
  });

  it('is deterministic per seed and can start at any event', () => {
    const again = generateNexmark({ events: 5000, batchEvents: 1000 });
    expect(rowsOf(again, 'bid')).toEqual(bids);
    const other = generateNexmark({ events: 5000, batchEvents: 1000, seed: 7 });
    expect(rowsOf(other, 'bid')).not.toEqual(bids);
    const tail = generateNexmark({ events: 2000, firstEvent: 3000, tables: ['bid'] });
    expect(tail.every((b) => b.table === 'bid')).toBe(true);
    expect(rowsOf(tail, 'bid')).toEqual(bids.slice(countBefore('bid', 3000)));
  });

  it('draws persons with the reference field formats', () => {
    const p = persons[0]!;
    expect(p[1]).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/);
    expect(p[2]).toMatch(/^[a-z ]+@[a-z ]+\.com$/);
    expect(p[3]).toMatch(/^\d{4} \d{4} \d{4} \d{4}$/);
    expect(['AZ', 'CA', 'ID', 'OR', 'WA', 'WY']).toContain(p[5]);
  });
});
