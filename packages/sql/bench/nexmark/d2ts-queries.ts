import {
  D2,
  filter,
  groupBy,
  groupByOperators,
  type IStreamBuilder,
  join,
  MessageType,
  MultiSet,
  map,
  output,
  topK,
} from '@electric-sql/d2ts';

const { avg, count, max, min, sum } = groupByOperators;

import { type OpBatch, type Row, Timestamp } from '@dozer/core';

/** A Nexmark query written with d2ts operators, fed the same rows as the SQL engine. */
export interface D2tsQuery {
  /** Builds the dataflow; `sink` receives the size of every output change. */
  build(inputs: Record<'person' | 'auction' | 'bid', IStreamBuilder<Row>>, sink: (n: number) => void): void;
}

// d2ts serializes values with JSON.stringify (no bigint), so it is fed rows in its natural form:
// integers and timestamps (microseconds) as numbers, converted before the clock starts.
const n = (v: unknown): number => v as number;
const micros = (v: unknown): number => v as number;

/** The batches with bigints and timestamps as numbers, the form d2ts can hash and serialize. */
export function toD2tsBatches(batches: readonly OpBatch[]): OpBatch[] {
  const conv = (row: Row): Row =>
    row.map((v) =>
      typeof v === 'bigint' ? Number(v) : v instanceof Timestamp ? Number(v.micros) : v,
    ) as unknown as Row;
  return batches.map((b) => ({
    ...b,
    ops: b.ops.map((op) => (op.kind === 'insert' ? { kind: 'insert', new: conv(op.new) } : op)),
  }));
}

const out = (sink: (n: number) => void) =>
  output<unknown>((msg) => {
    if (msg.type === MessageType.DATA) sink(msg.data.collection.getInner().length);
  });

// Bid columns: auction 0, bidder 1, price 2, channel 3, url 4, date_time 5, extra 6.
// Auction columns: id 0, item_name 1, description 2, initial_bid 3, reserve 4, date_time 5, expires 6,
// seller 7, category 8, extra 9. Person columns: id 0, name 1, email 2, card 3, city 4, state 5, date_time 6.

/** The queries d2ts can express (no windows, no text functions it lacks), by query name. */
export const D2TS_QUERIES: Readonly<Record<string, D2tsQuery>> = {
  q0: {
    build: ({ bid }, sink) => {
      bid.pipe(
        map((b: Row) => [b[0], b[1], b[2], b[5], b[6]]),
        out(sink),
      );
    },
  },
  q1: {
    build: ({ bid }, sink) => {
      bid.pipe(
        map((b: Row) => [b[0], b[1], n(b[2]) * 0.908, b[5], b[6]]),
        out(sink),
      );
    },
  },
  q2: {
    build: ({ bid }, sink) => {
      bid.pipe(
        filter((b: Row) => n(b[0]) % 123 === 0),
        map((b: Row) => [b[0], b[2]]),
        out(sink),
      );
    },
  },
  q3: {
    build: ({ person, auction }, sink) => {
      const persons = person.pipe(
        filter((p: Row) => p[5] === 'OR' || p[5] === 'ID' || p[5] === 'CA'),
        map((p: Row) => [n(p[0]), [p[1], p[4], p[5]]] as [number, unknown[]]),
      );
      auction.pipe(
        filter((a: Row) => n(a[8]) === 10),
        map((a: Row) => [n(a[7]), n(a[0])] as [number, number]),
        join(persons),
        map(([, [id, p]]) => [...(p as unknown[]), id]),
        out(sink),
      );
    },
  },
  q4: {
    build: ({ auction, bid }, sink) => {
      const bids = bid.pipe(map((b: Row) => [n(b[0]), b] as [number, Row]));
      auction.pipe(
        map((a: Row) => [n(a[0]), a] as [number, Row]),
        join(bids),
        map(([id, [a, b]]) => [id, [a!, b!]] as [number, [Row, Row]]),
        filter(([, [a, b]]) => micros(b[5]) >= micros(a[5]) && micros(b[5]) <= micros(a[6])),
        map(([id, [a, b]]) => ({ id, category: n(a[8]), price: n(b[2]) })),
        groupBy((r) => ({ id: r.id, category: r.category }), { final: max((r) => r.price) }),
        map(([, g]) => g),
        groupBy((g) => ({ category: g.category }), { avg: avg((g) => g.final) }),
        out(sink),
      );
    },
  },
  q9: {
    build: ({ auction, bid }, sink) => {
      const bids = bid.pipe(map((b: Row) => [n(b[0]), b] as [number, Row]));
      auction.pipe(
        map((a: Row) => [n(a[0]), a] as [number, Row]),
        join(bids),
        map(([id, [a, b]]) => [id, [a!, b!]] as [number, [Row, Row]]),
        filter(([, [a, b]]) => micros(b[5]) >= micros(a[5]) && micros(b[5]) <= micros(a[6])),
        topK<number, [Row, Row], [number, [Row, Row]]>(
          ([, ba], [, bb]) => n(bb[2]) - n(ba[2]) || micros(ba[5]) - micros(bb[5]),
          { limit: 1 },
        ),
        out(sink),
      );
    },
  },
  q17: {
    build: ({ bid }, sink) => {
      bid.pipe(
        map((b: Row) => ({
          auction: n(b[0]),
          day: Math.floor(micros(b[5]) / 86_400_000_000),
          price: n(b[2]),
        })),
        groupBy((r) => ({ auction: r.auction, day: r.day }), {
          total_bids: count(),
          rank1_bids: sum((r) => (r.price < 10000 ? 1 : 0)),
          rank2_bids: sum((r) => (r.price >= 10000 && r.price < 1000000 ? 1 : 0)),
          rank3_bids: sum((r) => (r.price >= 1000000 ? 1 : 0)),
          min_price: min((r) => r.price),
          max_price: max((r) => r.price),
          avg_price: avg((r) => r.price),
          sum_price: sum((r) => r.price),
        }),
        out(sink),
      );
    },
  },
  q18: {
    build: ({ bid }, sink) => {
      bid.pipe(
        map((b: Row) => [`${b[1]}/${b[0]}`, b] as [string, Row]),
        topK((a, b) => micros(b[5]) - micros(a[5]), { limit: 1 }),
        out(sink),
      );
    },
  },
  q19: {
    build: ({ bid }, sink) => {
      bid.pipe(
        map((b: Row) => [n(b[0]), b] as [number, Row]),
        topK((a, b) => n(b[2]) - n(a[2]), { limit: 10 }),
        out(sink),
      );
    },
  },
  q20: {
    build: ({ auction, bid }, sink) => {
      const auctions = auction.pipe(
        filter((a: Row) => n(a[8]) === 10),
        map((a: Row) => [n(a[0]), a] as [number, Row]),
      );
      bid.pipe(
        map((b: Row) => [n(b[0]), b] as [number, Row]),
        join(auctions),
        map(([, [b, a]]) => [...b!, a![1], a![2], a![3], a![4], a![5], a![6], a![7], a![8], a![9]]),
        out(sink),
      );
    },
  },
};

/**
 * Runs a d2ts query over the batches, one version per chunk of events (the
 * batches sharing a position), and returns how many output changes it made.
 */
export function runD2ts(query: D2tsQuery, batches: readonly OpBatch[]): number {
  const graph = new D2({ initialFrontier: 0 });
  const inputs = {
    person: graph.newInput<Row>(),
    auction: graph.newInput<Row>(),
    bid: graph.newInput<Row>(),
  };
  let outputs = 0;
  query.build(inputs, (k) => {
    outputs += k;
  });
  graph.finalize();
  let version = 0;
  let i = 0;
  while (i < batches.length) {
    const position = batches[i]!.position;
    for (; i < batches.length && batches[i]!.position === position; i++) {
      const b = batches[i]!;
      const input = inputs[b.table as keyof typeof inputs];
      input.sendData(
        version,
        new MultiSet(b.ops.map((op) => [op.kind === 'delete' ? op.old : (op as { new: Row }).new, 1])),
      );
    }
    version++;
    for (const input of Object.values(inputs)) input.sendFrontier(version);
    graph.run();
  }
  return outputs;
}
