import {
  ConfigError,
  type DateValue,
  Decimal,
  type OpBatch,
  type Operation,
  type Row,
  rowsEqual,
  type Schema,
  Timestamp,
} from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Connector, type IngestSink, silentLogger, type TableRequest } from '../connector.js';
import { ConnectorError } from '../errors.js';
import type { GeneratorConfig } from './config.js';
import { generatorConnector } from './generator-connector.js';

const ctx = { name: 'gen', logger: silentLogger };

interface Recorded {
  batches: OpBatch[];
  snapshots: [string, string][];
}

function recorder(
  onWrite?: (batch: OpBatch, rec: Recorded) => void | Promise<void>,
): IngestSink & { rec: Recorded } {
  const rec: Recorded = { batches: [], snapshots: [] };
  return {
    rec,
    async write(batch) {
      rec.batches.push(batch);
      await onWrite?.(batch, rec);
    },
    async snapshotDone(table, position) {
      rec.snapshots.push([table, position]);
    },
  };
}

async function run(
  config: GeneratorConfig,
  tables?: TableRequest[],
  signal: AbortSignal = new AbortController().signal,
): Promise<Recorded> {
  const connector = generatorConnector.create(config, ctx);
  const sink = recorder();
  const requests = tables ?? config.tables.map((t) => ({ name: t.name, resumeFrom: null }));
  await connector.start({ tables: requests, sink, signal });
  return sink.rec;
}

const opsOf = (rec: Recorded, table: string): Operation[] =>
  rec.batches.filter((b) => b.table === table).flatMap((b) => b.ops);

const fieldSummary = (schema: Schema) =>
  schema.fields.map((f) => [f.name, f.type, f.nullable, f.precision ?? null, f.scale ?? null]);

describe('generator templates', () => {
  it('trips and users have the documented schemas', async () => {
    const c = generatorConnector.create(
      { tables: [{ name: 'trips' }, { name: 'people', template: 'users' }] },
      ctx,
    );
    const [trips, users] = await c.listTables();
    expect(trips!.name).toBe('trips');
    expect(fieldSummary(trips!.schema)).toEqual([
      ['id', 'int', false, null, null],
      ['rider', 'string', false, null, null],
      ['city', 'string', false, null, null],
      ['fare', 'decimal', false, 10, 2],
      ['distance', 'float', false, null, null],
      ['passengers', 'int', false, null, null],
      ['started_at', 'timestamp', false, null, null],
      ['day', 'date', false, null, null],
      ['paid', 'boolean', false, null, null],
      ['tags', 'json', false, null, null],
      ['note', 'text', true, null, null],
    ]);
    expect(trips!.schema.primaryKey).toEqual([0]);
    expect(users!.name).toBe('people');
    expect(fieldSummary(users!.schema)).toEqual([
      ['id', 'int', false, null, null],
      ['name', 'string', false, null, null],
      ['email', 'string', false, null, null],
      ['age', 'int', false, null, null],
      ['balance', 'decimal', false, 12, 2],
      ['signed_up', 'timestamp', false, null, null],
      ['active', 'boolean', false, null, null],
    ]);
    expect(users!.schema.primaryKey).toEqual([0]);
  });

  it('trips rows hold values of their types, with day the date of started_at', async () => {
    const rec = await run({ seed: 3, rate: 0, tables: [{ name: 'trips', rows: 200, max_ops: 300 }] });
    const rows = opsOf(rec, 'trips').flatMap((op) => (op.kind === 'delete' ? [op.old] : [op.new]));
    let nulls = 0;
    for (const r of rows) {
      expect(typeof r[0]).toBe('bigint');
      const fare = r[3] as Decimal;
      expect(fare).toBeInstanceOf(Decimal);
      expect(fare.scale).toBe(2);
      expect(fare.compare(Decimal.parse('3')) >= 0 && fare.compare(Decimal.parse('150')) <= 0).toBe(true);
      expect(r[5]).toBeGreaterThanOrEqual(1n);
      expect(r[5]).toBeLessThanOrEqual(4n);
      const started = r[6] as Timestamp;
      expect(started).toBeInstanceOf(Timestamp);
      expect((r[7] as DateValue).toString()).toBe(started.toISOString().slice(0, 10));
      expect(typeof r[8]).toBe('boolean');
      expect(Array.isArray((r[9] as { value: unknown }).value)).toBe(true);
      if (r[10] === null) nulls++;
      else expect(typeof r[10]).toBe('string');
    }
    expect(nulls).toBeGreaterThan(0);
    expect(nulls).toBeLessThan(rows.length);
  });

  it('users emails follow the name and id, also after updates', async () => {
    const rec = await run({ rate: 0, tables: [{ name: 'users', rows: 50, max_ops: 200 }] });
    for (const op of opsOf(rec, 'users')) {
      for (const r of op.kind === 'update' ? [op.old, op.new] : op.kind === 'insert' ? [op.new] : [op.old]) {
        const name = (r[1] as string).toLowerCase().replace(/[^a-z]+/g, '.');
        expect(r[2]).toBe(`${name}${r[0]}@example.com`);
      }
    }
  });
});

describe('generator determinism and resume', () => {
  const config: GeneratorConfig = {
    seed: 42,
    rate: 0,
    batch_size: 7,
    tables: [
      { name: 'trips', rows: 30, max_ops: 120 },
      { name: 'users', rows: 5, max_ops: 60, update_ratio: 0.5, delete_ratio: 0.3 },
    ],
  };

  it('gives the same ops for the same seed and config, and different ones for another seed', async () => {
    const a = await run(config);
    const b = await run(config);
    expect(opsOf(a, 'trips')).toHaveLength(150);
    expect(opsOf(a, 'users')).toHaveLength(65);
    expect(opsOf(b, 'trips')).toEqual(opsOf(a, 'trips'));
    expect(opsOf(b, 'users')).toEqual(opsOf(a, 'users'));
    const c = await run({ ...config, seed: 43 });
    expect(opsOf(c, 'trips')).not.toEqual(opsOf(a, 'trips'));
  });

  it("a table's ops do not depend on the other tables, the rate or the batch size", async () => {
    const alone = await run({
      seed: 42,
      rate: 0,
      tables: [{ name: 'users', rows: 5, max_ops: 60, update_ratio: 0.5, delete_ratio: 0.3 }],
    });
    const both = await run(config);
    const paced = await run({ ...config, batch_size: 1000, tables: [{ ...config.tables[1]!, rate: 5000 }] });
    expect(opsOf(alone, 'users')).toEqual(opsOf(both, 'users'));
    expect(opsOf(paced, 'users')).toEqual(opsOf(both, 'users'));
  });

  it('labels batches with the op count, keeps snapshot batches inside the snapshot and respects batch_size', async () => {
    const rec = await run(config);
    const trips = rec.batches.filter((b) => b.table === 'trips');
    let count = 0;
    for (const b of trips) {
      expect(b.ops.length).toBeGreaterThan(0);
      expect(b.ops.length).toBeLessThanOrEqual(7);
      if (count < 30) expect(count + b.ops.length).toBeLessThanOrEqual(30);
      count += b.ops.length;
      expect(b.position).toBe(String(count));
    }
    expect(
      opsOf(rec, 'trips')
        .slice(0, 30)
        .every((op) => op.kind === 'insert'),
    ).toBe(true);
    expect(rec.snapshots).toContainEqual(['trips', '30']);
    expect(rec.snapshots).toContainEqual(['users', '5']);
  });

  it('resuming from any position gives exactly the tail of a full run', async () => {
    const full = opsOf(await run(config), 'trips');
    for (const at of [0, 1, 13, 29, 30, 31, 77, 149, 150]) {
      const rec = await run(config, [{ name: 'trips', resumeFrom: String(at) }]);
      expect(opsOf(rec, 'trips')).toEqual(full.slice(at));
      expect(rec.batches.at(-1)?.position ?? String(at)).toBe('150');
      // snapshotDone only when the resumed run still had snapshot rows to send.
      expect(rec.snapshots).toEqual(at < 30 ? [['trips', '30']] : []);
    }
  });

  it('updates and deletes only touch live rows, with their current values (any seed and ratios)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -1000, max: 1000 }),
        fc.integer({ min: 0, max: 20 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom('trips', 'users'),
        async (seed, rows, u, d, tmpl) => {
          const scale = Math.max(u + d, 1);
          const cfg: GeneratorConfig = {
            seed,
            rate: 0,
            tables: [
              {
                name: 't',
                template: tmpl,
                rows,
                max_ops: 150,
                update_ratio: u / scale,
                delete_ratio: d / scale,
              },
            ],
          };
          const schema = (await generatorConnector.create(cfg, ctx).listTables())[0]!.schema;
          const live = new Map<bigint, Row>();
          const ops = opsOf(await run(cfg), 't');
          expect(ops).toHaveLength(rows + 150);
          for (const op of ops) {
            if (op.kind === 'insert') {
              expect(live.has(op.new[0] as bigint)).toBe(false);
              live.set(op.new[0] as bigint, op.new);
            } else {
              const current = live.get(op.old[0] as bigint);
              expect(current).toBeDefined();
              expect(rowsEqual(schema, current!, op.old)).toBe(true);
              if (op.kind === 'update') {
                expect(op.new[0]).toBe(op.old[0]);
                live.set(op.old[0] as bigint, op.new);
              } else live.delete(op.old[0] as bigint);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('emits updates and deletes in about the configured shares', async () => {
    const ops = opsOf(
      await run({
        rate: 0,
        tables: [{ name: 'users', rows: 100, max_ops: 4000, update_ratio: 0.5, delete_ratio: 0.2 }],
      }),
      'users',
    ).slice(100);
    const share = (k: string) => ops.filter((o) => o.kind === k).length / ops.length;
    expect(share('update')).toBeGreaterThan(0.45);
    expect(share('update')).toBeLessThan(0.55);
    expect(share('delete')).toBeGreaterThan(0.16);
    expect(share('delete')).toBeLessThan(0.24);
  });
});

describe('generator custom columns', () => {
  it('fills columns from their generator specs', async () => {
    const rec = await run({
      seed: 9,
      rate: 0,
      tables: [
        {
          name: 'orders',
          rows: 300,
          max_ops: 0,
          columns: [
            {
              name: 'code',
              type: 'string',
              primary_key: true,
              generator: { kind: 'sequence', prefix: 'ord-' },
            },
            { name: 'qty', type: 'int', generator: { kind: 'range', min: 5, max: 7 } },
            {
              name: 'price',
              type: 'decimal',
              precision: 8,
              scale: 3,
              generator: { kind: 'range', min: 1, max: 2 },
            },
            { name: 'status', type: 'string', generator: { kind: 'one_of', values: ['new', 'paid'] } },
            {
              name: 'at',
              type: 'timestamp',
              generator: { kind: 'clock', start: '2025-06-01T00:00:00Z', step_seconds: 60 },
            },
            { name: 'comment', type: 'text', nullable: true, null_ratio: 0.5, generator: 'words' },
            { name: 'blob', type: 'binary' },
          ],
        },
      ],
    });
    const rows = opsOf(rec, 'orders').map((op) => (op as { new: Row }).new);
    expect(rows.map((r) => r[0])).toEqual(rows.map((_, i) => `ord-${i + 1}`));
    expect(new Set(rows.map((r) => r[1]))).toEqual(new Set([5n, 6n, 7n]));
    for (const r of rows) {
      const price = r[2] as Decimal;
      expect(price.scale).toBe(3);
      expect(price.compare(Decimal.parse('1')) >= 0 && price.compare(Decimal.parse('2')) <= 0).toBe(true);
      expect(['new', 'paid']).toContain(r[3]);
      expect(r[6]).toBeInstanceOf(Uint8Array);
    }
    // The clock advances one step per op, so op n falls in minute n after the start.
    const start = Timestamp.parse('2025-06-01T00:00:00Z').micros;
    rows.forEach((r, i) => {
      const offset = (r[4] as Timestamp).micros - start;
      expect(offset / 60_000_000n).toBe(BigInt(i + 1));
    });
    const nulls = rows.filter((r) => r[5] === null).length;
    expect(nulls).toBeGreaterThan(100);
    expect(nulls).toBeLessThan(200);
  });
});

describe('generator connector', () => {
  it('compares positions as numbers and rejects foreign positions', () => {
    const c = generatorConnector.create({ tables: [{ name: 'trips' }] }, ctx);
    expect(c.comparePositions('9', '10')).toBeLessThan(0);
    expect(c.comparePositions('10', '10')).toBe(0);
    expect(c.comparePositions('100', '99')).toBeGreaterThan(0);
    expect(() => c.comparePositions('0/16B3748', '1')).toThrow(ConnectorError);
    expect(() => c.comparePositions('0/16B3748', '1')).toThrow(/"0\/16B3748" is not a generator position/);
  });

  it('refuses a config that does not validate, listing every issue', () => {
    expect(() => generatorConnector.create({ tables: [{ name: 'trips', rows: -5, rate: -1 }] }, ctx)).toThrow(
      ConfigError,
    );
    expect(() => generatorConnector.create({ tables: [{ name: 'trips', rows: -5, rate: -1 }] }, ctx)).toThrow(
      'connection "gen" (generator): invalid config:\n  tables[0].rows: expected a non-negative integer, got -5\n  tables[0].rate: expected a non-negative number of ops per second (0 = as fast as possible), got -1',
    );
  });

  it('rejects an unknown table and a bad resume position', async () => {
    const c = generatorConnector.create({ tables: [{ name: 'trips' }, { name: 'users' }] }, ctx);
    const signal = new AbortController().signal;
    await expect(
      c.start({ tables: [{ name: 'rides', resumeFrom: null }], sink: recorder(), signal }),
    ).rejects.toThrow('connection "gen" has no table "rides"; its tables are: trips, users');
    const d = generatorConnector.create({ tables: [{ name: 'trips' }] }, ctx);
    await expect(
      d.start({ tables: [{ name: 'trips', resumeFrom: '-3' }], sink: recorder(), signal }),
    ).rejects.toThrow(ConnectorError);
  });

  it('projects rows to the requested columns', async () => {
    const cfg: GeneratorConfig = { seed: 1, rate: 0, tables: [{ name: 'users', rows: 10, max_ops: 20 }] };
    const full = opsOf(await run(cfg), 'users');
    const proj = opsOf(
      await run(cfg, [{ name: 'users', columns: ['age', 'id'], resumeFrom: null }]),
      'users',
    );
    expect(proj).toEqual(
      full.map((op) =>
        op.kind === 'insert'
          ? { kind: 'insert', new: [op.new[3], op.new[0]] }
          : op.kind === 'delete'
            ? { kind: 'delete', old: [op.old[3], op.old[0]] }
            : { kind: 'update', old: [op.old[3], op.old[0]], new: [op.new[3], op.new[0]] },
      ),
    );
  });

  it('paces the live phase at the configured rate', async () => {
    const t0 = performance.now();
    const rec = await run({ rate: 100, tables: [{ name: 'users', rows: 0, max_ops: 25 }] });
    const elapsed = performance.now() - t0;
    expect(opsOf(rec, 'users')).toHaveLength(25);
    // 10 ops per batch at 100 ops/s: batches at 0, 100 and 200 ms, then a wait until 250 ms.
    expect(rec.batches.map((b) => b.ops.length)).toEqual([10, 10, 5]);
    expect(elapsed).toBeGreaterThanOrEqual(200);
  });

  it('awaits each write before the next one (backpressure)', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const sink = recorder(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
    });
    const c = generatorConnector.create(
      { rate: 0, batch_size: 3, tables: [{ name: 'users', rows: 20, max_ops: 20 }] },
      ctx,
    );
    await c.start({
      tables: [{ name: 'users', resumeFrom: null }],
      sink,
      signal: new AbortController().signal,
    });
    expect(maxInFlight).toBe(1);
    expect(sink.rec.batches.at(-1)?.position).toBe('40');
  });

  it('stops promptly when aborted, even while waiting for the next batch', async () => {
    const ac = new AbortController();
    // 0.01 ops/s: after the first batch the next one is due in 100 s.
    const sink = recorder((_b, rec) => {
      if (rec.batches.length === 1) setTimeout(() => ac.abort(), 5);
    });
    const c = generatorConnector.create({ rate: 0.01, tables: [{ name: 'users', rows: 0 }] }, ctx);
    const t0 = performance.now();
    await c.start({ tables: [{ name: 'users', resumeFrom: null }], sink, signal: ac.signal });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(sink.rec.batches).toHaveLength(1);
  });

  it('stops an unbounded fast table when aborted and writes nothing after an abort', async () => {
    const ac = new AbortController();
    let afterAbort = 0;
    const sink = recorder((_b, rec) => {
      if (ac.signal.aborted) afterAbort++;
      if (rec.batches.length === 5) ac.abort();
    });
    const c = generatorConnector.create({ rate: 0, tables: [{ name: 'trips', rows: 0 }] }, ctx);
    await c.start({ tables: [{ name: 'trips', resumeFrom: null }], sink, signal: ac.signal });
    expect(sink.rec.batches).toHaveLength(5);
    expect(afterAbort).toBe(0);
  });

  it('close() ends a running start', async () => {
    let c: Connector | undefined;
    const sink = recorder((_b, rec) => {
      if (rec.batches.length === 2) void c!.close();
    });
    c = generatorConnector.create({ rate: 0, tables: [{ name: 'users', rows: 0 }] }, ctx);
    await c.start({
      tables: [{ name: 'users', resumeFrom: null }],
      sink,
      signal: new AbortController().signal,
    });
    expect(sink.rec.batches).toHaveLength(2);
    await expect(
      c.start({ tables: [{ name: 'users', resumeFrom: null }], sink, signal: new AbortController().signal }),
    ).rejects.toThrow(/start after close/);
  });

  it('fails start when the sink fails, and stops the other tables', async () => {
    const sink = recorder((b) => {
      if (b.table === 'users') throw new Error('disk full');
    });
    const c = generatorConnector.create(
      { rate: 0, tables: [{ name: 'users' }, { name: 'trips', rows: 0 }] },
      ctx,
    );
    await expect(
      c.start({
        tables: [
          { name: 'users', resumeFrom: null },
          { name: 'trips', resumeFrom: null },
        ],
        sink,
        signal: new AbortController().signal,
      }),
    ).rejects.toThrow('disk full');
  });

  it('reports lag: the snapshot still to send, and nothing behind once finished', async () => {
    let lagDuringSnapshot: number | null | undefined;
    let c: Connector | undefined;
    const sink = recorder(async (_b, rec) => {
      if (rec.batches.length === 1) lagDuringSnapshot = (await c!.lag!()).tables[0]!.behindOps;
    });
    c = generatorConnector.create(
      { rate: 1000, batch_size: 10, tables: [{ name: 'users', rows: 50, max_ops: 5 }] },
      ctx,
    );
    await c.start({
      tables: [{ name: 'users', resumeFrom: null }],
      sink,
      signal: new AbortController().signal,
    });
    expect(lagDuringSnapshot).toBe(50);
    const lag = await c.lag!();
    expect(lag.tables).toEqual([{ table: 'users', position: '55', behindOps: 0, behindMillis: 0 }]);
  });
});
