import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
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
import { ChangesExpiredError, ConflictError, InvalidQueryError, StoreError } from './errors.js';
import { type Cursor, CursorCodec } from './internal/cursor.js';
import {
  compareKeys,
  encodeKey,
  fixedKeySize,
  KEY_FORMAT_VERSION,
  prefixSuccessor,
  type TupleWriter,
  tupleWriter,
} from './internal/key-codec.js';
import {
  type IndexInfo,
  matches,
  type Plan,
  type Predicate,
  plan,
  resolveFilter,
  resolveOrder,
  type Seek,
  type SortTerm,
} from './internal/planner.js';
import {
  filterFromWire,
  filterToWire,
  queryFromWire,
  queryToWire,
  type WireFilter,
  type WireQuery,
} from './internal/query-wire.js';
import { ROW_FORMAT_VERSION, RowDecoder, RowEncoder } from './internal/row-codec.js';
import { RowJsonWriter } from './internal/row-json.js';
import { indexedToken, tokenize } from './internal/text.js';
import { DEFAULT_QUERY_LIMITS, type Filter, parseQuery, type Query } from './query.js';
import { type EncodedPage, ReadPool } from './read-pool.js';
import { takeWriterLock, writerLockFile } from './writer-lock.js';

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
  /**
   * How many of the latest changes each endpoint keeps in its change feed
   * (in LMDB, written in the same transaction as the rows). Default 10,000.
   */
  readonly changeRetention?: number;
  /**
   * When `apply` resolves: `'process'` (default) once its transaction is
   * committed, which survives a crash of the process but not necessarily of
   * the OS (the flush to disk follows within about a second; `flushed()`
   * waits for it); `'sync'` once it is also flushed to disk.
   */
  readonly durability?: Durability;
  /**
   * Worker threads that answer queries and counts that may read many rows
   * (a scan without a usable index, a sort in memory, a filter checked row by
   * row, a large `$skip`), so that a slow query never holds up the calling
   * thread (the API's other requests, the writes). Default 1; 0 answers
   * every read on the calling thread. Only the `answer…` methods use them.
   */
  readonly readThreads?: number;
  /** Endpoints with fewer rows answer every read on the calling thread. Default 20,000. */
  readonly readThreadMinRows?: number;
}

/** See {@link OpenStoreOptions.durability}. */
export type Durability = 'process' | 'sync';

/** What to do with an insert whose primary key is taken: ignore it, replace the row, or fail. */
export type OnInsert = 'nothing' | 'update' | 'panic';
/** What to do with an update whose old row is missing (or whose new key is taken): ignore, upsert, or fail. */
export type OnUpdate = 'nothing' | 'upsert' | 'panic';
/** What to do with a delete whose row is missing: ignore it or fail. */
export type OnDelete = 'nothing' | 'panic';

/** Conflict resolution of an endpoint (config `conflict_resolution`), as in Dozer. */
export interface ConflictResolution {
  /** Default `'update'`: the new row replaces the stored one. */
  readonly onInsert?: OnInsert;
  /** Default `'upsert'`: a missing old row is inserted, a taken new key is replaced. */
  readonly onUpdate?: OnUpdate;
  /** Default `'nothing'`. */
  readonly onDelete?: OnDelete;
}

/**
 * One operation as it took effect in the store (after conflict resolution),
 * with the endpoint's version after it. Versions are per endpoint, dense,
 * start at 1n.
 */
export interface StoreChange {
  readonly version: bigint;
  readonly op: Operation;
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
   * Secondary indexes (config `index.secondary`): sorted ones on one or more
   * fields (composite), given as `{ kind: 'sorted', fields }` or as a list of
   * field names, and full-text ones on a string or text field. Default
   * `'all'`: one sorted index per field, except `text`, `binary` and `json`
   * fields and the first primary key field (the primary index already
   * orders it).
   */
  readonly secondaryIndexes?: readonly SecondaryIndexDefinition[] | 'all';
  /** What an insert of a taken key, an update of a missing row, a delete of a missing row do. */
  readonly conflictResolution?: ConflictResolution;
}

/**
 * One secondary index: sorted on the listed fields (entries ordered by their
 * values, then the primary key), or full-text on a string/text field (one
 * entry per distinct word, see the README for the tokenizer).
 */
export type SecondaryIndexDefinition =
  | readonly string[]
  | { readonly kind: 'sorted'; readonly fields: readonly string[] }
  | { readonly kind: 'full_text'; readonly field: string };

/** A page of rows, and the cursor of the next page when more rows follow. */
export interface QueryPage {
  readonly rows: Row[];
  /** Opaque; absent on the last page. */
  readonly cursor?: string;
}

/**
 * A page of rows as one JSON array text (see {@link EndpointStore.queryPageJson}),
 * and the cursor of the next page when more rows follow.
 */
export interface QueryPageJson {
  /** `[row, …]`, each row as `JSON.stringify(rowToObject(schema, row))` writes it. */
  readonly json: string;
  /** Rows in `json`. */
  readonly rows: number;
  /** Opaque; absent on the last page. */
  readonly cursor?: string;
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
  /**
   * Records that the store holds exactly the applies called before this call (on every endpoint
   * of the environment) as the state of `epoch`, in the commit of the last of them or a later
   * one, and before the writes of any apply called after it. Resolves once that commit is flushed
   * to disk. Epochs must increase: an epoch not above the last marked one rejects with a
   * StoreError.
   */
  markEpoch(epoch: bigint): Promise<void>;
  /** The last marked epoch (after a rollback: the epoch rolled back to), or null when none. */
  epoch(): bigint | null;
  /** The marked epochs that {@link rollbackTo} can still return to, oldest first. */
  epochs(): bigint[];
  /**
   * Brings every endpoint back to exactly its state at the mark of `epoch`: undoes, newest
   * first, every change applied after it (rows, indexes, counts), recording the compensating
   * changes in the change feed as new versions (subscribers hear of them), and forgets the
   * marks after `epoch`. One transaction, ordered after the applies called before it; resolves
   * once flushed to disk. An epoch never marked, released, or whose changes were pruned (by a
   * reset) rejects with a StoreError naming the oldest epoch still reachable.
   */
  rollbackTo(epoch: bigint): Promise<void>;
  /**
   * Forgets the marks of epochs before `epoch`: they can no longer be rolled back to, and the
   * change feed may prune (by `changeRetention`) the changes they held back. While marks exist,
   * no endpoint prunes a change made after the oldest one.
   */
  releaseEpochsBefore(epoch: bigint): Promise<void>;
  /** Reads answered by the store's read threads so far (see {@link OpenStoreOptions.readThreads}). */
  readThreadReads(): number;
  /** Waits for pending writes and closes the environment. */
  close(): Promise<void>;
}

/** One endpoint's rows, with a primary index and secondary indexes kept consistent on every write. */
export interface EndpointStore {
  readonly name: string;
  /** The schema, with the effective primary key. */
  readonly schema: Schema;
  /**
   * Applies the operations in order, all or nothing, keeping every index and
   * the change feed consistent, with the endpoint's conflict resolution. Bad
   * rows are rejected before anything is written. Resolves once committed
   * (see {@link OpenStoreOptions.durability}). Applies called without
   * waiting for each other (on any endpoints of the store) are applied in
   * call order and share commits; each stays all or nothing on its own.
   */
  apply(ops: readonly Operation[]): Promise<void>;
  /**
   * The row with these primary key values (in primary key order), or
   * undefined. For an endpoint without a primary key, the values of all fields.
   */
  get(key: readonly Value[]): Row | undefined;
  /**
   * {@link get}, as the JSON text `JSON.stringify(rowToObject(schema, row))`
   * would write, written straight from the stored bytes (no row is decoded).
   */
  getJson(key: readonly Value[]): string | undefined;
  /** Rows matching the query: ordered, ties by primary key, then `skip` and `limit` applied. */
  query(q: Query): Row[];
  /**
   * {@link query}, plus a `cursor` when more rows follow: pass it as
   * `after` (JSON `$after`) with the same filter and order to get the rows
   * strictly after the last one of this page. Paging by cursor stays
   * correct while rows change: a row present throughout, with the same
   * sort values, is returned exactly once.
   */
  queryPage(q: Query): QueryPage;
  /**
   * {@link queryPage} with the rows as one JSON array text, written straight
   * from the stored bytes: rows that only become text are never decoded
   * (the cheap path of an HTTP answer).
   */
  queryPageJson(q: Query): QueryPageJson;
  /** Number of rows matching the filter (all rows without one). */
  count(filter?: Filter): number;
  /**
   * {@link queryPage}, answered by a read thread of the store when the query
   * may read many rows (see {@link OpenStoreOptions.readThreads}), else at
   * once: a promise only then. The same rows either way; a read thread reads
   * the last committed state.
   */
  answerPage(q: Query): QueryPage | Promise<QueryPage>;
  /** {@link queryPageJson}, as {@link answerPage} decides where. */
  answerPageJson(q: Query): QueryPageJson | Promise<QueryPageJson>;
  /** {@link count}, as {@link answerPage} decides where (a filter that is not one key lookup). */
  answerCount(filter?: Filter): number | Promise<number>;
  /** Which index the planner chose for the query, and why. */
  explain(q: Query): string;
  /** {@link parseQuery} with this store's limits. */
  parseQuery(json: unknown): Query;
  /** The version of the last applied change (0n when none). */
  version(): bigint;
  /**
   * Retained changes with version > `after`, oldest first, at most `limit`.
   * Throws {@link ChangesExpiredError} when changes after `after` were
   * already pruned, and InvalidQueryError when `after` is ahead of `version()`.
   */
  changesSince(after: bigint, limit?: number): StoreChange[];
  /**
   * Calls `listener` after each committed apply with the changes it made, in
   * order. Returns an unsubscribe function. A listener that throws affects
   * neither the write nor the other listeners; its error is rethrown on a
   * microtask (an uncaught exception), so catch inside listeners.
   */
  subscribe(listener: (changes: readonly StoreChange[]) => void): () => void;
}

/** LMDB's largest key with the default 4 KiB page. */
const MAX_KEY_SIZE = 1978;
// Rows of endpoints without a primary key are keyed by all their fields;
// past this size the key is a prefix plus a hash, so that index keys
// (field value + row key) still fit.
const ROW_KEY_HASH_THRESHOLD = 480;
const ROW_KEY_PREFIX = ROW_KEY_HASH_THRESHOLD - 32;
const EMPTY = new Uint8Array(0);
/** Version 2: the change feed holds one record per apply (format below). */
const META_VERSION = 2;
const DEFAULT_CHANGE_RETENTION = 10_000;
const DEFAULT_READ_THREAD_MIN_ROWS = 20_000;
/** A `$skip` this large reads that many rows before the page: the query goes to a read thread. */
const HEAVY_SKIP = 10_000;
/**
 * Change feed (format version 2), database `endpoint/<name>/changes`: one record per apply,
 * key 8-byte big-endian version of its first change → uint32 LE number of changes, then per
 * change: kind byte (0 insert, 1 delete, 2 update), uint32 LE byte length of the old row,
 * uint32 LE byte length of the new row, the old row, the new row (rows in the row encoding,
 * without the copy count of endpoints without a primary key; a missing row has length 0).
 * Key FEED_STATE_KEY (one byte 0x00, which sorts before every record, so that records are
 * appended) → uint64 BE version of the last change, uint64 BE version through which changes are
 * expired. A record is deleted once all its changes are expired. (Format 1 kept one entry per
 * change and the state under the key 0xff.)
 */
const FEED_STATE_KEY = new Uint8Array([0x00]);
const LEGACY_FEED_STATE_KEY = new Uint8Array([0xff]);
/** The smallest key of a feed record (version 0; records start at version 1). */
const FIRST_RECORD_KEY = new Uint8Array(8);
const OP_KINDS = ['insert', 'delete', 'update'] as const;
/** Types left out of the default `'all'` indexes: long or unordered values (give text a full-text index). */
const UNINDEXED_BY_DEFAULT: readonly FieldType[] = ['text', 'binary', 'json'];

/**
 * The indexes `secondaryIndexes: 'all'` stands for: one sorted index per
 * field, except `text`, `binary` and `json` fields and the first primary key
 * field (the primary index already orders it). `primaryKey` overrides the
 * schema's key, as in {@link EndpointDefinition}.
 */
export function defaultSecondaryIndexes(
  schema: Schema,
  primaryKey?: readonly string[],
): { readonly kind: 'sorted'; readonly fields: readonly string[] }[] {
  const firstKey = primaryKey ? primaryKey[0] : schema.fields[schema.primaryKey[0] ?? -1]?.name;
  return schema.fields
    .filter((f) => !UNINDEXED_BY_DEFAULT.includes(f.type) && !(f.name === firstKey && f.type !== 'duration'))
    .map((f) => ({ kind: 'sorted', fields: [f.name] }));
}

const scratch = new Uint8Array(1 << 16);
/** Values of index entries (uint16 BE length of the indexed part), shared: lmdb copies values on put. */
const INDEX_VALUES: Buffer[] = [];
function indexValue(n: number): Buffer {
  let b = INDEX_VALUES[n];
  if (b === undefined) {
    b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(n, 0);
    INDEX_VALUES[n] = b;
  }
  return b;
}
/** Writes a full-text index word (as a string key). */
const tokenWriter = tupleWriter(['string'], false);

interface StoredMeta {
  readonly version: number;
  readonly keyFormat: number;
  readonly rowFormat: number;
  readonly fields: readonly FieldDefinition[];
  readonly primaryKey: readonly string[];
  /** Sorted indexes as field name lists, full-text ones as `{ full_text: field }`. */
  readonly indexes: readonly (readonly string[] | { readonly full_text: string })[];
}

/** Holds the key writer used by `get`, swapped when an endpoint is re-opened. */
interface KeyHolder {
  lookup: TupleWriter;
}

interface Dbs {
  readonly rows: Database<Buffer, Key>;
  readonly index: Database<Buffer, Key>;
  readonly changes: Database<Buffer, Key>;
  readonly holder: KeyHolder;
  readonly queued: Queued;
}

/**
 * What the applies of an endpoint whose commit has not resolved yet leave behind (see
 * {@link LmdbEndpoint.apply}): later applies are computed on top of it.
 */
interface Queued {
  /**
   * Rows they write: row key (latin1) → entry, until the apply that made the entry is committed;
   * rows they add at keys above every key before (see maxKey) are in `runs` instead.
   */
  readonly rows: Map<string, RowEntry>;
  /**
   * Per apply, the rows it added at keys above every key before, in increasing key order (so the
   * runs are in key order too); an entry of `rows` for the same key is a later write.
   */
  readonly runs: AppendRun[];
  /** The change feed's head after them; undefined: read the committed state. */
  feed: FeedState | undefined;
  /** The first version of each feed record, ascending (committed and queued); undefined: read the keys. */
  records: bigint[] | undefined;
  /**
   * No row key above this one is stored or queued (null: no row; undefined: read the last key):
   * a key above it is free without a lookup, as when keys come in increasing order.
   */
  maxKey: Uint8Array | null | undefined;
  /** Applies written and not yet committed. */
  inFlight: number;
}

/** Rows an apply added at increasing keys above every key before: no map entry each. */
interface AppendRun {
  readonly keys: Uint8Array[];
  readonly values: Buffer[];
}

/** The value of the row at `key` in the runs, or undefined. */
function findInRuns(runs: readonly AppendRun[], key: Uint8Array): Buffer | undefined {
  for (const run of runs) {
    const { keys } = run;
    if (compareKeys(key, keys[keys.length - 1]!) > 0) continue;
    let lo = 0;
    let hi = keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(keys[mid]!, key);
      if (c === 0) return run.values[mid];
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
  return undefined;
}

/** A row as a queued apply leaves it: its stored value, or undefined when deleted. */
interface RowEntry {
  readonly value: Buffer | undefined;
}

type FastGet = (key: Key, options?: { transaction?: Transaction }) => Buffer | undefined;

/** The directories a Store of this process has open. */
const writers = new Set<string>();

/** Opens (creating if needed) a store in the directory `options.path`. */
export function openStore(options: OpenStoreOptions): Store {
  return new LmdbStore(options);
}

class LmdbStore implements Store {
  private readonly root: RootDatabase;
  private readonly meta: Database<StoredMeta, string>;
  /** Epoch marks: key = 8-byte big-endian epoch → {@link EpochMark} (JSON). */
  private readonly marks: Database<EpochMark, Key>;
  /** Whether the databases of every stored endpoint are open (see {@link dbsOfAll}). */
  private allDbs = false;
  private readonly dbs = new Map<string, Dbs>();
  private readonly open = new Map<string, LmdbEndpoint>();
  readonly defaultLimit: number;
  readonly maxLimit: number;
  readonly changeRetention: number;
  readonly durability: Durability;
  /** The read threads (see {@link OpenStoreOptions.readThreads}), started on first use; undefined when 0. */
  private pool: ReadPool | undefined;
  private readonly poolSize: number;
  readonly readThreadMinRows: number;
  private readonly maxDbs: number;
  /**
   * The marks as written (committed or queued), oldest first; undefined until first needed. The
   * applies and markEpoch read it when they are called, not when lmdb-js writes them.
   */
  private markList: [bigint, EpochMark][] | undefined;
  /** The directory, resolved: while open, no other Store of this process writes it. */
  private readonly path: string;
  /** The commit of the last write queued (an apply, a mark, a release): waiting for it drains them all. */
  lastWrite: Promise<unknown> = Promise.resolve();
  /** Why the store takes no more writes: a queued commit failed, so what was computed on top of it is void. */
  private failed: StoreError | undefined;
  /**
   * Set while a rollback is pending: the writes called meanwhile are chained behind it, in call
   * order (see {@link ordered}).
   */
  private gate: Promise<void> | undefined;
  /** Marks and releases queued and not yet committed. */
  private marksInFlight = 0;
  /** An immediate is set to handle lmdb-js's batch promise of this event turn (see {@link watchTurn}). */
  private turnWatched = false;
  /** Releases the directory's writer lock (see {@link takeWriterLock}). */
  private readonly releaseLock: () => void;

  constructor(options: OpenStoreOptions) {
    this.durability = options.durability ?? 'process';
    if (this.durability !== 'process' && this.durability !== 'sync') {
      throw new StoreError(
        `durability must be 'process' or 'sync', got ${JSON.stringify(options.durability)}`,
      );
    }
    this.defaultLimit = options.defaultLimit ?? DEFAULT_QUERY_LIMITS.defaultLimit;
    this.maxLimit = options.maxLimit ?? DEFAULT_QUERY_LIMITS.maxLimit;
    this.changeRetention = options.changeRetention ?? DEFAULT_CHANGE_RETENTION;
    this.poolSize = options.readThreads ?? 1;
    if (!Number.isSafeInteger(this.poolSize) || this.poolSize < 0) {
      throw new StoreError(`readThreads must be a non-negative integer, got ${options.readThreads}`);
    }
    this.readThreadMinRows = options.readThreadMinRows ?? DEFAULT_READ_THREAD_MIN_ROWS;
    if (!Number.isSafeInteger(this.readThreadMinRows) || this.readThreadMinRows < 0) {
      throw new StoreError(
        `readThreadMinRows must be a non-negative integer, got ${options.readThreadMinRows}`,
      );
    }
    this.maxDbs = options.maxDbs ?? 1000;
    if (!Number.isSafeInteger(this.changeRetention) || this.changeRetention < 0) {
      throw new StoreError(`changeRetention must be a non-negative integer, got ${options.changeRetention}`);
    }
    if (this.defaultLimit > this.maxLimit) {
      throw new StoreError(`defaultLimit ${this.defaultLimit} is larger than maxLimit ${this.maxLimit}`);
    }
    this.path = resolve(options.path);
    if (writers.has(this.path)) {
      throw new StoreError(
        `the store at ${options.path} is already open in this process; use that Store (a directory has one writer: ` +
          "a second Store would compute its writes without knowing of the first one's)",
      );
    }
    try {
      // lmdb-js takes a path with an extension as a file's (no directory of its own).
      mkdirSync(extname(this.path) ? dirname(this.path) : this.path, { recursive: true });
    } catch (e) {
      throw new StoreError(`cannot open the store at ${options.path}: ${(e as Error).message}`, { cause: e });
    }
    // Another process writing the directory would compute its writes without knowing of ours.
    const release = takeWriterLock(writerLockFile(this.path), options.path);
    try {
      this.root = open({
        path: options.path,
        maxDbs: this.maxDbs,
        ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }),
      });
    } catch (e) {
      release();
      throw new StoreError(`cannot open the store at ${options.path}: ${(e as Error).message}`, { cause: e });
    }
    this.releaseLock = release;
    writers.add(this.path);
    this.meta = this.root.openDB<StoredMeta, string>({ name: 'dozer/meta', encoding: 'json' });
    this.marks = this.root.openDB<EpochMark, Key>({
      name: 'dozer/epochs',
      encoding: 'json',
      keyEncoding: 'binary',
    });
  }

  markEpoch(epoch: bigint): Promise<void> {
    return this.ordered(() => this.markNow(epoch));
  }

  private async markNow(epoch: bigint): Promise<void> {
    checkEpoch('markEpoch', epoch);
    this.checkWritable();
    this.dbsOfAll();
    // The versions the applies called so far leave (queued or committed), taken now; the mark is
    // queued behind their writes, so it lands in the commit of the last of them or a later one,
    // and before the writes of any apply called after it.
    const marks = this.marks_();
    const last = marks.length > 0 ? marks[marks.length - 1]![0] : null;
    if (last !== null && epoch <= last) {
      throw new StoreError(`markEpoch(${epoch}): epochs must increase, and epoch ${last} is already marked`);
    }
    const versions: Record<string, string> = {};
    for (const [name, dbs] of this.dbs) versions[name] = queuedFeed(dbs).version.toString();
    const mark: EpochMark = { versions };
    marks.push([epoch, mark]);
    this.marksInFlight++;
    try {
      await this.written(this.marks.put(epochKey(epoch), mark));
    } finally {
      this.marksInFlight--;
    }
    await this.root.flushed;
  }

  /** Refuses a write when the store takes none (a commit failed). */
  checkWritable(): void {
    if (this.failed) throw this.failed;
  }

  /**
   * Calls `write` (whose synchronous part computes and queues its writes) now, or, while a
   * rollback is pending, once it and the writes called before are done with their synchronous
   * part: writes take effect in call order around a rollback too.
   */
  ordered<T>(write: () => Promise<T>): Promise<T> {
    const gate = this.gate;
    if (gate === undefined) return write();
    let out: Promise<T> | undefined;
    const next = gate.then(() => {
      out = write();
    });
    this.chain(next);
    return next.then(() => out!);
  }

  /** Makes `next` the gate, dropped once it settles unless a later write chained on. */
  private chain(next: Promise<void>): void {
    this.gate = next;
    void next.then(() => {
      if (this.gate === next) this.gate = undefined;
    });
  }

  /**
   * Waits for a queued commit (the promise lmdb-js gave for a write): the last write of the store
   * until a later one is queued. A failed commit makes the store refuse every later write.
   */
  async written(commit: Promise<unknown>): Promise<void> {
    this.lastWrite = commit;
    this.watchTurn();
    try {
      await commit;
    } catch (e) {
      if (this.failed === undefined) {
        const cause = await commitFailure(e);
        this.failed ??= new StoreError(
          `a write to the store at ${this.path} failed (${cause.message}); the writes queued after it were not made, the ones before it are kept; the store takes no more writes: restart the process (after freeing disk space, if that was the cause)`,
          { cause },
        );
      }
      throw this.failed;
    }
  }

  /**
   * lmdb-js ends the batch of each event turn with a write of its own whose commit promise it
   * drops (lmdb 3.5), so a failed commit would reject a promise nobody handles (an unhandled
   * rejection ends a Node process). Its task runs before an immediate set after it: from there a
   * handler is attached to that promise through `committed` (our own writes' promises are
   * awaited by {@link written}).
   */
  private watchTurn(): void {
    if (this.turnWatched) return;
    this.turnWatched = true;
    setImmediate(() => {
      this.turnWatched = false;
      this.root.committed.then(noop, noop);
    });
  }

  /** Resolves once every write queued so far is committed (or has failed). */
  async drained(): Promise<void> {
    let last: Promise<unknown>;
    do {
      last = this.lastWrite;
      await last.catch(() => undefined);
    } while (last !== this.lastWrite);
  }

  /** The marks, oldest first, as written or queued (read from the database once). */
  private marks_(): [bigint, EpochMark][] {
    if (this.markList === undefined) {
      const list: [bigint, EpochMark][] = [];
      for (const { key, value } of this.marks.getRange({})) list.push([epochOfKey(key as Uint8Array), value]);
      this.markList = list;
    }
    return this.markList;
  }

  epoch(): bigint | null {
    return this.lastEpoch();
  }

  epochs(): bigint[] {
    this.dbsOfAll();
    const out: bigint[] = [];
    for (const { key, value } of this.marks.getRange({})) {
      if (this.unreachable(value) === undefined) out.push(epochOfKey(key as Uint8Array));
    }
    return out;
  }

  rollbackTo(epoch: bigint): Promise<void> {
    // Every write called later waits for the whole rollback.
    const done = (this.gate ?? Promise.resolve()).then(() => this.rollbackNow(epoch));
    this.chain(done.then(noop, noop));
    return done;
  }

  private async rollbackNow(epoch: bigint): Promise<void> {
    checkEpoch('rollbackTo', epoch);
    this.checkWritable();
    this.dbsOfAll();
    let undone: [LmdbEndpoint, StoreChange[]][];
    try {
      // Every queued write first: the rollback reads the committed state.
      await this.drained();
      this.checkWritable();
      undone = await this.root.transaction(() => this.rollbackInTxn(epoch));
      await this.root.flushed;
    } finally {
      // Read again from the database: the rollback rewrote feeds and marks (or failed).
      this.markList = undefined;
      for (const dbs of this.dbs.values()) forgetQueued(dbs);
    }
    for (const [endpoint, changes] of undone) if (changes.length > 0) endpoint.notify(changes);
  }

  private rollbackInTxn(epoch: bigint): [LmdbEndpoint, StoreChange[]][] {
    const key = epochKey(epoch);
    const mark = this.marks.get(key);
    if (mark === undefined) {
      throw new StoreError(
        `rollbackTo(${epoch}): epoch ${epoch} was never marked, or was released, or a rollback to an earlier epoch forgot it; ${this.oldestReachable()}`,
      );
    }
    const why = this.unreachable(mark);
    if (why !== undefined) throw new StoreError(`rollbackTo(${epoch}): ${why}; ${this.oldestReachable()}`);
    const work: [LmdbEndpoint, bigint][] = [];
    for (const [name, dbs] of this.dbs) {
      const at = markedVersion(mark, name);
      if (readFeedState(dbs.changes).version === at) continue;
      work.push([this.open.get(name) ?? this.storedEndpoint(name), at]);
    }
    const out: [LmdbEndpoint, StoreChange[]][] = [];
    for (const [endpoint, at] of work) out.push([endpoint, endpoint.undoSince(at)]);
    // The state now is the state of the mark: the mark moves to the versions after the
    // compensating changes, so that a later rollback to it undoes only what follows.
    const versions: Record<string, string> = {};
    for (const [name, dbs] of this.dbs) versions[name] = readFeedState(dbs.changes).version.toString();
    const later: Uint8Array[] = [];
    for (const k of this.marks.getKeys({ start: key, exclusiveStart: true })) later.push(k as Uint8Array);
    for (const k of later) this.marks.removeSync(k);
    this.marks.putSync(key, { versions });
    return out;
  }

  releaseEpochsBefore(epoch: bigint): Promise<void> {
    return this.ordered(() => this.releaseNow(epoch));
  }

  private async releaseNow(epoch: bigint): Promise<void> {
    checkEpoch('releaseEpochsBefore', epoch);
    this.checkWritable();
    const marks = this.marks_();
    let n = 0;
    while (n < marks.length && marks[n]![0] < epoch) n++;
    if (n === 0) return;
    let last: Promise<unknown> | undefined;
    for (const [e] of marks.splice(0, n)) last = this.marks.remove(epochKey(e));
    this.marksInFlight++;
    try {
      await this.written(last!);
    } finally {
      this.marksInFlight--;
    }
  }

  /**
   * The version of endpoint `name` at the oldest epoch mark that can still be rolled back to,
   * after which its change feed must not prune (undefined without such marks). From the marks
   * as written or queued, so that an apply called after a mark sees it.
   */
  pinnedVersion(name: string): bigint | undefined {
    for (const [, value] of this.marks_()) {
      // A mark made before an endpoint's reset can never be rolled back to: it holds nothing back.
      if (!Object.values(value.versions).includes(RESET_MARK)) return markedVersion(value, name);
    }
    return undefined;
  }

  /**
   * An endpoint not opened through this store, as its stored definition says (fields, primary
   * key, indexes), to roll it back: conflict resolution plays no part in that.
   */
  private storedEndpoint(name: string): LmdbEndpoint {
    const stored = this.meta.get(name);
    if (stored === undefined) {
      throw new StoreError(
        `rollbackTo: endpoint "${name}" has a change feed but no stored definition; reset it`,
      );
    }
    const diff = describeSchemaChange(stored, {
      ...stored,
      version: META_VERSION,
      keyFormat: KEY_FORMAT_VERSION,
      rowFormat: ROW_FORMAT_VERSION,
    });
    if (diff) throw new StoreError(`rollbackTo: endpoint "${name}" is ${diff}; reset it`);
    return new LmdbEndpoint(
      this,
      this.root,
      this.dbsOf(name),
      storedLayout(name, stored),
      JSON.stringify(stored),
    );
  }

  /** Marks the epochs marked so far as unreachable for endpoint `name`, whose rows were just dropped. */
  private forgetInMarks(name: string): void {
    const marks: [Uint8Array, EpochMark][] = [];
    for (const { key, value } of this.marks.getRange({})) marks.push([key as Uint8Array, value]);
    for (const [key, mark] of marks) {
      this.marks.putSync(key, { versions: { ...mark.versions, [name]: RESET_MARK } });
    }
    this.markList = undefined;
  }

  private lastEpoch(): bigint | null {
    for (const k of this.marks.getKeys({ reverse: true, limit: 1 })) return epochOfKey(k as Uint8Array);
    return null;
  }

  /** Why a mark can no longer be rolled back to (an endpoint pruned changes after it), or undefined. */
  private unreachable(mark: EpochMark): string | undefined {
    for (const [name, dbs] of this.dbs) {
      const at = markedVersion(mark, name);
      const st = readFeedState(dbs.changes);
      if (at < 0n) return `endpoint "${name}" was reset (its rows dropped) after that epoch`;
      if (at < st.expired || at > st.version) {
        return `endpoint "${name}" no longer keeps the changes after its version ${at} at that epoch (it keeps those after version ${st.expired})`;
      }
    }
    return undefined;
  }

  private oldestReachable(): string {
    for (const { key, value } of this.marks.getRange({})) {
      if (this.unreachable(value) === undefined) {
        return `the oldest epoch still reachable is ${epochOfKey(key as Uint8Array)}`;
      }
    }
    return 'no marked epoch is reachable';
  }

  /** Opens the databases of every endpoint stored in the environment, so that marks cover them all. */
  private dbsOfAll(): void {
    if (this.allDbs) return;
    for (const name of this.meta.getKeys()) this.dbsOf(name as string);
    this.allDbs = true;
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
      indexes: layout.indexes.map((ix) => {
        const names = ix.positions.map((i) => layout.schema.fields[i]!.name);
        return ix.kind === 'sorted' ? names : { full_text: names[0]! };
      }),
    };
    const endpoint = new LmdbEndpoint(this, this.root, dbs, layout, JSON.stringify(expected));
    const stored = this.meta.get(def.name);
    const rewrite = (what: string) => {
      // A synchronous transaction would land before the queued writes: they must be done first.
      if (dbs.queued.inFlight > 0) {
        throw new StoreError(
          `openEndpoint: endpoint "${def.name}" has ${dbs.queued.inFlight} apply(s) not yet committed; wait for them before ${what}`,
        );
      }
      this.checkWritable();
      if (this.gate !== undefined) {
        throw new StoreError(
          `openEndpoint: endpoint "${def.name}": a rollback of the store is pending; wait for rollbackTo to resolve before ${what}`,
        );
      }
      // The reset rewrites the marks: none may be queued behind it.
      if (this.marksInFlight > 0) {
        throw new StoreError(
          `openEndpoint: endpoint "${def.name}": an epoch mark or release is not yet committed; wait for it before ${what}`,
        );
      }
      forgetQueued(dbs);
    };
    if (options.reset || stored === undefined) {
      rewrite('resetting it');
      this.root.transactionSync(() => {
        dbs.rows.clearSync();
        dbs.index.clearSync();
        // Versions keep counting across a reset, and the changes before it are expired, so a
        // reader following the feed learns that it must reload instead of mixing two histories.
        const { version } = readFeedState(dbs.changes);
        dbs.changes.clearSync();
        writeFeedState(dbs.changes, version, version);
        this.meta.putSync(def.name, expected);
        if (stored !== undefined) this.forgetInMarks(def.name);
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
        rewrite('rebuilding its indexes');
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
    // The read threads first: their reads fail (the store is closing) and they let go of the environment.
    const pool = this.pool;
    this.pool = undefined;
    this.closing = true;
    await pool?.close();
    // The queued writes (and a pending rollback) first: their callers are told how they ended.
    while (this.gate !== undefined) await this.gate;
    await this.drained();
    try {
      const closed = this.root.close();
      if (this.failed === undefined) await closed;
      else {
        // After a failed commit lmdb-js (3.5) never finishes closing (it waits for that commit's
        // flush): give it a moment, then leave the environment to the end of the process.
        closed.catch(noop);
        await Promise.race([closed, new Promise((r) => setTimeout(r, 500))]);
      }
    } finally {
      writers.delete(this.path);
      this.releaseLock();
    }
  }

  private closing = false;

  /** The read threads, started on first use; undefined when there are none. */
  readPool(): ReadPool | undefined {
    if (this.poolSize === 0 || this.closing) return undefined;
    this.pool ??= new ReadPool(
      { path: this.path, maxDbs: this.maxDbs, defaultLimit: this.defaultLimit, maxLimit: this.maxLimit },
      this.poolSize,
    );
    return this.pool;
  }

  readThreadReads(): number {
    return this.pool?.answered ?? 0;
  }

  private dbsOf(name: string): Dbs {
    let dbs = this.dbs.get(name);
    if (!dbs) {
      dbs = openDbs(this.root, name, { lookup: () => 0 });
      this.dbs.set(name, dbs);
    }
    return dbs;
  }
}

/** The LMDB databases of endpoint `name` (rows, secondary indexes, change feed), nothing queued. */
function openDbs(root: RootDatabase, name: string, holder: KeyHolder): Dbs {
  // keyEncoder is an option of every database, though lmdb-js types it on the root only.
  const options = (suffix: string) => ({
    name: `endpoint/${name}${suffix}`,
    encoding: 'binary' as const,
    keyEncoder: keyEncoder(holder),
  });
  return {
    rows: root.openDB<Buffer, Key>(options('')),
    index: root.openDB<Buffer, Key>(options('/indexes')),
    changes: root.openDB<Buffer, Key>(options('/changes')),
    holder,
    queued: {
      rows: new Map(),
      runs: [],
      feed: undefined,
      records: undefined,
      maxKey: undefined,
      inFlight: 0,
    },
  };
}

/**
 * Keys are our own bytes; lmdb-js copies them into its key buffer. A key
 * given as an array of values (from `get`) is encoded straight into that
 * buffer, which saves an allocation per lookup.
 */
function keyEncoder(holder: KeyHolder) {
  return {
    writeKey(key: Uint8Array | readonly Value[] | ArenaKey, target: Uint8Array, start: number): number {
      if (key === arenaKey) {
        const end = start + arenaKey.end - arenaKey.start;
        if (end > target.length) throw new RangeError('key buffer too small');
        // A loop: for keys of a few dozen bytes it beats Buffer#copy's call overhead.
        const src = arenaKey.buf;
        for (let i = arenaKey.start, j = start; j < end; i++, j++) target[j] = src[i]!;
        return end;
      }
      if (key instanceof Uint8Array) {
        if (start + key.length > target.length) throw new RangeError('key buffer too small');
        target.set(key, start);
        return start + key.length;
      }
      return holder.lookup(key as readonly Value[], target, start);
    },
    readKey(buf: Uint8Array, start: number, end: number): Uint8Array {
      // A copy: lmdb-js reuses `buf`. Copied by loop: keys are short, and this allocates one array.
      const key = new Uint8Array(end - start);
      for (let i = start, j = 0; i < end; i++, j++) key[j] = buf[i]!;
      return key;
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
  /**
   * The byte length of every row key, when it is the same for all rows (a primary key of
   * NOT NULL fixed-size fields): index scans then find the row key at the end of an entry's key
   * and need not read the entry's value.
   */
  readonly rowKeySize: number | undefined;
  readonly encoder: RowEncoder;
  readonly decoder: RowDecoder;
  readonly onInsert: OnInsert;
  readonly onUpdate: OnUpdate;
  readonly onDelete: OnDelete;
}

/** The layout of an endpoint as stored (its meta), without the rest of its definition. */
function storedLayout(name: string, stored: StoredMeta): Layout {
  return makeLayout({
    name,
    schema: { fields: stored.fields, primaryKey: [] },
    primaryKey: stored.primaryKey,
    secondaryIndexes: stored.indexes.map((ix) =>
      Array.isArray(ix)
        ? { kind: 'sorted', fields: ix }
        : { kind: 'full_text', field: (ix as { full_text: string }).full_text },
    ),
  });
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

  let indexSpecs: { kind: 'sorted' | 'full_text'; positions: number[] }[];
  const spec = def.secondaryIndexes ?? 'all';
  if (spec === 'all') {
    indexSpecs = defaultSecondaryIndexes(schema, def.primaryKey).map((ix) => ({
      kind: 'sorted',
      positions: [posOf(ix.fields[0]!, 'a default index')],
    }));
  } else {
    if (!Array.isArray(spec)) {
      throw new StoreError(`secondaryIndexes of endpoint "${name}" must be 'all' or a list of indexes`);
    }
    const seen = new Set<string>();
    indexSpecs = [];
    spec.forEach((ix, n) => {
      const where = `secondary index ${n}`;
      let kind: 'sorted' | 'full_text';
      let names: readonly string[];
      if (Array.isArray(ix)) {
        kind = 'sorted';
        names = ix as readonly string[];
      } else if (ix && typeof ix === 'object' && (ix as { kind?: unknown }).kind === 'sorted') {
        kind = 'sorted';
        names = (ix as { fields?: readonly string[] }).fields ?? [];
        if (!Array.isArray(names))
          throw new StoreError(`${where} of endpoint "${name}" needs a list of fields`);
      } else if (ix && typeof ix === 'object' && (ix as { kind?: unknown }).kind === 'full_text') {
        kind = 'full_text';
        const field = (ix as { field?: unknown }).field;
        if (typeof field !== 'string') {
          throw new StoreError(
            `${where} (full_text) of endpoint "${name}" needs a field name, got ${JSON.stringify(field)}`,
          );
        }
        names = [field];
      } else {
        throw new StoreError(
          `${where} of endpoint "${name}" must be a list of fields, { kind: 'sorted', fields } or { kind: 'full_text', field }, got ${JSON.stringify(ix)}`,
        );
      }
      if (names.length === 0) throw new StoreError(`${where} of endpoint "${name}" has no fields`);
      const ps = names.map((f) => posOf(f, `${where}`));
      if (kind === 'full_text') {
        const f = fields[ps[0]!]!;
        if (f.type !== 'string' && f.type !== 'text') {
          throw new StoreError(
            `${where} of endpoint "${name}" is a full-text index on "${f.name}", which is ${f.type}; full-text indexes need a string or text field`,
          );
        }
      } else if (new Set(ps).size !== ps.length) {
        throw new StoreError(`${where} of endpoint "${name}" lists a field twice (${names.join(', ')})`);
      }
      const k = `${kind}:${ps.join(',')}`;
      if (!seen.has(k)) indexSpecs.push({ kind, positions: ps });
      seen.add(k);
    });
  }
  const cr = def.conflictResolution ?? {};
  const pick = <T extends string>(what: string, v: T | undefined, allowed: readonly T[], dflt: T): T => {
    if (v === undefined) return dflt;
    if (!allowed.includes(v)) {
      throw new StoreError(
        `conflict resolution ${what} of endpoint "${name}" must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const onInsert = pick<OnInsert>('on_insert', cr.onInsert, ['nothing', 'update', 'panic'], 'update');
  const onUpdate = pick<OnUpdate>('on_update', cr.onUpdate, ['nothing', 'upsert', 'panic'], 'upsert');
  const onDelete = pick<OnDelete>('on_delete', cr.onDelete, ['nothing', 'panic'], 'nothing');
  if (indexSpecs.length > 0xfffe) throw new StoreError(`endpoint "${name}" has more than 65534 indexes`);
  const effective: Schema = { fields, primaryKey };
  return {
    name,
    schema: effective,
    primaryKey,
    pkless,
    indexes: indexSpecs.map(({ kind, positions }, k) => {
      const id = k + 1;
      return {
        id,
        kind,
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
    rowKeySize: pkless ? undefined : fixedRowKeySize(primaryKey.map((p) => fields[p]!)),
    encoder: new RowEncoder(effective),
    decoder: new RowDecoder(effective),
    onInsert,
    onUpdate,
    onDelete,
  };
}

function fixedRowKeySize(keyFields: readonly FieldDefinition[]): number | undefined {
  let size = 0;
  for (const f of keyFields) {
    const n = f.nullable ? undefined : fixedKeySize(f.type);
    if (n === undefined) return undefined;
    size += n;
  }
  return size;
}

/**
 * Index entry keys, written back to back into one buffer (an apply's new rows are encoded
 * before its transaction; the old rows' entries, inside it, into a reused arena).
 */
class EntryArena {
  buf: Buffer;
  private size = 0;
  private count = 0;
  // Typed arrays rather than JS arrays: reset() keeps their memory (a JS array whose length is
  // set to 0 gives its storage back, and grows it again entry by entry).
  starts: Uint32Array;
  ends: Uint32Array;
  /** Byte length of each entry's indexed values (its LMDB value, as uint16 BE). */
  indexed: Uint16Array;

  constructor(capacity: number, entries = 64) {
    this.buf = Buffer.allocUnsafe(capacity);
    this.starts = new Uint32Array(entries);
    this.ends = new Uint32Array(entries);
    this.indexed = new Uint16Array(entries);
  }

  get length(): number {
    return this.count;
  }

  reset(): void {
    this.size = 0;
    this.count = 0;
  }

  /** Adds the entry whose index prefix and values are `scratch[0, n)`, followed by `rowKey`. */
  add(n: number, rowKey: Uint8Array): void {
    const end = this.size + n + rowKey.length;
    if (end > this.buf.length) {
      const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, end));
      this.buf.copy(b, 0, 0, this.size);
      this.buf = b;
    }
    const c = this.count;
    if (c === this.starts.length) {
      const starts = new Uint32Array(c * 2);
      starts.set(this.starts);
      this.starts = starts;
      const ends = new Uint32Array(c * 2);
      ends.set(this.ends);
      this.ends = ends;
      const indexed = new Uint16Array(c * 2);
      indexed.set(this.indexed);
      this.indexed = indexed;
    }
    const buf = this.buf;
    let j = this.size;
    for (let i = 0; i < n; i++) buf[j++] = scratch[i]!;
    for (let i = 0; i < rowKey.length; i++) buf[j++] = rowKey[i]!;
    this.starts[c] = this.size;
    this.ends[c] = end;
    this.indexed[c] = n - 2;
    this.count = c + 1;
    this.size = end;
  }

  /** The index number (0-based, in the layout) of entry `i`. */
  indexOf(i: number): number {
    const s = this.starts[i]!;
    return ((this.buf[s]! << 8) | this.buf[s + 1]!) - 1;
  }

  /** Points {@link arenaKey} at entry `i`, for a put or remove (lmdb copies the key at once). */
  key(i: number): Key {
    arenaKey.buf = this.buf;
    arenaKey.start = this.starts[i]!;
    arenaKey.end = this.ends[i]!;
    return arenaKey as unknown as Key;
  }
}

interface ArenaKey {
  buf: Uint8Array;
  start: number;
  end: number;
}
/** The one key object the key encoder copies from an arena: no allocation per index entry. */
const arenaKey: ArenaKey = { buf: scratch, start: 0, end: 0 };

/**
 * The writes of one apply (or one endpoint's undo), in order, computed before any is made: a
 * conflict found half-way leaves nothing to take back. Index keys stay in their arenas (entry
 * `at[i]` of `key[i]`), written into lmdb-js's key buffer when the write is made.
 */
class WriteList {
  readonly db: Database<Buffer, Key>[] = [];
  readonly key: (Uint8Array | EntryArena)[] = [];
  readonly at: number[] = [];
  /** The value to put; undefined: remove the key. */
  readonly value: (Buffer | undefined)[] = [];
  /**
   * The rows written, as entries of the endpoint's queued rows (see {@link Queued}), which they
   * were put in as they were computed: row key (latin1), the entry, the entry it replaced.
   */
  readonly rowKeys: string[] = [];
  readonly rowEntries: RowEntry[] = [];
  readonly replaced: (RowEntry | undefined)[] = [];
  /** The rows added at keys above every key before, kept in the endpoint's runs. */
  run: AppendRun | undefined;
  /** Index entries of the stored rows these writes replace or delete. */
  readonly old = new EntryArena(4096);

  get length(): number {
    return this.db.length;
  }

  write(db: Database<Buffer, Key>, key: Uint8Array, value: Buffer | undefined): void {
    this.db.push(db);
    this.key.push(key);
    this.at.push(0);
    this.value.push(value);
  }

  /** Puts (with its value) or, `remove`, removes entry `i` of `arena`. */
  entry(db: Database<Buffer, Key>, arena: EntryArena, i: number, remove: boolean): void {
    this.db.push(db);
    this.key.push(arena);
    this.at.push(i);
    this.value.push(remove ? undefined : indexValue(arena.indexed[i]!));
  }

  /**
   * Queues every write on lmdb-js's writer (one event turn: one transaction); the commit's
   * promise. lmdb-js may hand out more than one promise for the writes of one event turn (it
   * starts a new one when its writer thread begins on the batch): all of them are awaited, so
   * that a failed commit rejects no promise nobody handles.
   */
  queue(): Promise<unknown> {
    let commit: Promise<boolean> | undefined;
    let earlier: Promise<boolean>[] | undefined;
    for (let i = 0; i < this.db.length; i++) {
      const key = this.keyAt(i);
      const v = this.value[i];
      const p = v === undefined ? this.db[i]!.remove(key) : this.db[i]!.put(key, v);
      if (p !== commit) {
        if (commit !== undefined) {
          earlier ??= [];
          earlier.push(commit);
        }
        commit = p;
      }
    }
    return earlier === undefined ? commit! : Promise.all([...earlier, commit!]);
  }

  /** Makes every write now (inside a write transaction). */
  writeSync(): void {
    for (let i = 0; i < this.db.length; i++) {
      const key = this.keyAt(i);
      const v = this.value[i];
      if (v === undefined) this.db[i]!.removeSync(key);
      else this.db[i]!.putSync(key, v);
    }
  }

  /** The key of write `i`, for a put or remove made at once (an arena entry is copied by lmdb-js then). */
  private keyAt(i: number): Key {
    const k = this.key[i]!;
    return k instanceof EntryArena ? k.key(this.at[i]!) : (k as Key);
  }
}

function noop(): void {}

/**
 * What made a commit fail: lmdb-js rejects the writes' promises with a generic error whose
 * `commitError` promise holds LMDB's (settled in the same callback; handled here, so that it
 * is not an unhandled rejection).
 */
async function commitFailure(e: unknown): Promise<Error> {
  const detail = (e as { commitError?: Promise<unknown> } | undefined)?.commitError;
  if (detail === undefined || typeof detail.then !== 'function') return e as Error;
  const settled = await Promise.race([
    detail.then(
      () => undefined,
      (x: unknown) => x,
    ),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000).unref()),
  ]);
  if (!(settled instanceof Error)) return e as Error;
  const code = (settled as { code?: unknown }).code;
  return new Error(`${settled.message}${code === undefined ? '' : `, LMDB code ${code}`}`, {
    cause: settled,
  });
}

/** A row key as a map key. */
function rowKeyText(key: Uint8Array): string {
  return latin1Slice.call(key, 0, key.length);
}
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (start: number, end: number) => string })
  .latin1Slice;

/** A new row, checked and encoded before the write transaction. */
interface PreparedRow {
  readonly row: Row;
  readonly key: Uint8Array;
  readonly value: Buffer;
  /** Its index entries: `from` to `to` (excluded) in `arena`. */
  readonly arena: EntryArena;
  readonly from: number;
  readonly to: number;
}

type Prepared =
  | { readonly kind: 'insert'; readonly i: number; readonly put: PreparedRow }
  | { readonly kind: 'delete'; readonly i: number; readonly key: Uint8Array; readonly old: Row }
  | {
      readonly kind: 'update';
      readonly i: number;
      readonly oldKey: Uint8Array;
      readonly old: Row;
      readonly put: PreparedRow;
    };

/** A change made inside the write transaction, before it has a version: old and new rows with their bytes. */
interface Effect {
  readonly op: Operation;
  readonly oldBytes: Uint8Array | undefined;
  readonly newBytes: Uint8Array | undefined;
}

/**
 * A row a scan found. Only rows a filter or an order had to look at are
 * decoded during the scan; the others keep a copy of their stored bytes
 * (lmdb-js reuses its read buffer) and are decoded, or written as JSON, once
 * picked for the answer.
 */
interface Hit {
  row: Row | undefined;
  /**
   * The stored value (with the copy count of rows without a primary key) at
   * `at` in a buffer of kept bytes (see keepBytes): kept when `row` is not, or for JSON
   * (`at` is -1 without).
   */
  readonly bytes: Buffer | undefined;
  readonly at: number;
  readonly key: Uint8Array;
  /** Copies of the row (endpoints without a primary key), of which those from `from` on count. */
  readonly count: number;
  readonly from: number;
}

class LmdbEndpoint implements EndpointStore {
  readonly name: string;
  readonly schema: Schema;
  private readonly fastGet: FastGet;
  private readonly valueOffset: number;
  private readonly fieldTypes: readonly FieldType[];
  /** Scratch of replaceRow: which indexes the update changes. */
  private readonly changedIndexes: boolean[];
  /** Scratch of rebuildIndexes: index entries of stored rows. */
  private readonly oldEntries = new EntryArena(4096);

  constructor(
    private readonly store: LmdbStore,
    private readonly root: RootDatabase,
    private readonly dbs: Dbs,
    private readonly layout: Layout,
    /** The endpoint's stored definition (StoredMeta as JSON): a read thread builds the same layout from it. */
    private readonly storedMeta: string,
  ) {
    this.name = layout.name;
    this.schema = layout.schema;
    this.fastGet = dbs.rows.getBinaryFast.bind(dbs.rows) as FastGet;
    // Rows of endpoints without a primary key carry a uint32 multiplicity before the row.
    this.valueOffset = layout.pkless ? 4 : 0;
    this.fieldTypes = layout.schema.fields.map((f) => f.type);
    this.changedIndexes = layout.indexes.map(() => true);
  }

  private readonly codecs = new Map<string, CursorCodec>();
  private jsonWriter: RowJsonWriter | undefined;
  private readonly listeners = new Set<{ listener: (changes: readonly StoreChange[]) => void }>();

  apply(ops: readonly Operation[]): Promise<void> {
    return this.store.ordered(() => this.applyNow(ops));
  }

  private async applyNow(ops: readonly Operation[]): Promise<void> {
    const store = this.store;
    store.checkWritable();
    const prepared = this.prepare(ops);
    if (prepared.length === 0) return;
    // Computed now, on top of the applies queued before (their rows and feed head are kept until
    // they commit), then queued on lmdb-js's writer as single writes: the B-tree work runs on its
    // thread, and the writes of one event turn are one transaction, so this apply commits whole,
    // with the applies called just before and after it. A conflict (`panic`) throws before
    // anything is queued.
    const writes = new WriteList();
    const effects: Effect[] = [];
    const queued = this.dbs.queued;
    let changes: StoreChange[];
    try {
      for (const p of prepared) this.applyOne(p, effects, writes);
      changes = this.record(effects, writes);
    } catch (e) {
      // Nothing was queued: the rows this apply computed go back to what they were.
      const { rowKeys, replaced } = writes;
      for (let i = rowKeys.length - 1; i >= 0; i--) {
        const r = replaced[i];
        if (r === undefined) queued.rows.delete(rowKeys[i]!);
        else queued.rows.set(rowKeys[i]!, r);
      }
      dropRun(queued, writes.run);
      throw e;
    }
    if (writes.length === 0) {
      // Nothing to write; still resolves after the writes queued before it.
      await store.lastWrite.then(noop, noop);
      store.checkWritable();
    } else {
      queued.inFlight++;
      try {
        await store.written(writes.queue());
      } finally {
        queued.inFlight--;
        // The committed rows are read from LMDB now (lmdb-js renews its read transaction before it
        // resolves a commit); entries a later apply replaced stay until that one commits.
        const { rowKeys, rowEntries } = writes;
        if (queued.inFlight === 0) {
          queued.rows.clear();
          queued.runs.length = 0;
        } else {
          dropRun(queued, writes.run);
          for (let i = 0; i < rowKeys.length; i++) {
            const k = rowKeys[i]!;
            if (queued.rows.get(k) === rowEntries[i]) queued.rows.delete(k);
          }
        }
      }
    }
    if (store.durability === 'sync') await this.root.flushed;
    if (changes.length > 0) this.notify(changes);
  }

  /** The stored value of the row at `key` as the applies computed so far leave it (committed or not). */
  private readRow(key: Uint8Array): Buffer | undefined {
    if (this.aboveAll(key)) return undefined;
    const { rows, runs } = this.dbs.queued;
    if (rows.size > 0) {
      const e = rows.get(rowKeyText(key));
      if (e !== undefined) return e.value;
    }
    if (runs.length > 0) {
      const v = findInRuns(runs, key);
      if (v !== undefined) return v;
    }
    // The fast read's buffer is lmdb-js's, reused by the next read: copied when found.
    const b = this.fastGet(key as Key);
    if (b === undefined) return undefined;
    const n = b.length;
    const copy = Buffer.allocUnsafe(n);
    copy.set(new Uint8Array(b.buffer, b.byteOffset, n));
    return copy;
  }

  /** Whether `key` sorts after every row key stored or queued. */
  private aboveAll(key: Uint8Array): boolean {
    const queued = this.dbs.queued;
    let max = queued.maxKey;
    if (max === undefined) {
      max = null;
      // Empty bounds: the whole database (as the scans give them), read from its end.
      for (const k of this.dbs.rows.getKeys({ start: EMPTY, end: EMPTY, reverse: true, limit: 1 })) {
        max = k as Uint8Array;
      }
      queued.maxKey = max;
    }
    return max === null || compareKeys(key, max) > 0;
  }

  /** Writes (or, value undefined, deletes) the row at `key`. */
  private writeRow(key: Uint8Array, value: Buffer | undefined, writes: WriteList): void {
    writes.write(this.dbs.rows, key, value);
    const queued = this.dbs.queued;
    if (value !== undefined && this.aboveAll(key)) {
      // A new largest key (as in a load in key order): kept in the apply's run, no map entry.
      queued.maxKey = key;
      let run = writes.run;
      if (run === undefined) {
        run = { keys: [], values: [] };
        writes.run = run;
        queued.runs.push(run);
      }
      run.keys.push(key);
      run.values.push(value);
      return;
    }
    const k = rowKeyText(key);
    const e: RowEntry = { value };
    writes.rowKeys.push(k);
    writes.rowEntries.push(e);
    writes.replaced.push(queued.rows.get(k));
    queued.rows.set(k, e);
  }

  version(): bigint {
    return readFeedState(this.dbs.changes).version;
  }

  changesSince(after: bigint, limit?: number): StoreChange[] {
    if (typeof after !== 'bigint' || after < 0n) {
      throw new InvalidQueryError(
        `changesSince: "after" must be a non-negative bigint version, got ${typeof after === 'bigint' ? after : typeof after}`,
      );
    }
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new InvalidQueryError(`changesSince: "limit" must be a non-negative integer, got ${limit}`);
    }
    const db = this.dbs.changes;
    const txn = this.root.useReadTransaction();
    try {
      const st = readFeedState(db, txn);
      if (after > st.version) {
        throw new InvalidQueryError(
          `version ${after} is ahead of endpoint "${this.name}", whose last change is version ${st.version}`,
        );
      }
      if (after < st.expired) {
        throw new ChangesExpiredError(
          `the changes of endpoint "${this.name}" after version ${after} are no longer kept ` +
            `(it keeps the last ${this.store.changeRetention}, from after version ${st.expired}); ` +
            `reload the rows and follow the changes after version ${st.version}`,
          st.expired,
        );
      }
      const out: StoreChange[] = [];
      if (limit === 0 || after === st.version) return out;
      this.readChanges(after, limit ?? Number.POSITIVE_INFINITY, txn, out);
      return out;
    } finally {
      txn.done();
    }
  }

  /**
   * Appends to `out` the retained changes with version > `after`, at most `max`, read in `txn`
   * (the current write transaction without one).
   */
  private readChanges(after: bigint, max: number, txn: Transaction | undefined, out: StoreChange[]): void {
    const db = this.dbs.changes;
    const t = txn === undefined ? {} : { transaction: txn };
    // The record holding version after + 1 is the last one starting at or before it.
    let start: Uint8Array = versionKey(after + 1n);
    for (const key of db.getKeys({
      start,
      end: FIRST_RECORD_KEY,
      reverse: true,
      inclusiveEnd: true,
      limit: 1,
      ...t,
    })) {
      start = key as Uint8Array;
    }
    for (const { key, value } of db.getRange({ start, ...t })) {
      const k = key as Uint8Array;
      let version = new DataView(k.buffer, k.byteOffset, k.byteLength).getBigUint64(0);
      const n = value.readUInt32LE(0);
      let p = 4;
      for (let i = 0; i < n; i++, version++) {
        const oldLen = value.readUInt32LE(p + 1);
        const newLen = value.readUInt32LE(p + 5);
        if (version > after) {
          out.push({ version, op: this.decodeChange(value, p) });
          if (out.length >= max) return;
        }
        p += 9 + oldLen + newLen;
      }
    }
  }

  /**
   * Undoes, newest first, every change after version `at` (call inside the write transaction),
   * and records the compensating changes in the feed. Returns them with their versions.
   */
  undoSince(at: bigint): StoreChange[] {
    const changes: StoreChange[] = [];
    this.readChanges(at, Number.POSITIVE_INFINITY, undefined, changes);
    const expected = readFeedState(this.dbs.changes).version - at;
    if (BigInt(changes.length) !== expected) {
      throw new StoreError(
        `endpoint "${this.name}": its change feed holds ${changes.length} of the ${expected} changes after version ${at}; reset the endpoint`,
      );
    }
    const arena = new EntryArena(4096);
    const effects: Effect[] = [];
    const writes = new WriteList();
    for (let i = changes.length - 1; i >= 0; i--) this.undoOne(changes[i]!, arena, effects, writes);
    const out = this.record(effects, writes);
    writes.writeSync();
    return out;
  }

  /** Applies the inverse of a change, which must be the last one that touched its rows. */
  private undoOne(change: StoreChange, arena: EntryArena, effects: Effect[], writes: WriteList): void {
    const op = change.op;
    const pkless = this.layout.pkless;
    const mismatch = () =>
      new StoreError(
        `endpoint "${this.name}": rolling back change ${change.version} (${op.kind}), the stored rows do not match the change feed; reset the endpoint`,
      );
    // Re-adds `row`: without a primary key one more copy, else at its key, which must be free.
    const restore = (row: Row, to: Effect[]) => {
      const put = this.prepareRow(row, arena);
      if (!pkless && this.readRow(put.key) !== undefined) throw mismatch();
      this.addRow(put, to, writes);
    };
    if (op.kind === 'insert') {
      const key = this.rowKey(op.new);
      const cur = this.readRow(key);
      if (cur === undefined) throw mismatch();
      this.dropRow(key, cur, effects, writes);
      return;
    }
    if (op.kind === 'delete') {
      restore(op.old, effects);
      return;
    }
    const newKey = this.rowKey(op.new);
    const cur = this.readRow(newKey);
    if (cur === undefined) throw mismatch();
    if (!pkless) {
      const put = this.prepareRow(op.old, arena);
      if (compareKeys(newKey, put.key) === 0) {
        this.replaceRow(cur, put, effects, writes);
        return;
      }
    }
    // The row moves back to its old key (or, without a primary key, one copy changes back).
    const gone: Effect[] = [];
    this.dropRow(newKey, cur, gone, writes);
    const added: Effect[] = [];
    restore(op.old, added);
    effects.push({
      op: { kind: 'update', old: (gone[0]!.op as { old: Row }).old, new: op.old },
      oldBytes: gone[0]!.oldBytes,
      newBytes: added[0]!.newBytes,
    });
  }

  subscribe(listener: (changes: readonly StoreChange[]) => void): () => void {
    if (typeof listener !== 'function') throw new StoreError('subscribe needs a listener function');
    // A wrapper, so that subscribing the same function twice gives two subscriptions.
    const entry = { listener };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  notify(changes: readonly StoreChange[]): void {
    for (const { listener } of [...this.listeners]) {
      try {
        listener(changes);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  /**
   * Gives the effects of one apply their versions, writes the retained ones as one feed record
   * and deletes the records whose changes are all expired.
   */
  private record(effects: readonly Effect[], writes: WriteList): StoreChange[] {
    const n = effects.length;
    if (n === 0) return [];
    const db = this.dbs.changes;
    const st = queuedFeed(this.dbs);
    const version = st.version + BigInt(n);
    let floor = version - BigInt(this.store.changeRetention);
    if (floor > st.expired) {
      // Changes after the oldest epoch mark are kept: rollbackTo may need them.
      const pin = this.store.pinnedVersion(this.name);
      if (pin !== undefined && pin < floor) floor = pin;
    }
    const expired = floor > st.expired ? floor : st.expired;
    // Changes already past the retention are not written at all.
    const skip = expired > st.version ? Number(expired - st.version) : 0;
    const record = skip < n ? encodeFeedRecord(effects, skip) : undefined;
    const records = this.feedRecords();
    if (expired > st.expired) this.pruneFeed(records, expired, st.version, writes);
    if (record !== undefined) {
      const first = st.version + 1n + BigInt(skip);
      writes.write(db, versionKey(first), record);
      records.push(first);
    }
    const out = new Array<StoreChange>(n);
    let v = st.version;
    for (let i = 0; i < n; i++) out[i] = { version: ++v, op: effects[i]!.op };
    writes.write(db, FEED_STATE_KEY, feedStateBytes(version, expired));
    this.dbs.queued.feed = { version, expired };
    return out;
  }

  /** The first versions of the feed's records, committed and queued (read from the keys once). */
  private feedRecords(): bigint[] {
    const queued = this.dbs.queued;
    if (queued.records === undefined) {
      const records: bigint[] = [];
      for (const key of this.dbs.changes.getKeys({ start: FIRST_RECORD_KEY })) {
        const k = key as Uint8Array;
        records.push(new DataView(k.buffer, k.byteOffset, k.byteLength).getBigUint64(0));
      }
      queued.records = records;
    }
    return queued.records;
  }

  /**
   * Deletes the feed records all of whose changes have versions up to `expired`. A record ends
   * before the next one starts (between them lie only changes that were never written, being
   * expired already), and the last one at `last`, the version of the last change.
   */
  private pruneFeed(records: bigint[], expired: bigint, last: bigint, writes: WriteList): void {
    const db = this.dbs.changes;
    let n = 0;
    while (n < records.length) {
      const end = n + 1 < records.length ? records[n + 1]! - 1n : last;
      if (end > expired) break;
      n++;
    }
    for (const first of records.splice(0, n)) writes.write(db, versionKey(first), undefined);
  }

  /** The change at byte `p` of a feed record. */
  private decodeChange(b: Buffer, p: number): Operation {
    const kind = OP_KINDS[b[p]!];
    const oldLen = b.readUInt32LE(p + 1);
    const decoder = this.layout.decoder;
    const at = p + 9;
    switch (kind) {
      case 'insert':
        return { kind, new: decoder.decode(b, at) };
      case 'delete':
        return { kind, old: decoder.decode(b, at) };
      case 'update':
        return { kind, old: decoder.decode(b, at), new: decoder.decode(b, at + oldLen) };
      default:
        throw new StoreError(
          `the change feed of endpoint "${this.name}" holds an entry of unknown kind ${b[p]}; reset the endpoint`,
        );
    }
  }

  /** Applies one prepared operation with the endpoint's conflict resolution; records what it changed. */
  private applyOne(p: Prepared, effects: Effect[], writes: WriteList): void {
    const { pkless, onInsert, onUpdate, onDelete } = this.layout;
    if (p.kind === 'insert') {
      // Without a primary key an insert always adds a copy.
      const old = pkless ? undefined : this.readRow(p.put.key);
      if (old === undefined) this.addRow(p.put, effects, writes);
      else if (onInsert === 'update') this.replaceRow(old, p.put, effects, writes);
      else if (onInsert === 'panic')
        this.conflict(p, p.put.row, 'a row with this key already exists', 'on_insert: panic');
      return;
    }
    if (p.kind === 'delete') {
      const old = this.readRow(p.key);
      if (old !== undefined) this.dropRow(p.key, old, effects, writes);
      else if (onDelete === 'panic')
        this.conflict(p, p.old, 'there is no row with this key', 'on_delete: panic');
      return;
    }
    const old = this.readRow(p.oldKey);
    if (old === undefined) {
      if (onUpdate === 'panic') {
        this.conflict(p, p.old, 'there is no row with the old key', 'on_update: panic');
      } else if (onUpdate === 'upsert') {
        const taken = pkless ? undefined : this.readRow(p.put.key);
        if (taken === undefined) this.addRow(p.put, effects, writes);
        else this.replaceRow(taken, p.put, effects, writes);
      }
      return;
    }
    if (!pkless && compareKeys(p.oldKey, p.put.key) === 0) {
      this.replaceRow(old, p.put, effects, writes);
      return;
    }
    const taken = pkless ? undefined : this.readRow(p.put.key);
    if (taken !== undefined) {
      if (onUpdate === 'nothing') return;
      if (onUpdate === 'panic') {
        this.conflict(
          p,
          p.put.row,
          'the update moves its row to this key, which another row holds',
          'on_update: panic',
        );
      }
      // upsert: the moved row replaces the one at its new key.
      this.dropRow(p.oldKey, old, effects, writes);
      this.replaceRow(taken, p.put, effects, writes);
      return;
    }
    // The row moves to a free key (or, without a primary key, one copy becomes a copy of the new row).
    const gone: Effect[] = [];
    this.dropRow(p.oldKey, old, gone, writes);
    const added: Effect[] = [];
    this.addRow(p.put, added, writes);
    effects.push({
      op: { kind: 'update', old: (gone[0]!.op as { old: Row }).old, new: p.put.row },
      oldBytes: gone[0]!.oldBytes,
      newBytes: added[0]!.newBytes,
    });
  }

  private conflict(p: Prepared, row: Row, what: string, rule: string): never {
    const positions = this.layout.pkless ? this.schema.fields.map((_, i) => i) : this.layout.primaryKey;
    const key: Record<string, string> = {};
    for (const pos of positions) key[this.schema.fields[pos]!.name] = valueText(row[pos] ?? null);
    const keyText = Object.entries(key)
      .map(([k, v]) => `${k} = ${v}`)
      .join(', ');
    throw new ConflictError(
      `endpoint "${this.name}", operation ${p.i} (${p.kind}) on key (${keyText}): ${what} ` +
        `(conflict resolution ${rule}); nothing of this batch was written`,
      this.name,
      key,
    );
  }

  /** Writes a new row at a free key (without a primary key: one more copy of it). */
  private addRow(put: PreparedRow, effects: Effect[], writes: WriteList): void {
    const newBytes = put.value.subarray(this.valueOffset);
    effects.push({ op: { kind: 'insert', new: put.row }, oldBytes: undefined, newBytes });
    if (this.layout.pkless) {
      const old = this.readRow(put.key);
      if (old !== undefined) {
        // A copy: a queued value is never changed.
        const b = Buffer.from(old);
        b.writeUInt32LE(old.readUInt32LE(0) + 1, 0);
        this.writeRow(put.key, b, writes);
        return;
      }
      put.value.writeUInt32LE(1, 0);
    }
    this.writeRow(put.key, put.value, writes);
    const index = this.dbs.index;
    for (let i = put.from; i < put.to; i++) writes.entry(index, put.arena, i, false);
  }

  /** Replaces the stored row `old` (same key, endpoints with a primary key) by the new one. */
  private replaceRow(old: Buffer, put: PreparedRow, effects: Effect[], writes: WriteList): void {
    const index = this.dbs.index;
    const oldRow = this.layout.decoder.decode(old, 0);
    this.writeRow(put.key, put.value, writes);
    // Only the indexes whose values changed are rewritten (same values, same key: same entries).
    const indexes = this.layout.indexes;
    const changed = this.changedIndexes;
    let any = false;
    for (let i = 0; i < indexes.length; i++) {
      changed[i] = indexChanged(indexes[i]!, this.fieldTypes, oldRow, put.row);
      if (changed[i]) any = true;
    }
    if (any) {
      this.removeIndexEntries(oldRow, put.key, writes, changed);
      const { arena, to } = put;
      for (let i = put.from; i < to; i++) {
        if (changed[arena.indexOf(i)]) writes.entry(index, arena, i, false);
      }
    }
    effects.push({ op: { kind: 'update', old: oldRow, new: put.row }, oldBytes: old, newBytes: put.value });
  }

  /** Deletes the stored row `old` at `key` (without a primary key: one copy of it). */
  private dropRow(key: Uint8Array, old: Buffer, effects: Effect[], writes: WriteList): void {
    const off = this.valueOffset;
    const oldRow = this.layout.decoder.decode(old, off);
    effects.push({ op: { kind: 'delete', old: oldRow }, oldBytes: old.subarray(off), newBytes: undefined });
    if (this.layout.pkless) {
      const count = old.readUInt32LE(0);
      if (count > 1) {
        // A copy: the effect keeps a view of the row bytes, and a queued value is never changed.
        const b = Buffer.from(old);
        b.writeUInt32LE(count - 1, 0);
        this.writeRow(key, b, writes);
        return;
      }
    }
    this.removeIndexEntries(oldRow, key, writes);
    this.writeRow(key, undefined, writes);
  }

  get(key: readonly Value[]): Row | undefined {
    const bytes = this.getBytes(key);
    return bytes === undefined ? undefined : this.layout.decoder.decode(bytes, this.valueOffset);
  }

  getJson(key: readonly Value[]): string | undefined {
    const bytes = this.getBytes(key);
    return bytes === undefined ? undefined : this.rowJson().write(bytes, this.valueOffset);
  }

  /** The stored bytes of the row with this key, in lmdb-js's reused read buffer. */
  private getBytes(key: readonly Value[]): Buffer | undefined {
    const n = this.layout.pkless ? this.schema.fields.length : this.layout.primaryKey.length;
    if (key.length !== n) {
      throw new StoreError(`endpoint "${this.name}" is keyed by ${n} value(s), got ${key.length}`);
    }
    try {
      // Rows without a primary key may be keyed by a hash (see rowKey); others encode straight into lmdb's key buffer.
      return this.fastGet(this.layout.pkless ? this.rowKey(key) : (key as unknown as Key));
    } catch (e) {
      // A key too long to encode cannot have been stored.
      if (e instanceof RangeError) return undefined;
      throw e;
    }
  }

  private rowJson(): RowJsonWriter {
    this.jsonWriter ??= new RowJsonWriter(this.schema, this.layout.decoder);
    return this.jsonWriter;
  }

  /** The decoded row of a hit (decoded once). */
  private rowOf(h: Hit): Row {
    h.row ??= this.layout.decoder.decode(h.bytes!, h.at + this.valueOffset);
    return h.row;
  }

  query(q: Query): Row[] {
    return this.run(q, false, ROWS).picked.map((h) => this.rowOf(h));
  }

  queryPage(q: Query, p: Plan = this.plan(q)): QueryPage {
    const { picked, cursor } = this.run(q, true, ROWS, p);
    const rows = picked.map((h) => this.rowOf(h));
    return cursor === undefined ? { rows } : { rows, cursor };
  }

  queryPageJson(q: Query, p: Plan = this.plan(q)): QueryPageJson {
    const { picked, cursor } = this.run(q, true, JSON_TEXT, p);
    const writer = this.rowJson();
    const off = this.valueOffset;
    let json = '[';
    for (let i = 0; i < picked.length; i++) {
      if (i > 0) json += ',';
      const h = picked[i]!;
      json += writer.write(h.bytes!, h.at + off);
    }
    json += ']';
    return cursor === undefined ? { json, rows: picked.length } : { json, rows: picked.length, cursor };
  }

  count(filter?: Filter): number {
    if (filter === undefined && !this.layout.pkless) return this.rowCount();
    return this.countPlanned(this.plan(filter === undefined ? {} : { filter }));
  }

  private countPlanned(p: Plan): number {
    let n = 0;
    this.scan(
      p,
      undefined,
      (h) => {
        n += h.count - h.from;
        return false;
      },
      COUNT,
    );
    return n;
  }

  answerPage(q: Query): QueryPage | Promise<QueryPage> {
    const p = this.plan(q);
    const pool = this.pagePoolFor(q, p);
    if (pool === undefined) return this.queryPage(q, p);
    return this.readElsewhere(pool, q).then(({ bytes, offsets, cursor }) => {
      const rows = offsets.map((at) => this.layout.decoder.decode(bytes, at));
      return cursor === undefined ? { rows } : { rows, cursor };
    });
  }

  answerPageJson(q: Query): QueryPageJson | Promise<QueryPageJson> {
    const p = this.plan(q);
    const pool = this.pagePoolFor(q, p);
    if (pool === undefined) return this.queryPageJson(q, p);
    return this.readElsewhere(pool, q).then(({ bytes, offsets, cursor }) => {
      const writer = this.rowJson();
      let json = '[';
      for (let i = 0; i < offsets.length; i++) json += (i > 0 ? ',' : '') + writer.write(bytes, offsets[i]!);
      json += ']';
      return cursor === undefined ? { json, rows: offsets.length } : { json, rows: offsets.length, cursor };
    });
  }

  answerCount(filter?: Filter): number | Promise<number> {
    if (filter === undefined && !this.layout.pkless) return this.rowCount();
    const p = this.plan(filter === undefined ? {} : { filter });
    const pool = this.poolFor(p);
    if (pool === undefined) return this.countPlanned(p);
    const request = {
      op: 'count' as const,
      name: this.name,
      meta: this.storedMeta,
      ...(filter === undefined ? {} : { filter: filterToWire(filter, this.schema) }),
    };
    return pool.read(request).then((r) => r.count!);
  }

  /** The read threads for a plan that reads more than one key, on an endpoint large enough to be worth a thread. */
  private poolFor(p: Plan): ReadPool | undefined {
    const kind = p.access.kind;
    if (kind === 'empty' || kind === 'lookup') return undefined;
    const pool = this.store.readPool();
    return pool !== undefined && this.rowCount() >= this.store.readThreadMinRows ? pool : undefined;
  }

  /**
   * {@link poolFor} for a page: not for an ordered scan that stops at the page. The window and
   * the cursor are checked here first, so that a bad query throws at once, on this thread.
   */
  private pagePoolFor(q: Query, p: Plan): ReadPool | undefined {
    const { skip } = this.window(q);
    if (p.ordered && p.residual.length === 0 && skip < HEAVY_SKIP) return undefined;
    const pool = this.poolFor(p);
    if (pool !== undefined && q.after !== undefined) this.cursorCodec(p.sort).decode(q.after);
    return pool;
  }

  /** The page of `q` from a read thread, its bytes as a Buffer (what the row JSON writer reads). */
  private readElsewhere(pool: ReadPool, q: Query): Promise<EncodedPage & { bytes: Buffer }> {
    const request = {
      op: 'page' as const,
      name: this.name,
      meta: this.storedMeta,
      query: queryToWire(q, this.schema),
    };
    return pool.read(request).then((r) => {
      const { bytes } = r.page!;
      return { ...r.page!, bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
    });
  }

  private rowCount(): number {
    return (this.dbs.rows.getStats() as { entryCount: number }).entryCount;
  }

  /** A page as a read thread answers it: the picked rows encoded one after another (see read-pool.ts). */
  encodedPage(q: Query): EncodedPage {
    const { picked, cursor } = this.run(q, true, ROWS);
    const parts = picked.map((h) => this.layout.encoder.encode(this.rowOf(h)));
    let total = 0;
    for (const b of parts) total += b.length;
    // An ArrayBuffer of its own, to be transferred.
    const bytes = new Uint8Array(total);
    const offsets: number[] = [];
    let at = 0;
    for (const b of parts) {
      offsets.push(at);
      bytes.set(b, at);
      at += b.length;
    }
    return cursor === undefined ? { bytes, offsets } : { bytes, offsets, cursor };
  }

  explain(q: Query): string {
    const { skip, limit } = this.window(q);
    const p = this.plan(q);
    let after = '';
    if (q.after !== undefined) {
      after =
        p.access.kind === 'scan' && p.access.seek
          ? '; after the cursor: the scan starts at its position'
          : '; after the cursor: rows up to it are left out';
    }
    return `${p.description}${after}; skip ${skip}, limit ${limit}`;
  }

  /** The hits of the answer, one per row (copies repeat their hit), and the next page's cursor. */
  private run(
    q: Query,
    page: boolean,
    mode: ScanMode,
    p: Plan = this.plan(q),
  ): { picked: Hit[]; cursor: string | undefined } {
    const { skip, limit } = this.window(q);
    resetKept();
    const codec = page || q.after !== undefined ? this.cursorCodec(p.sort) : undefined;
    const after = q.after === undefined ? undefined : codec!.decode(q.after);
    // One row more than asked tells a page whether another follows.
    const want = skip + limit + (page ? 1 : 0);
    const hits: Hit[] = [];
    let total = 0;
    if (limit > 0) {
      this.scan(
        p,
        after,
        (h) => {
          hits.push(h);
          total += h.count - h.from;
          return p.ordered && total >= want;
        },
        mode,
      );
    }
    if (!p.ordered) hits.sort(hitComparator(p.sort));
    const picked: Hit[] = [];
    let last: { hit: Hit; copy: number } | undefined;
    let more = false;
    let seen = 0;
    outer: for (const h of hits) {
      for (let c = h.from; c < h.count; c++, seen++) {
        if (seen >= skip + limit) {
          more = true;
          break outer;
        }
        if (seen >= skip) {
          picked.push(h);
          last = { hit: h, copy: c };
        }
      }
    }
    const cursor =
      page && more && last ? codec!.encode(this.rowOf(last.hit), last.hit.key, last.copy) : undefined;
    return { picked, cursor };
  }

  private cursorCodec(sort: readonly SortTerm[]): CursorCodec {
    const key = sort.map((t) => `${t.pos}:${t.dir}`).join(',');
    let codec = this.codecs.get(key);
    if (!codec) {
      codec = new CursorCodec(this.schema, sort, this.layout.pkless ? [] : this.layout.primaryKey);
      if (this.codecs.size > 64) this.codecs.clear();
      this.codecs.set(key, codec);
    }
    return codec;
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
      const arena = this.oldEntries;
      arena.reset();
      this.addEntries(arena, row, rowKey, undefined);
      for (let i = 0; i < arena.length; i++) index.putSync(arena.key(i), indexValue(arena.indexed[i]!));
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
    const preds = resolveFilter(q.filter, this.schema);
    const sort = resolveOrder(q.orderBy, this.schema);
    return plan(
      {
        schema: this.schema,
        primaryKey: this.layout.pkless ? [] : this.layout.primaryKey,
        indexes: this.layout.indexes,
      },
      preds,
      sort,
    );
  }

  /**
   * Calls `visit` with each row the plan yields that passes its residual
   * predicates and comes after the cursor, until `visit` returns true.
   */
  private scan(p: Plan, after: Cursor | undefined, visit: (h: Hit) => boolean, mode: ScanMode): void {
    const access = p.access;
    if (access.kind === 'empty') return;
    const residual = p.residual;
    // Rows are decoded during the scan only when a predicate, the cursor or the sort looks at them.
    const decode = residual.length > 0 || (mode !== COUNT && (after !== undefined || !p.ordered));
    const keep: Keep = decode
      ? mode === JSON_TEXT
        ? DECODE_AND_COPY
        : DECODE
      : mode === COUNT
        ? NOTHING
        : COPY;
    const decoder = this.layout.decoder;
    const off = this.valueOffset;
    const { rows, index } = this.dbs;
    const sort = p.sort;
    // Every read below uses lmdb-js's shared read transaction, which stays the same snapshot for
    // the whole synchronous scan (it is renewed at the earliest on a later event turn); without an
    // explicit transaction, range reads reuse a cursor instead of opening one each time.
    if (access.kind === 'lookup') {
      const n = this.layout.lookupWriter(access.key, scratch, 0);
      const key = scratch.slice(0, n);
      const bytes = this.fastGet(key);
      const h = bytes && this.hit(residual, sort, after, key, bytes, keep);
      if (h) visit(h);
      return;
    }
    if (access.kind === 'tokens') {
      // Rows holding any of the words, each once.
      const keys = new Map<string, Uint8Array>();
      for (const r of access.ranges) {
        for (const { key, value } of index.getRange({ start: r.start ?? EMPTY, end: r.end ?? EMPTY })) {
          const k = key as Uint8Array;
          const rowKey = k.subarray(2 + value.readUInt16BE(0));
          keys.set(Buffer.from(rowKey).toString('latin1'), rowKey);
        }
      }
      for (const rowKey of keys.values()) {
        const h = this.hit(residual, sort, after, rowKey, this.fetch(rowKey), keep);
        if (h && visit(h)) return;
      }
      return;
    }
    let { start, end } = access.range;
    const seek = access.seek;
    const cursorGroup = after && seek && !seek.rowKey ? groupKey(seek, sort, after.values, true) : undefined;
    if (after && seek) {
      // Skip ahead to the cursor (the hit test drops the cursor's row itself).
      if (!access.reverse) {
        const at = seek.rowKey
          ? Buffer.concat([seek.base, after.key])
          : cursorAt(access.index !== undefined, cursorGroup!, after.key);
        if (!start || compareKeys(at, start) > 0) start = at;
      } else if (cursorGroup) {
        const upTo = prefixSuccessor(cursorGroup);
        if (upTo && (!end || compareKeys(upTo, end) < 0)) end = upTo;
      }
      if (start && end && compareKeys(start, end) >= 0) return;
    }
    if (access.reverse && access.regroup && seek) {
      // Descending order with ties in ascending key order: walk the groups of equal sort values
      // backwards, and each group forwards, so that no group is ever buffered.
      const db = access.index ? index : rows;
      let upper = end;
      for (;;) {
        let last: { key: Key; value: Buffer } | undefined;
        for (const e of db.getRange({
          start: upper ?? EMPTY,
          end: start ?? EMPTY,
          reverse: true,
          limit: 1,
          ...(upper ? { exclusiveStart: true } : {}),
          ...(start ? { inclusiveEnd: true } : {}),
        })) {
          last = e;
        }
        if (!last) return;
        const lk = last.key as Uint8Array;
        const row = access.index
          ? decoder.decode(this.fetch(lk.subarray(2 + last.value.readUInt16BE(0))), off)
          : decoder.decode(last.value, off);
        const group = groupKey(seek, sort, row, false);
        let from: Uint8Array = group;
        if (start && compareKeys(start, from) > 0) from = start;
        if (cursorGroup && compareKeys(group, cursorGroup) === 0) {
          const at = cursorAt(access.index !== undefined, group, after!.key);
          if (compareKeys(at, from) > 0) from = at;
        }
        let to = prefixSuccessor(group);
        if (end && (!to || compareKeys(end, to) < 0)) to = end;
        for (const { key, value } of db.getRange({ start: from, end: to ?? EMPTY })) {
          const k = key as Uint8Array;
          let h: Hit | undefined;
          if (access.index) {
            const rowKey = k.subarray(2 + value.readUInt16BE(0));
            h = this.hit(residual, sort, after, rowKey, this.fetch(rowKey), keep);
          } else {
            h = this.hit(residual, sort, after, k, value, keep);
          }
          if (h && visit(h)) return;
        }
        upper = group;
      }
    }
    const opts = access.reverse
      ? {
          start: end ?? EMPTY,
          end: start ?? EMPTY,
          reverse: true,
          ...(end ? { exclusiveStart: true } : {}),
          ...(start ? { inclusiveEnd: true } : {}),
        }
      : { start: start ?? EMPTY, end: end ?? EMPTY };
    if (access.reverse && access.regroup) {
      throw new StoreError('internal: a reverse scan with ties needs a seek description');
    }
    if (!access.index) {
      for (const { key, value } of rows.getRange(opts)) {
        const h = this.hit(residual, sort, after, key as Uint8Array, value, keep);
        if (h && visit(h)) return;
      }
      return;
    }
    const rowKeySize = this.layout.rowKeySize;
    if (rowKeySize !== undefined) {
      // Row keys of one size end each entry's key: the entries' values need not be read.
      for (const key of index.getKeys(opts)) {
        const k = key as Uint8Array;
        const rowKey = k.subarray(k.length - rowKeySize);
        const h = this.hit(residual, sort, after, rowKey, this.fetch(rowKey), keep);
        if (h && visit(h)) return;
      }
      return;
    }
    for (const { key, value } of index.getRange(opts)) {
      const rowKey = (key as Uint8Array).subarray(2 + value.readUInt16BE(0));
      const h = this.hit(residual, sort, after, rowKey, this.fetch(rowKey), keep);
      if (h && visit(h)) return;
    }
  }

  /**
   * The hit for a row the scan read, if it passes the residual predicates and
   * comes after the cursor (in the query's order: the sort terms, then the
   * row key; copies of one row by copy index).
   */
  private hit(
    residual: readonly Predicate[],
    sort: readonly SortTerm[],
    after: Cursor | undefined,
    key: Uint8Array,
    bytes: Buffer,
    keep: Keep,
  ): Hit | undefined {
    const off = this.valueOffset;
    const count = off ? bytes.readUInt32LE(0) : 1;
    if (keep === COPY) {
      const at = keepBytes(bytes);
      return { row: undefined, bytes: kept, at, key, count, from: 0 };
    }
    if (keep === NOTHING) return { row: undefined, bytes: undefined, at: 0, key, count, from: 0 };
    const row = this.layout.decoder.decode(bytes, off);
    if (residual.length > 0 && !passes(residual, row)) return undefined;
    const at = keep === DECODE_AND_COPY ? keepBytes(bytes) : -1;
    const copy = at >= 0 ? kept : undefined;
    if (!after) return { row, bytes: copy, at, key, count, from: 0 };
    let c = 0;
    for (let i = 0; i < sort.length && c === 0; i++) {
      const t = sort[i]!;
      c = compareValues(t.type, row[t.pos] ?? null, after.values[i] ?? null) * t.dir;
    }
    if (c === 0) c = compareKeys(key, after.key);
    if (c < 0) return undefined;
    const from = c === 0 ? after.copy + 1 : 0;
    return from < count ? { row, bytes: copy, at, key, count, from } : undefined;
  }

  /** The row an index entry refers to. */
  private fetch(rowKey: Uint8Array): Buffer {
    const bytes = this.fastGet(rowKey);
    if (bytes === undefined) {
      throw new StoreError(
        `index of endpoint "${this.name}" refers to a missing row; reset the endpoint to rebuild it`,
      );
    }
    return bytes;
  }

  private prepare(ops: readonly Operation[]): Prepared[] {
    const out: Prepared[] = [];
    const entries = ops.length * this.layout.indexes.length;
    const arena = new EntryArena(Math.min(1 << 20, 64 + entries * 32), Math.max(16, entries));
    ops.forEach((op, i) => {
      try {
        switch (op.kind) {
          case 'insert':
            out.push({ kind: 'insert', i, put: this.prepareRow(op.new, arena) });
            break;
          case 'delete':
            out.push({ kind: 'delete', i, key: this.rowKey(op.old), old: op.old });
            break;
          case 'update':
            out.push({
              kind: 'update',
              i,
              oldKey: this.rowKey(op.old),
              old: op.old,
              put: this.prepareRow(op.new, arena),
            });
            break;
          default:
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

  private prepareRow(row: Row, arena: EntryArena): PreparedRow {
    const value = this.layout.encoder.encode(row, this.valueOffset);
    const key = this.rowKey(row);
    const from = arena.length;
    this.addEntries(arena, row, key, undefined);
    return { row, key, value, arena, from, to: arena.length };
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

  /**
   * Adds the entries of `row` to `arena`, in the indexes `only` marks (all without it): one per
   * sorted index, one per distinct word for a full-text one.
   */
  private addEntries(
    arena: EntryArena,
    row: Row,
    rowKey: Uint8Array,
    only: readonly boolean[] | undefined,
  ): void {
    const indexes = this.layout.indexes;
    for (let i = 0; i < indexes.length; i++) {
      if (only && !only[i]) continue;
      const ix = indexes[i]!;
      if (ix.kind === 'sorted') {
        arena.add(this.indexKey(ix, ix.writer, row, rowKey), rowKey);
        continue;
      }
      const v = row[ix.positions[0]!];
      if (typeof v !== 'string') continue;
      for (const w of new Set(tokenize(v).map(indexedToken))) {
        arena.add(this.indexKey(ix, tokenWriter, [w], rowKey), rowKey);
      }
    }
  }

  /**
   * Writes the index prefix and indexed values of an entry of `ix` into `scratch`, and returns
   * their length, after checking that they fit in a key with `rowKey`.
   */
  private indexKey(ix: SecondaryIndex, writer: TupleWriter, row: Row, rowKey: Uint8Array): number {
    scratch[0] = ix.prefix[0]!;
    scratch[1] = ix.prefix[1]!;
    let n: number;
    try {
      n = writer(row, scratch, 2);
    } catch (e) {
      if (e instanceof RangeError) n = Number.POSITIVE_INFINITY;
      else throw e;
    }
    if (n + rowKey.length > MAX_KEY_SIZE) {
      const fields = ix.positions.map((p) => this.schema.fields[p]!.name).join(', ');
      throw new StoreError(
        ix.kind === 'sorted'
          ? `the value of ${fields} is too long for a sorted index (index keys hold at most ${MAX_KEY_SIZE} bytes with the row key); ` +
              `leave ${fields} out of the endpoint's secondary indexes or declare it as text`
          : `the primary key is too long for the full-text index on ${fields} (index keys hold at most ${MAX_KEY_SIZE} bytes with a word)`,
      );
    }
    return n;
  }

  /** Removes the entries of the stored row `row` (in the indexes `only` marks, all without it). */
  private removeIndexEntries(
    row: Row,
    rowKey: Uint8Array,
    writes: WriteList,
    only?: readonly boolean[],
  ): void {
    const arena = writes.old;
    const from = arena.length;
    this.addEntries(arena, row, rowKey, only);
    const index = this.dbs.index;
    for (let i = from; i < arena.length; i++) writes.entry(index, arena, i, true);
  }
}

/**
 * The key prefix of the entries of the rows whose sort values (at `seek.sortAt`) are given: by
 * sort term (`bySortTerm`, a cursor's values) or as a row.
 */
function groupKey(seek: Seek, sort: readonly SortTerm[], values: Row, bySortTerm: boolean): Uint8Array {
  const parts: Uint8Array[] = [seek.base];
  for (const i of seek.sortAt) {
    parts.push(encodeKey(sort[i]!.type, (bySortTerm ? values[i] : values[sort[i]!.pos]) ?? null));
  }
  return Buffer.concat(parts);
}

/** Where a cursor's row is (or was) in the scanned keys: its group, then (in an index) its row key. */
function cursorAt(inIndex: boolean, group: Uint8Array, rowKey: Uint8Array): Uint8Array {
  return inIndex ? Buffer.concat([group, rowKey]) : rowKey;
}

/**
 * Whether an update from `a` to `b` changes the entries of index `ix` (for the same row key):
 * values equal by compareValues have the same key encoding, and equal strings the same words.
 */
function indexChanged(ix: SecondaryIndex, types: readonly FieldType[], a: Row, b: Row): boolean {
  for (const p of ix.positions) {
    if (compareValues(types[p]!, a[p] ?? null, b[p] ?? null) !== 0) return true;
  }
  return false;
}

function passes(conds: readonly Predicate[], row: Row): boolean {
  for (const c of conds) if (!matches(c, row)) return false;
  return true;
}

/** What a scan gives its hits: decoded rows, copies of their bytes, or neither (see LmdbEndpoint.scan). */
type ScanMode = typeof ROWS | typeof JSON_TEXT | typeof COUNT;
const ROWS = 0;
const JSON_TEXT = 1;
const COUNT = 2;
/** What a hit keeps of the row it read. */
type Keep = typeof DECODE | typeof DECODE_AND_COPY | typeof COPY | typeof NOTHING;
const DECODE = 0;
const DECODE_AND_COPY = 1;
const COPY = 2;
const NOTHING = 3;

/**
 * Where a query keeps the bytes of rows it has not decoded (lmdb-js reuses the
 * buffer it reads into): one buffer, filled from the start by each query
 * (queries run synchronously, and no kept bytes outlive one), so that a
 * decoder or JSON writer sees one buffer for all rows. Replaced by a larger
 * one when full (earlier hits keep the old one).
 */
let kept = Buffer.allocUnsafe(1 << 16);
let keptEnd = 0;

/** Starts a query's kept bytes over. */
function resetKept(): void {
  keptEnd = 0;
}

/**
 * Copies a value lmdb-js read (whose `length` it sets below the buffer's
 * size) into the kept bytes, `kept` afterwards; returns where the copy starts.
 */
function keepBytes(b: Buffer): number {
  const n = b.length;
  if (keptEnd + n > kept.length) {
    kept = Buffer.allocUnsafe(Math.max(kept.length * 2, n));
    keptEnd = 0;
  }
  kept.set(new Uint8Array(b.buffer, b.byteOffset, n), keptEnd);
  const at = keptEnd;
  keptEnd += n;
  return at;
}

/** Orders hits of an unordered plan (whose rows the scan decoded). */
function hitComparator(sort: readonly SortTerm[]): (a: Hit, b: Hit) => number {
  return (a, b) => {
    for (const t of sort) {
      const c = compareValues(t.type, a.row![t.pos] ?? null, b.row![t.pos] ?? null);
      if (c !== 0) return c * t.dir;
    }
    return compareKeys(a.key, b.key);
  };
}

/** What a mark stores: each endpoint's version at the epoch, as decimal text. */
interface EpochMark {
  readonly versions: Readonly<Record<string, string>>;
}

/** In a mark, the version of an endpoint reset after it: it cannot be rolled back to. */
const RESET_MARK = 'reset';

/** An endpoint's version at a mark; 0 for an endpoint created after it, -1 for one reset after it. */
function markedVersion(mark: EpochMark, name: string): bigint {
  const v = mark.versions[name];
  if (v === RESET_MARK) return -1n;
  return v === undefined ? 0n : BigInt(v);
}

function checkEpoch(what: string, epoch: bigint): void {
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch >= 1n << 64n) {
    throw new StoreError(
      `${what}: the epoch must be a bigint from 0 to 2^64 - 1, got ${typeof epoch === 'bigint' ? epoch : typeof epoch}`,
    );
  }
}

function epochKey(epoch: bigint): Uint8Array {
  return versionKey(epoch);
}

function epochOfKey(k: Uint8Array): bigint {
  return new DataView(k.buffer, k.byteOffset, k.byteLength).getBigUint64(0);
}

function versionKey(v: bigint): Uint8Array {
  const k = new Uint8Array(8);
  new DataView(k.buffer).setBigUint64(0, v);
  return k;
}

interface FeedState {
  /** Version of the last change. */
  readonly version: bigint;
  /** Changes with versions up to this one are pruned. */
  readonly expired: bigint;
}

/** Takes an apply's run (if any) out of the queued runs. */
function dropRun(queued: Queued, run: AppendRun | undefined): void {
  if (run === undefined) return;
  const i = queued.runs.indexOf(run);
  if (i >= 0) queued.runs.splice(i, 1);
}

/** The change feed's head after the applies queued so far (read from the database when none is). */
function queuedFeed(dbs: Dbs): FeedState {
  dbs.queued.feed ??= readFeedState(dbs.changes);
  return dbs.queued.feed;
}

/** Drops what was kept of queued applies (none may be in flight): it is read again from the database. */
function forgetQueued(dbs: Dbs): void {
  dbs.queued.rows.clear();
  dbs.queued.runs.length = 0;
  dbs.queued.feed = undefined;
  dbs.queued.records = undefined;
  dbs.queued.maxKey = undefined;
}

function readFeedState(db: Database<Buffer, Key>, transaction?: Transaction): FeedState {
  let b = transaction ? db.get(FEED_STATE_KEY, { transaction }) : db.getBinary(FEED_STATE_KEY);
  // A store of format 1 being reset: versions keep counting from its state.
  b ??= transaction ? db.get(LEGACY_FEED_STATE_KEY, { transaction }) : db.getBinary(LEGACY_FEED_STATE_KEY);
  if (b === undefined) return { version: 0n, expired: 0n };
  return { version: b.readBigUInt64BE(0), expired: b.readBigUInt64BE(8) };
}

function writeFeedState(db: Database<Buffer, Key>, version: bigint, expired: bigint): void {
  db.putSync(FEED_STATE_KEY, feedStateBytes(version, expired));
}

function feedStateBytes(version: bigint, expired: bigint): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeBigUInt64BE(version, 0);
  b.writeBigUInt64BE(expired, 8);
  return b;
}

/** A feed record of the effects from `from` on (format in FEED_STATE_KEY's comment). */
function encodeFeedRecord(effects: readonly Effect[], from: number): Buffer {
  let size = 4;
  for (let i = from; i < effects.length; i++) {
    const e = effects[i]!;
    size += 9 + (e.oldBytes?.length ?? 0) + (e.newBytes?.length ?? 0);
  }
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32LE(effects.length - from, 0);
  let p = 4;
  for (let i = from; i < effects.length; i++) {
    const e = effects[i]!;
    const oldLen = e.oldBytes?.length ?? 0;
    const newLen = e.newBytes?.length ?? 0;
    b[p] = OP_KINDS.indexOf(e.op.kind);
    b.writeUInt32LE(oldLen, p + 1);
    b.writeUInt32LE(newLen, p + 5);
    p += 9;
    if (e.oldBytes) b.set(e.oldBytes, p);
    p += oldLen;
    if (e.newBytes) b.set(e.newBytes, p);
    p += newLen;
  }
  return b;
}

function valueText(v: Value): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
  return String(v);
}

/**
 * The read side of the store at `options.path`, for a read thread of its
 * writer (read-worker.ts): pages and counts of endpoints given by name and
 * stored definition, each read in a fresh read transaction (the last
 * committed state). Never writes.
 */
export function openReadSide(options: {
  readonly path: string;
  readonly maxDbs: number;
  readonly defaultLimit: number;
  readonly maxLimit: number;
}): {
  page(name: string, meta: string, query: WireQuery): EncodedPage;
  count(name: string, meta: string, filter: WireFilter | undefined): number;
} {
  const root = open({ path: options.path, maxDbs: options.maxDbs });
  // The read path of an endpoint reads only the limits of its store.
  const limits = { defaultLimit: options.defaultLimit, maxLimit: options.maxLimit } as LmdbStore;
  const endpoints = new Map<string, { meta: string; endpoint: LmdbEndpoint }>();
  const endpointOf = (name: string, meta: string): LmdbEndpoint => {
    const known = endpoints.get(name);
    if (known?.meta === meta) return known.endpoint;
    const layout = storedLayout(name, JSON.parse(meta) as StoredMeta);
    const dbs = openDbs(root, name, { lookup: layout.lookupWriter });
    const endpoint = new LmdbEndpoint(limits, root, dbs, layout, meta);
    endpoints.set(name, { meta, endpoint });
    return endpoint;
  };
  return {
    page(name, meta, query) {
      const endpoint = endpointOf(name, meta);
      root.resetReadTxn();
      return endpoint.encodedPage(queryFromWire(query, endpoint.schema));
    },
    count(name, meta, filter) {
      const endpoint = endpointOf(name, meta);
      root.resetReadTxn();
      return endpoint.count(filter === undefined ? undefined : filterFromWire(filter, endpoint.schema));
    },
  };
}
