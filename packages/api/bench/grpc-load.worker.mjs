// Load generator for the gRPC part of api.bench.ts, in a worker thread so
// that it does not share the server's event loop: `inflight` calls kept
// outstanding on one channel for `seconds`, latencies in microseconds.
import { parentPort, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const { address, includeDirs, file, service, method, request, inflight, seconds, warmupSeconds } = workerData;
const def = loadSync(file, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: false,
  includeDirs,
});
const Ctor = grpc.loadPackageDefinition(def);
const ServiceCtor = service.split('.').reduce((o, k) => o[k], Ctor);
const client = new ServiceCtor(address, grpc.credentials.createInsecure());

async function run(durationMs, record) {
  const latencies = [];
  let errors = 0;
  const end = Date.now() + durationMs;
  const loop = () =>
    new Promise((resolve) => {
      const next = () => {
        if (Date.now() >= end) return resolve();
        const t0 = process.hrtime.bigint();
        client[method](request, (err) => {
          if (err) errors++;
          else if (record) latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
          next();
        });
      };
      next();
    });
  await Promise.all(Array.from({ length: inflight }, loop));
  return { latencies, errors };
}

await run(warmupSeconds * 1000, false);
const t0 = process.hrtime.bigint();
const { latencies, errors } = await run(seconds * 1000, true);
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
client.close();
parentPort.postMessage({ rps: latencies.length / elapsed, p50: pct(50) / 1000, p99: pct(99) / 1000, errors });
