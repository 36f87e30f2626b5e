// pnpm bench nexmark [q0 q3 …]: the Nexmark queries on our SQL engine next to d2ts.
// NEXMARK_EVENTS sets the stream length (default 300,000 events).
import { generateNexmark, NEXMARK_SCHEMAS } from '../packages/connectors/src/index.js';
import { runNexmarkBench } from '../packages/sql/bench/nexmark/run-nexmark.js';

const events = Number(process.env.NEXMARK_EVENTS ?? 300_000);
const started = performance.now();
const warmup = generateNexmark({ events: 20_000, firstEvent: 0 });
const batches = generateNexmark({ events });
process.stderr.write(`generated ${events} events in ${Math.round(performance.now() - started)} ms\n`);
runNexmarkBench({ schemas: NEXMARK_SCHEMAS, warmup, batches, events }, process.argv.slice(2));
