import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalObjectStore, makeSchema, type Operation, type Row, Timestamp } from '@dozer/core';
import {
  type CheckpointStore,
  createCheckpointStore,
  createKeyedState,
  type KeyedState,
  type StateObjectRef,
} from '@dozer/snapshot';
import { compileSql, type SqlExecutor } from '@dozer/sql';
import { afterAll, describe, expect, it } from 'vitest';

// @dozer/sql's operator state in @dozer/snapshot's KeyedState (the two packages meet only here, in
// the CLI's layer): checkpoints are deltas of the keys each batch changed, written to an object store
// with a manifest; restoring any checkpoint into a recompiled pipeline and replaying the input from
// the position the manifest recorded gives exactly what the pipeline that never stopped gave.

const orders = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'customer', type: 'int', nullable: false },
    { name: 'amount', type: 'int', nullable: true },
    { name: 'status', type: 'string', nullable: true },
    { name: 'placed', type: 'timestamp', nullable: true },
  ],
  ['id'],
);
const customers = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'region', type: 'string', nullable: false },
  ],
  ['id'],
);
const SOURCES = new Map([
  ['orders', orders],
  ['customers', customers],
]);
const SQL = `
  SELECT c.region, o.customer, SUM(o.amount) AS total, COUNT(*) AS n, MIN(o.amount) AS lo, MAX(o.amount) AS hi,
         AVG(o.amount) AS av, COUNT(DISTINCT o.status) AS statuses
    FROM orders o LEFT JOIN customers c ON o.customer = c.id GROUP BY c.region, o.customer INTO per_customer;
  SELECT region, COUNT(*) AS customers, SUM(total) AS total FROM per_customer GROUP BY region INTO per_region;
  SELECT id, amount FROM orders WHERE amount IS NOT NULL ORDER BY amount DESC, id LIMIT 5 INTO biggest;
  SELECT customer, id, rn FROM (SELECT customer, id, ROW_NUMBER() OVER (PARTITION BY customer ORDER BY amount, id) AS rn FROM orders) r WHERE rn <= 2 INTO first_two;
  SELECT window_start, COUNT(*) AS n, SUM(amount) AS total FROM TUMBLE(orders, placed, '1 MINUTE') GROUP BY window_start INTO per_minute;
  SELECT customer, COUNT(*) AS n FROM TTL(orders, placed, '3 MINUTES') GROUP BY customer INTO recent`;

const BASE = Timestamp.parse('2024-01-01T00:00:00Z').micros;

/** A seeded stream: customers first, then orders inserted, updated and deleted, in batches of one table. */
function stream(seed: number, batches: number): [string, Operation[]][] {
  let s = seed >>> 0;
  const rand = (n: number) => {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    return (s >>> 8) % n;
  };
  const live = new Map<bigint, Row>();
  const custs = new Map<bigint, Row>();
  const out: [string, Operation[]][] = [];
  let nextId = 0n;
  let clock = 0n;
  for (let b = 0; b < batches; b++) {
    if (b % 7 === 0) {
      const ops: Operation[] = [];
      for (let i = 0; i < 3; i++) {
        const id = BigInt(rand(40));
        const row: Row = [id, ['north', 'south', 'east'][rand(3)]!];
        const old = custs.get(id);
        ops.push(old === undefined ? { kind: 'insert', new: row } : { kind: 'update', old, new: row });
        custs.set(id, row);
      }
      out.push(['customers', ops]);
      continue;
    }
    const ops: Operation[] = [];
    for (let i = 0; i < 20; i++) {
      clock += BigInt(rand(4)) * 5_000_000n;
      const r = rand(10);
      const ids = [...live.keys()];
      if (r < 6 || ids.length === 0) {
        const id = nextId++;
        const row: Row = [
          id,
          BigInt(rand(60)),
          rand(10) === 0 ? null : BigInt(rand(100)),
          ['new', 'paid', 'shipped', null][rand(4)] ?? null,
          new Timestamp(BASE + clock),
        ];
        live.set(id, row);
        ops.push({ kind: 'insert', new: row });
      } else {
        const id = ids[rand(ids.length)]!;
        const old = live.get(id)!;
        if (r < 8) {
          const row: Row = [id, old[1]!, BigInt(rand(100)), 'paid', old[4]!];
          live.set(id, row);
          ops.push({ kind: 'update', old, new: row });
        } else {
          live.delete(id);
          ops.push({ kind: 'delete', old });
        }
      }
    }
    out.push(['orders', ops]);
  }
  return out;
}

/** A pipeline whose operator state lives in KeyedStates, kept by id. */
function keyedExecutor(): { ex: SqlExecutor; states: Map<string, KeyedState<unknown>> } {
  const states = new Map<string, KeyedState<unknown>>();
  const ex = compileSql(SQL, SOURCES).createExecutor({
    stateFactory: {
      create: (id, codec) => {
        // Small chains, so that compaction into a new base happens during the test too.
        const state = createKeyedState({ codec, maxDeltas: 3 });
        states.set(id, state as KeyedState<unknown>);
        return state;
      },
    },
  });
  return { ex, states };
}

/** Snapshots every state at `epoch`, writes the objects, then the manifest with the input position. */
async function checkpoint(
  store: CheckpointStore,
  states: Map<string, KeyedState<unknown>>,
  epoch: bigint,
  position: number,
): Promise<{ kinds: Map<string, string>; bytes: number }> {
  const kinds = new Map<string, string>();
  let bytes = 0;
  const pending = [...states].map(([id, state]) => {
    const p = state.snapshot(epoch);
    kinds.set(id, p.kind);
    bytes += p.bytes;
    return p.write(store, id).then((chain): [string, readonly StateObjectRef[]] => [id, chain]);
  });
  const operators = new Map(await Promise.all(pending));
  await store.commit({
    epoch,
    createdAt: new Date(),
    storeEpoch: null,
    sources: new Map([['input', String(position)]]),
    operators,
  });
  return { kinds, bytes };
}

async function restoreAt(store: CheckpointStore, epoch: bigint) {
  const loaded = await store.load(epoch);
  const restored = keyedExecutor();
  for (const [id, state] of restored.states) state.restore(loaded.state(id));
  restored.ex.stateRestored();
  return { ...restored, position: Number(loaded.manifest.sources.get('input')) };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('SQL operator state in KeyedState, checkpointed to an object store', () => {
  it('restores any checkpoint (base + deltas, compacted chains) and continues exactly like the pipeline that never stopped', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-sql-keyed-'));
    dirs.push(dir);
    const store = createCheckpointStore({ store: createLocalObjectStore(dir), prefix: 'checkpoints' });
    const batches = stream(7, 120);

    const plain = compileSql(SQL, SOURCES).createExecutor();
    const { ex, states } = keyedExecutor();
    const outputs: Map<string, Operation[]>[] = [];
    const sizes: { kinds: Map<string, string>; bytes: number }[] = [];
    let epoch = 0n;
    for (let i = 0; i < batches.length; i++) {
      if (i % 10 === 5) sizes.push(await checkpoint(store, states, ++epoch, i));
      const [table, ops] = batches[i]!;
      const out = ex.push(table, ops);
      expect(out).toEqual(plain.push(table, ops));
      outputs.push(out);
    }
    expect(epoch).toBe(12n);
    // After the first (a base of everything), checkpoints ship deltas, and stores nothing touched ship nothing.
    expect([...sizes[0]!.kinds.values()].every((k) => k === 'base')).toBe(true);
    const later = sizes.slice(1).flatMap((s) => [...s.kinds.values()]);
    expect(later).toContain('delta');
    expect(later).toContain('none');
    expect(later).toContain('base'); // compaction: maxDeltas 3

    for (let e = 1n; e <= epoch; e++) {
      const restored = await restoreAt(store, e);
      for (let i = restored.position; i < batches.length; i++) {
        const [table, ops] = batches[i]!;
        expect(restored.ex.push(table, ops)).toEqual(outputs[i]);
      }
    }

    // A second restart: restore checkpoint 6, continue with checkpoints of its own (chained onto the
    // restored objects), then restore the last of those and finish the stream.
    const first = await restoreAt(store, 6n);
    let next = 100n;
    let lastPosition = first.position;
    for (let i = first.position; i < 100; i++) {
      if (i % 10 === 7) {
        await checkpoint(store, first.states, ++next, i);
        lastPosition = i;
      }
      const [table, ops] = batches[i]!;
      expect(first.ex.push(table, ops)).toEqual(outputs[i]);
    }
    const second = await restoreAt(store, next);
    expect(second.position).toBe(lastPosition);
    for (let i = second.position; i < batches.length; i++) {
      const [table, ops] = batches[i]!;
      expect(second.ex.push(table, ops)).toEqual(outputs[i]);
    }
  });
});
