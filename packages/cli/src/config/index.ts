export {
  /** Connector kinds accepted without a plugin when no validators are given. */
  BUILTIN_CONNECTOR_KINDS,
} from './cross-checks.js';
export {
  /** Defaults for the `api` section. */
  DEFAULT_API,
  /** Default `home_dir`, relative to the config file. */
  DEFAULT_HOME_DIR,
  /** Default addresses of the ingestor and the processor. */
  DEFAULT_NODE_ADDRESSES,
} from './defaults.js';
export {
  type Env,
  type ExpandResult,
  /** Expands `${VAR}`, `${VAR:-default}` and `$$` in one string. */
  expandEnv,
} from './env-substitution.js';
export {
  /** A problem found in the config file, with its line and column. */
  type ConfigIssue,
  /** A key path inside the config, outermost first. */
  type ConfigPath,
  /** One ConfigError listing issues one per line, in file order. */
  configErrorFromIssues,
  /** `file:line:column: message`. */
  formatConfigIssue,
} from './issues.js';
export {
  /** Checks endpoint tables against the tables the compiled SQL writes; returns located issues. */
  checkEndpointTables,
  /** Reads and validates a dozer.yaml file; throws one ConfigError listing every problem. */
  loadConfig,
  /** Validates dozer.yaml text already read; `fileName` is used in messages and to resolve `home_dir`. */
  parseConfig,
} from './load-config.js';
export {
  /** Names of the tables an SQL text writes with `INTO`, by a light scan. */
  scanSqlOutputs,
} from './sql-outputs.js';
export {
  /** The commented sample dozer.yaml written by `dozer init`. */
  renderInitTemplate,
} from './template.js';
export type {
  ApiConfig,
  AuthSettings,
  ConflictResolutionConfig,
  ConnectionConfig,
  ConnectionConfigIssue,
  ConnectionValidator,
  DozerConfig,
  EndpointConfig,
  EndpointIndexConfig,
  IngestorNodeConfig,
  NodesConfig,
  ObjectStoreSettings,
  ParseConfigOptions,
  ProcessorNodeConfig,
  QueueSettings,
  SecondaryIndexSpec,
  ServerAddress,
  SourceConfig,
} from './types.js';
