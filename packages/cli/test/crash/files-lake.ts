import { dropFile, lakeYaml } from '../helpers.js';

/**
 * The files workload of the crash tests: CSV files of customers and orders
 * dropped into a local directory (each file complete when it appears), the
 * YAML that reads them, and the DuckDB statements that load the same files
 * for the oracle.
 */
export interface FilesLake {
  /** Drops a file of `n` new customers, each in one of five regions. */
  addCustomers(n: number): void;
  /** Drops a file of `n` new orders; a few name customers that do not exist (yet). */
  addOrders(n: number): void;
  /** Rows written so far, customers and orders. */
  rows(): number;
  /** dozer.yaml's `connections:` and `sources:` sections over the directory. */
  yaml: string;
  /** The statements that create `customers` and `orders` in DuckDB from the files written. */
  oracleSetup: string[];
}

export function makeFilesLake(data: string, random: () => number): FilesLake {
  const regions = ['north', 'south', 'east', 'west', 'centre'];
  let customers = 0;
  let orders = 0;
  let files = 0;
  const poll = { poll_interval_ms: 100 };
  return {
    addCustomers: (n) => {
      const lines = ['id,region'];
      for (let i = 0; i < n; i++)
        lines.push(`${++customers},${regions[Math.floor(random() * regions.length)]}`);
      dropFile(data, `customers/c-${String(++files).padStart(6, '0')}.csv`, `${lines.join('\n')}\n`);
    },
    addOrders: (n) => {
      const lines = ['id,customer_id,amount,status'];
      for (let i = 0; i < n; i++) {
        const amount = (1 + Math.floor(random() * 49_900) / 100).toFixed(2);
        const status = ['new', 'paid', 'shipped'][Math.floor(random() * 3)];
        lines.push(`${++orders},${1 + Math.floor(random() * (customers + 5))},${amount},${status}`);
      }
      dropFile(data, `orders/o-${String(++files).padStart(6, '0')}.csv`, `${lines.join('\n')}\n`);
    },
    rows: () => orders + customers,
    yaml: lakeYaml(data, [
      {
        name: 'customers',
        pattern: '*.csv',
        options: poll,
        columns: { id: 'int!', region: 'string!' },
        primaryKey: ['id'],
      },
      {
        name: 'orders',
        pattern: '*.csv',
        options: poll,
        columns: { id: 'int!', customer_id: 'int!', amount: 'decimal(12,2)!', status: 'string!' },
        primaryKey: ['id'],
      },
    ]),
    oracleSetup: [
      `CREATE TABLE customers AS SELECT * FROM read_csv('${data}/customers/*.csv', header = true, columns = {'id': 'BIGINT', 'region': 'VARCHAR'})`,
      `CREATE TABLE orders AS SELECT * FROM read_csv('${data}/orders/*.csv', header = true, columns = {'id': 'BIGINT', 'customer_id': 'BIGINT', 'amount': 'DECIMAL(12, 2)', 'status': 'VARCHAR'})`,
    ],
  };
}
