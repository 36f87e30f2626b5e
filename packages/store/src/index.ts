/** An indexed LMDB store for endpoint rows: writes of operations, key lookups, filtered and ordered queries. */
export {
  /** Opens (creating if needed) a store in a directory. */
  openStore,
  /** Options of `openStore`: path, initial map size, query limits. */
  type OpenStoreOptions,
  /** What an endpoint stores: name, schema, primary key override, secondary indexes. */
  type EndpointDefinition,
  /** An LMDB environment holding endpoints. */
  type Store,
  /** One endpoint's rows and indexes: apply, get, query, count, explain. */
  type EndpointStore,
} from './store.js';
export {
  /** Parses a REST/gRPC query body (`$filter`, `$order_by`, `$limit`, `$skip`); throws InvalidQueryError. */
  parseQuery,
  /** Parses a `$filter` object; throws InvalidQueryError. */
  parseFilter,
  /** The comparison operators: `$eq`, `$lt`, `$lte`, `$gt`, `$gte`. */
  COMPARISON_OPS,
  /** Default `$limit` (50) and largest `$limit` (5000). */
  DEFAULT_QUERY_LIMITS,
  /** One of the comparison operators. */
  type ComparisonOp,
  /** A parsed filter: comparisons ANDed together. */
  type Filter,
  /** One `$order_by` term. */
  type OrderBy,
  /** A parsed query. */
  type Query,
  /** Default and largest `$limit`. */
  type QueryLimits,
  /** `asc` or `desc`. */
  type SortDirection,
} from './query.js';
export {
  /** A query or filter is malformed (code INVALID_QUERY). */
  InvalidQueryError,
  /** The store failed or its contents conflict with a request (code STORE). */
  StoreError,
} from './errors.js';
