/** The `mysql` connector (MySQL 8 / MariaDB binlog CDC); see docs/mysql.md. */
export type { MysqlConfig } from './config.js';
export { mysqlConnector } from './mysql-connector.js';
