/**
 * The `object_store` connector: CSV, JSON lines and Parquet files in a
 * local directory or an S3 bucket, snapshotted and then polled for new
 * files. Registered as a built-in kind by the registry.
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
