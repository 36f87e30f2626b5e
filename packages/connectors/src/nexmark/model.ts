import { makeSchema, type Schema } from '@dozer/core';

/** The three Nexmark tables, in the order their events come in each block of 50. */
export const NEXMARK_TABLES = ['person', 'auction', 'bid'] as const;

/** One of {@link NEXMARK_TABLES}. */
export type NexmarkTable = (typeof NEXMARK_TABLES)[number];

const str = (name: string) => ({ name, type: 'string' as const, nullable: false });
const int = (name: string) => ({ name, type: 'int' as const, nullable: false });
const ts = (name: string) => ({ name, type: 'timestamp' as const, nullable: false });

/**
 * The schemas of the Nexmark tables, with the field sets of the reference
 * generator (Beam / Flink Nexmark). Person and auction are keyed by `id`;
 * bids have no key (the stream is append-only).
 */
export const NEXMARK_SCHEMAS: Readonly<Record<NexmarkTable, Schema>> = {
  person: makeSchema(
    [
      int('id'),
      str('name'),
      str('email_address'),
      str('credit_card'),
      str('city'),
      str('state'),
      ts('date_time'),
      str('extra'),
    ],
    ['id'],
  ),
  auction: makeSchema(
    [
      int('id'),
      str('item_name'),
      str('description'),
      int('initial_bid'),
      int('reserve'),
      ts('date_time'),
      ts('expires'),
      int('seller'),
      int('category'),
      str('extra'),
    ],
    ['id'],
  ),
  bid: makeSchema([
    int('auction'),
    int('bidder'),
    int('price'),
    str('channel'),
    str('url'),
    ts('date_time'),
    str('extra'),
  ]),
};

/** The knobs of the reference generator that shape ids and timestamps. */
export interface NexmarkParams {
  /** Mixed into every event's random stream (default 0). */
  readonly seed: number;
  /** Event time of event 0, microseconds since the epoch. */
  readonly baseTimeMicros: bigint;
  /** Event time advances 1/eventTimeRate seconds per event (reference default 10,000 events/s). */
  readonly eventTimeRate: number;
  /** Persons bids and auctions are drawn from: the most recent ones (reference default 1,000). */
  readonly activePeople: number;
  /** Auctions bids are drawn from: the most recent ones (reference default 100). */
  readonly inFlightAuctions: number;
  /** 1 in hotAuctionRatio bids goes to a random auction, the rest to the hot one (default 2). */
  readonly hotAuctionRatio: number;
  /** 1 in hotSellersRatio auctions has a random seller, the rest the hot one (default 4). */
  readonly hotSellersRatio: number;
  /** 1 in hotBiddersRatio bids has a random bidder, the rest the hot one (default 4). */
  readonly hotBiddersRatio: number;
}

/** The reference generator's defaults; event time starts at 2024-01-01T00:00:00Z. */
export const NEXMARK_DEFAULTS: NexmarkParams = {
  seed: 0,
  baseTimeMicros: 1_704_067_200_000_000n,
  eventTimeRate: 10_000,
  activePeople: 1000,
  inFlightAuctions: 100,
  hotAuctionRatio: 2,
  hotSellersRatio: 4,
  hotBiddersRatio: 4,
};
