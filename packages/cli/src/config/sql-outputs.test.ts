import { describe, expect, it } from 'vitest';
import { scanSqlOutputs } from './sql-outputs.js';

describe('scanSqlOutputs', () => {
  it('finds each INTO target once, in order, skipping comments and strings', () => {
    const sql = `
      -- SELECT * FROM t INTO not_this;
      /* INTO nor_this */
      SELECT a FROM t WHERE note <> 'put INTO x' INTO first_out;
      select count(*) from t into "Quoted ""Name""";
      SELECT a FROM first_out INTO First_Out;
      SELECT b FROM t INTO second_out`;
    expect(scanSqlOutputs(sql)).toEqual(['first_out', 'Quoted "Name"', 'First_Out', 'second_out']);
  });

  it('finds nothing in SQL without INTO', () => {
    expect(scanSqlOutputs('SELECT * FROM trips')).toEqual([]);
  });
});
