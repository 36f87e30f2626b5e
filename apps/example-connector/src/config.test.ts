import { formatConfigIssue } from '@dozer/connectors';
import { describe, expect, it } from 'vitest';
import { tablesOf, validateChangelogConfig } from './config.js';

const messages = (raw: unknown) => validateChangelogConfig(raw).map(formatConfigIssue);
const users = { name: 'users', columns: [{ name: 'id', type: 'int' }], primary_key: ['id'] };

describe('changelog config', () => {
  it('accepts a full config and gives its tables Dozer schemas', () => {
    const config = {
      path: 'changes.ndjson',
      poll_interval_ms: 100,
      batch_size: 10,
      tables: [
        {
          name: 'orders',
          columns: [
            { name: 'region', type: 'string' },
            { name: 'number', type: 'uint' },
            { name: 'total', type: 'decimal', precision: 10, scale: 2, nullable: true },
          ],
          primary_key: ['number', 'region'],
        },
      ],
    } as const;
    expect(messages(config)).toEqual([]);
    expect(tablesOf(config)).toEqual([
      {
        name: 'orders',
        schema: {
          fields: [
            { name: 'region', type: 'string', nullable: false },
            { name: 'number', type: 'uint', nullable: false },
            { name: 'total', type: 'decimal', nullable: true, precision: 10, scale: 2 },
          ],
          primaryKey: [1, 0],
        },
      },
    ]);
  });

  it('says what is wrong, where, and what was expected', () => {
    expect(messages(null)).toEqual(['(root): expected an object with "path" and "tables", got null']);
    expect(
      messages({ path: 7, tables: [users], poll_interval_ms: 'abc', batch_size: 0, watch: true }),
    ).toEqual([
      'watch: unknown key; expected one of: path, tables, poll_interval_ms, batch_size',
      'path: expected the path of the changelog file, got 7',
      'poll_interval_ms: expected an integer 10..60000, got "abc"',
      'batch_size: expected an integer 1..100000, got 0',
    ]);
    expect(messages({ path: 'x', tables: {} })).toEqual([
      'tables: expected a non-empty list of tables, got an object',
    ]);
    expect(
      messages({
        path: 'x',
        tables: [
          users,
          {
            name: 'users',
            columns: [
              { name: 'id', type: 'varchar' },
              { name: 'id', type: 'int', nullable: 'yes' },
              { name: 'n', type: 'int', scale: 2 },
              { name: 'd', type: 'decimal', precision: 4, scale: 6 },
              'total',
            ],
            primary_key: ['id', 'id', 'total'],
          },
          { name: 't', columns: [{ name: 'a', type: 'int' }] },
        ],
      }),
    ).toEqual([
      'tables[1].name: table "users" is listed twice',
      'tables[1].columns[0].type: expected one of int, uint, float, boolean, string, text, binary, decimal, timestamp, date, json, duration, point, got "varchar"',
      'tables[1].columns[1].name: column "id" is listed twice',
      'tables[1].columns[1].nullable: expected true or false, got "yes"',
      'tables[1].columns[2].scale: only decimal columns have a scale',
      'tables[1].columns[3].scale: expected at most the precision (4), got 6',
      'tables[1].columns[4]: expected a column object with name and type, got "total"',
      'tables[1].primary_key[1]: column "id" is listed twice',
      'tables[1].primary_key[2]: expected one of the table\'s columns (id, n, d), got "total"',
      'tables[2].primary_key: expected a non-empty list of column names (updates and deletes find rows by them), got nothing',
    ]);
  });
});
