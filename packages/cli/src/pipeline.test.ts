import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, makeSchema } from '@dozer/core';
import { openStore } from '@dozer/store';
import { describe, expect, it } from 'vitest';
import type { EndpointConfig } from './config/index.js';
import { runReadiness, secondaryIndexesOf } from './pipeline.js';
import type { SourceStats } from './progress.js';
import { Watermarks } from './roles/watermarks.js';

const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'city', type: 'string', nullable: false },
    { name: 'fare', type: 'decimal', nullable: true },
    { name: 'note', type: 'text', nullable: true },
  ],
  ['id'],
);

function endpoint(secondary: EndpointConfig['index']['secondary']): EndpointConfig {
  return {
    name: 'trips',
    path: '/trips',
    table_name: 'trips',
    index: { secondary },
    conflict_resolution: { on_insert: 'update', on_update: 'upsert', on_delete: 'nothing' },
  };
}

describe('index.secondary → store indexes', () => {
  it('keeps the default per-field indexes minus skip_default, plus the created ones', () => {
    expect(
      secondaryIndexesOf(
        endpoint({
          skip_default: ['fare'],
          create: [{ sorted_inverted: { fields: ['city', 'fare'] } }, { full_text: { field: 'note' } }],
        }),
        schema,
      ),
    ).toEqual([
      { kind: 'sorted', fields: ['city'] },
      { kind: 'sorted', fields: ['city', 'fare'] },
      { kind: 'full_text', field: 'note' },
    ]);
  });

  it('names the endpoint, the key and the fields when a field is wrong', () => {
    const bad = (secondary: EndpointConfig['index']['secondary']) => {
      try {
        secondaryIndexesOf(endpoint(secondary), schema);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(bad({ skip_default: ['cty'], create: [] })).toBe(
      'endpoint "trips": index.secondary.skip_default names "cty", not a field of "trips" (fields: id, city, fare, note)',
    );
    expect(bad({ skip_default: [], create: [{ full_text: { field: 'fare' } }] })).toBe(
      'endpoint "trips": index.secondary.create[0].full_text.field: "fare" is decimal; full-text indexes need a string or text field',
    );
  });

  it('gives the store a full-text index that text queries use', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-ix-'));
    const store = openStore({ path: dir });
    try {
      const ep = store.openEndpoint({
        name: 'trips',
        schema,
        secondaryIndexes: secondaryIndexesOf(
          endpoint({ skip_default: [], create: [{ full_text: { field: 'note' } }] }),
          schema,
        ),
      });
      await ep.apply([
        { kind: 'insert', new: [1n, 'Lima', null, 'late night airport run'] },
        { kind: 'insert', new: [2n, 'Oslo', null, 'airport'] },
        { kind: 'insert', new: [3n, 'Rome', null, 'night tour'] },
      ]);
      const q = ep.parseQuery({ $filter: { note: { $matches_all: 'night airport' } } });
      expect(ep.query(q).map((r) => r[0])).toEqual([1n]);
      expect(ep.explain(q)).toMatch(/full.text/i);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("dozer run's readiness (GET /ready)", () => {
  it('waits for the snapshots, then for the SQL and the store to work off the logs, then stays ready', () => {
    const source: SourceStats = {
      name: 'trips',
      ops: 1500,
      batches: 2,
      snapshotDone: false,
      finished: false,
    };
    const ingested = new Map([['trips', { next: 4n }]]);
    const produced = new Map([['big_trips', { next: 3n }]]);
    const processed = new Watermarks();
    const applied = new Watermarks();
    let started = false;
    const ready = runReadiness(() =>
      started ? { sources: [source], ingested, processed, produced, applied } : undefined,
    );
    expect(ready()).toEqual({ ready: false, waiting: ['the pipeline: starting'] });
    started = true;
    expect(ready()).toEqual({
      ready: false,
      waiting: [
        'source "trips": in its snapshot (1,500 ops so far)',
        'the SQL: 4 log entries to process',
        'the store: 3 log entries to apply',
      ],
    });
    source.snapshotDone = true;
    processed.set('trips', 4n);
    // Past the snapshot, the connector's lag must say it keeps up (a resumed source may have a backlog).
    expect(ready()).toEqual({
      ready: false,
      waiting: ['source "trips": waiting for its first lag report', 'the store: 3 log entries to apply'],
    });
    source.lag = { behindOps: 120, behindMillis: 4200, atOps: 1500 };
    expect(ready()).toEqual({
      ready: false,
      waiting: ['source "trips": 4.2 s behind its source', 'the store: 3 log entries to apply'],
    });
    source.lag = { behindOps: 0, behindMillis: 0, atOps: 1500 };
    expect(ready()).toEqual({ ready: false, waiting: ['the store: 3 log entries to apply'] });
    applied.set('big_trips', 3n);
    expect(ready()).toEqual({ ready: true, waiting: [] });
    // Once caught up it stays ready: a live pipeline always has a batch or two on the way.
    ingested.set('trips', { next: 9n });
    expect(ready().ready).toBe(true);
  });
});
