import type { Load } from './harness.js';

/** A connection of the load's own to the source database. */
export interface LoadConnection {
  query(sql: string, params?: (string | number)[]): Promise<unknown>;
  close(): Promise<void>;
}

export interface OrdersLoadOptions {
  connect(): Promise<LoadConnection>;
  /** Parameter `i` (from 1) in the database's SQL: `$1` for Postgres, `?` for MySQL. */
  param(i: number): string;
  /** The tables, with ids 1..`count` there before the load. */
  readonly orders: { readonly table: string; readonly count: number };
  readonly customers: { readonly table: string; readonly count: number };
  readonly random: () => number;
}

const REGIONS = ['north', 'south', 'east', 'west', 'centre'];
const STATUSES = ['new', 'paid', 'shipped'];

/**
 * The crash tests' change load on a database's orders and customers (the
 * tables of `crashQueries`): small transactions of inserts, updates
 * (amounts, statuses, customers, regions) and deletes, about 200 changes a
 * second, on a connection of its own, until stopped.
 */
export async function startOrdersLoad(o: OrdersLoadOptions): Promise<Load> {
  const { random, param: p } = o;
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const amount = () => (1 + Math.floor(random() * 49_900) / 100).toFixed(2);
  const orders = o.orders.table;
  const customers = o.customers.table;
  let orderIds = o.orders.count;
  let customerIds = o.customers.count;
  const anOrder = () => 1 + Math.floor(random() * orderIds);
  // A few ids past the last customer: orders whose customer does not exist (yet) drop out of the joins.
  const aCustomer = () => 1 + Math.floor(random() * (customerIds + 5));
  const writer = await o.connect();
  let changes = 0;
  let stopped = false;
  const step = async () => {
    const r = random();
    if (r < 0.35) {
      await writer.query(`INSERT INTO ${orders} VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`, [
        ++orderIds,
        aCustomer(),
        amount(),
        pick(STATUSES),
      ]);
    } else if (r < 0.6) {
      await writer.query(`UPDATE ${orders} SET amount = ${p(1)}, status = ${p(2)} WHERE id = ${p(3)}`, [
        amount(),
        pick(STATUSES),
        anOrder(),
      ]);
    } else if (r < 0.7) {
      await writer.query(`UPDATE ${orders} SET customer_id = ${p(1)} WHERE id = ${p(2)}`, [
        aCustomer(),
        anOrder(),
      ]);
    } else if (r < 0.85) {
      await writer.query(`DELETE FROM ${orders} WHERE id = ${p(1)}`, [anOrder()]);
    } else if (r < 0.93) {
      await writer.query(`UPDATE ${customers} SET region = ${p(1)} WHERE id = ${p(2)}`, [
        pick(REGIONS),
        1 + Math.floor(random() * customerIds),
      ]);
    } else if (r < 0.97) {
      await writer.query(`INSERT INTO ${customers} VALUES (${p(1)}, ${p(2)})`, [
        ++customerIds,
        pick(REGIONS),
      ]);
    } else {
      await writer.query(`DELETE FROM ${customers} WHERE id = ${p(1)}`, [
        1 + Math.floor(random() * customerIds),
      ]);
    }
    changes++;
  };
  const loop = (async () => {
    while (!stopped) {
      await writer.query('BEGIN');
      const n = 1 + Math.floor(random() * 8);
      for (let i = 0; i < n; i++) await step();
      await writer.query('COMMIT');
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await writer.close();
    },
    changes: () => changes,
  };
}
