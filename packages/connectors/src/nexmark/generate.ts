import { type OpBatch, type Operation, Timestamp } from '@dozer/core';
import { nexmarkEvent, tableOfEvent } from './events.js';
import { NEXMARK_DEFAULTS, NEXMARK_TABLES, type NexmarkParams, type NexmarkTable } from './model.js';

/** Shape of the generated stream; every field has the reference generator's default. */
export interface NexmarkOptions {
  /** Same seed, same events (default 0). */
  readonly seed?: number;
  /** Event time of the first event, RFC 3339 (default `2024-01-01T00:00:00Z`). */
  readonly baseTime?: string;
  /** Events per second of event time: `date_time` advances 1/eventTimeRate s per event (default 10000). */
  readonly eventTimeRate?: number;
  /** Bidders and sellers are drawn from this many most recent persons (default 1000). */
  readonly activePeople?: number;
  /** Bids go to one of this many most recent auctions (default 100). */
  readonly inFlightAuctions?: number;
  /** 1 in hotAuctionRatio bids goes to a random auction, the others to the hot one (default 2). */
  readonly hotAuctionRatio?: number;
  /** 1 in hotSellersRatio auctions has a random seller, the others the hot one (default 4). */
  readonly hotSellersRatio?: number;
  /** 1 in hotBiddersRatio bids has a random bidder, the others the hot one (default 4). */
  readonly hotBiddersRatio?: number;
}

/** What {@link generateNexmark} makes. */
export interface NexmarkGenerateOptions extends NexmarkOptions {
  /** How many events (all tables together). */
  readonly events: number;
  /** Number of the first event (default 0). */
  readonly firstEvent?: number;
  /** Events per chunk; each chunk becomes one batch per table (default 1000). */
  readonly batchEvents?: number;
  /** Only these tables (default all three). */
  readonly tables?: readonly NexmarkTable[];
}

/** {@link NexmarkOptions} with defaults applied. */
export function resolveNexmarkParams(o: NexmarkOptions = {}): NexmarkParams {
  const d = NEXMARK_DEFAULTS;
  return {
    seed: o.seed ?? d.seed,
    baseTimeMicros: o.baseTime === undefined ? d.baseTimeMicros : Timestamp.parse(o.baseTime).micros,
    eventTimeRate: o.eventTimeRate ?? d.eventTimeRate,
    activePeople: o.activePeople ?? d.activePeople,
    inFlightAuctions: o.inFlightAuctions ?? d.inFlightAuctions,
    hotAuctionRatio: o.hotAuctionRatio ?? d.hotAuctionRatio,
    hotSellersRatio: o.hotSellersRatio ?? d.hotSellersRatio,
    hotBiddersRatio: o.hotBiddersRatio ?? d.hotBiddersRatio,
  };
}

/** Insert ops of events `from` .. `to`-1, per wanted table, in event order. */
export function generateChunk(
  from: number,
  to: number,
  params: NexmarkParams,
  wanted: ReadonlySet<NexmarkTable>,
): Map<NexmarkTable, Operation[]> {
  const out = new Map<NexmarkTable, Operation[]>();
  for (const t of NEXMARK_TABLES) if (wanted.has(t)) out.set(t, []);
  for (let n = from; n < to; n++) {
    const ops = out.get(tableOfEvent(n));
    if (ops !== undefined) ops.push({ kind: 'insert', new: nexmarkEvent(n, params) });
  }
  return out;
}

/**
 * Pre-generates a Nexmark stream in memory (for benchmarks and tests): per
 * chunk of `batchEvents` events, one batch of inserts per table (person,
 * auction, bid, skipping empty ones), each batch's `position` being the
 * number of the event after the chunk. Deterministic: the same options
 * give the same batches, and the connector `nexmark` emits the same rows.
 */
export function generateNexmark(options: NexmarkGenerateOptions): OpBatch[] {
  const params = resolveNexmarkParams(options);
  const wanted = new Set(options.tables ?? NEXMARK_TABLES);
  const first = options.firstEvent ?? 0;
  const end = first + options.events;
  const step = options.batchEvents ?? 1000;
  const batches: OpBatch[] = [];
  for (let from = first; from < end; from += step) {
    const to = Math.min(from + step, end);
    for (const [table, ops] of generateChunk(from, to, params, wanted)) {
      if (ops.length > 0) batches.push({ table, ops, position: String(to) });
    }
  }
  return batches;
}
