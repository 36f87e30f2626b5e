import { Timestamp } from '@dozer/core';
import type { ConfigIssue } from '../connector.js';
import { describe } from '../generator/config.js';

/** The `nexmark` connector's config; every key is optional. */
export interface NexmarkConfig {
  /** Same seed and config give the same events (default 0). */
  readonly seed?: number;
  /** Events per second delivered (all tables together); 0 = as fast as the sink takes them (default 1000). */
  readonly rate?: number;
  /** Stop after this many events; absent = never stop. */
  readonly max_events?: number;
  /** Most events per batch (default 1000). */
  readonly batch_size?: number;
  /** Event time of the first event, RFC 3339 (default "2024-01-01T00:00:00Z"). */
  readonly base_time?: string;
  /** Events per second of event time: date_time advances 1/event_time_rate s per event (default 10000). */
  readonly event_time_rate?: number;
  /** Bidders and sellers come from this many most recent persons (default 1000). */
  readonly active_people?: number;
  /** Bids go to one of this many most recent auctions (default 100). */
  readonly in_flight_auctions?: number;
  /** 1 in hot_auction_ratio bids goes to a random auction, the rest to the hot one (default 2). */
  readonly hot_auction_ratio?: number;
  /** 1 in hot_sellers_ratio auctions has a random seller (default 4). */
  readonly hot_sellers_ratio?: number;
  /** 1 in hot_bidders_ratio bids has a random bidder (default 4). */
  readonly hot_bidders_ratio?: number;
}

/** Defaults of the connector's own keys (the generator's knobs default in `resolveNexmarkParams`). */
export const NEXMARK_CONNECTOR_DEFAULTS = { rate: 1000, batchSize: 1000 } as const;

const POSITIVE_INT_KEYS = [
  'batch_size',
  'event_time_rate',
  'active_people',
  'in_flight_auctions',
  'hot_auction_ratio',
  'hot_sellers_ratio',
  'hot_bidders_ratio',
] as const;
const KEYS = ['seed', 'rate', 'max_events', 'base_time', ...POSITIVE_INT_KEYS];

/** Every problem in a raw nexmark config; empty when it is a valid {@link NexmarkConfig}. */
export function validateNexmarkConfig(raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (key: string | null, message: string) =>
    issues.push({ path: key === null ? [] : [key], message });
  if (raw === undefined || raw === null) return issues;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    add(null, `expected an object of nexmark options (or nothing), got ${describe(raw)}`);
    return issues;
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KEYS.includes(k)) add(k, `unknown option; expected one of: ${KEYS.join(', ')}`);
  }
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed))
    add('seed', `expected an integer, got ${describe(o.seed)}`);
  if (o.rate !== undefined && !(typeof o.rate === 'number' && Number.isFinite(o.rate) && o.rate >= 0))
    add(
      'rate',
      `expected a non-negative number of events per second (0 = as fast as possible), got ${describe(o.rate)}`,
    );
  if (o.max_events !== undefined && !(Number.isSafeInteger(o.max_events) && (o.max_events as number) >= 0))
    add('max_events', `expected a non-negative integer, got ${describe(o.max_events)}`);
  for (const k of POSITIVE_INT_KEYS) {
    const v = o[k];
    if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) > 0))
      add(k, `expected a positive integer, got ${describe(v)}`);
  }
  if (o.base_time !== undefined) {
    let ok = typeof o.base_time === 'string';
    if (ok) {
      try {
        Timestamp.parse(o.base_time as string);
      } catch {
        ok = false;
      }
    }
    if (!ok)
      add(
        'base_time',
        `expected an RFC 3339 timestamp such as "2024-01-01T00:00:00Z", got ${describe(o.base_time)}`,
      );
  }
  return issues;
}
