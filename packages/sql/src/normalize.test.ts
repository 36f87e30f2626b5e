import { makeSchema, type Operation, type Row } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileSql,
  createSourceNormalizer,
  MemoryStateStore,
  type StateFactory,
  type StateValueCodec,
} from './index.js';

const accounts = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'owner', type: 'string', nullable: true },
    { name: 'balance', type: 'int', nullable: true },
  ],
  ['id'],
);
const keyOnly = (row: Row): Row => [row[0]!, null, null];

describe('createSourceNormalizer', () => {
  it('takes old rows from what it holds, whatever the source sent', () => {
    const n = createSourceNormalizer('accounts', accounts)!;
    expect(n.stateId).toBe('source/accounts');
    expect(n.normalize([{ kind: 'insert', new: [1n, 'ada', 10n] }])).toEqual([
      { kind: 'insert', new: [1n, 'ada', 10n] },
    ]);
    // A key-only old row (Postgres, REPLICA IDENTITY DEFAULT, after a resume).
    expect(n.normalize([{ kind: 'update', old: [1n, null, null], new: [1n, 'ada', 25n] }])).toEqual([
      { kind: 'update', old: [1n, 'ada', 10n], new: [1n, 'ada', 25n] },
    ]);
    // An insert repeated (a source read again) replaces what it holds.
    expect(n.normalize([{ kind: 'insert', new: [1n, 'ada', 30n] }])).toEqual([
      { kind: 'update', old: [1n, 'ada', 25n], new: [1n, 'ada', 30n] },
    ]);
    expect(n.normalize([{ kind: 'delete', old: [1n, null, null] }])).toEqual([
      { kind: 'delete', old: [1n, 'ada', 30n] },
    ]);
  });

  it('drops deletes of unknown keys, inserts updates of them, and handles a changed key', () => {
    const n = createSourceNormalizer('accounts', accounts)!;
    expect(n.normalize([{ kind: 'delete', old: [7n, 'x', 1n] }])).toEqual([]);
    expect(n.normalize([{ kind: 'update', old: [7n, 'x', 1n], new: [7n, 'x', 2n] }])).toEqual([
      { kind: 'insert', new: [7n, 'x', 2n] },
    ]);
    n.normalize([{ kind: 'insert', new: [8n, 'y', 5n] }]);
    // 7 becomes 8: the row held at 8 is replaced, the one at 7 retracted.
    expect(n.normalize([{ kind: 'update', old: [7n, null, null], new: [8n, 'x', 3n] }])).toEqual([
      { kind: 'delete', old: [7n, 'x', 2n] },
      { kind: 'update', old: [8n, 'y', 5n], new: [8n, 'x', 3n] },
    ]);
    // 8 becomes 9 (free): an update.
    expect(n.normalize([{ kind: 'update', old: [8n, null, null], new: [9n, 'x', 3n] }])).toEqual([
      { kind: 'update', old: [8n, 'x', 3n], new: [9n, 'x', 3n] },
    ]);
    expect(createSourceNormalizer('t', makeSchema(accounts.fields, []))).toBeUndefined();
  });

  it('gives its state store a codec that writes rows and reads them back exactly', () => {
    let codec: StateValueCodec<unknown> | undefined;
    const factory: StateFactory = {
      create: (id, c) => {
        expect(id).toBe('source/accounts');
        codec = c as StateValueCodec<unknown>;
        return new MemoryStateStore();
      },
    };
    createSourceNormalizer('accounts', accounts, factory);
    for (const row of [
      [1n, 'ada', 10n],
      [2n, null, null],
      [-(2n ** 63n), '', 2n ** 63n - 1n],
    ] as Row[]) {
      const bytes = codec!.encode(row);
      expect(bytes[0]).toBe(1);
      expect(codec!.decode(bytes)).toEqual(row);
    }
    expect(() => codec!.decode(new Uint8Array([9, 0]))).toThrow('format version 9');
  });

  it('behind it, an aggregate fed key-only old rows and repeated inserts equals one fed the exact changes', () => {
    const sql =
      'SELECT owner, COUNT(*) AS n, SUM(balance) AS total, MAX(balance) AS hi FROM accounts GROUP BY owner INTO per_owner';
    const sources = new Map([['accounts', accounts]]);
    const step = fc.record({
      id: fc.integer({ min: 1, max: 12 }),
      owner: fc.constantFrom('a', 'b', 'c'),
      balance: fc.integer({ min: 0, max: 99 }),
      del: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 80 }),
        fc.array(fc.integer({ min: 0, max: 79 }), { maxLength: 10 }),
        (steps, repeats) => {
          // Exact changes of a table, as a source with full old rows would send them.
          const table = new Map<bigint, Row>();
          const exact: Operation[] = [];
          for (const s of steps) {
            const id = BigInt(s.id);
            const old = table.get(id);
            if (s.del) {
              if (old) {
                table.delete(id);
                exact.push({ kind: 'delete', old });
              }
              continue;
            }
            const row: Row = [id, s.owner, BigInt(s.balance)];
            table.set(id, row);
            exact.push(old ? { kind: 'update', old, new: row } : { kind: 'insert', new: row });
          }
          // The same changes degraded: old rows key-only, and some inserts delivered twice.
          const degraded: Operation[] = [];
          exact.forEach((op, i) => {
            if (op.kind === 'insert') {
              degraded.push(op);
              if (repeats.includes(i)) degraded.push(op);
            } else if (op.kind === 'update')
              degraded.push({ kind: 'update', old: keyOnly(op.old), new: op.new });
            else degraded.push({ kind: 'delete', old: keyOnly(op.old) });
          });
          const want = compileSql(sql, sources).createExecutor();
          const got = compileSql(sql, sources).createExecutor();
          const n = createSourceNormalizer('accounts', accounts)!;
          want.push('accounts', exact);
          got.push('accounts', n.normalize(degraded));
          // Same contents: compare by the state's snapshots of the aggregate.
          expect(new TextDecoder().decode(got.snapshot())).toEqual(new TextDecoder().decode(want.snapshot()));
        },
      ),
      { numRuns: 200 },
    );
  });
});
