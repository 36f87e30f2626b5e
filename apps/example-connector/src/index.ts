/**
 * @dozer/example-connector: a Dozer connector plugin that tails a
 * newline-delimited JSON changelog file. Dozer loads it by package name
 * (`kind: "@dozer/example-connector"` in dozer.yaml) and uses the
 * `connector` export.
 */
import type { ConnectorFactory } from '@dozer/connectors';
import { changelogConnector } from './changelog-connector.js';
import type { ChangelogConfig } from './config.js';

/** The connector factory Dozer looks for in a plugin package. */
export const connector: ConnectorFactory<ChangelogConfig> = changelogConnector;

export type { ChangelogColumnConfig, ChangelogConfig, ChangelogTableConfig } from './config.js';
export { validateChangelogConfig } from './config.js';
