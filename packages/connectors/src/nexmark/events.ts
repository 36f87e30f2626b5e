import { type Row, Timestamp } from '@dozer/core';
import { Random } from '../generator/random.js';
import type { NexmarkParams, NexmarkTable } from './model.js';

// Proportions and id bases of the reference generator (Beam's GeneratorConfig / Flink Nexmark).
const PERSON_PROPORTION = 1;
const AUCTION_PROPORTION = 3;
const TOTAL_PROPORTION = 50;
const FIRST_PERSON_ID = 1000;
const FIRST_AUCTION_ID = 1000;
const FIRST_CATEGORY_ID = 10;
const NUM_CATEGORIES = 5;
const PERSON_ID_LEAD = 10;
const AUCTION_ID_LEAD = 10;
const HOT_AUCTION_RATIO = 100;
const HOT_SELLER_RATIO = 100;
const HOT_BIDDER_RATIO = 100;
const HOT_CHANNELS_RATIO = 2;
const CHANNELS_NUMBER = 10_000;
const AVG_PERSON_BYTES = 200;
const AVG_AUCTION_BYTES = 500;
const AVG_BID_BYTES = 100;

const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
const US_CITIES = [
  'Phoenix',
  'Los Angeles',
  'San Francisco',
  'Boise',
  'Portland',
  'Bend',
  'Redmond',
  'Seattle',
  'Kent',
  'Cheyenne',
];
const FIRST_NAMES = [
  'Peter',
  'Paul',
  'Luke',
  'John',
  'Saul',
  'Vicky',
  'Kate',
  'Julie',
  'Sarah',
  'Deiter',
  'Walter',
];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'];

/** Which table event number `n` belongs to: 1 person, 3 auctions, 46 bids in every block of 50. */
export function tableOfEvent(n: number): NexmarkTable {
  const offset = n % TOTAL_PROPORTION;
  return offset < PERSON_PROPORTION
    ? 'person'
    : offset < PERSON_PROPORTION + AUCTION_PROPORTION
      ? 'auction'
      : 'bid';
}

/** The number of events of `table` among events 0 .. n-1. */
export function countBefore(table: NexmarkTable, n: number): number {
  const blocks = Math.floor(n / TOTAL_PROPORTION);
  const rest = n % TOTAL_PROPORTION;
  const [start, size] =
    table === 'person'
      ? [0, PERSON_PROPORTION]
      : table === 'auction'
        ? [PERSON_PROPORTION, AUCTION_PROPORTION]
        : [PERSON_PROPORTION + AUCTION_PROPORTION, TOTAL_PROPORTION - PERSON_PROPORTION - AUCTION_PROPORTION];
  return blocks * size + Math.min(Math.max(rest - start, 0), size);
}

/** Base-0 id of the last person created at or before event `n`. */
function lastBase0PersonId(n: number): number {
  const epoch = Math.floor(n / TOTAL_PROPORTION);
  let offset = n % TOTAL_PROPORTION;
  if (offset >= PERSON_PROPORTION) offset = PERSON_PROPORTION - 1;
  return epoch * PERSON_PROPORTION + offset;
}

/** Base-0 id of the last auction created at or before event `n` (-1 before the first). */
function lastBase0AuctionId(n: number): number {
  let epoch = Math.floor(n / TOTAL_PROPORTION);
  let offset = n % TOTAL_PROPORTION;
  if (offset < PERSON_PROPORTION) {
    epoch--;
    offset = AUCTION_PROPORTION - 1;
  } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) offset = AUCTION_PROPORTION - 1;
  else offset -= PERSON_PROPORTION;
  return epoch * AUCTION_PROPORTION + offset;
}

/** A recent person (or one just about to be created: the reference's "lead"). */
function nextBase0PersonId(n: number, r: Random, p: NexmarkParams): number {
  const numPeople = lastBase0PersonId(n) + 1;
  const active = Math.min(numPeople, p.activePeople);
  return numPeople - active + r.below(active + PERSON_ID_LEAD);
}

/** A recent auction (or one just about to be created). */
function nextBase0AuctionId(n: number, r: Random, p: NexmarkParams): number {
  const max = Math.max(lastBase0AuctionId(n), 0);
  const min = Math.max(max - p.inFlightAuctions, 0);
  return min + r.below(max - min + 1 + AUCTION_ID_LEAD);
}

/** Prices spread over 6 orders of magnitude, in cents, as the reference. */
function nextPrice(r: Random): number {
  return Math.round(10 ** (r.float() * 6) * 100);
}

/** 3 .. maxLength-1 letters with an occasional `special`, trimmed (reference `nextString`). */
function nextString(r: Random, maxLength: number, special = ' '): string {
  let len = 3 + r.below(maxLength - 3);
  let s = '';
  while (len-- > 0) s += r.below(13) === 0 ? special : String.fromCharCode(97 + r.below(26));
  return s.trim();
}

function nextExactString(r: Random, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(97 + r.below(26));
  return s;
}

/** Padding that brings the event to about `average` bytes, ±20%. */
function nextExtra(r: Random, currentSize: number, average: number): string {
  if (currentSize > average) return '';
  const want = average - currentSize;
  const delta = Math.round(want * 0.2);
  return nextExactString(r, want - delta + (delta === 0 ? 0 : r.below(2 * delta)));
}

function baseUrl(r: Random): string {
  return `https://www.nexmark.com/${nextString(r, 5, '_')}/${nextString(r, 5, '_')}/${nextString(r, 5, '_')}/item.htm?query=1`;
}

/** Event time of event `n`, in microseconds. */
export function eventTimeMicros(n: number, p: NexmarkParams): bigint {
  return p.baseTimeMicros + (BigInt(n) * 1_000_000n) / BigInt(p.eventTimeRate);
}

/**
 * Each event has its own random stream, seeded by its number (as the
 * reference seeds `new Random(eventId)`), so any event can be produced
 * without producing the ones before it: resuming and skipping are O(1).
 */
function randomFor(n: number, p: NexmarkParams): Random {
  return new Random((Math.imul(p.seed, 0x9e3779b1) ^ n ^ Math.floor(n / 4294967296)) >>> 0);
}

/** The row of event `n`, for the table {@link tableOfEvent} gives. */
export function nexmarkEvent(n: number, p: NexmarkParams): Row {
  const r = randomFor(n, p);
  const micros = eventTimeMicros(n, p);
  const time = new Timestamp(micros);
  const table = tableOfEvent(n);
  if (table === 'person') {
    const id = lastBase0PersonId(n) + FIRST_PERSON_ID;
    const name = `${r.pick(FIRST_NAMES)} ${r.pick(LAST_NAMES)}`;
    const email = `${nextString(r, 7)}@${nextString(r, 5)}.com`;
    const card = [0, 1, 2, 3].map(() => String(r.below(10000)).padStart(4, '0')).join(' ');
    const city = r.pick(US_CITIES);
    const state = r.pick(US_STATES);
    const size = 8 + name.length + email.length + card.length + city.length + state.length;
    return [BigInt(id), name, email, card, city, state, time, nextExtra(r, size, AVG_PERSON_BYTES)];
  }
  if (table === 'auction') {
    const id = lastBase0AuctionId(n) + FIRST_AUCTION_ID;
    const seller =
      (r.below(p.hotSellersRatio) > 0
        ? Math.floor(lastBase0PersonId(n) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
        : nextBase0PersonId(n, r, p)) + FIRST_PERSON_ID;
    const category = FIRST_CATEGORY_ID + r.below(NUM_CATEGORIES);
    const initialBid = nextPrice(r);
    // Auctions last up to twice the event time it takes to open inFlightAuctions new ones.
    const eventsForAuctions = Math.floor((p.inFlightAuctions * TOTAL_PROPORTION) / AUCTION_PROPORTION);
    const horizonMs = Number((eventTimeMicros(n + eventsForAuctions, p) - micros) / 1000n);
    const lengthMs = 1 + r.below(Math.max(horizonMs * 2, 1));
    const name = nextString(r, 20);
    const description = nextString(r, 100);
    const reserve = initialBid + nextPrice(r);
    const size = 8 + name.length + description.length + 40;
    return [
      BigInt(id),
      name,
      description,
      BigInt(initialBid),
      BigInt(reserve),
      time,
      new Timestamp(micros + BigInt(lengthMs) * 1000n),
      BigInt(seller),
      BigInt(category),
      nextExtra(r, size, AVG_AUCTION_BYTES),
    ];
  }
  const auction =
    (r.below(p.hotAuctionRatio) > 0
      ? Math.floor(Math.max(lastBase0AuctionId(n), 0) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
      : nextBase0AuctionId(n, r, p)) + FIRST_AUCTION_ID;
  const bidder =
    (r.below(p.hotBiddersRatio) > 0
      ? Math.floor(lastBase0PersonId(n) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
      : nextBase0PersonId(n, r, p)) + FIRST_PERSON_ID;
  const price = nextPrice(r);
  let channel: string;
  let url: string;
  if (r.below(HOT_CHANNELS_RATIO) > 0) {
    const i = r.below(HOT_CHANNELS.length);
    channel = HOT_CHANNELS[i]!;
    url = `https://www.nexmark.com/${channel.toLowerCase()}/item.htm?query=1`;
  } else {
    const c = r.below(CHANNELS_NUMBER);
    channel = `channel-${c}`;
    url = `${baseUrl(r)}&channel_id=${c}`;
  }
  const size = 32 + channel.length + url.length;
  return [
    BigInt(auction),
    BigInt(bidder),
    BigInt(price),
    channel,
    url,
    time,
    nextExtra(r, size, AVG_BID_BYTES),
  ];
}
