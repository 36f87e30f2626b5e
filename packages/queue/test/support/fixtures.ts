import { insertOp, makeSchema, type OpBatch } from '@dozer/core';
import type { LogEntry } from '../../src/index.js';

export const orders = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'customer', type: 'string', nullable: false },
    { name: 'amount', type: 'float', nullable: true },
  ],
  ['id'],
);

/** Batch number `i`: `rows` inserts whose ids say which batch they came from. */
export function batch(i: number, rows = 10): OpBatch {
  const ops = [];
  for (let r = 0; r < rows; r++) {
    ops.push(
      insertOp([
        BigInt(i * 1000 + r),
        `customer ${i}-${r} ${'x'.repeat(20)}`,
        r % 3 === 0 ? null : i + r / 10,
      ]),
    );
  }
  return { table: 'orders', ops, position: `pos-${i}` };
}

/** The batch number an entry holds (from its source position), or -1 for a barrier. */
export function batchNo(e: LogEntry): number {
  const b = e.batch;
  return b === null ? -1 : Number(b.position!.slice(4));
}

/** Takes `n` entries from an iterator, then stops it. */
export async function take(it: AsyncGenerator<LogEntry>, n: number): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  if (n === 0) return out;
  for await (const e of it) {
    out.push(e);
    if (out.length >= n) break;
  }
  return out;
}
