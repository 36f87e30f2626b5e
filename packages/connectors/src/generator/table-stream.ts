import type { Operation, Row, Value } from '@dozer/core';
import type { GenContext } from './columns.js';
import type { ResolvedTable } from './config.js';
import { deriveSeed, Random } from './random.js';

/**
 * The deterministic op sequence of one generated table. Op n (1-based) is a
 * function of the seed, the table's config and nothing else: the first
 * `rows` ops are the snapshot's inserts, later ones are inserts, updates
 * and deletes in the configured ratios, updates and deletes picking a row
 * that is live at that point. `position` is the number of ops produced.
 */
export class TableStream {
  private readonly rng: Random;
  private nextId = 1n;
  /** Live rows by id; `liveIds` holds the same ids in an order that only depends on the op history. */
  private readonly live = new Map<bigint, Row>();
  private readonly liveIds: bigint[] = [];
  private pos = 0;

  constructor(
    readonly table: ResolvedTable,
    seed: number,
  ) {
    this.rng = new Random(deriveSeed(seed, table.name));
  }

  /** Ops produced so far. */
  get position(): number {
    return this.pos;
  }

  /** The position after the last op, or null when the table never ends. */
  get end(): number | null {
    return this.table.maxOps === null ? null : this.table.rows + this.table.maxOps;
  }

  /** Rows live after the ops produced so far. */
  get liveCount(): number {
    return this.liveIds.length;
  }

  /** True when `end` is reached. */
  get done(): boolean {
    const end = this.end;
    return end !== null && this.pos >= end;
  }

  /** The next op. Callers check `done` first. */
  next(): Operation {
    this.pos += 1;
    const t = this.table;
    if (this.pos > t.rows && this.liveIds.length > 0) {
      const r = this.rng.float();
      if (r < t.deleteRatio) return this.delete();
      if (r < t.deleteRatio + t.updateRatio) return this.update();
    }
    return this.insert();
  }

  private ctx(id: bigint): GenContext {
    return { rng: this.rng, id, op: this.pos };
  }

  private insert(): Operation {
    const id = this.nextId++;
    const ctx = this.ctx(id);
    const row: Value[] = [];
    for (const c of this.table.columns) row.push(c.gen(ctx, row));
    this.liveIds.push(id);
    this.live.set(id, row);
    return { kind: 'insert', new: row };
  }

  private update(): Operation {
    const id = this.liveIds[this.rng.below(this.liveIds.length)]!;
    const old = this.live.get(id)!;
    const ctx = this.ctx(id);
    const cols = this.table.columns;
    const mutable = cols.flatMap((c, i) => (c.mutable ? [i] : []));
    // One mutable column always changes, the others each with even odds, so updates vary in width.
    const forced = mutable.length > 0 ? mutable[this.rng.below(mutable.length)]! : -1;
    const row: Value[] = [];
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i]!;
      const regen = c.derived || i === forced || (c.mutable && this.rng.chance(0.5));
      row.push(regen ? c.gen(ctx, row) : old[i]!);
    }
    this.live.set(id, row);
    return { kind: 'update', old, new: row };
  }

  private delete(): Operation {
    const at = this.rng.below(this.liveIds.length);
    const id = this.liveIds[at]!;
    const old = this.live.get(id)!;
    // Swap-remove keeps picking O(1) and stays deterministic.
    const last = this.liveIds.pop()!;
    if (last !== id) this.liveIds[at] = last;
    this.live.delete(id);
    return { kind: 'delete', old };
  }

  /** Produces and drops ops up to `position`, to resume without emitting them again. */
  skipTo(position: number): void {
    while (this.pos < position) this.next();
  }

  /**
   * {@link skipTo} in slices of `slice` ops with a turn of the event loop
   * between them: replaying a million rows takes seconds, and the process
   * (an API serving its restored store) must answer meanwhile. Stops early
   * when `signal` aborts.
   */
  async skipToYielding(position: number, signal: AbortSignal, slice = 20_000): Promise<void> {
    while (this.pos < position && !signal.aborted) {
      this.skipTo(Math.min(position, this.pos + slice));
      if (this.pos < position) await new Promise<void>((r) => setImmediate(r));
    }
  }
}
