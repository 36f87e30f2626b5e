import type { Row } from '@dozer/core';

/**
 * The last known row of every key of a table, so that updates and deletes
 * can carry the whole old row (pgoutput sends only the key under REPLICA
 * IDENTITY DEFAULT), unchanged TOASTed values can be filled in, and a
 * TRUNCATE can become a delete of every row. Keys are the text forms of
 * the primary key columns; a table without a primary key is keyed by its
 * whole row and may hold duplicates.
 */
export class RowCache {
  private readonly byKey = new Map<string, Row>();
  private readonly multi = new Map<string, Row[]>();

  constructor(private readonly keyFields: readonly number[] | null) {}

  /** The key of a row given as text in field order. */
  keyOf(raw: readonly (string | null | undefined)[]): string {
    const fields = this.keyFields;
    let key = '';
    if (fields === null) {
      for (const v of raw) key += v === null || v === undefined ? '\u0000\u0002' : `${v}\u0000\u0001`;
    } else {
      for (const i of fields) {
        const v = raw[i];
        key += v === null || v === undefined ? '\u0000\u0002' : `${v}\u0000\u0001`;
      }
    }
    return key;
  }

  get size(): number {
    let n = this.byKey.size;
    for (const rows of this.multi.values()) n += rows.length;
    return n;
  }

  get(key: string): Row | undefined {
    return this.keyFields === null ? this.multi.get(key)?.[0] : this.byKey.get(key);
  }

  set(key: string, row: Row): void {
    if (this.keyFields !== null) this.byKey.set(key, row);
    else {
      const rows = this.multi.get(key);
      if (rows === undefined) this.multi.set(key, [row]);
      else rows.push(row);
    }
  }

  delete(key: string): void {
    if (this.keyFields !== null) this.byKey.delete(key);
    else {
      const rows = this.multi.get(key);
      if (rows === undefined) return;
      rows.pop();
      if (rows.length === 0) this.multi.delete(key);
    }
  }

  /** Every row, then empties the cache. */
  drain(): Row[] {
    const out = [...this.byKey.values()];
    for (const rows of this.multi.values()) out.push(...rows);
    this.byKey.clear();
    this.multi.clear();
    return out;
  }
}
