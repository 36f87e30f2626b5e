// The API under load over loopback. Issue #4's targets are against the HTTP
// ceiling (f), a bare Hono route returning the same JSON bytes as (b) with no
// store read: (b) ≥ 0.7× and (c) ≥ 0.5× of it. Each Dozer route is also put
// beside a bare Hono handler that does the same store reads and writes the
// same bytes, so that second ratio is what packages/api adds (routing,
// parameter and auth checks, row JSON, headers, the compression decision),
// not the store's own cost:
//   (a) bare Hono: the lmdb get of (b), JSON.stringify(rowToObject(row));
//   (b) REST lookup by key, against (f) (target) and (a);
//   (a') bare Hono: the body read, parseQuery and queryPage of (c), each row
//       as JSON.stringify(rowToObject(row)), the x-next-cursor header;
//   (c) REST query served from a secondary index (10 rows), against (f) (target) and (a');
//   (d) the query of (c) on the endpoint's typed gRPC service, against (a');
//   (e) a gRPC call that does no work (getEndpoints): grpc-js's own ceiling;
//   (f) bare Hono answering constant bytes: the HTTP ceiling, no store at all;
//   (g) (b) with a JWT bearer token (HS256) checked, against (a);
//   (h) bare Hono that spends the CPU time of (c)'s store query (measured in
//       this process first) and answers (c)'s bytes: the ceiling of any
//       handler doing (c)'s store reads here, against (f). On a VM the cost of
//       a request grows faster than the handler's own work (waking the idle
//       load generator costs the server more), so (h) shows how much of (c)'s
//       distance to (f) is the store's reads alone.
// The bare handlers are as lean as the Dozer ones (a Response with a plain
// headers object, the body taken from Node's parser buffer when complete) but
// write rows the plain way, JSON.stringify(rowToObject(row)): that this
// package's row writer is cheaper is why (c) can reach 1× or more.
// Load comes from autocannon or a grpc-js client in a child process, so the
// bench process's CPU time is the servers' alone: besides req/s (which other
// work on the machine skews) it prints the server CPU time per request, the
// steadier figure on a loaded machine. The targets take turns, ROUNDS times;
// each figure is the median over the rounds. Never fails on a figure.
//   pnpm bench api [seconds per round] [rows] [rounds]
import { fork } from 'node:child_process';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Decimal, insertOp, makeSchema, rowToObject, Timestamp } from '@dozer/core';
import { openStore } from '@dozer/store';
import { Hono } from 'hono';
import {
  createAuthenticator,
  createRestApp,
  generateToken,
  startGrpcServer,
  startHttpServer,
  writeProtoFiles,
} from '../src/index.js';

const SECONDS = Number(process.argv[2] ?? 3);
const ROWS = Number(process.argv[3] ?? 50_000);
const ROUNDS = Number(process.argv[4] ?? 3);
const CONNECTIONS = 32;
const WARMUP = 1;
const CITIES = 500;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dozer-api-bench-'));
const store = openStore({ path: path.join(dir, 'store') });
const schema = makeSchema(
  [
    { name: 'id', type: 'int', nullable: false },
    { name: 'city', type: 'string', nullable: false },
    { name: 'fare', type: 'decimal', nullable: false },
    { name: 'pickup', type: 'timestamp', nullable: false },
    { name: 'passengers', type: 'int', nullable: true },
  ],
  ['id'],
);
const trips = store.openEndpoint({ name: 'trips', schema });
const base = Timestamp.parse('2024-01-01T00:00:00Z').micros;
for (let i = 0; i < ROWS; i += 10_000) {
  const ops = [];
  for (let j = i; j < Math.min(ROWS, i + 10_000); j++) {
    ops.push(
      insertOp([
        BigInt(j),
        `city-${j % CITIES}`,
        new Decimal(BigInt(500 + ((j * 7919) % 10_000)), 2),
        new Timestamp(base + BigInt(j) * 1_000_123n),
        BigInt(1 + (j % 4)),
      ]),
    );
  }
  await trips.apply(ops);
}

const KEY = 4242n;
const recordJson = JSON.stringify(rowToObject(schema, trips.get([KEY])!));
// One city has ROWS / CITIES rows; the index on `city` finds them, `$limit` keeps the answer at 10.
const query = { $filter: { city: `city-${Number(KEY) % CITIES}` }, $limit: 10 };
const queryBody = JSON.stringify(query);
const JSON_TYPE = 'application/json; charset=UTF-8';

/** The request body as text: the parser's buffer when the message is complete, else its chunks. */
function readBody(req: IncomingMessage): Promise<string> | string {
  if (req.complete && !req.readableFlowing) return (req.read() as Buffer | null)?.toString('utf8') ?? '';
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

// The store's own work for (c), measured in this process: the median of 20 runs of 2,000
// queries. Route (h) spends that much CPU time, then answers (c)'s bytes: the ceiling of any
// handler that does (c)'s store reads, on this machine.
const storeUs = (() => {
  const one = () => trips.queryPageJson(trips.parseQuery(JSON.parse(queryBody)));
  for (let i = 0; i < 5000; i++) one();
  const samples: number[] = [];
  for (let r = 0; r < 20; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) one();
    samples.push(((performance.now() - t0) * 1000) / 2000);
  }
  return samples.sort((a, b) => a - b)[10]!;
})();
const queryPageText = trips.queryPageJson(trips.parseQuery(query));
const bare = new Hono<{ Bindings: { incoming: IncomingMessage } }>();
bare.get('/const/:key', () => new Response(recordJson, { headers: { 'content-type': JSON_TYPE } }));
bare.get('/trips/:key', (c) => {
  const row = trips.get([BigInt(c.req.param('key'))]);
  if (!row) return c.notFound();
  return new Response(JSON.stringify(rowToObject(schema, row)), { headers: { 'content-type': JSON_TYPE } });
});
bare.post('/trips/query', async (c) => {
  const page = trips.queryPage(trips.parseQuery(JSON.parse(await readBody(c.env.incoming))));
  const headers: { [k: string]: string } = { 'content-type': JSON_TYPE };
  if (page.cursor !== undefined) headers['x-next-cursor'] = page.cursor;
  const text = `[${page.rows.map((r) => JSON.stringify(rowToObject(schema, r))).join(',')}]`;
  return new Response(text, { headers });
});
bare.post('/spin', async (c) => {
  await readBody(c.env.incoming);
  const until = performance.now() + storeUs / 1000;
  while (performance.now() < until) {
    // the store's time for (c), spent without the store
  }
  const headers: { [k: string]: string } = { 'content-type': JSON_TYPE };
  if (queryPageText.cursor !== undefined) headers['x-next-cursor'] = queryPageText.cursor;
  return new Response(queryPageText.json, { headers });
});
// The bare app reads the raw request (env.incoming), which startHttpServer's plain Hono type does not name.
const bareServer = await startHttpServer(bare as unknown as Hono, { host: '127.0.0.1', port: 0 });
const rest = await startHttpServer(
  createRestApp({ endpoints: [{ name: 'trips', path: '/trips', store: trips }] }),
  { host: '127.0.0.1', port: 0 },
);
const authConfig = { algorithm: 'HS256', secret: 'an-api-bench-secret-long-enough-0123456789' } as const;
const restAuth = await startHttpServer(
  createRestApp({
    endpoints: [{ name: 'trips', path: '/trips', store: trips }],
    auth: createAuthenticator(authConfig),
  }),
  { host: '127.0.0.1', port: 0 },
);
const bearer = { authorization: `Bearer ${await generateToken(authConfig, { endpoints: ['trips'] })}` };
const grpcServer = await startGrpcServer({
  endpoints: [{ name: 'trips', store: trips }],
  host: '127.0.0.1',
  port: 0,
});
const protoDir = path.join(dir, 'protos');
writeProtoFiles(protoDir, [{ name: 'trips', schema }]);

// Each Dozer route and its baseline answer the same status, content type, cursor and bytes.
const postJson = { method: 'POST', body: queryBody, headers: { 'content-type': 'application/json' } };
const answer = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${text}`);
  return `${res.headers.get('content-type')}\n${res.headers.get('x-next-cursor')}\n${text}`;
};
for (const [dozer, bareUrl, init] of [
  [`${rest.url}/trips/${KEY}`, `${bareServer.url}/trips/${KEY}`, undefined],
  [`${restAuth.url}/trips/${KEY}`, `${bareServer.url}/trips/${KEY}`, { headers: bearer }],
  [`${rest.url}/trips/query`, `${bareServer.url}/trips/query`, postJson],
  [`${rest.url}/trips/query`, `${bareServer.url}/spin`, postJson],
] as const) {
  if ((await answer(dozer, init)) !== (await answer(bareUrl, init)))
    throw new Error(`${dozer} and its baseline ${bareUrl} answer differently`);
}
const queryAnswer = (await answer(`${rest.url}/trips/query`, postJson)).split('\n')[2]!;
const queryRows = (JSON.parse(queryAnswer) as unknown[]).length;

interface Figures {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  /** Server CPU time (this process, user + system) per request, in microseconds. */
  readonly cpuUs: number;
}

/** Runs a load generator child to the end; the CPU time this process spends meanwhile is the server's. */
function load(script: string, params: object): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL(script, import.meta.url)), { stdio: 'inherit' });
    let cpu0 = process.cpuUsage();
    child.on('message', (m: { measuring?: true; rps: number; requests: number } & Figures) => {
      if (m.measuring) {
        cpu0 = process.cpuUsage();
        return;
      }
      const cpu = process.cpuUsage(cpu0);
      resolve({ ...m, cpuUs: (cpu.user + cpu.system) / Math.max(1, m.requests) });
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${script} exited with ${code}`));
    });
    child.send(params);
  });
}

function http(
  url: string,
  init: { method?: 'GET' | 'POST'; body?: string; headers?: { [k: string]: string } },
  warmup: boolean,
) {
  const opts = {
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    ...(init.method ? { method: init.method } : {}),
    ...(init.body ? { body: init.body, headers: { 'content-type': 'application/json' } } : {}),
    ...(init.headers ? { headers: init.headers } : {}),
  };
  return load('./http-load.mjs', { opts, warmupSeconds: warmup ? WARMUP : 0 });
}

function grpcLoad(
  warmup: boolean,
  call: { file: string; service: string; method: string; request: object } = {
    file: 'trips.proto',
    service: 'dozer.generated.trips.Trips',
    method: 'query',
    request: { query: queryBody },
  },
): Promise<Figures> {
  return load('./grpc-load.mjs', {
    address: grpcServer.address,
    includeDirs: [protoDir],
    ...call,
    inflight: CONNECTIONS,
    seconds: SECONDS,
    warmupSeconds: warmup ? WARMUP : 0,
  });
}

console.log(
  `api bench: ${ROWS} rows, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS}s per target (medians); ` +
    `key answer ${recordJson.length} B; query ${queryBody} → ${queryRows} rows, ${queryAnswer.length} B; ` +
    `the store answers it in ${storeUs.toFixed(1)} µs in this process`,
);
interface Target {
  readonly name: string;
  readonly run: (warmup: boolean) => Promise<Figures>;
  /** Index of the target it is compared with, and the goal for that ratio. */
  readonly against?: number;
  readonly goal?: number;
  /** Another target it is compared with, for information (no goal). */
  readonly also?: number;
}
// Issue #4 sets the targets against the HTTP ceiling, (f): a bare route returning the same JSON
// bytes as (b) without reading anything. The same-work baselines (a) and (a') say what this
// package adds on top of the store's reads.
const CEILING = 6;
const targets: Target[] = [
  {
    name: '(a) bare Hono: lmdb get + JSON',
    run: (w) => http(`${bareServer.url}/trips/${KEY}`, {}, w),
  },
  {
    name: '(b) REST key lookup',
    run: (w) => http(`${rest.url}/trips/${KEY}`, {}, w),
    against: CEILING,
    goal: 0.7,
    also: 0,
  },
  {
    name: "(a') bare Hono: same query + JSON",
    run: (w) => http(`${bareServer.url}/trips/query`, { method: 'POST', body: queryBody }, w),
  },
  {
    name: '(c) REST query, secondary index',
    run: (w) => http(`${rest.url}/trips/query`, { method: 'POST', body: queryBody }, w),
    against: CEILING,
    goal: 0.5,
    also: 2,
  },
  { name: '(d) gRPC typed query, as (c)', run: (w) => grpcLoad(w), against: 2 },
  {
    name: '(e) gRPC getEndpoints (no work)',
    run: (w) =>
      grpcLoad(w, {
        file: 'dozer/common.proto',
        service: 'dozer.common.CommonGrpcService',
        method: 'getEndpoints',
        request: {},
      }),
  },
  { name: '(f) bare Hono, constant bytes', run: (w) => http(`${bareServer.url}/const/${KEY}`, {}, w) },
  {
    name: '(g) REST key lookup, bearer token',
    run: (w) => http(`${restAuth.url}/trips/${KEY}`, { headers: bearer }, w),
    against: 0,
  },
  {
    name: "(h) bare Hono, (c)'s store CPU time",
    run: (w) => http(`${bareServer.url}/spin`, { method: 'POST', body: queryBody }, w),
    against: CEILING,
  },
];
const runs: Figures[][] = targets.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, t] of targets.entries()) runs[i]!.push(await t.run(round === 0));
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const results = runs.map(
  (r): Figures => ({
    rps: median(r.map((f) => f.rps)),
    p50: median(r.map((f) => f.p50)),
    p99: median(r.map((f) => f.p99)),
    cpuUs: median(r.map((f) => f.cpuUs)),
    errors: r.reduce((n, f) => n + f.errors, 0),
  }),
);
for (const [i, t] of targets.entries()) {
  const f = results[i]!;
  let vs = '';
  const versus = (against: number, goal?: number) => {
    const b = results[against]!;
    const ratio = f.rps / b.rps;
    const tag = targets[against]!.name.split(' ')[0];
    return (
      `  ${ratio.toFixed(2)}× ${tag} req/s, ${(b.cpuUs / f.cpuUs).toFixed(2)}× by CPU` +
      (goal ? ` (target ≥ ${goal}×: ${ratio >= goal ? 'met' : 'NOT met'})` : '')
    );
  };
  if (t.against !== undefined) vs = versus(t.against, t.goal);
  if (t.also !== undefined) vs += `;${versus(t.also)}`;
  console.log(
    `${t.name.padEnd(35)} ${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(5)} ms  p99 ${f.p99
      .toFixed(2)
      .padStart(
        6,
      )} ms  ${f.cpuUs.toFixed(1).padStart(6)} µs CPU/req${vs}${f.errors ? `  ${f.errors} errors` : ''}`,
  );
}
const best = runs.map((r) => Math.max(...r.map((f) => f.rps)));
console.log(
  `best rounds: ${targets
    .flatMap((t, i) =>
      t.against === undefined
        ? []
        : [
            `${t.name.split(' ')[0]} ${(best[i]! / best[t.against]!).toFixed(2)}× ${targets[t.against]!.name.split(' ')[0]}`,
          ],
    )
    .join(', ')} (the least disturbed round of each); load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${os.cpus().length} CPUs`,
);
console.log(
  `rounds (req/s): ${targets.map((t, i) => `${t.name.split(' ')[0]} ${runs[i]!.map((f) => f.rps.toFixed(0)).join('/')}`).join('; ')}`,
);
console.log(
  'CPU/req: this process (all servers) while the load ran, over the requests answered; ' +
    '"by CPU" is the baseline CPU/req over the target\'s, the ratio a CPU-bound server would show',
);

await grpcServer.close();
await rest.close();
await restAuth.close();
await bareServer.close();
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
