import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSql, SqlError } from '../../src/index.js';
import { CORPUS, type CorpusEntry, PENDING } from './corpus.js';
import { compareOnce } from './harness.js';
import { commandsArb, TABLES, type TableName, toBatches } from './tables.js';

// ORACLE_RUNS=500 ORACLE_SEED=7 explore further than CI does; a failure prints the seed to replay.
const RUNS = Number(process.env.ORACLE_RUNS ?? 50);
const SEED = process.env.ORACLE_SEED === undefined ? 20_241_125 : Number(process.env.ORACLE_SEED);
const MAX_OPS = 40;

const SOURCES = new Map(Object.entries(TABLES));

// How the engine says a construct is missing (rather than wrong): "… is not supported" from the
// planner and binder, "unsupported expression …" for parser nodes the binder has no case for.
const UNSUPPORTED = /not supported|unsupported expression/;

const tablesOf = (sql: string): TableName[] =>
  (Object.keys(TABLES) as TableName[]).filter((t) => new RegExp(`\\b${t}\\b`).test(sql));

/** The DuckDB form of an entry: its own, or the SQL without `INTO out`. */
const duckSqlOf = (e: CorpusEntry): string => e.duck ?? e.sql.replace(/\s+INTO\s+out\s*$/i, '');

function compileError(e: CorpusEntry): unknown {
  try {
    compileSql(e.sql, SOURCES);
    return null;
  } catch (err) {
    return err;
  }
}

describe('the oracle corpus', () => {
  it('covers every construct of the issue with at least 60 queries of distinct names', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CORPUS.map((e) => e.name)).size).toBe(CORPUS.length);
    for (const f of [
      'select',
      'distinct',
      'aggregate',
      'join',
      'union',
      'cte',
      'subquery',
      'order-limit',
      'row-number',
      'window',
      'chain',
    ] as const) {
      expect(CORPUS.filter((e) => e.features.includes(f)).length, f).toBeGreaterThan(0);
    }
    for (const name of PENDING.keys()) expect(CORPUS.map((e) => e.name)).toContain(name);
  });

  it('PENDING lists exactly the queries the engine rejects as not supported yet', () => {
    const verdicts = CORPUS.map((e) => {
      const err = compileError(e);
      const unsupported = err instanceof SqlError && UNSUPPORTED.test(err.message);
      if (err !== null && !unsupported) return `${e.name}: fails to compile: ${(err as Error).message}`;
      if (unsupported && !PENDING.has(e.name))
        return `${e.name}: rejected as not supported, add it to PENDING: ${(err as Error).message}`;
      if (!unsupported && PENDING.has(e.name))
        return `${e.name}: compiles now; move it out of PENDING so that the oracle checks it`;
      return null;
    });
    expect(verdicts.filter((v) => v !== null)).toEqual([]);
  });
});

describe('incremental results equal DuckDB over the final tables', () => {
  let instance: DuckDBInstance;
  let db: DuckDBConnection;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    db = await instance.connect();
    // NULLs sort as in PostgreSQL, as ours do: last ascending, first descending.
    await db.run("SET default_null_order = 'nulls_last_on_asc_first_on_desc'");
  });
  afterAll(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  it('a wrong result shrinks to a minimal stream and prints it', async () => {
    // DuckDB is given a different query on purpose: the harness must catch it and shrink the stream.
    const pipeline = compileSql('SELECT id, a FROM t1 WHERE a > 1 INTO out', SOURCES);
    const check = {
      pipeline,
      output: 'out',
      duckSql: 'SELECT id, a FROM t1 WHERE a >= 1',
      tables: ['t1'] as TableName[],
    };
    const result = await fc.check(
      fc.asyncProperty(commandsArb(['t1'], MAX_OPS), async (commands) => {
        const { batches, final } = toBatches(commands);
        const report = await compareOnce(db, check, batches, final);
        if (report !== null) throw new Error(report);
      }),
      { numRuns: 200, seed: SEED },
    );
    expect(result.failed).toBe(true);
    const [commands] = result.counterexample!;
    // Shrunk to the one insert that shows the difference: a row with a = 1.
    expect(commands.length).toBe(1);
    expect(commands[0]!.values[0]).toBe(1n);
    const message = String((result.errorInstance as Error).message);
    expect(message).toContain('stream:\n-- batch 1: t1\nINSERT INTO t1 VALUES (');
    expect(message).toContain('rows DuckDB has that the incremental result lacks:');
  });

  for (const entry of CORPUS) {
    if (PENDING.has(entry.name)) continue;
    it(`${entry.name}: ${entry.sql}`, async () => {
      const pipeline = compileSql(entry.sql, SOURCES);
      const tables = tablesOf(entry.sql);
      const check = { pipeline, output: 'out', duckSql: duckSqlOf(entry), tables };
      await fc.assert(
        fc.asyncProperty(commandsArb(tables, MAX_OPS), async (commands) => {
          const { batches, final } = toBatches(commands);
          const report = await compareOnce(db, check, batches, final);
          if (report !== null) throw new Error(`${entry.name} differs from DuckDB\n${report}`);
        }),
        { numRuns: RUNS, seed: SEED + entry.name.length, includeErrorInReport: true },
      );
    });
  }
});
