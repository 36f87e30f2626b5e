import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DozerProcess, freePort, postJson, spawnDozer, until } from './helpers.js';

// An endpoint keyed by city over trips: many trips share a city, so inserts
// collide and the endpoint's conflict_resolution decides what is served.
async function configText(conflicts: string): Promise<{ text: string; base: string }> {
  const port = await freePort();
  return {
    base: `http://127.0.0.1:${port}`,
    text: `version: 1
app_name: conflicts
home_dir: ./home
connections:
  - name: gen
    kind: generator
    config: {"seed": 11, "rate": 0, "batch_size": 10, "tables": [{"name": "trips", "rows": 60, "max_ops": 0}]}
sources:
  - name: trips
    connection: gen
endpoints:
  - name: trips
    path: /trips
    table_name: trips
  - name: by_city
    path: /by-city
    table_name: trips
    index:
      primary_key: [city]
    conflict_resolution: ${conflicts}
api:
  rest: { host: 127.0.0.1, port: ${port} }
  grpc: { host: 127.0.0.1, port: ${await freePort()} }
`,
  };
}

describe('endpoint conflict_resolution', () => {
  let dir: string | undefined;
  let dozer: DozerProcess | undefined;
  afterEach(() => {
    dozer?.child.kill('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async (conflicts: string) => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-conflicts-'));
    const { text, base } = await configText(conflicts);
    fs.writeFileSync(path.join(dir, 'dozer.yaml'), text);
    dozer = spawnDozer(['run', '-c', path.join(dir, 'dozer.yaml')]);
    return base;
  };
  const all = async (base: string, p: string) =>
    (await postJson(`${base}${p}/query`, { $limit: 1000, $order_by: { id: 'asc' } })).body as Array<{
      id: string;
      city: string;
    }>;

  it('on_insert nothing keeps the first trip of each city; update keeps the last', async () => {
    for (const [mode, pick] of [
      ['nothing', 'first'],
      ['update', 'last'],
    ] as const) {
      const base = await start(`{ on_insert: ${mode} }`);
      await dozer!.waitFor('Serving 2 endpoint(s)');
      await until(async () => (await all(base, '/trips')).length === 60, 60_000, 'the 60 trips');
      const trips = await all(base, '/trips');
      const expected = new Map<string, string>();
      for (const t of trips) if (pick === 'last' || !expected.has(t.city)) expected.set(t.city, t.id);
      await until(
        async () => (await all(base, '/by-city')).length === expected.size,
        10_000,
        'one row per city',
      );
      const served = await all(base, '/by-city');
      expect(new Map(served.map((r) => [r.city, r.id]))).toEqual(expected);
      expect(expected.size).toBeLessThan(60);
      dozer!.child.kill('SIGKILL');
      await dozer!.exited;
      fs.rmSync(dir!, { recursive: true, force: true });
      dir = undefined;
    }
  });

  it('on_insert panic stops the run with an error naming the endpoint and the key', async () => {
    await start('{ on_insert: panic }');
    expect(await dozer!.exited).toBe(1);
    expect(dozer!.stderr()).toMatch(/ingestion failed: .*by_city.*city/);
  });
});
