/** An indexed LMDB store for endpoint rows: writes of operations, key lookups, filtered and ordered queries. */

export {
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
  /** A parsed filter: comparisons ANDed together. */
  type Filter,
  /** One `$order_by` term. */
  type OrderBy,
  /** Parses a `$filter` object; throws InvalidQueryError. */
  parseFilter,
  /** Parses a REST/gRPC query body (`$filter`, `$order_by`, `$limit`, `$skip`); throws InvalidQueryError. */
  parseQuery,
  /** A parsed query. */
  type Query,
  /** Default and largest `$limit`. */
  type QueryLimits,
  /** `asc` or `desc`. */
  type SortDirection,
} from './query.js';
export {
  /** What an endpoint stores: name, schema, primary key override, secondary indexes. */
  type EndpointDefinition,
  /** One endpoint's rows and indexes: apply, get, query, count, explain. */
  type EndpointStore,
  /** Options of `openStore`: path, initial map size, query limits. */
  type OpenStoreOptions,
  /** Opens (creating if needed) a store in a directory. */
  openStore,
  /** An LMDB environment holding endpoints. */
  type Store,
} from './store.js';
