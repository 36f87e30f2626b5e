// The deterministic operation stream of the epoch crash test, shared by the writer (a child
// process killed with SIGKILL) and the test's reference store.
import { Decimal, deleteOp, insertOp, makeSchema, type Operation, type Row, updateOp } from '@dozer/core';
import type { EndpointDefinition } from '../../src/index.js';

export const keyedDef: EndpointDefinition = {
  name: 'keyed',
  schema: makeSchema(
    [
      { name: 'id', type: 'int', nullable: false },
      { name: 'grp', type: 'int', nullable: true },
      { name: 'name', type: 'string', nullable: true },
      { name: 'price', type: 'decimal', nullable: true },
    ],
    ['id'],
  ),
  secondaryIndexes: [['grp'], ['price'], ['grp', 'price'], { kind: 'full_text', field: 'name' }],
};

export const bagDef: EndpointDefinition = {
  name: 'bag',
  schema: makeSchema([
    { name: 'x', type: 'int', nullable: false },
    { name: 's', type: 'string', nullable: true },
  ]),
};

/** Epoch e is marked after batch e * BATCHES_PER_EPOCH - 1. */
export const BATCHES_PER_EPOCH = 4;

/**
 * How many applies the writer keeps in flight after issuing batch i: 0 (each awaited) in two of
 * three epochs, so that commits without a mark happen between marks, else 4.
 */
export function depthAt(i: number): number {
  return Math.floor(i / BATCHES_PER_EPOCH) % 3 === 2 ? 4 : 0;
}

/** Batch i: 50 operations on one of the two endpoints, the same on every call. */
export function batch(i: number): { endpoint: 'keyed' | 'bag'; ops: Operation[] } {
  let seed = (i + 1) * 0x9e3779b9;
  const rand = (n: number) => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) as number;
  };
  const names = ['ann', 'bob', 'ann bob', 'Zoë', null];
  const prices = ['0', '1.5', '1.50', '-2', '10', null];
  const endpoint = i % 3 === 2 ? 'bag' : 'keyed';
  const row = (): Row =>
    endpoint === 'keyed'
      ? [
          BigInt(rand(200)),
          rand(5) === 0 ? null : BigInt(rand(5)),
          names[rand(names.length)]!,
          ((p) => (p === null ? null : Decimal.parse(p)))(prices[rand(prices.length)]!),
        ]
      : [BigInt(rand(6)), rand(3) === 0 ? null : 'p'];
  const ops: Operation[] = [];
  for (let k = 0; k < 50; k++) {
    const r = rand(10);
    if (r < 5) ops.push(insertOp(row()));
    else if (r < 7) ops.push(deleteOp(row()));
    else ops.push(updateOp(row(), row()));
  }
  return { endpoint, ops };
}
