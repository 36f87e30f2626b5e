import { describe, expect, it } from 'vitest';
import { formatConfigIssue } from '../connector.js';
import { validateGeneratorConfig } from './config.js';

const messages = (raw: unknown) => validateGeneratorConfig(raw).map(formatConfigIssue);

describe('generator config validation', () => {
  it('accepts the documented forms', () => {
    expect(messages({ tables: [{ name: 'trips' }] })).toEqual([]);
    expect(
      messages({
        seed: -7,
        rate: 0,
        batch_size: 50,
        tables: [
          {
            name: 'rides',
            template: 'trips',
            rows: 0,
            rate: 2.5,
            update_ratio: 0.6,
            delete_ratio: 0.4,
            max_ops: 10,
          },
          {
            name: 'events',
            columns: [
              { name: 'id', type: 'uint', primary_key: true },
              { name: 'kind', type: 'string', generator: { kind: 'one_of', values: ['a', 'b'] } },
              {
                name: 'amount',
                type: 'decimal',
                precision: 9,
                scale: 4,
                generator: { kind: 'range', min: -1, max: 1 },
              },
              { name: 'at', type: 'date', generator: 'clock' },
              { name: 'who', type: 'text', nullable: true, null_ratio: 0, generator: 'email' },
              { name: 'doc', type: 'json', generator: { kind: 'one_of', values: [{ a: 1 }, null, [1]] } },
            ],
          },
        ],
      }),
    ).toEqual([]);
  });

  it('names the exact path of bad numbers', () => {
    expect(
      messages({
        seed: 1.5,
        rate: 'fast',
        batch_size: 0,
        tables: [
          { name: 'trips', rows: -5, max_ops: 2.5, update_ratio: 2, delete_ratio: -0.1, batch_size: 1.5 },
        ],
      }),
    ).toEqual([
      'seed: expected an integer, got 1.5',
      'rate: expected a non-negative number of ops per second (0 = as fast as possible), got "fast"',
      'batch_size: expected a positive integer, got 0',
      'tables[0].rows: expected a non-negative integer, got -5',
      'tables[0].batch_size: expected a positive integer, got 1.5',
      'tables[0].max_ops: expected a non-negative integer, got 2.5',
      'tables[0].update_ratio: expected a number between 0 and 1, got 2',
      'tables[0].delete_ratio: expected a number between 0 and 1, got -0.1',
    ]);
  });

  it('checks the ratios together', () => {
    expect(messages({ tables: [{ name: 'users', update_ratio: 0.7, delete_ratio: 0.5 }] })).toEqual([
      'tables[0].update_ratio: update_ratio + delete_ratio must be at most 1 (the rest are inserts), got 0.7 + 0.5',
    ]);
    expect(messages({ tables: [{ name: 'users', delete_ratio: 0.8 }] })).toEqual([
      'tables[0].delete_ratio: update_ratio + delete_ratio must be at most 1 (the rest are inserts), got 0.3 + 0.8',
    ]);
  });

  it('lists the templates for an unknown one, and asks for a template or columns', () => {
    expect(messages({ tables: [{ name: 'rides', template: 'taxi' }, { name: 'things' }] })).toEqual([
      'tables[0].template: unknown template "taxi"; templates are: trips, users',
      'tables[1]: give a template (one of: trips, users) or a columns list',
    ]);
    expect(messages({ tables: [{ name: 'trips', template: 'trips', columns: [] }] })).toEqual([
      'tables[0].columns: give either template or columns, not both',
    ]);
  });

  it('rejects a missing or malformed root, tables and names', () => {
    expect(messages(null)).toEqual(['(root): expected an object with a "tables" list, got null']);
    expect(messages({})).toEqual(['tables: expected a non-empty list of tables, got nothing']);
    expect(messages({ tables: [] })).toEqual(['tables: expected a non-empty list of tables, got a list']);
    expect(messages({ tables: ['trips'], speed: 3 })).toEqual([
      'speed: unknown option; expected one of: seed, rate, batch_size, tables',
      'tables[0]: expected a table object with a name, got "trips"',
    ]);
    expect(
      messages({
        tables: [{ name: 'my-trips', template: 'trips', row: 5 }, { name: 'users' }, { name: 'users' }],
      }),
    ).toEqual([
      'tables[0].row: unknown option; expected one of: name, template, columns, rows, rate, batch_size, update_ratio, delete_ratio, max_ops',
      'tables[0].name: expected a table name of letters, digits and underscores, not starting with a digit, got "my-trips"',
      'tables[2].name: duplicate table name "users" (also tables[1].name)',
    ]);
  });

  it('checks custom columns: types, keys, decimals, nulls', () => {
    const col = (c: Record<string, unknown>, more: Record<string, unknown>[] = []) =>
      messages({ tables: [{ name: 't', columns: [c, ...more] }] });
    expect(col({ name: 'a', type: 'strin' })).toEqual([
      'tables[0].columns[0].type: unknown type "strin"; types are: int, uint, float, boolean, string, text, binary, decimal, timestamp, date, json, duration, point',
    ]);
    expect(col({ name: 'a', type: 'float', primary_key: true, nullable: true })).toEqual([
      'tables[0].columns[0].primary_key: a primary key column must be one of int, uint, string, text, got float',
      'tables[0].columns[0].nullable: a primary key column cannot be nullable',
    ]);
    expect(
      col({ name: 'a', type: 'int', primary_key: true }, [{ name: 'b', type: 'int', primary_key: true }]),
    ).toEqual([
      'tables[0].columns[1].primary_key: only one primary key column is supported; columns[0] is one already',
    ]);
    expect(
      col({ name: 'a', type: 'int', scale: 2, null_ratio: 0.5 }, [
        { name: 'a', type: 'decimal', precision: 4, scale: 6 },
      ]),
    ).toEqual([
      'tables[0].columns[0].scale: only decimal columns take scale',
      'tables[0].columns[0].null_ratio: only nullable columns take null_ratio; add nullable: true',
      'tables[0].columns[1].scale: scale 6 is larger than precision 4',
      'tables[0].columns[1].name: duplicate column name "a" (also columns[0].name)',
    ]);
    expect(messages({ tables: [{ name: 't', columns: [] }] })).toEqual([
      'tables[0].columns: expected a non-empty list of columns, got a list',
    ]);
  });

  it('checks generator specs against the column type', () => {
    const gen = (type: string, generator: unknown) =>
      messages({ tables: [{ name: 't', columns: [{ name: 'c', type, generator }] }] });
    expect(gen('string', 'lorem')).toEqual([
      'tables[0].columns[0].generator: unknown generator "lorem"; generators are: sequence, range, one_of, name, email, city, words, clock',
    ]);
    expect(gen('string', { kind: 'clock' })).toEqual([
      'tables[0].columns[0].generator.kind: generator "clock" cannot fill a string column; it fills: timestamp, date',
    ]);
    expect(gen('int', 'range')).toEqual([
      'tables[0].columns[0].generator.min: expected a number, got nothing',
      'tables[0].columns[0].generator.max: expected a number, got nothing',
    ]);
    expect(gen('int', { kind: 'range', min: 10, max: 1, step: 2 })).toEqual([
      'tables[0].columns[0].generator.step: unknown option; expected one of: kind, min, max',
      'tables[0].columns[0].generator.max: expected max ≥ min (10), got 1',
    ]);
    expect(gen('int', { kind: 'range', min: 0.2, max: 0.8 })).toEqual([
      'tables[0].columns[0].generator: no integer lies between min 0.2 and max 0.8',
    ]);
    expect(gen('uint', { kind: 'range', min: -1, max: 1 })).toEqual([
      'tables[0].columns[0].generator.min: a uint column cannot hold negative values, got -1',
    ]);
    expect(gen('date', { kind: 'one_of', values: ['2024-01-01', 5, '2024-02-30'] })).toEqual([
      'tables[0].columns[0].generator.values[1]: expected a YYYY-MM-DD string for date field "c", got number 5',
      'tables[0].columns[0].generator.values[2]: not a valid date: "2024-02-30" for date field "c"',
    ]);
    expect(gen('timestamp', { kind: 'clock', start: 'yesterday', step_seconds: 0 })).toEqual([
      'tables[0].columns[0].generator.start: expected an RFC 3339 timestamp such as "2024-01-01T00:00:00Z", got "yesterday"',
      'tables[0].columns[0].generator.step_seconds: expected a positive number of at least 0.000001, got 0',
    ]);
    expect(gen('text', { kind: 'words', min: 3, max: 2 })).toEqual([
      'tables[0].columns[0].generator.max: expected max ≥ min (3), got 2',
    ]);
    expect(gen('int', { kind: 'sequence', prefix: 'x' })).toEqual([
      'tables[0].columns[0].generator.prefix: only string and text sequences take a prefix',
    ]);
  });
});
