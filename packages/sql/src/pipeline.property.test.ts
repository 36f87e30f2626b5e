import { Decimal, makeSchema, type Operation, type Row } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSql } from './index.js';

const t = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'a', type: 'int', nullable: true },
    { name: 's', type: 'string', nullable: true },
    { name: 'd', type: 'decimal', nullable: true },
  ],
  ['id'],
);

const SQL = `
  SELECT id, a2 FROM o WHERE a2 < 20 INTO o2;
  SELECT id, a * 2 AS a2, upper(s) AS us, d + 1 AS d1 FROM t WHERE a > 3 OR s LIKE 'b%' INTO o`;

/** The same queries written directly in JavaScript: the batch oracle. */
function oracle(table: ReadonlyMap<bigint, Row>): { o: Map<bigint, Row>; o2: Map<bigint, Row> } {
  const o = new Map<bigint, Row>();
  const o2 = new Map<bigint, Row>();
  for (const [id, [, a, s, d]] of table) {
    const pass = (a !== null && (a as bigint) > 3n) || (s !== null && (s as string).startsWith('b'));
    if (!pass) continue;
    const a2 = a === null ? null : (a as bigint) * 2n;
    o.set(id, [
      id,
      a2,
      s === null ? null : (s as string).toUpperCase(),
      d === null ? null : (d as Decimal).add(Decimal.fromBigInt(1n)),
    ]);
    if (a2 !== null && a2 < 20n) o2.set(id, [id, a2]);
  }
  return { o, o2 };
}

/** Applies ops to a materialized table by key, checking that each op agrees with what is there. */
function applyOps(into: Map<bigint, Row>, ops: readonly Operation[]): void {
  for (const op of ops) {
    if (op.kind === 'insert') {
      expect(into.has(op.new[0] as bigint)).toBe(false);
      into.set(op.new[0] as bigint, op.new);
    } else if (op.kind === 'delete') {
      expect(into.get(op.old[0] as bigint)).toEqual(op.old);
      into.delete(op.old[0] as bigint);
    } else {
      expect(into.get(op.old[0] as bigint)).toEqual(op.old);
      into.delete(op.old[0] as bigint);
      into.set(op.new[0] as bigint, op.new);
    }
  }
}

const command = fc.record({
  key: fc.integer({ min: 0, max: 4 }),
  remove: fc.boolean(),
  a: fc.option(fc.integer({ min: -2, max: 12 }), { nil: null }),
  s: fc.option(fc.constantFrom('b', 'bob', 'Bx', 'a', ''), { nil: null }),
  d: fc.option(fc.constantFrom('0', '1.5', '-2.25', '10'), { nil: null }),
});

describe('incremental filter + project', () => {
  it('maintains the same outputs as evaluating the queries over the final input', () => {
    const pipeline = compileSql(SQL, new Map([['t', t]]));
    fc.assert(
      fc.property(
        fc.array(command, { maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1 }),
        (commands, batchSizes) => {
          const executor = pipeline.createExecutor();
          const input = new Map<bigint, Row>();
          const outputs = { o: new Map<bigint, Row>(), o2: new Map<bigint, Row>() };
          // Turn commands into valid ops against the current input table.
          const ops: Operation[] = [];
          for (const c of commands) {
            const id = BigInt(c.key);
            const old = input.get(id);
            const next: Row = [
              id,
              c.a === null ? null : BigInt(c.a),
              c.s,
              c.d === null ? null : Decimal.parse(c.d),
            ];
            if (c.remove) {
              if (old === undefined) continue;
              ops.push({ kind: 'delete', old });
              input.delete(id);
            } else {
              ops.push(
                old === undefined ? { kind: 'insert', new: next } : { kind: 'update', old, new: next },
              );
              input.set(id, next);
            }
          }
          let at = 0;
          for (let b = 0; at < ops.length; b++) {
            const size = batchSizes[b % batchSizes.length]!;
            const result = executor.push('t', ops.slice(at, at + size));
            at += size;
            for (const [name, out] of result) applyOps(outputs[name as 'o' | 'o2'], out);
          }
          const expected = oracle(input);
          expect(outputs.o).toEqual(expected.o);
          expect(outputs.o2).toEqual(expected.o2);
        },
      ),
      { numRuns: 300 },
    );
  });
});
