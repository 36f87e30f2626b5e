import { ConfigError, type OpBatch } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { type IngestSink, silentLogger, type TableRequest } from '../connector.js';
import { ConnectorError } from '../errors.js';
import type { NexmarkConfig } from './config.js';
import { generateNexmark } from './generate.js';
import { nexmarkConnector } from './nexmark-connector.js';

const ctx = { name: 'nx', logger: silentLogger };

function recorder(onWrite?: (b: OpBatch) => void): IngestSink & { batches: OpBatch[]; snapshots: string[] } {
  const batches: OpBatch[] = [];
  const snapshots: string[] = [];
  return {
    batches,
    snapshots,
    async write(b) {
      batches.push(b);
      onWrite?.(b);
    },
    async snapshotDone(table, position) {
      snapshots.push(`${table}@${position}`);
    },
  };
}

const all = (resumeFrom: string | null = null): TableRequest[] =>
  ['person', 'auction', 'bid'].map((name) => ({ name, resumeFrom }));

async function run(config: NexmarkConfig, tables: TableRequest[] = all()) {
  const sink = recorder();
  await nexmarkConnector.create(config, ctx).start({ tables, sink, signal: new AbortController().signal });
  return sink;
}

const rows = (batches: readonly OpBatch[], table: string) =>
  batches.filter((b) => b.table === table).flatMap((b) => b.ops);

describe('nexmark config', () => {
  it('accepts no config at all and reports every bad key with its path', () => {
    expect(nexmarkConnector.validateConfig(undefined)).toEqual([]);
    expect(
      nexmarkConnector.validateConfig({ rate: 0, max_events: 10, base_time: '2020-01-01T00:00:00Z' }),
    ).toEqual([]);
    expect(
      nexmarkConnector.validateConfig({
        seed: 1.5,
        rate: -1,
        max_events: 'many',
        batch_size: 0,
        base_time: 'yesterday',
        hot_auction_ratio: 0,
        tables: [],
      }),
    ).toEqual([
      {
        path: ['tables'],
        message:
          'unknown option; expected one of: seed, rate, max_events, base_time, batch_size, event_time_rate, active_people, in_flight_auctions, hot_auction_ratio, hot_sellers_ratio, hot_bidders_ratio',
      },
      { path: ['seed'], message: 'expected an integer, got 1.5' },
      {
        path: ['rate'],
        message: 'expected a non-negative number of events per second (0 = as fast as possible), got -1',
      },
      { path: ['max_events'], message: 'expected a non-negative integer, got "many"' },
      { path: ['batch_size'], message: 'expected a positive integer, got 0' },
      { path: ['hot_auction_ratio'], message: 'expected a positive integer, got 0' },
      {
        path: ['base_time'],
        message: 'expected an RFC 3339 timestamp such as "2024-01-01T00:00:00Z", got "yesterday"',
      },
    ]);
    expect(nexmarkConnector.validateConfig([1])).toEqual([
      { path: [], message: 'expected an object of nexmark options (or nothing), got a list' },
    ]);
  });

  it('refuses to create a connector from an invalid config, naming the connection', () => {
    expect(() => nexmarkConnector.create({ rate: -1 }, ctx)).toThrow(ConfigError);
    expect(() => nexmarkConnector.create({ rate: -1 }, ctx)).toThrow(
      'connection "nx" (nexmark): invalid config:\n  rate: expected a non-negative number',
    );
  });
});

describe('nexmark connector', () => {
  it('lists the three tables with their schemas', async () => {
    const tables = await nexmarkConnector.create({}, ctx).listTables();
    expect(tables.map((t) => [t.name, t.schema.fields.map((f) => f.name).join(',')])).toEqual([
      ['person', 'id,name,email_address,credit_card,city,state,date_time,extra'],
      ['auction', 'id,item_name,description,initial_bid,reserve,date_time,expires,seller,category,extra'],
      ['bid', 'auction,bidder,price,channel,url,date_time,extra'],
    ]);
  });

  it('emits exactly the in-memory generator stream, after an empty snapshot', async () => {
    const sink = await run({ rate: 0, max_events: 2500, batch_size: 1000, seed: 3 });
    expect(sink.snapshots).toEqual(['person@0', 'auction@0', 'bid@0']);
    expect(sink.batches.map((b) => `${b.table}@${b.position}`)).toEqual([
      'person@1000',
      'auction@1000',
      'bid@1000',
      'person@2000',
      'auction@2000',
      'bid@2000',
      'person@2500',
      'auction@2500',
      'bid@2500',
    ]);
    const expected = generateNexmark({ events: 2500, seed: 3 });
    for (const t of ['person', 'auction', 'bid']) expect(rows(sink.batches, t)).toEqual(rows(expected, t));
  });

  it('resumes each table right after its position: nothing lost, nothing repeated', async () => {
    const whole = await run({ rate: 0, max_events: 3000, batch_size: 700 });
    const resumed = await run({ rate: 0, max_events: 3000, batch_size: 700 }, [
      { name: 'person', resumeFrom: '1400' },
      { name: 'bid', resumeFrom: '2100' },
    ]);
    expect(resumed.snapshots).toEqual([]);
    const personRows = rows(whole.batches, 'person');
    expect(rows(resumed.batches, 'person')).toEqual(personRows.slice(28));
    const bidRows = rows(whole.batches, 'bid');
    expect(rows(resumed.batches, 'bid')).toEqual(bidRows.slice((2100 / 50) * 46));
    expect(resumed.batches.every((b) => Number(b.position) > 1400)).toBe(true);
  });

  it('narrows rows to the requested columns', async () => {
    const sink = await run({ rate: 0, max_events: 100 }, [
      { name: 'bid', columns: ['price', 'auction'], resumeFrom: null },
    ]);
    const full = rows(generateNexmark({ events: 100 }), 'bid');
    expect(rows(sink.batches, 'bid')).toEqual(
      full.map((op) => ({ kind: 'insert', new: op.kind === 'insert' ? [op.new[2], op.new[0]] : [] })),
    );
  });

  it('stops promptly when aborted while the stream never ends', async () => {
    const ac = new AbortController();
    const sink = recorder((b) => {
      if (Number(b.position) >= 5000) ac.abort();
    });
    await nexmarkConnector
      .create({ rate: 0, batch_size: 1000 }, ctx)
      .start({ tables: [{ name: 'bid', resumeFrom: null }], sink, signal: ac.signal });
    expect(sink.batches.map((b) => b.position)).toEqual(['1000', '2000', '3000', '4000', '5000']);
  });

  it('paces delivery at its rate in batches of a tenth of a second', async () => {
    const connector = nexmarkConnector.create({ rate: 20_000, max_events: 4000 }, ctx);
    const sink = recorder();
    await connector.start({
      tables: [{ name: 'bid', resumeFrom: null }],
      sink,
      signal: new AbortController().signal,
    });
    expect(sink.batches.map((b) => b.position)).toEqual(['1000', '2000', '3000', '4000']);
    const lag = await connector.lag!();
    expect(lag.tables).toEqual([{ table: 'bid', position: '4000', behindOps: 0, behindMillis: 0 }]);
  });

  it('rejects unknown tables, foreign positions and a second start', async () => {
    const c = nexmarkConnector.create({ max_events: 10, rate: 0 }, ctx);
    const signal = new AbortController().signal;
    await expect(
      c.start({ tables: [{ name: 'bids', resumeFrom: null }], sink: recorder(), signal }),
    ).rejects.toThrow('connection "nx" (nexmark) has no table "bids"; its tables are: person, auction, bid');
    await expect(c.start({ tables: all(), sink: recorder(), signal })).rejects.toThrow(ConnectorError);
    expect(c.comparePositions('50', '1000')).toBeLessThan(0);
    expect(() => c.comparePositions('0/16B3748', '1')).toThrow(
      '"0/16B3748" is not a nexmark position (expected a count of events such as "1500")',
    );
  });
});
