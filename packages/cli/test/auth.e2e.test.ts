import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DozerProcess, freePort, getJson, postJson, runDozer, spawnDozer, until } from './helpers.js';

const SECRET = 'e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

function configText(restPort: number, grpcPort: number, auth: string): string {
  return `version: 1
app_name: auth-e2e
home_dir: ./home
connections:
  - name: gen
    kind: generator
    config: {"seed": 3, "rate": 0, "batch_size": 50, "tables": [{"name": "trips", "rows": 200, "max_ops": 0}]}
sources:
  - name: trips
    connection: gen
sql: |
  SELECT id, city FROM trips INTO cities;
endpoints:
  - name: trips
    path: /trips
    table_name: trips
  - name: cities
    path: /cities
    table_name: cities
api:
  rest: { host: 127.0.0.1, port: ${restPort} }
  grpc: { host: 127.0.0.1, port: ${grpcPort} }
${auth}`;
}

describe('dozer run with api.auth (HS256)', () => {
  let dir: string;
  let dozer: DozerProcess | undefined;
  let base: string;
  let file: string;
  const env = { DOZER_JWT_SECRET: SECRET };
  const token = async (...args: string[]) => {
    const res = await runDozer(['security', 'generate-token', '-c', file, ...args], { env });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    return res.stdout.trim();
  };
  const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
  const count = (t: string) =>
    getJson(`${base}/trips/count`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` },
      body: '{}',
    });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-auth-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    file = path.join(dir, 'dozer.yaml');
    const auth = '  auth:\n    algorithm: HS256\n    secret: ${DOZER_JWT_SECRET}\n';
    fs.writeFileSync(file, configText(port, await freePort(), auth));
    dozer = spawnDozer(['run', '-c', file], { env });
    await dozer.waitFor('Serving 2 endpoint(s)');
    const admin = await token('--subject', 'admin');
    await until(
      async () => ((await count(admin)).body as { count: number }).count === 200,
      60_000,
      'the 200 generated trips to be served',
    );
  }, 120_000);

  afterAll(() => {
    dozer?.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses requests without a token or with a bad one, and keeps serving', async () => {
    const none = await getJson(`${base}/trips`);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'UNAUTHENTICATED' });
    const forged = await getJson(`${base}/trips`, bearer(`${await token()}x`));
    expect(forged.status).toBe(401);
    expect((await getJson(`${base}/trips`, bearer(await token()))).status).toBe(200);
  });

  it('a tenant token sees only its rows by list, query, count and key lookup', async () => {
    const admin = await token();
    const all = (await getJson(`${base}/trips?limit=500`, bearer(admin))).body as Array<{
      id: string;
      city: string;
    }>;
    expect(all).toHaveLength(200);
    const city = all[0]!.city;
    const mine = all.filter((r) => r.city === city);
    const other = all.find((r) => r.city !== city)!;
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.length).toBeLessThan(200);

    const tenant = await token('--subject', 'tenant', '--filter', JSON.stringify({ city }));
    const listed = (await getJson(`${base}/trips?limit=500`, bearer(tenant))).body as Array<{ id: string }>;
    expect(listed.map((r) => r.id).sort()).toEqual(mine.map((r) => r.id).sort());
    const queried = await getJson(`${base}/trips/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tenant}` },
      body: JSON.stringify({ $filter: { id: { $gte: 0 } }, $limit: 500 }),
    });
    expect((queried.body as unknown[]).length).toBe(mine.length);
    expect((await count(tenant)).body).toEqual({ count: mine.length });
    expect((await getJson(`${base}/trips/${mine[0]!.id}`, bearer(tenant))).status).toBe(200);
    expect((await getJson(`${base}/trips/${other.id}`, bearer(tenant))).status).toBe(404);
    // The filter applies to every endpoint ("*"), including SQL outputs.
    const cities = (await getJson(`${base}/cities?limit=500`, bearer(tenant))).body as Array<{
      city: string;
    }>;
    expect(new Set(cities.map((r) => r.city))).toEqual(new Set([city]));
  });

  it('a token limited to some endpoints gets 403 on the others', async () => {
    const limited = await token('--endpoints', 'cities');
    expect((await getJson(`${base}/cities`, bearer(limited))).status).toBe(200);
    const denied = await getJson(`${base}/trips`, bearer(limited));
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('generate-token rejects unknown endpoints, bad JSON and bad lifetimes with a clear message', async () => {
    const bad = async (args: string[], message: string) => {
      const res = await runDozer(['security', 'generate-token', '-c', file, ...args], { env });
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(message);
    };
    await bad(['--endpoints', 'tripz'], '--endpoints: no endpoint "tripz" (endpoints: trips, cities)');
    await bad(['--filter', '{city:'], '--filter: not valid JSON');
    await bad(['--expires-in', 'soon'], '--expires-in: expected seconds or a number with s, m, h or d');
  });

  it('an expired token is refused', async () => {
    const shortLived = await token('--expires-in', '5s');
    expect((await getJson(`${base}/trips`, bearer(shortLived))).status).toBe(200);
    const { exp } = JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString()) as {
      exp: number;
    };
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 1100));
    const res = await postJson(`${base}/trips/count`, {});
    expect(res.status).toBe(401);
    const expired = await getJson(`${base}/trips`, bearer(shortLived));
    expect(expired.status).toBe(401);
    expect(expired.body).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});

describe('dozer security generate-token with RS256', () => {
  it('signs with the private key file, and says what is missing without it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-rs256-'));
    try {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      fs.writeFileSync(path.join(dir, 'public.pem'), publicKey);
      fs.writeFileSync(path.join(dir, 'private.pem'), privateKey);
      const file = path.join(dir, 'dozer.yaml');
      const withKeys =
        '  auth:\n    algorithm: RS256\n    public_key_file: public.pem\n    private_key_file: private.pem\n';
      fs.writeFileSync(file, configText(18080, 18081, withKeys));
      const ok = await runDozer(['security', 'generate-token', '-c', file, '--expires-in', '1h']);
      expect(ok.code).toBe(0);
      const [header, payload] = ok.stdout.trim().split('.');
      expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toMatchObject({ alg: 'RS256' });
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as {
        exp: number;
        iat: number;
      };
      expect(claims.exp - claims.iat).toBe(3600);

      fs.writeFileSync(
        file,
        configText(18080, 18081, '  auth:\n    algorithm: RS256\n    public_key_file: public.pem\n'),
      );
      const missing = await runDozer(['security', 'generate-token', '-c', file]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(
        'api.auth.private_key_file: issuing RS256 tokens needs the PEM private key',
      );

      fs.writeFileSync(path.join(dir, 'public.pem'), 'not a key');
      fs.writeFileSync(file, configText(18080, 18081, withKeys));
      const garbled = await runDozer(['security', 'generate-token', '-c', file]);
      expect(garbled.code).toBe(2);
      expect(garbled.stderr).toContain(`is not a PEM public key`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
