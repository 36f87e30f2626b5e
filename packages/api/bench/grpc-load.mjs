// Load generator for the gRPC part of api.bench.ts, in a child process so
// that the bench process's CPU time is the server's alone: `inflight` calls
// kept outstanding on one channel for `seconds`, latencies in microseconds.
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

process.once('message', async (params) => {
  const { address, includeDirs, file, service, method, request, inflight, seconds, warmupSeconds } = params;
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
  process.send({ measuring: true }); // the parent reads its CPU time from here on
  const t0 = process.hrtime.bigint();
  const { latencies, errors } = await run(seconds * 1000, true);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  client.close();
  process.send(
    {
      rps: latencies.length / elapsed,
      requests: latencies.length + errors,
      p50: pct(50) / 1000,
      p99: pct(99) / 1000,
      errors,
    },
    () => process.exit(0),
  );
});
