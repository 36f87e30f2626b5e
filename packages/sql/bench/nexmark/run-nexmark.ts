import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeSchema, type OpBatch, type Operation, type Schema } from '@dozer/core';
import { compileSql, SqlError } from '../../src/index.js';
import { D2TS_QUERIES, runD2ts, toD2tsBatches } from './d2ts-queries.js';

const QUERY_DIR = fileURLToPath(new URL('./queries/', import.meta.url));

/** The throughput targets, events per second on one thread. */
const TARGETS: Readonly<Record<string, number>> = {
  q0: 500_000,
  q1: 500_000,
  q2: 500_000,
  q3: 200_000,
  q8: 200_000,
  q4: 50_000,
  q9: 50_000,
};

/** q13's side table: 10,000 rows (key, value), loaded before the clock starts. */
export const SIDE_INPUT_SCHEMA: Schema = makeSchema(
  [
    { name: 'key', type: 'int', nullable: false },
    { name: 'value', type: 'string', nullable: false },
  ],
  ['key'],
);
const SIDE_INPUT: Operation[] = Array.from({ length: 10_000 }, (_, i) => ({
  kind: 'insert',
  new: [BigInt(i), `side-${i}`],
}));

/** Nexmark queries q*.sql in query order. */
export function loadQueries(): { name: string; sql: string }[] {
  return readdirSync(QUERY_DIR)
    .filter((f) => /^q\d+\.sql$/.test(f))
    .map((f) => ({ name: f.slice(0, -4), sql: readFileSync(QUERY_DIR + f, 'utf8') }))
    .sort((a, b) => Number(a.name.slice(1)) - Number(b.name.slice(1)));
}

/** What the benchmark needs: the Nexmark stream pre-generated in memory, and its schemas. */
export interface NexmarkBenchInput {
  readonly schemas: Readonly<Record<string, Schema>>;
  /** The stream for warming up (JIT, caches); not timed. */
  readonly warmup: readonly OpBatch[];
  readonly batches: readonly OpBatch[];
  /** Events in `batches`, all tables together (the Nexmark throughput unit). */
  readonly events: number;
}

interface Result {
  readonly name: string;
  readonly dozer: number | string;
  readonly d2ts: number | null;
}

function timeDozer(sql: string, sources: ReadonlyMap<string, Schema>, batches: readonly OpBatch[]): number {
  const executor = compileSql(sql, sources).createExecutor();
  const inputs = new Set(compileSql(sql, sources).inputs);
  if (inputs.has('side_input')) executor.push('side_input', SIDE_INPUT);
  let outputs = 0;
  const start = performance.now();
  for (const b of batches) {
    if (!inputs.has(b.table)) continue;
    for (const ops of executor.push(b.table, b.ops).values()) outputs += ops.length;
  }
  const ms = performance.now() - start;
  // Keeps the outputs observable so that no work can be skipped.
  if (outputs < 0) console.log(outputs);
  return ms;
}

function timeD2ts(name: string, batches: readonly OpBatch[]): number {
  const start = performance.now();
  runD2ts(D2TS_QUERIES[name]!, batches);
  return performance.now() - start;
}

/**
 * The median time of `run` over several runs: at least 3 (1 when a run takes
 * over 3 s), more until 1.5 s have been spent, at most 15. One run of a fast
 * query is a few milliseconds, too short to time once on a shared machine.
 * A first full run, not counted, lets the JIT settle on the real stream.
 */
function medianMs(run: () => number): number {
  const first = run();
  const times = [first < 3000 ? run() : first];
  if (times[0]! < 3000) {
    let spent = times[0]!;
    while (times.length < 15 && (times.length < 3 || spent < 1500)) {
      const t = run();
      times.push(t);
      spent += t;
    }
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

const fmt = (v: number) => Math.round(v).toLocaleString('en-US');

/**
 * Times every query of `queries/` on our engine and, where it can express
 * it, on d2ts, over the same pre-generated events, one thread, and prints
 * a table of events per second, the ratio and the target.
 */
export function runNexmarkBench(input: NexmarkBenchInput, only?: readonly string[]): void {
  const sources = new Map<string, Schema>([
    ...Object.entries(input.schemas),
    ['side_input', SIDE_INPUT_SCHEMA],
  ]);
  const results: Result[] = [];
  const d2tsWarmup = toD2tsBatches(input.warmup);
  const d2tsBatches = toD2tsBatches(input.batches);
  for (const q of loadQueries()) {
    if (only !== undefined && only.length > 0 && !only.includes(q.name)) continue;
    let dozer: number | string;
    try {
      compileSql(q.sql, sources);
      timeDozer(q.sql, sources, input.warmup);
      dozer = (input.events * 1000) / medianMs(() => timeDozer(q.sql, sources, input.batches));
    } catch (e) {
      if (!(e instanceof SqlError)) throw e;
      dozer = `not supported yet: ${e.message.split('\n')[0]}`;
    }
    let d2ts: number | null = null;
    if (D2TS_QUERIES[q.name] !== undefined) {
      timeD2ts(q.name, d2tsWarmup);
      d2ts = (input.events * 1000) / medianMs(() => timeD2ts(q.name, d2tsBatches));
    }
    results.push({ name: q.name, dozer, d2ts });
    const ours = typeof dozer === 'number' ? fmt(dozer) : 'not supported';
    process.stderr.write(`${q.name}: dozer ${ours}, d2ts ${d2ts === null ? '—' : fmt(d2ts)} events/s\n`);
  }
  const rows = results.map((r) => {
    const target = TARGETS[r.name];
    const ours = typeof r.dozer === 'number' ? r.dozer : null;
    const ratio = ours !== null && r.d2ts !== null ? ours / r.d2ts : null;
    const verdicts: string[] = [];
    if (target !== undefined && ours !== null) verdicts.push(ours >= target ? 'target met' : 'BELOW TARGET');
    if (ratio !== null) verdicts.push(ratio >= 2 ? '≥2× d2ts' : 'BELOW 2× d2ts');
    return [
      r.name,
      ours !== null ? fmt(ours) : String(r.dozer),
      r.d2ts !== null ? fmt(r.d2ts) : '—',
      ratio !== null ? `${ratio.toFixed(1)}×` : '—',
      target !== undefined ? fmt(target) : '—',
      verdicts.join(', '),
    ];
  });
  const header = ['query', 'dozer events/s', 'd2ts events/s', 'ratio', 'target', ''];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (i === 1 && r[1]!.length > 40 ? 14 : r[i]!.length))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        i === 0 || i === 5 || (i === 1 && c.length > 40) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      )
      .join('  ');
  console.log(
    `\nNexmark: ${fmt(input.events)} events pre-generated in memory, one thread, median of 3–15 runs after an uncounted one (d2ts: @electric-sql/d2ts 0.1.8)\n`,
  );
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}
