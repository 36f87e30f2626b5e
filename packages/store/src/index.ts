/** An indexed LMDB store for endpoint rows: writes of operations, key lookups, filtered and ordered queries. */

export {
  /** The change feed no longer holds the changes asked for (code INVALID_QUERY): reload and follow on. */
  ChangesExpiredError,
  /** An operation conflicts with the stored rows under a `panic` conflict resolution (code STORE). */
  ConflictError,
  /** A query or filter is malformed (code INVALID_QUERY). */
  InvalidQueryError,
  /** The store failed or its contents conflict with a request (code STORE). */
  StoreError,
} from './errors.js';
export {
  /** The comparison operators: `$eq`, `$lt`, `$lte`, `$gt`, `$gte`. */
  COMPARISON_OPS,
  /** One of the comparison operators. */
  type ComparisonOp,
  /** Default `$limit` (50) and largest `$limit` (5000). */
  DEFAULT_QUERY_LIMITS,
  /** A parsed filter: comparisons and text tests combined with and / or. */
  type Filter,
  /** One `$order_by` term. */
  type OrderBy,
  /** Parses a `$filter` object; throws InvalidQueryError. */
  parseFilter,
  /** Parses a REST/gRPC query body (`$filter`, `$order_by`, `$limit`, `$skip`, `$after`); throws InvalidQueryError. */
  parseQuery,
  /** A parsed query. */
  type Query,
  /** Default and largest `$limit`. */
  type QueryLimits,
  /** `asc` or `desc`. */
  type SortDirection,
  /** The text operators: `$contains`, `$matches_any`, `$matches_all`. */
  TEXT_OPS,
  /** One of the text operators. */
  type TextOp,
} from './query.js';
export {
  /** Conflict resolution of an endpoint: on_insert, on_update, on_delete. */
  type ConflictResolution,
  type Durability,
  /** The indexes `secondaryIndexes: 'all'` stands for, to extend or trim. */
  defaultSecondaryIndexes,
  /** What an endpoint stores: name, schema, primary key override, secondary indexes. */
  type EndpointDefinition,
  /** One endpoint's rows and indexes: apply, get, query, count, explain. */
  type EndpointStore,
  /** What a delete of a missing row does: `nothing`, `panic`. */
  type OnDelete,
  /** What an insert of a taken key does: `nothing`, `update`, `panic`. */
  type OnInsert,
  /** What an update of a missing row, or onto a taken key, does: `nothing`, `upsert`, `panic`. */
  type OnUpdate,
  /** Options of `openStore`: path, initial map size, query limits. */
  type OpenStoreOptions,
  /** Opens (creating if needed) a store in a directory. */
  openStore,
  /** A page of rows and the cursor of the next one. */
  type QueryPage,
  /** A secondary index: sorted on one or more fields, or full-text on a string/text field. */
  type SecondaryIndexDefinition,
  /** An LMDB environment holding endpoints. */
  type Store,
  /** One operation as it took effect, with the endpoint's version after it. */
  type StoreChange,
} from './store.js';
export {
  /** The process writing a store (holding its writer lock), or undefined when none runs. */
  storeWriter,
  /** Who holds a store's writer lock: pid, host, start time, thread. */
  type WriterLockHolder,
  /** The file naming the process that writes a store. */
  writerLockFile,
} from './writer-lock.js';
