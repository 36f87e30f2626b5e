import fs from 'node:fs';
import net from 'node:net';
import { describe } from 'vitest';

/** Connection settings of the test servers that `scripts/services.sh` prepares (overridable by env). */
export const PG = {
  host: process.env.DOZER_TEST_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.DOZER_TEST_PG_PORT ?? 5432),
  user: process.env.DOZER_TEST_PG_USER ?? 'dozer',
  password: process.env.DOZER_TEST_PG_PASSWORD ?? 'dozer',
  database: process.env.DOZER_TEST_PG_DATABASE ?? 'dozer',
};
export const MYSQL = {
  host: process.env.DOZER_TEST_MYSQL_HOST ?? '127.0.0.1',
  port: Number(process.env.DOZER_TEST_MYSQL_PORT ?? 3306),
  user: process.env.DOZER_TEST_MYSQL_USER ?? 'dozer',
  password: process.env.DOZER_TEST_MYSQL_PASSWORD ?? 'dozer',
  database: process.env.DOZER_TEST_MYSQL_DATABASE ?? 'dozer',
};

function reachable(host: string, port: number, ms = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * `describe` for tests that need a server. When the server does not answer,
 * the suite is skipped on a developer's machine, but under CI=true it fails:
 * CI must never pass by skipping.
 */
export async function describeWithService(
  service: string,
  address: { host: string; port: number },
  name: string,
  body: () => void,
): Promise<void> {
  const up = await reachable(address.host, address.port);
  if (up) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      throw new Error(
        `${service} is not reachable at ${address.host}:${address.port}; run "bash scripts/services.sh" (CI must not skip service tests)`,
      );
    });
    return;
  }
  describe.skip(
    `${name} (${service} not reachable at ${address.host}:${address.port}; run bash scripts/services.sh)`,
    body,
  );
}

/**
 * Drops a logical replication slot if it exists. A `dozer` killed with
 * SIGKILL leaves its replication connection open until the server notices,
 * and an active slot cannot be dropped: its walsender is ended first, and the
 * drop retried for up to `ms`. `query` runs SQL on an ordinary connection.
 */
export async function dropReplicationSlot(
  query: (sql: string, params: unknown[]) => Promise<{ rows: unknown[] }>,
  slot: string,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    await query(
      'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
      [slot],
    );
    try {
      await query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      return;
    } catch (e) {
      // "is active for PID n": the walsender has not exited yet.
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * A dozer.yaml `connections:` entry named `shop` for the test Postgres, its
 * password read from `${PG_PASSWORD}` (pass `{ PG_PASSWORD: PG.password }`
 * in the environment of the `dozer` it configures).
 */
export function pgConnectionYaml(options: {
  slot: string;
  publication: string;
  tables: readonly string[];
}): string {
  return `  - name: shop
    kind: postgres
    config:
      host: ${PG.host}
      port: ${PG.port}
      user: ${PG.user}
      password: \${PG_PASSWORD}
      database: ${PG.database}
      slot_name: ${options.slot}
      publication_name: ${options.publication}
      tables: [${options.tables.join(', ')}]
`;
}

/**
 * A dozer.yaml `connections:` entry named `shop` for the test MariaDB, its
 * password read from `${MYSQL_PASSWORD}` (pass `{ MYSQL_PASSWORD: MYSQL.password }`
 * in the environment of the `dozer` it configures). `serverId` must differ
 * between the tests that may run at once: the server drops a binlog reader
 * when another connects with its id.
 */
export function mysqlConnectionYaml(options: { serverId: number; tables: readonly string[] }): string {
  return `  - name: shop
    kind: mysql
    config:
      host: ${MYSQL.host}
      port: ${MYSQL.port}
      user: ${MYSQL.user}
      password: \${MYSQL_PASSWORD}
      database: ${MYSQL.database}
      server_id: ${options.serverId}
      tables: [${options.tables.join(', ')}]
`;
}

/** The Chromium the browser tests drive (`scripts/services.sh` installs Debian's). */
export const CHROMIUM = process.env.DOZER_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Flags for Chromium on a machine without a display or outside network:
 * without the background-networking ones it keeps trying to reach Google's
 * hosts, which a closed network refuses.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** `describe` for tests that drive Chromium: skipped without it on a developer's machine, failing under CI=true. */
export function describeWithBrowser(name: string, body: () => void): void {
  if (fs.existsSync(CHROMIUM)) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      throw new Error(
        `Chromium is not at ${CHROMIUM}; run "bash scripts/services.sh" (CI must not skip browser tests)`,
      );
    });
    return;
  }
  describe.skip(`${name} (Chromium not at ${CHROMIUM}; run bash scripts/services.sh)`, body);
}
