// Load generator for the HTTP part of api.bench.ts: autocannon in a child
// process, so that the bench process's CPU time is the servers' alone. Gets
// the autocannon options as its one message; says when the measured run
// starts, then answers the figures.
import autocannon from 'autocannon';

process.once('message', async ({ opts, warmupSeconds }) => {
  if (warmupSeconds > 0) await autocannon({ ...opts, duration: warmupSeconds });
  process.send({ measuring: true }); // the parent reads its CPU time from here on
  const r = await autocannon(opts);
  process.send(
    {
      rps: r.requests.average,
      requests: r.requests.total,
      p50: r.latency.p50,
      p99: r.latency.p99,
      errors: r.errors + r.non2xx,
    },
    () => process.exit(0),
  );
});
