import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type RawRow, RowCache, RowCacheSpace } from './row-cache.js';

const parents: string[] = [];
afterEach(() => {
  for (const p of parents.splice(0)) fs.rmSync(p, { recursive: true, force: true });
});

function parentDir(): string {
  const p = fs.mkdtempSync(path.join(os.tmpdir(), 'row-cache-test-'));
  parents.push(p);
  return p;
}

type Step =
  | { readonly op: 'set'; readonly row: RawRow }
  | { readonly op: 'delete'; readonly k: string }
  | { readonly op: 'get'; readonly k: string }
  | { readonly op: 'take'; readonly max: number };

// Rows of three text columns; the first is the key of keyed tables. Few distinct values, so
// that keys repeat (updates, and duplicates in tables without a key). One value is long
// enough to be stored by its hash.
const text = fc.oneof(fc.constantFrom('a', 'b', 'c', 'ü', '', 'x'.repeat(1500)), fc.string({ maxLength: 3 }));
const cell = fc.option(text, { nil: null, freq: 5 });
const row = fc.tuple(text, cell, cell) as fc.Arbitrary<RawRow>;
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: row.map((r) => ({ op: 'set' as const, row: r })), weight: 6 },
  { arbitrary: row.map((r) => ({ op: 'delete' as const, k: r.join('|') })), weight: 2 },
  { arbitrary: row.map((r) => ({ op: 'get' as const, k: r.join('|') })), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 6 }).map((max) => ({ op: 'take' as const, max })), weight: 1 },
  { arbitrary: fc.constant({ op: 'take' as const, max: 1_000 }), weight: 1 },
);

/** Runs steps on a cache and on a plain model; every answer must agree. */
function check(keyed: boolean, limit: number, steps: readonly Step[]): RowCacheSpace {
  const space = new RowCacheSpace(limit, parentDir(), 'connection "t"');
  const cache = new RowCache(keyed ? [0] : null, space);
  const model = new Map<string, RawRow[]>();
  // `delete` and `get` steps mostly name a key set before (picked by the step's text length).
  const keys: string[] = [];
  const pick = (text: string) => (keys.length > 0 ? keys[text.length % keys.length]! : text);
  for (const s of steps) {
    switch (s.op) {
      case 'set': {
        const k = cache.keyOf(s.row);
        keys.push(k);
        cache.set(k, s.row);
        if (keyed) model.set(k, [s.row]);
        else model.set(k, [...(model.get(k) ?? []), s.row]);
        break;
      }
      case 'delete': {
        const k = pick(s.k);
        cache.delete(k);
        const rows = model.get(k);
        if (rows !== undefined) {
          if (rows.length > 1) model.set(k, rows.slice(0, -1));
          else model.delete(k);
        }
        break;
      }
      case 'get': {
        const k = pick(s.k);
        expect(cache.get(k)).toEqual(model.get(k)?.[0]);
        break;
      }
      case 'take': {
        const sort = (rows: RawRow[]) => rows.map((r) => JSON.stringify(r)).sort();
        const total = [...model.values()].reduce((n, rs) => n + rs.length, 0);
        const taken = cache.take(s.max);
        // Whole keys (a keyless table's duplicates go together), as many rows as asked or all.
        const takenKeys = new Set(taken.map((r) => cache.keyOf(r)));
        expect(sort(taken)).toEqual(sort([...takenKeys].flatMap((k) => model.get(k) ?? [])));
        if (keyed) expect(taken.length).toBe(Math.min(s.max, total));
        else expect(taken.length).toBeGreaterThanOrEqual(Math.min(s.max, total));
        for (const k of takenKeys) model.delete(k);
        break;
      }
    }
    expect(cache.size).toBe([...model.values()].reduce((n, rs) => n + rs.length, 0));
  }
  return space;
}

describe('RowCache', () => {
  for (const keyed of [true, false]) {
    for (const [label, limit] of [
      ['in memory', 1 << 30],
      ['spilling part-way', 600],
      ['on disk from the start', 0],
    ] as const) {
      it(`answers like a map of rows (${keyed ? 'keyed' : 'no key, duplicates'}, ${label})`, async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
            await check(keyed, limit, steps).close();
          }),
          { numRuns: 60 },
        );
      });
    }
  }

  it('moves to disk past its budget, keeps memory bounded, and removes its directory on close', async () => {
    const parent = parentDir();
    const space = new RowCacheSpace(64 * 1024, parent, 'connection "t"');
    const a = new RowCache([0], space);
    const b = new RowCache([0], space);
    const value = 'v'.repeat(100);
    for (let i = 0; i < 200; i++) b.set(String(i), [String(i), value]);
    expect(b.spilled).toBe(false);
    for (let i = 0; i < 20_000; i++) a.set(String(i), [String(i), value]);
    expect(a.spilled).toBe(true);
    expect(space.used).toBeLessThanOrEqual(64 * 1024);
    expect(space.directory).not.toBeNull();
    expect(fs.readdirSync(parent)).toHaveLength(1);
    // Updates and deletes after the spill, past several disk writes.
    for (let i = 0; i < 20_000; i += 2) a.set(String(i), [String(i), 'updated']);
    for (let i = 1; i < 20_000; i += 4) a.delete(String(i));
    expect(a.get('0')).toEqual(['0', 'updated']);
    expect(a.get('3')).toEqual(['3', value]);
    expect(a.get('5')).toBeUndefined();
    expect(a.size).toBe(15_000);
    expect(b.get('7')).toEqual(['7', value]);
    // A TRUNCATE takes the rows a batch at a time: each batch once, then nothing.
    const seen = new Set<string>();
    for (let batch = a.take(4000), n = 1; batch.length > 0; batch = a.take(4000), n++) {
      expect(n, 'batches taken').toBeLessThanOrEqual(4);
      expect(batch.length).toBeLessThanOrEqual(4000);
      for (const r of batch) seen.add(r[0]!);
    }
    expect(seen.size).toBe(15_000);
    expect(a.size).toBe(0);
    await space.close();
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it("removes a spill directory left by a process that is gone, and keeps a live process's", async () => {
    const parent = parentDir();
    fs.mkdirSync(path.join(parent, 'dozer-pg-rows-999999999-abc'));
    fs.mkdirSync(path.join(parent, `dozer-pg-rows-${process.ppid}-abc`));
    fs.mkdirSync(path.join(parent, 'unrelated'));
    const space = new RowCacheSpace(0, parent, 'connection "t"');
    new RowCache([0], space).set('1', ['1']);
    expect(fs.readdirSync(parent).sort()).toEqual(
      [`dozer-pg-rows-${process.ppid}-abc`, path.basename(space.directory!), 'unrelated'].sort(),
    );
    await space.close();
  });

  it('says which setting to change when the spill directory cannot be made', () => {
    const file = path.join(parentDir(), 'a-file');
    fs.writeFileSync(file, '');
    const space = new RowCacheSpace(0, path.join(file, 'sub'), 'connection "shop"');
    expect(() => new RowCache([0], space)).toThrow(
      /connection "shop": the row caches outgrew row_cache_memory_mb, but no directory for them could be made under .*a-file\/sub .*set row_cache_dir to a writable directory/,
    );
  });
});
