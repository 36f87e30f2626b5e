import { createHash } from 'node:crypto';
import {
  compareValues,
  type FieldDefinition,
  type FieldType,
  type Operation,
  type Row,
  type Schema,
  type Value,
} from '@dozer/core';
import { type Database, type Key, open, type RootDatabase, type Transaction } from 'lmdb';
import { InvalidQueryError, StoreError } from './errors.js';
import { compareKeys, KEY_FORMAT_VERSION, type TupleWriter, tupleWriter } from './internal/key-codec.js';
import {
  type Condition,
  type IndexInfo,
  matches,
  type Plan,
  plan,
  resolveFilter,
  resolveOrder,
  type SortTerm,
} from './internal/planner.js';
import { ROW_FORMAT_VERSION, RowDecoder, RowEncoder } from './internal/row-codec.js';
import { DEFAULT_QUERY_LIMITS, type Filter, parseQuery, type Query } from './query.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Directory of the LMDB environment (created if missing). */
  readonly path: string;
  /** Initial map size in bytes; the map grows by itself when full. */
  readonly mapSize?: number;
  /** Most LMDB databases the environment can hold; each endpoint uses two. Default 1000. */
  readonly maxDbs?: number;
  /** `$limit` of queries that give none. Default 50. */
  readonly defaultLimit?: number;
  /** Largest `$limit` accepted. Default 5000. */
  readonly maxLimit?: number;
}

/** What an endpoint stores: its name, schema and indexes. */
export interface EndpointDefinition {
  /** Endpoint (table) name. */
  readonly name: string;
  /** The schema; `schema.primaryKey` may be empty. */
  readonly schema: Schema;
  /** Overrides `schema.primaryKey` when given (config `index.primary_key`). */
  readonly primaryKey?: readonly string[];
  /**
   * Sorted secondary indexes, each on one or more fields. Default `'all'`:
   * one index per field, except `text`, `binary` and `json` fields and the
   * first primary key field (the primary index already orders it).
   */
  readonly secondaryIndexes?: readonly (readonly string[])[] | 'all';
}

/** An LMDB environment holding endpoints. */
export interface Store {
  /**
   * Creates or opens an endpoint. `reset` drops its existing data. Opening
   * with a schema or primary key other than the stored one throws a
   * StoreError; a changed index list rebuilds the indexes.
   */
  openEndpoint(def: EndpointDefinition, options?: { reset?: boolean }): EndpointStore;
  /** An endpoint opened through this store, by name. */
  endpoint(name: string): EndpointStore | undefined;
  /** The endpoints opened through this store. */
  endpoints(): EndpointStore[];
  /** Resolves when every write committed so far is flushed to disk (commits return before the flush). */
  flushed(): Promise<void>;
  /** Waits for pending writes and closes the environment. */
  close(): Promise<void>;
}

/** One endpoint's rows, with a primary index and secondary indexes kept consistent on every write. */
export interface EndpointStore {
  readonly name: string;
  /** The schema, with the effective primary key. */
  readonly schema: Schema;
  /**
   * Applies the operations in order, in one write transaction, keeping every
   * index consistent. An insert of an existing key replaces the row, a
   * delete of a missing key does nothing, an update moves the row from the
   * old key to the new one. Bad rows are rejected before anything is written.
   */
  apply(ops: readonly Operation[]): Promise<void>;
  /**
   * The row with these primary key values (in primary key order), or
   * undefined. For an endpoint without a primary key, the values of all fields.
   */
  get(key: readonly Value[]): Row | undefined;
  /** Rows matching the query: ordered, ties by primary key, then `skip` and `limit` applied. */
  query(q: Query): Row[];
  /** Number of rows matching the filter (all rows without one). */
  count(filter?: Filter): number;
  /** Which index the planner chose for the query, and why. */
  explain(q: Query): string;
  /** {@link parseQuery} with this store's limits. */
  parseQuery(json: unknown): Query;
}

/** LMDB's largest key with the default 4 KiB page. */
const MAX_KEY_SIZE = 1978;
// Rows of endpoints without a primary key are keyed by all their fields;
// past this size the key is a prefix plus a hash, so that index keys
// (field value + row key) still fit.
const ROW_KEY_HASH_THRESHOLD = 480;
const ROW_KEY_PREFIX = ROW_KEY_HASH_THRESHOLD - 32;
const EMPTY = new Uint8Array(0);
const META_VERSION = 1;
/** Types left out of the default `'all'` indexes: long or unordered values (full-text indexes come later). */
const UNINDEXED_BY_DEFAULT: readonly FieldType[] = ['text', 'binary', 'json'];

const scratch = new Uint8Array(1 << 16);

interface StoredMeta {
  readonly version: number;
  readonly keyFormat: number;
  readonly rowFormat: number;
  readonly fields: readonly FieldDefinition[];
  readonly primaryKey: readonly string[];
  readonly indexes: readonly (readonly string[])[];
}

/** Holds the key writer used by `get`, swapped when an endpoint is re-opened. */
interface KeyHolder {
  lookup: TupleWriter;
}

interface Dbs {
  readonly rows: Database<Buffer, Key>;
  readonly index: Database<Buffer, Key>;
  readonly holder: KeyHolder;
}

type FastGet = (key: Key, options?: { transaction?: Transaction }) => Buffer | undefined;

/** Opens (creating if needed) a store in the directory `options.path`. */
export function openStore(options: OpenStoreOptions): Store {
  return new LmdbStore(options);
}

class LmdbStore implements Store {
  private readonly root: RootDatabase;
  private readonly meta: Database<StoredMeta, string>;
  private readonly dbs = new Map<string, Dbs>();
  private readonly open = new Map<string, LmdbEndpoint>();
  readonly defaultLimit: number;
  readonly maxLimit: number;

  constructor(options: OpenStoreOptions) {
    this.defaultLimit = options.defaultLimit ?? DEFAULT_QUERY_LIMITS.defaultLimit;
    this.maxLimit = options.maxLimit ?? DEFAULT_QUERY_LIMITS.maxLimit;
    if (this.defaultLimit > this.maxLimit) {
      throw new StoreError(`defaultLimit ${this.defaultLimit} is larger than maxLimit ${this.maxLimit}`);
    }
    try {
      this.root = open({
        path: options.path,
        maxDbs: options.maxDbs ?? 1000,
        ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }),
      });
    } catch (e) {
      throw new StoreError(`cannot open the store at ${options.path}: ${(e as Error).message}`, { cause: e });
    }
    this.meta = this.root.openDB<StoredMeta, string>({ name: 'dozer/meta', encoding: 'json' });
  }

  openEndpoint(def: EndpointDefinition, options: { reset?: boolean } = {}): EndpointStore {
    const layout = makeLayout(def);
    const dbs = this.dbsOf(def.name);
    dbs.holder.lookup = layout.lookupWriter;
    const expected: StoredMeta = {
      version: META_VERSION,
      keyFormat: KEY_FORMAT_VERSION,
      rowFormat: ROW_FORMAT_VERSION,
      fields: layout.schema.fields.map(normalizeField),
      primaryKey: layout.schema.primaryKey.map((i) => layout.schema.fields[i]!.name),
      indexes: layout.indexes.map((ix) => ix.positions.map((i) => layout.schema.fields[i]!.name)),
    };
    const endpoint = new LmdbEndpoint(this, this.root, dbs, layout);
    const stored = this.meta.get(def.name);
    if (options.reset || stored === undefined) {
      this.root.transactionSync(() => {
        dbs.rows.clearSync();
        dbs.index.clearSync();
        this.meta.putSync(def.name, expected);
      });
    } else {
      const diff = describeSchemaChange(stored, expected);
      if (diff) {
        throw new StoreError(
          `endpoint "${def.name}" is stored with another schema (${diff}); ` +
            'drop its data with `dozer clean` (or open it with reset) and let it be rebuilt',
        );
      }
      if (JSON.stringify(stored.indexes) !== JSON.stringify(expected.indexes)) {
        this.root.transactionSync(() => {
          endpoint.rebuildIndexes();
          this.meta.putSync(def.name, expected);
        });
      }
    }
    this.open.set(def.name, endpoint);
    return endpoint;
  }

  endpoint(name: string): EndpointStore | undefined {
    return this.open.get(name);
  }

  endpoints(): EndpointStore[] {
    return [...this.open.values()];
  }

  async flushed(): Promise<void> {
    await this.root.flushed;
  }

  async close(): Promise<void> {
    this.open.clear();
    await this.root.close();
  }

  private dbsOf(name: string): Dbs {
    let dbs = this.dbs.get(name);
    if (!dbs) {
      const holder: KeyHolder = { lookup: () => 0 };
      // keyEncoder is an option of every database, though lmdb-js types it on the root only.
      const options = (suffix: string) => ({
        name: `endpoint/${name}${suffix}`,
        encoding: 'binary' as const,
        keyEncoder: keyEncoder(holder),
      });
      dbs = {
        rows: this.root.openDB<Buffer, Key>(options('')),
        index: this.root.openDB<Buffer, Key>(options('/indexes')),
        holder,
      };
      this.dbs.set(name, dbs);
    }
    return dbs;
  }
}

/**
 * Keys are our own bytes; lmdb-js copies them into its key buffer. A key
 * given as an array of values (from `get`) is encoded straight into that
 * buffer, which saves an allocation per lookup.
 */
function keyEncoder(holder: KeyHolder) {
  return {
    writeKey(key: Uint8Array | readonly Value[], target: Uint8Array, start: number): number {
      if (key instanceof Uint8Array) {
        if (start + key.length > target.length) throw new RangeError('key buffer too small');
        target.set(key, start);
        return start + key.length;
      }
      return holder.lookup(key, target, start);
    },
    readKey(buf: Uint8Array, start: number, end: number): Uint8Array {
      // A copy: lmdb-js reuses `buf`, and Buffer#slice would be a view into it.
      return new Uint8Array(buf.subarray(start, end));
    },
  };
}

function normalizeField(f: FieldDefinition): FieldDefinition {
  return {
    name: f.name,
    type: f.type,
    nullable: f.nullable,
    ...(f.precision === undefined ? {} : { precision: f.precision }),
    ...(f.scale === undefined ? {} : { scale: f.scale }),
  };
}

function describeSchemaChange(stored: StoredMeta, now: StoredMeta): string | undefined {
  if (
    stored.version !== now.version ||
    stored.keyFormat !== now.keyFormat ||
    stored.rowFormat !== now.rowFormat
  ) {
    return `stored in format ${stored.version}.${stored.keyFormat}.${stored.rowFormat}, this version writes ${now.version}.${now.keyFormat}.${now.rowFormat}`;
  }
  const show = (fs: readonly FieldDefinition[]) =>
    fs
      .map(
        (f) =>
          `${f.name} ${f.type}${f.nullable ? '' : ' not null'}${f.scale === undefined ? '' : `(${f.precision ?? ''},${f.scale})`}`,
      )
      .join(', ');
  if (JSON.stringify(stored.fields) !== JSON.stringify(now.fields)) {
    return `stored fields: ${show(stored.fields)}; new fields: ${show(now.fields)}`;
  }
  if (JSON.stringify(stored.primaryKey) !== JSON.stringify(now.primaryKey)) {
    return `stored primary key: (${stored.primaryKey.join(', ')}); new primary key: (${now.primaryKey.join(', ')})`;
  }
  return undefined;
}

interface SecondaryIndex extends IndexInfo {
  readonly writer: TupleWriter;
}

interface Layout {
  readonly name: string;
  readonly schema: Schema;
  readonly primaryKey: readonly number[];
  readonly pkless: boolean;
  readonly indexes: readonly SecondaryIndex[];
  readonly rowKeyWriter: TupleWriter;
  readonly lookupWriter: TupleWriter;
  readonly encoder: RowEncoder;
  readonly decoder: RowDecoder;
}

function makeLayout(def: EndpointDefinition): Layout {
  const { name, schema } = def;
  if (typeof name !== 'string' || name === '') throw new StoreError('an endpoint needs a non-empty name');
  const fields = schema.fields;
  const names = () => fields.map((f) => f.name).join(', ');
  const posOf = (field: string, what: string) => {
    const i = fields.findIndex((f) => f.name === field);
    if (i < 0)
      throw new StoreError(
        `${what} of endpoint "${name}" names "${field}", which is not a field (fields: ${names()})`,
      );
    return i;
  };
  const primaryKey = def.primaryKey
    ? def.primaryKey.map((f) => posOf(f, 'the primary key'))
    : [...schema.primaryKey];
  for (const p of primaryKey) {
    if (!fields[p])
      throw new StoreError(
        `the primary key of endpoint "${name}" names field position ${p}, which does not exist`,
      );
  }
  const pkless = primaryKey.length === 0;
  const keyPositions = pkless ? fields.map((_, i) => i) : primaryKey;
  const keyTypes = keyPositions.map((p) => fields[p]!.type);

  let indexPositions: number[][];
  const spec = def.secondaryIndexes ?? 'all';
  if (spec === 'all') {
    indexPositions = fields
      .map((f, i) => ({ f, i }))
      .filter(
        ({ f, i }) =>
          !UNINDEXED_BY_DEFAULT.includes(f.type) && !(i === primaryKey[0] && f.type !== 'duration'),
      )
      .map(({ i }) => [i]);
  } else {
    const seen = new Set<string>();
    indexPositions = [];
    for (const ix of spec) {
      if (ix.length === 0) throw new StoreError(`endpoint "${name}" lists a secondary index with no fields`);
      const ps = ix.map((f) => posOf(f, 'a secondary index'));
      const k = ps.join(',');
      if (!seen.has(k)) indexPositions.push(ps);
      seen.add(k);
    }
  }
  if (indexPositions.length > 0xfffe) throw new StoreError(`endpoint "${name}" has more than 65534 indexes`);
  const effective: Schema = { fields, primaryKey };
  return {
    name,
    schema: effective,
    primaryKey,
    pkless,
    indexes: indexPositions.map((positions, k) => {
      const id = k + 1;
      return {
        id,
        positions,
        prefix: new Uint8Array([id >> 8, id & 0xff]),
        writer: tupleWriter(
          positions.map((p) => fields[p]!.type),
          false,
          positions,
        ),
      };
    }),
    rowKeyWriter: tupleWriter(keyTypes, true, keyPositions),
    lookupWriter: tupleWriter(keyTypes, true),
    encoder: new RowEncoder(effective),
    decoder: new RowDecoder(effective),
  };
}

type Prepared =
  | { readonly kind: 'delete'; readonly key: Uint8Array }
  | {
      readonly kind: 'put';
      readonly key: Uint8Array;
      readonly value: Buffer;
      readonly entries: readonly (readonly [Uint8Array, Buffer])[];
    };

interface Hit {
  readonly row: Row;
  readonly key: Uint8Array;
  readonly count: number;
}

class LmdbEndpoint implements EndpointStore {
  readonly name: string;
  readonly schema: Schema;
  private readonly fastGet: FastGet;
  private readonly valueOffset: number;

  constructor(
    private readonly store: LmdbStore,
    private readonly root: RootDatabase,
    private readonly dbs: Dbs,
    private readonly layout: Layout,
  ) {
    this.name = layout.name;
    this.schema = layout.schema;
    this.fastGet = dbs.rows.getBinaryFast.bind(dbs.rows) as FastGet;
    // Rows of endpoints without a primary key carry a uint32 multiplicity before the row.
    this.valueOffset = layout.pkless ? 4 : 0;
  }

  async apply(ops: readonly Operation[]): Promise<void> {
    const prepared = this.prepare(ops);
    if (prepared.length === 0) return;
    this.root.transactionSync(() => {
      for (const p of prepared) {
        if (p.kind === 'delete') this.remove(p.key);
        else this.put(p);
      }
    });
  }

  get(key: readonly Value[]): Row | undefined {
    const n = this.layout.pkless ? this.schema.fields.length : this.layout.primaryKey.length;
    if (key.length !== n) {
      throw new StoreError(`endpoint "${this.name}" is keyed by ${n} value(s), got ${key.length}`);
    }
    let bytes: Buffer | undefined;
    try {
      // Rows without a primary key may be keyed by a hash (see rowKey); others encode straight into lmdb's key buffer.
      bytes = this.fastGet(this.layout.pkless ? this.rowKey(key) : (key as unknown as Key));
    } catch (e) {
      // A key too long to encode cannot have been stored.
      if (e instanceof RangeError) return undefined;
      throw e;
    }
    return bytes === undefined ? undefined : this.layout.decoder.decode(bytes, this.valueOffset);
  }

  query(q: Query): Row[] {
    const { skip, limit } = this.window(q);
    const p = this.plan(q);
    const want = skip + limit;
    const hits: Hit[] = [];
    let total = 0;
    if (limit > 0) {
      this.scan(p, (h) => {
        hits.push(h);
        total += h.count;
        return p.ordered && total >= want;
      });
    }
    if (!p.ordered) hits.sort(hitComparator(p.sort));
    const out: Row[] = [];
    let seen = 0;
    for (const h of hits) {
      for (let c = 0; c < h.count; c++, seen++) {
        if (seen >= want) return out;
        if (seen >= skip) out.push(h.row);
      }
    }
    return out;
  }

  count(filter?: Filter): number {
    if (filter === undefined && !this.layout.pkless) {
      return (this.dbs.rows.getStats() as { entryCount: number }).entryCount;
    }
    const p = this.plan(filter === undefined ? {} : { filter });
    let n = 0;
    this.scan(p, (h) => {
      n += h.count;
      return false;
    });
    return n;
  }

  explain(q: Query): string {
    const { skip, limit } = this.window(q);
    return `${this.plan(q).description}; skip ${skip}, limit ${limit}`;
  }

  parseQuery(json: unknown): Query {
    return parseQuery(json, this.schema, { maxLimit: this.store.maxLimit });
  }

  /** Rewrites every secondary index from the rows (call inside a write transaction). */
  rebuildIndexes(): void {
    const { rows, index } = this.dbs;
    index.clearSync();
    if (this.layout.indexes.length === 0) return;
    for (const { key, value } of rows.getRange({ start: EMPTY, end: EMPTY })) {
      const rowKey = key as Uint8Array;
      const row = this.layout.decoder.decode(value, this.valueOffset);
      for (const ix of this.layout.indexes) {
        const [k, v] = this.indexEntry(ix, row, rowKey);
        index.putSync(k, v);
      }
    }
  }

  private window(q: Query): { skip: number; limit: number } {
    const limit = q.limit ?? this.store.defaultLimit;
    const max = this.store.maxLimit;
    if (!Number.isInteger(limit) || limit < 0 || limit > max) {
      throw new InvalidQueryError(`$limit must be an integer between 0 and ${max}, got ${limit}`);
    }
    const skip = q.skip ?? 0;
    if (!Number.isSafeInteger(skip) || skip < 0) {
      throw new InvalidQueryError(`$skip must be a non-negative integer, got ${skip}`);
    }
    return { skip, limit };
  }

  private plan(q: Query): Plan {
    const conds = resolveFilter(q.filter, this.schema);
    const sort = resolveOrder(q.orderBy, this.schema);
    return plan(
      {
        schema: this.schema,
        primaryKey: this.layout.pkless ? [] : this.layout.primaryKey,
        indexes: this.layout.indexes,
      },
      conds,
      sort,
    );
  }

  /** Calls `visit` with each row the plan yields that passes its residual conditions, until `visit` returns true. */
  private scan(p: Plan, visit: (h: Hit) => boolean): void {
    const access = p.access;
    if (access.kind === 'empty') return;
    const residual = p.residual;
    const decoder = this.layout.decoder;
    const off = this.valueOffset;
    const { rows, index } = this.dbs;
    const txn = this.root.useReadTransaction();
    try {
      const hit = (key: Uint8Array, bytes: Buffer): Hit | undefined => {
        const row = decoder.decode(bytes, off);
        if (!passes(residual, row)) return undefined;
        return { row, key, count: off ? bytes.readUInt32LE(0) : 1 };
      };
      if (access.kind === 'lookup') {
        const n = this.layout.lookupWriter(access.key, scratch, 0);
        const key = scratch.slice(0, n);
        const bytes = rows.get(key, { transaction: txn });
        const h = bytes && hit(key, bytes);
        if (h) visit(h);
        return;
      }
      const { start, end } = access.range;
      const opts = access.reverse
        ? {
            start: end ?? EMPTY,
            end: start ?? EMPTY,
            reverse: true,
            ...(end ? { exclusiveStart: true } : {}),
            ...(start ? { inclusiveEnd: true } : {}),
            transaction: txn,
          }
        : { start: start ?? EMPTY, end: end ?? EMPTY, transaction: txn };
      if (!access.index) {
        for (const { key, value } of rows.getRange(opts)) {
          const h = hit(key as Uint8Array, value);
          if (h && visit(h)) return;
        }
        return;
      }
      const regroup = access.regroupPos;
      const regroupType = regroup === undefined ? undefined : this.schema.fields[regroup]!.type;
      let group: Hit[] = [];
      // A reverse index scan yields equal values in descending key order; flushing each run reversed keeps ties in key order.
      const flush = (): boolean => {
        for (let i = group.length - 1; i >= 0; i--) if (visit(group[i]!)) return true;
        group = [];
        return false;
      };
      const fastGet = this.fastGet;
      for (const { key, value } of index.getRange(opts)) {
        const k = key as Uint8Array;
        const rowKey = k.subarray(2 + value.readUInt16BE(0));
        const bytes = fastGet(rowKey, { transaction: txn });
        if (bytes === undefined) {
          throw new StoreError(
            `index of endpoint "${this.name}" refers to a missing row; reset the endpoint to rebuild it`,
          );
        }
        const h = hit(rowKey, bytes);
        if (!h) continue;
        if (regroupType === undefined) {
          if (visit(h)) return;
          continue;
        }
        const last = group[group.length - 1];
        if (
          last &&
          compareValues(regroupType, last.row[regroup!] ?? null, h.row[regroup!] ?? null) !== 0 &&
          flush()
        ) {
          return;
        }
        group.push(h);
      }
      flush();
    } finally {
      txn.done();
    }
  }

  private prepare(ops: readonly Operation[]): Prepared[] {
    const out: Prepared[] = [];
    ops.forEach((op, i) => {
      try {
        if (op.kind === 'delete' || op.kind === 'update') {
          out.push({ kind: 'delete', key: this.rowKey(op.old) });
        }
        if (op.kind === 'insert' || op.kind === 'update') {
          const row = op.new;
          const value = this.layout.encoder.encode(row, this.valueOffset);
          const key = this.rowKey(row);
          const entries = this.layout.indexes.map((ix) => this.indexEntry(ix, row, key));
          out.push({ kind: 'put', key, value, entries });
        } else if (op.kind !== 'delete') {
          throw new StoreError(`unknown operation kind "${(op as { kind: unknown }).kind}"`);
        }
      } catch (e) {
        if (e instanceof StoreError) {
          throw new StoreError(
            `endpoint "${this.name}", operation ${i} (${op.kind}): ${e.message}; nothing was written`,
            {
              cause: e,
            },
          );
        }
        throw e;
      }
    });
    return out;
  }

  private rowKey(row: Row): Uint8Array {
    if (row.length !== this.schema.fields.length) {
      throw new StoreError(
        `row has ${row.length} values but the schema has ${this.schema.fields.length} fields`,
      );
    }
    let n: number;
    try {
      n = this.layout.rowKeyWriter(row, scratch, 0);
    } catch (e) {
      if (e instanceof RangeError) n = Number.POSITIVE_INFINITY;
      else throw e;
    }
    if (this.layout.pkless) {
      if (n <= ROW_KEY_HASH_THRESHOLD) return scratch.slice(0, n);
      // Too long to key by value: keep a prefix (for order) and a hash of the whole row (for identity).
      const full = Number.isFinite(n) ? scratch.slice(0, n) : this.layout.encoder.encode(row);
      const key = new Uint8Array(ROW_KEY_HASH_THRESHOLD);
      key.set(full.subarray(0, ROW_KEY_PREFIX));
      key.set(createHash('sha256').update(full).digest(), ROW_KEY_PREFIX);
      return key;
    }
    if (n > MAX_KEY_SIZE) {
      const pk = this.layout.primaryKey.map((p) => this.schema.fields[p]!.name).join(', ');
      throw new StoreError(
        `the primary key (${pk}) of a row encodes to ${Number.isFinite(n) ? n : 'more than 65536'} bytes; LMDB keys hold at most ${MAX_KEY_SIZE}`,
      );
    }
    return scratch.slice(0, n);
  }

  private indexEntry(ix: SecondaryIndex, row: Row, rowKey: Uint8Array): [Uint8Array, Buffer] {
    scratch[0] = ix.prefix[0]!;
    scratch[1] = ix.prefix[1]!;
    let n: number;
    try {
      n = ix.writer(row, scratch, 2);
    } catch (e) {
      if (e instanceof RangeError) n = Number.POSITIVE_INFINITY;
      else throw e;
    }
    if (n + rowKey.length > MAX_KEY_SIZE) {
      const fields = ix.positions.map((p) => this.schema.fields[p]!.name).join(', ');
      throw new StoreError(
        `the value of ${fields} is too long for a sorted index (index keys hold at most ${MAX_KEY_SIZE} bytes with the row key); ` +
          `leave ${fields} out of the endpoint's secondary indexes or declare it as text`,
      );
    }
    const key = new Uint8Array(n + rowKey.length);
    key.set(scratch.subarray(0, n));
    key.set(rowKey, n);
    const value = Buffer.allocUnsafe(2);
    value.writeUInt16BE(n - 2, 0);
    return [key, value];
  }

  private removeIndexEntries(row: Row, rowKey: Uint8Array): void {
    for (const ix of this.layout.indexes) this.dbs.index.removeSync(this.indexEntry(ix, row, rowKey)[0]);
  }

  private remove(key: Uint8Array): void {
    const { rows } = this.dbs;
    const old = rows.getBinary(key);
    if (old === undefined) return;
    if (this.layout.pkless) {
      const count = old.readUInt32LE(0);
      if (count > 1) {
        old.writeUInt32LE(count - 1, 0);
        rows.putSync(key, old);
        return;
      }
    }
    this.removeIndexEntries(this.layout.decoder.decode(old, this.valueOffset), key);
    rows.removeSync(key);
  }

  private put(p: Extract<Prepared, { kind: 'put' }>): void {
    const { rows, index } = this.dbs;
    const old = rows.getBinary(p.key);
    if (this.layout.pkless) {
      if (old !== undefined) {
        // The same row again: one more copy.
        old.writeUInt32LE(old.readUInt32LE(0) + 1, 0);
        rows.putSync(p.key, old);
        return;
      }
      p.value.writeUInt32LE(1, 0);
    } else if (old !== undefined) {
      this.removeIndexEntries(this.layout.decoder.decode(old, 0), p.key);
    }
    rows.putSync(p.key, p.value);
    for (const [k, v] of p.entries) index.putSync(k, v);
  }
}

function passes(conds: readonly Condition[], row: Row): boolean {
  for (const c of conds) if (!matches(c, row)) return false;
  return true;
}

function hitComparator(sort: readonly SortTerm[]): (a: Hit, b: Hit) => number {
  return (a, b) => {
    for (const t of sort) {
      const c = compareValues(t.type, a.row[t.pos] ?? null, b.row[t.pos] ?? null);
      if (c !== 0) return c * t.dir;
    }
    return compareKeys(a.key, b.key);
  };
}
