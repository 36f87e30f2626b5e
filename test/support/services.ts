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
