/**
 * @dozer/connectors: the interface every connector implements (built-in or
 * a plugin package), the registry that finds them by kind, and the
 * built-in connectors.
 */
export {
  type ConfigIssue,
  type Connector,
  type ConnectorContext,
  type ConnectorFactory,
  type ConnectorLogger,
  defineConnector,
  formatConfigIssue,
  formatIssuePath,
  type IngestSink,
  type LagInfo,
  resolveConfigPath,
  type StartRequest,
  silentLogger,
  type TableInfo,
  type TableLag,
  type TableRequest,
} from './connector.js';
export { ConnectorError, isSourceRebuildError, SourceRebuildError } from './errors.js';
export type { GeneratorSpec } from './generator/columns.js';
export type { GeneratorColumnConfig, GeneratorConfig, GeneratorTableConfig } from './generator/config.js';
export { generatorConnector } from './generator/generator-connector.js';
export type { MysqlConfig } from './mysql/index.js';
export { mysqlConnector } from './mysql/index.js';
export type { NexmarkConfig } from './nexmark/config.js';
export {
  generateNexmark,
  type NexmarkGenerateOptions,
  type NexmarkOptions,
} from './nexmark/generate.js';
export { NEXMARK_SCHEMAS, NEXMARK_TABLES, type NexmarkTable } from './nexmark/model.js';
export { nexmarkConnector } from './nexmark/nexmark-connector.js';
export type {
  CsvOptions,
  LocalStorageConfig,
  ObjectStoreColumnConfig,
  ObjectStoreConfig,
  ObjectStoreSchemaConfig,
  ObjectStoreTableConfig,
  S3StorageConfig,
} from './object-store/index.js';
export { objectStoreConnector } from './object-store/index.js';
export type { PostgresConfig, PostgresSslConfig } from './postgres/index.js';
export { postgresConnector, validatePostgresConfig } from './postgres/index.js';
export { projectTable, type TableProjection } from './projection.js';
export {
  BUILTIN_CONNECTORS,
  type ConnectorOrigin,
  type ConnectorRegistry,
  type ConnectorRegistryOptions,
  createConnectorRegistry,
  loadConnectorFactory,
} from './registry.js';
