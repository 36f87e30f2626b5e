/** A row as the text Postgres sent, in field order (`null` = SQL NULL). */
export type RawRow = readonly (string | null)[];

/**
 * The last known row of every key of a table, kept as text (decoding it
 * only when needed keeps the heap small), so that updates and deletes
 * can carry the whole old row (pgoutput sends only the key under REPLICA
 * IDENTITY DEFAULT), unchanged TOASTed values can be filled in, and a
 * TRUNCATE can become a delete of every row. Keys are the text forms of
 * the primary key columns; a table without a primary key is keyed by its
 * whole row and may hold duplicates.
 */
export class RowCache {
  private readonly byKey = new Map<string, RawRow>();
  private readonly multi = new Map<string, RawRow[]>();

  constructor(private readonly keyFields: readonly number[] | null) {}

  /** The key of a row given as text in field order. */
  keyOf(raw: readonly (string | null | undefined)[]): string {
    const fields = this.keyFields;
    if (fields !== null && fields.length === 1) {
      // A single key column is never NULL: its text is the key.
      return raw[fields[0]!] ?? '\u0000\u0002';
    }
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

  get(key: string): RawRow | undefined {
    return this.keyFields === null ? this.multi.get(key)?.[0] : this.byKey.get(key);
  }

  set(key: string, row: RawRow): void {
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
  drain(): RawRow[] {
    const out = [...this.byKey.values()];
    for (const rows of this.multi.values()) out.push(...rows);
    this.byKey.clear();
    this.multi.clear();
    return out;
  }
}
