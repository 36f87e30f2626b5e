import { describe, expect, it } from 'vitest';
import { formatConfigIssue } from '../connector.js';
import { defaultServerId, validateMysqlConfig } from './config.js';
import { mysqlConnector } from './mysql-connector.js';

const ok = { host: 'db', user: 'dozer', password: 'pw', database: 'shop' };
const messages = (raw: unknown) => validateMysqlConfig(raw).map(formatConfigIssue);

describe('mysql config validation', () => {
  it('accepts a minimal and a full config', () => {
    expect(messages(ok)).toEqual([]);
    expect(
      messages({ ...ok, port: 3307, server_id: 4294967295, tables: ['orders', 'users'], batch_size: 500 }),
    ).toEqual([]);
  });

  it('names every problem with its path and what was expected', () => {
    expect(
      messages({
        host: '',
        port: 'abc',
        database: 5,
        server_id: 0,
        tables: ['a', '', 'a', 3],
        batch_size: 0,
        pasword: 'x',
      }),
    ).toEqual([
      'pasword: unknown option; expected one of: host, port, user, password, database, server_id, tables, batch_size',
      'host: expected a non-empty string, got ""',
      'user: required; expected a non-empty string',
      'database: expected a non-empty string, got 5',
      'port: expected an integer 1..65535, got "abc"',
      'server_id: expected an integer 1..4294967295 that no other replica of the server uses, got 0',
      'batch_size: expected an integer 1..1000000, got 0',
      'tables[1]: expected a table name, got ""',
      'tables[2]: table "a" is listed twice',
      'tables[3]: expected a table name, got 3',
    ]);
    expect(messages({ ...ok, port: 70000, password: 1, tables: 'orders' })).toEqual([
      'password: expected a string, got 1',
      'port: expected an integer 1..65535, got 70000',
      'tables: expected a list of table names, got "orders"',
    ]);
  });

  it('rejects a config that is not an object', () => {
    expect(messages('mysql://x')).toEqual([
      '(root): expected an object with host, user, database (and port, password, server_id, tables), got "mysql://x"',
    ]);
  });

  it('create refuses an invalid config with every issue listed', () => {
    expect(() =>
      mysqlConnector.create({ ...ok, port: 0 } as never, { name: 'shop', logger: console as never }),
    ).toThrow(
      /connection "shop" \(mysql\): invalid config:\n {2}port: expected an integer 1\.\.65535, got 0/,
    );
  });

  it('derives a stable default server_id per connection, away from small ids', () => {
    expect(defaultServerId('shop')).toBe(defaultServerId('shop'));
    expect(defaultServerId('shop')).not.toBe(defaultServerId('shop2'));
    for (const n of ['a', 'shop', 'x'.repeat(100)]) {
      expect(defaultServerId(n)).toBeGreaterThanOrEqual(1_000_000_000);
      expect(defaultServerId(n)).toBeLessThanOrEqual(4294967295);
    }
  });
});
