/**
 * The `postgres` connector: a consistent snapshot, then logical replication
 * through `pgoutput`. Wired into the registry by the package's index.
 */
export type { PostgresConfig, PostgresSslConfig } from './config.js';
export { validatePostgresConfig } from './config.js';
export { postgresConnector } from './postgres-connector.js';
