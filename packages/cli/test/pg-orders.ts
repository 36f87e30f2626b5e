import { createRequire } from 'node:module';
import type pg from 'pg';
import { dropReplicationSlot, PG, pgConnectionYaml } from '../../../test/support/services.js';

const Client = createRequire(import.meta.url)('pg/lib/client.js') as typeof pg.Client;

/**
 * A Postgres table of orders (`id bigint PRIMARY KEY, customer text NOT
 * NULL`) holding (1, 'ada') and (2, 'bob'), read by dozer through its own
 * slot and publication: each test file names its own, so that files running
 * at once do not share a slot.
 */
export interface PgOrders {
  readonly client: pg.Client;
  /** dozer.yaml's `connections:` and `sources:` sections: the table as source `orders` of connection `shop`. */
  readonly yaml: string;
  /** Inserts an order and returns the server's WAL position after it. */
  insert(id: number, customer: string): Promise<string>;
  /** Whether dozer has confirmed the slot up to `lsn`. */
  confirmedPast(lsn: string): Promise<boolean>;
  /** Drops the slot, the publication and the table, and closes the client. */
  drop(): Promise<void>;
}

export async function createPgOrders(names: {
  slot: string;
  publication: string;
  table: string;
}): Promise<PgOrders> {
  const { slot, publication, table } = names;
  const client = new Client(PG);
  await client.connect();
  const dropAll = async () => {
    await dropReplicationSlot((q, p) => client.query(q, p), slot);
    await client.query(`DROP PUBLICATION IF EXISTS ${publication}`);
    await client.query(`DROP TABLE IF EXISTS ${table}`);
  };
  await dropAll();
  await client.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, customer text NOT NULL)`);
  await client.query(`INSERT INTO ${table} VALUES (1, 'ada'), (2, 'bob')`);
  return {
    client,
    yaml: `connections:
${pgConnectionYaml({ slot, publication, tables: [table] })}sources:
  - name: orders
    connection: shop
    table_name: ${table}
`,
    insert: async (id, customer) => {
      await client.query(`INSERT INTO ${table} VALUES ($1, $2)`, [id, customer]);
      const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      return rows[0]!.lsn;
    },
    confirmedPast: async (lsn) => {
      const r = await client.query<{ ok: boolean }>(
        'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1',
        [slot, lsn],
      );
      return r.rows[0]?.ok === true;
    },
    drop: async () => {
      await dropAll();
      await client.end();
    },
  };
}
