import { makeSchema } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { ConnectorError } from './errors.js';
import { projectTable } from './projection.js';

const table = {
  name: 'users',
  schema: makeSchema(
    [
      { name: 'id', type: 'int', nullable: false },
      { name: 'name', type: 'string', nullable: false },
      { name: 'age', type: 'int', nullable: true },
    ],
    ['id'],
  ),
};

describe('projectTable', () => {
  it('passes rows through without columns', () => {
    const p = projectTable(table);
    expect(p.schema).toBe(table.schema);
    expect(p.project([1n, 'a', null])).toEqual([1n, 'a', null]);
  });

  it('reorders fields and keeps the key at its new place', () => {
    const p = projectTable(table, ['age', 'id']);
    expect(p.schema.fields.map((f) => f.name)).toEqual(['age', 'id']);
    expect(p.schema.primaryKey).toEqual([1]);
    expect(p.project([1n, 'a', 30n])).toEqual([30n, 1n]);
  });

  it('drops the key when a key field is left out', () => {
    expect(projectTable(table, ['name']).schema.primaryKey).toEqual([]);
  });

  it('names the columns there are for an unknown one, and refuses duplicates', () => {
    expect(() => projectTable(table, ['id', 'email'])).toThrow(
      new ConnectorError('table "users" has no column "email"; its columns are: id, name, age'),
    );
    expect(() => projectTable(table, ['id', 'id'])).toThrow(
      'column "id" of table "users" is requested twice',
    );
  });
});
