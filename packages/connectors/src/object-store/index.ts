/**
 * The `object_store` connector: CSV, JSON lines and Parquet files in a
 * local directory or an S3 bucket, snapshotted and then polled for new
 * files. The lead registers `objectStoreConnector` in the registry and
 * re-exports these names from the package index.
 */
export type {
  CsvOptions,
  LocalStorageConfig,
  ObjectStoreColumnConfig,
  ObjectStoreConfig,
  ObjectStoreSchemaConfig,
  ObjectStoreTableConfig,
  S3StorageConfig,
} from './config.js';
export { objectStoreConnector } from './object-store-connector.js';
