import { Decimal, makeSchema, Timestamp } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { InvalidQueryError } from './errors.js';
import { parseFilter, parseQuery } from './query.js';

const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'name', type: 'string', nullable: true },
    { name: 'price', type: 'decimal', nullable: false },
    { name: 'at', type: 'timestamp', nullable: true },
  ],
  ['id'],
);

describe('parseQuery', () => {
  it('reads filters, order, limit and skip with typed values', () => {
    const q = parseQuery(
      {
        $filter: {
          id: '9007199254740993',
          price: { $gt: 1.5, $lte: '20.00' },
          $and: [{ at: { $lt: '2024-01-01T00:00:00Z' } }],
        },
        $order_by: [{ price: 'desc' }, { id: 'asc' }],
        $limit: 10,
        $skip: 5,
      },
      schema,
    );
    expect(q.filter).toEqual({
      kind: 'and',
      filters: [
        { kind: 'compare', field: 'id', op: '$eq', value: 9007199254740993n },
        { kind: 'compare', field: 'price', op: '$gt', value: Decimal.parse('1.5') },
        { kind: 'compare', field: 'price', op: '$lte', value: Decimal.parse('20.00') },
        { kind: 'compare', field: 'at', op: '$lt', value: Timestamp.parse('2024-01-01T00:00:00Z') },
      ],
    });
    expect(q.orderBy).toEqual([
      { field: 'price', direction: 'desc' },
      { field: 'id', direction: 'asc' },
    ]);
    expect(q.limit).toBe(10);
    expect(q.skip).toBe(5);
    expect(parseQuery({ $order_by: { name: 'asc' } }, schema).orderBy).toEqual([
      { field: 'name', direction: 'asc' },
    ]);
    expect(parseQuery(undefined, schema)).toEqual({});
  });

  it('compares with NULL, even in a NOT NULL field', () => {
    expect(parseFilter({ name: null, price: { $gt: null } }, schema)).toEqual({
      kind: 'and',
      filters: [
        { kind: 'compare', field: 'name', op: '$eq', value: null },
        { kind: 'compare', field: 'price', op: '$gt', value: null },
      ],
    });
  });

  it('names the path of every mistake', () => {
    const bad = (json: unknown) => () => parseQuery(json, schema);
    expect(bad({ $filter: { price: { $gt: true } } })).toThrow(
      '$filter.price.$gt: expected a number or a numeric string for decimal field "price", got boolean true',
    );
    expect(bad({ $filter: { pricee: 1 } })).toThrow(
      'unknown field "pricee" in $filter (fields: id, name, price, at)',
    );
    expect(bad({ $filter: { name: { $like: 'a%' } } })).toThrow(
      'unknown operator "$like" at $filter.name (supported: $eq, $lt, $lte, $gt, $gte, $contains, $matches_any, $matches_all)',
    );
    expect(bad({ $limit: 9000 })).toThrow('$limit must be an integer between 0 and 5000, got 9000');
    expect(bad({ $limit: 1.5 })).toThrow('$limit must be an integer between 0 and 5000, got 1.5');
    expect(bad({ $skip: -1 })).toThrow('$skip must be a non-negative integer, got -1');
    expect(bad({ $filter: { $and: [{ id: 'x' }] } })).toThrow(
      /^\$filter\.\$and\[0\]\.id: expected an integer/,
    );
    expect(bad({ $filter: { $and: {} } })).toThrow('$filter.$and must be an array of filters, got object');
    expect(bad({ $filter: { $or: [] } })).toThrow(
      '$filter.$or must be a non-empty array of filters, got an empty array',
    );
    expect(bad({ $filter: { $nor: [] } })).toThrow(
      'unknown operator "$nor" at $filter (supported: $and, $or)',
    );
    expect(bad({ $filter: { price: { $contains: '1' } } })).toThrow(
      '$filter.price.$contains: $contains applies to string and text fields, but "price" is decimal',
    );
    expect(bad({ $filter: { name: { $matches_any: 3 } } })).toThrow(
      '$filter.name.$matches_any: expected a string, got number 3',
    );
    expect(bad({ $after: 5 })).toThrow('$after must be the cursor string of a previous page, got number 5');
    expect(bad({ $order_by: { price: 'up' } })).toThrow(
      '$order_by.price must be "asc" or "desc", got string "up"',
    );
    expect(bad({ $order_by: [{ nope: 'asc' }] })).toThrow('unknown field "nope" in $order_by');
    expect(bad({ $sort: {} })).toThrow(
      'unknown key "$sort" in query (supported: $filter, $order_by, $limit, $skip, $after)',
    );
    expect(bad([1])).toThrow(InvalidQueryError);
    expect(() => parseQuery({ $limit: 11 }, schema, { maxLimit: 10 })).toThrow('between 0 and 10, got 11');
  });
});
