import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { processAlive } from '@dozer/core';
import { type Database, open, type RootDatabase } from 'lmdb';
import { ConnectorError } from '../errors.js';

/** A row as the text Postgres sent, in field order (`null` = SQL NULL). */
export type RawRow = readonly (string | null)[];

/** Rough heap bytes of a map entry, its array and the key (the values' own bytes are added). */
const ENTRY_BYTES = 96;
/** Rough heap bytes of a string besides its characters, and of an array slot. */
const VALUE_BYTES = 24;
/** Changes a spilled cache keeps in memory before writing them to disk in one transaction. */
const DIRTY_LIMIT = 8192;
/** Keys up to this many UTF-8 bytes are stored as they are; longer ones by their SHA-256. */
const MAX_PLAIN_KEY = 1024;
const DIR_PREFIX = 'dozer-pg-rows-';

/**
 * Where the row caches of one connector live: in memory up to a budget,
 * then in an LMDB environment in a directory of their own (created on the
 * first spill, removed by {@link close}). The caches share the budget;
 * when their estimated heap size passes it, the cache being written moves
 * every row it holds to disk and keeps only its latest changes in memory
 * from then on.
 */
export class RowCacheSpace {
  /** Estimated heap bytes of the rows the caches hold in memory. */
  used = 0;
  private env: RootDatabase | null = null;
  private dir: string | null = null;
  private dbs = 0;

  /**
   * @param limit the bytes the caches may hold in memory (0: every cache is on disk from the start)
   * @param parent the directory under which the spill directory is made
   * @param where the connection, for messages
   */
  constructor(
    readonly limit: number,
    private readonly parent: string,
    private readonly where: string,
  ) {}

  /** The spill directory, once made. */
  get directory(): string | null {
    return this.dir;
  }

  /** A new database in the spill environment (made on first use). */
  openDb(): Database<RawRow | RawRow[], Buffer> {
    if (this.env === null) {
      try {
        removeStaleDirs(this.parent);
        fs.mkdirSync(this.parent, { recursive: true });
        this.dir = fs.mkdtempSync(path.join(this.parent, `${DIR_PREFIX}${process.pid}-`));
        // Nothing here has to survive a crash (the caches are filled again at start): no syncs.
        this.env = open({ path: this.dir, noSync: true, noMetaSync: true, maxDbs: 10_000 });
      } catch (e) {
        throw new ConnectorError(
          `${this.where}: the row caches outgrew row_cache_memory_mb, but no directory for them could be made under ${this.parent} (${(e as Error).message}); set row_cache_dir to a writable directory`,
          { retryable: false, cause: e },
        );
      }
    }
    this.dbs++;
    return this.env.openDB<RawRow | RawRow[], Buffer>({ name: `t${this.dbs}`, keyEncoding: 'binary' });
  }

  /** Closes the spill environment and removes its directory. */
  async close(): Promise<void> {
    const env = this.env;
    const dir = this.dir;
    this.env = null;
    this.dir = null;
    if (env !== null) await env.close();
    if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes spill directories under `parent` whose process is gone (left by a crash). */
function removeStaleDirs(parent: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const pid = Number(name.slice(DIR_PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
}

/** Estimated heap bytes of a cached row. */
function rowBytes(key: string, row: RawRow): number {
  let n = ENTRY_BYTES + key.length;
  for (const v of row) n += v === null ? 8 : VALUE_BYTES + v.length;
  return n;
}

/** A cache key as an LMDB key: `0` + its UTF-8, or `1` + its SHA-256 when long. */
function diskKey(key: string): Buffer {
  const n = Buffer.byteLength(key);
  if (n <= MAX_PLAIN_KEY) {
    const b = Buffer.allocUnsafe(n + 1);
    b[0] = 0;
    b.write(key, 1, 'utf8');
    return b;
  }
  return Buffer.concat([Buffer.of(1), createHash('sha256').update(key).digest()]);
}

/**
 * The last known row of every key of a table, kept as text (decoding it
 * only when needed keeps the heap small), so that updates and deletes
 * can carry the whole old row (pgoutput sends only the key under REPLICA
 * IDENTITY DEFAULT), unchanged TOASTed values can be filled in, and a
 * TRUNCATE can become a delete of every row. Keys are the text forms of
 * the primary key columns; a table without a primary key is keyed by its
 * whole row and may hold duplicates.
 *
 * Rows are held in memory while the {@link RowCacheSpace}'s budget allows,
 * then on disk (see there).
 */
export class RowCache {
  private readonly byKey = new Map<string, RawRow>();
  private readonly multi = new Map<string, RawRow[]>();
  /** Estimated heap bytes of the rows held in memory (counted in the space's `used`). */
  private bytes = 0;
  /** Once spilled: the rows on disk, and the changes not written there yet (`null`: deleted). */
  private db: Database<RawRow | RawRow[], Buffer> | null = null;
  private readonly dirty = new Map<string, RawRow | RawRow[] | null>();

  constructor(
    private readonly keyFields: readonly number[] | null,
    private readonly space: RowCacheSpace,
  ) {
    if (space.limit === 0) this.db = space.openDb();
  }

  /** True once the rows moved to disk. */
  get spilled(): boolean {
    return this.db !== null;
  }

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

  /** The number of rows held (reads every row on disk when spilled). */
  get size(): number {
    if (this.db !== null) {
      this.flush();
      let n = 0;
      for (const { value } of this.db.getRange({}))
        n += this.keyFields === null ? (value as RawRow[]).length : 1;
      return n;
    }
    let n = this.byKey.size;
    for (const rows of this.multi.values()) n += rows.length;
    return n;
  }

  get(key: string): RawRow | undefined {
    if (this.db !== null) {
      const v = this.load(key);
      return v === undefined ? undefined : this.keyFields === null ? (v as RawRow[])[0] : (v as RawRow);
    }
    return this.keyFields === null ? this.multi.get(key)?.[0] : this.byKey.get(key);
  }

  set(key: string, row: RawRow): void {
    if (this.db !== null) {
      if (this.keyFields !== null) this.write(key, row);
      else {
        const rows = this.load(key) as RawRow[] | undefined;
        this.write(key, rows === undefined ? [row] : [...rows, row]);
      }
      return;
    }
    const n = rowBytes(key, row);
    if (this.keyFields !== null) {
      const old = this.byKey.get(key);
      if (old !== undefined) this.count(-rowBytes(key, old));
      this.byKey.set(key, row);
    } else {
      const rows = this.multi.get(key);
      if (rows === undefined) this.multi.set(key, [row]);
      else rows.push(row);
    }
    this.count(n);
    if (this.space.used > this.space.limit) this.spill();
  }

  delete(key: string): void {
    if (this.db !== null) {
      if (this.keyFields !== null) this.write(key, null);
      else {
        const rows = this.load(key) as RawRow[] | undefined;
        if (rows === undefined) return;
        this.write(key, rows.length > 1 ? rows.slice(0, -1) : null);
      }
      return;
    }
    if (this.keyFields !== null) {
      const old = this.byKey.get(key);
      if (old === undefined) return;
      this.byKey.delete(key);
      this.count(-rowBytes(key, old));
    } else {
      const rows = this.multi.get(key);
      if (rows === undefined) return;
      const old = rows.pop()!;
      if (rows.length === 0) this.multi.delete(key);
      this.count(-rowBytes(key, old));
    }
  }

  /**
   * Removes and returns up to `max` rows (more only when one key of a keyless table holds more
   * duplicates), in no particular order; none once the cache is empty. A TRUNCATE takes every
   * row this way, a batch at a time, so that a large table is never read into memory at once.
   */
  take(max: number): RawRow[] {
    const out: RawRow[] = [];
    if (this.db !== null) {
      const db = this.db;
      this.flush();
      const keys: Buffer[] = [];
      for (const { key, value } of db.getRange({ limit: Math.max(1, max) })) {
        keys.push(key);
        if (this.keyFields === null) out.push(...(value as RawRow[]));
        else out.push(value as RawRow);
      }
      if (keys.length > 0)
        db.transactionSync(() => {
          for (const k of keys) db.removeSync(k);
        });
      return out;
    }
    for (const [key, row] of this.byKey) {
      if (out.length >= max) break;
      out.push(row);
      this.byKey.delete(key);
      this.count(-rowBytes(key, row));
    }
    for (const [key, rows] of this.multi) {
      if (out.length >= max) break;
      out.push(...rows);
      this.multi.delete(key);
      for (const row of rows) this.count(-rowBytes(key, row));
    }
    return out;
  }

  private count(n: number): void {
    this.bytes += n;
    this.space.used += n;
  }

  /** Moves every row to disk; from now on only the latest changes stay in memory. */
  private spill(): void {
    const db = this.space.openDb();
    db.transactionSync(() => {
      for (const [key, row] of this.byKey) db.putSync(diskKey(key), row);
      for (const [key, rows] of this.multi) db.putSync(diskKey(key), rows);
    });
    this.byKey.clear();
    this.multi.clear();
    this.count(-this.bytes);
    this.db = db;
  }

  /** A key's entry (a row, or a keyless table's rows), from the unwritten changes or the disk. */
  private load(key: string): RawRow | RawRow[] | undefined {
    const d = this.dirty.get(key);
    if (d !== undefined) return d ?? undefined;
    return this.db!.get(diskKey(key));
  }

  private write(key: string, entry: RawRow | RawRow[] | null): void {
    this.dirty.set(key, entry);
    if (this.dirty.size >= DIRTY_LIMIT) this.flush();
  }

  /** Writes the changes held in memory to disk, in one transaction. */
  private flush(): void {
    if (this.dirty.size === 0) return;
    const db = this.db!;
    db.transactionSync(() => {
      for (const [key, entry] of this.dirty) {
        if (entry === null) db.removeSync(diskKey(key));
        else db.putSync(diskKey(key), entry);
      }
    });
    this.dirty.clear();
  }
}
