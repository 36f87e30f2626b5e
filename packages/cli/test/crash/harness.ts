import { type DozerProcess, postJson, spawnDozer } from '../helpers.js';

// The crash harness: `dozer run` under a continuous change load, killed with
// SIGKILL at random moments and restarted, again and again; then, once the
// load has stopped, what the API serves must equal the same SQL run by an
// oracle (Postgres itself, or DuckDB) over the sources' final contents: no
// gap, no duplicate, aggregates exact.

/** A row as the REST API returns it, or as an oracle computes it. */
export type Row = Readonly<Record<string, unknown>>;

/** An endpoint to compare, and the fields that identify a row (its ordering for diffs). */
export interface CrashEndpoint {
  readonly path: string;
  readonly key: readonly string[];
}

/** A change load on the sources, running until stopped. */
export interface Load {
  /** Stops the load and resolves when every change it made is committed at the source. */
  stop(): Promise<void>;
  /** Changes committed so far (for the report). */
  changes(): number;
}

export interface CrashScenario {
  readonly name: string;
  /** The dozer.yaml to run. */
  readonly configFile: string;
  /** Base URL of the REST API that config serves. */
  readonly baseUrl: string;
  readonly endpoints: readonly CrashEndpoint[];
  readonly env?: NodeJS.ProcessEnv;
  /** Starts the change load (after the sources hold their initial data). */
  startLoad(): Promise<Load>;
  /** Each endpoint's expected rows, computed by the oracle once the load has stopped. */
  expected(): Promise<ReadonlyMap<string, readonly Row[]>>;
}

export interface CrashOptions {
  readonly kills: number;
  /** Seed of the kill moments, so a failing run can be repeated. */
  readonly seed: number;
  /** A run lives a random time in [minUpMs, maxUpMs] from its spawn (or half that from serving) before its kill. */
  readonly minUpMs?: number;
  readonly maxUpMs?: number;
  /** How long the final run may take to serve the oracle's rows. */
  readonly settleMs?: number;
  readonly log?: (line: string) => void;
}

export interface CrashReport {
  readonly kills: number;
  /** Kills that hit a run already serving (the others hit start-up or the snapshot). */
  readonly killedWhileServing: number;
  readonly changes: number;
  readonly expectedRows: number;
  /** Starts (the last one included) that resumed from a checkpoint instead of rebuilding. */
  readonly resumed: number;
  /** Checkpoints completed, summed over the runs. */
  readonly checkpoints: number;
}

const SERVING = /Serving \d+ endpoint\(s\)/;
const CHECKPOINTED = /checkpoint (\d+) complete/g;
const RESUMED = /resuming from checkpoint (\d+)/;
/** Logged once a start has decided whether to resume: after it, a run that did not resume rebuilt. */
const DECIDED = /SQL operators run on|REST API listening/;

/**
 * Follows whether each start resumed: once any run has completed a
 * checkpoint, every later start that got past its recovery step must
 * resume from one (a rebuild would mean the checkpoint was lost or
 * refused); each resumed start must resume from the newest checkpoint
 * completed before it, or a later one.
 */
class ResumeCheck {
  resumed = 0;
  checkpoints = 0;
  private newest = 0;

  constructor(private readonly name: string) {}

  /** Checks a run's log once it has ended (killed or stopped). */
  afterRun(run: DozerProcess, which: string): string {
    const text = run.stderr();
    const resumed = RESUMED.exec(text);
    if (resumed) {
      this.resumed++;
      const epoch = Number(resumed[1]);
      if (epoch < this.newest) {
        throw new Error(
          `${this.name}: ${which} resumed from checkpoint ${epoch}, but checkpoint ${this.newest} had completed before it started\nstderr:\n${tail(text)}`,
        );
      }
    } else if (this.newest > 0 && DECIDED.test(text)) {
      throw new Error(
        `${this.name}: ${which} rebuilt from the sources although checkpoint ${this.newest} had completed before it started\nstderr:\n${tail(text)}`,
      );
    }
    const done = [...text.matchAll(CHECKPOINTED)].map((m) => Number(m[1]));
    this.checkpoints += done.length;
    if (done.length > 0) this.newest = Math.max(this.newest, ...done);
    return resumed ? `resumed from ${resumed[1]}` : DECIDED.test(text) ? 'rebuilt' : 'not started';
  }
}

/** A small seeded PRNG (mulberry32): the kill schedule is a function of the seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the scenario: `kills` cycles of spawn → random delay → SIGKILL while
 * the load runs, then a last run that must converge to the oracle. Throws
 * with a diff when it does not, or when a run exits by itself.
 */
export async function runCrashLoop(s: CrashScenario, o: CrashOptions): Promise<CrashReport> {
  const log = o.log ?? (() => {});
  const random = seededRandom(o.seed);
  const minUp = o.minUpMs ?? 300;
  const maxUp = o.maxUpMs ?? 4000;
  const load = await s.startLoad();
  let killedWhileServing = 0;
  let loadStopped = false;
  const resumes = new ResumeCheck(s.name);
  try {
    for (let i = 0; i < o.kills; i++) {
      const run = spawnDozer(['run', '-c', s.configFile], { env: s.env ?? {} });
      // Half the kills land at a random moment from the spawn (start-up, snapshot), half at a
      // random moment after the run started serving (following changes).
      const afterServing = random() < 0.5;
      const upMs = Math.round(minUp + random() * (maxUp - minUp));
      const started = Date.now();
      const exitedEarly = await Promise.race([
        (afterServing ? run.waitFor(SERVING, 120_000) : Promise.resolve())
          .then(() => sleep(afterServing ? upMs / 2 : upMs))
          .then(() => false),
        run.exited.then(() => true),
      ]);
      if (exitedEarly) {
        throw new Error(
          `${s.name}: run ${i + 1} exited by itself (code ${await run.exited}) before its kill\nstderr:\n${tail(run.stderr())}`,
        );
      }
      const serving = SERVING.test(run.stdout() + run.stderr());
      if (serving) killedWhileServing++;
      run.child.kill('SIGKILL');
      await run.exited;
      const how = resumes.afterRun(run, `run ${i + 1}`);
      log(
        `${s.name}: kill ${i + 1}/${o.kills} after ${Date.now() - started} ms (${serving ? 'serving' : 'starting'}, ${how}), ${load.changes()} changes so far`,
      );
    }
    await load.stop();
    loadStopped = true;
    const expected = await s.expected();
    const final = spawnDozer(['run', '-c', s.configFile], { env: s.env ?? {} });
    try {
      await final.waitFor(SERVING, 120_000);
      await converge(s, expected, final, o.settleMs ?? 120_000);
    } finally {
      final.child.kill('SIGTERM');
      const code = await Promise.race([final.exited, sleep(15_000).then(() => 'hung' as const)]);
      if (code === 'hung') {
        final.child.kill('SIGKILL');
        await final.exited;
      }
    }
    log(`${s.name}: last run ${resumes.afterRun(final, 'the last run')}`);
    let expectedRows = 0;
    for (const rows of expected.values()) expectedRows += rows.length;
    return {
      kills: o.kills,
      killedWhileServing,
      changes: load.changes(),
      expectedRows,
      resumed: resumes.resumed,
      checkpoints: resumes.checkpoints,
    };
  } finally {
    if (!loadStopped) await load.stop().catch(() => {});
  }
}

/** Polls the API until every endpoint equals the oracle; on timeout, throws the first difference. */
export async function converge(
  s: CrashScenario,
  expected: ReadonlyMap<string, readonly Row[]>,
  run: DozerProcess,
  ms: number,
): Promise<void> {
  const end = Date.now() + ms;
  let lastDiff = '';
  for (;;) {
    lastDiff = '';
    for (const ep of s.endpoints) {
      const want = expected.get(ep.path);
      if (want === undefined) throw new Error(`${s.name}: the oracle gave no rows for ${ep.path}`);
      const got = await served(s.baseUrl, ep);
      const diff = diffRows(ep, want, got);
      if (diff) {
        lastDiff = `${ep.path}: ${diff}`;
        break;
      }
    }
    if (!lastDiff) return;
    if (Date.now() > end) {
      throw new Error(
        `${s.name}: after the last restart the API still differs from the oracle after ${ms} ms\n${lastDiff}\nstderr of the last run:\n${tail(run.stderr())}`,
      );
    }
    await sleep(250);
  }
}

/** Every row of an endpoint, in key order, through REST cursor pages. */
async function served(base: string, ep: CrashEndpoint): Promise<Row[]> {
  const order = Object.fromEntries(ep.key.map((k) => [k, 'asc']));
  const rows: Row[] = [];
  let after: string | undefined;
  for (;;) {
    const res = await fetch(`${base}${ep.path}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ $order_by: order, $limit: 1000, ...(after ? { $after: after } : {}) }),
    });
    if (res.status !== 200) throw new Error(`POST ${ep.path}/query: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as Row[];
    rows.push(...page);
    const next = res.headers.get('x-next-cursor');
    if (!next || page.length === 0) break;
    after = next;
  }
  const body = (await postJson(`${base}${ep.path}/count`, {})).body as { count: number | string };
  const count = Number(body.count);
  if (count !== rows.length) {
    // A write landed between the pages and the count: the caller polls again.
    return [...rows, { __count_mismatch: `${count} counted, ${rows.length} paged` }];
  }
  return rows;
}

/**
 * A canonical text of a value, so that the API's JSON and an oracle's driver
 * values compare: numbers, bigints and numeric strings lose trailing zeros
 * (`12.50` = 12.5), so a decimal compares by value, not by its scale.
 */
export function canonical(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return canonicalNumber(String(v));
  if (typeof v === 'string') return /^-?\d+(\.\d+)?$/.test(v) ? canonicalNumber(v) : JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'object' && 'toString' in v && v.constructor !== Object && !Array.isArray(v)) {
    return canonical(String(v));
  }
  return JSON.stringify(v);
}

function canonicalNumber(s: string): string {
  let t = s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
  if (/^-0*$/.test(t)) t = '0';
  return t.replace(/^(-?)0+(?=\d)/, '$1');
}

function rowText(fields: readonly string[], r: Row): string {
  return fields.map((f) => `${f}=${canonical(r[f])}`).join(' ');
}

/** The first few differences between two row sets (compared on the expected rows' fields), or ''. */
export function diffRows(ep: CrashEndpoint, want: readonly Row[], got: readonly Row[]): string {
  const fields = want[0] ? Object.keys(want[0]) : got[0] ? Object.keys(got[0]) : [];
  const keyOf = (r: Row) => ep.key.map((k) => canonical(r[k])).join('|');
  const wantBy = new Map<string, string[]>();
  for (const r of want) wantBy.set(keyOf(r), [...(wantBy.get(keyOf(r)) ?? []), rowText(fields, r)]);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of got) {
    if ('__count_mismatch' in r) return `count and pages disagree (${String(r.__count_mismatch)})`;
    const k = keyOf(r);
    const text = rowText(fields, r);
    if (seen.has(k)) problems.push(`duplicate key ${k}: ${text}`);
    seen.add(k);
    const w = wantBy.get(k);
    if (!w) problems.push(`unexpected row ${text}`);
    else if (!w.includes(text)) problems.push(`row ${k}: served ${text}, expected ${w.join(' / ')}`);
  }
  for (const [k, w] of wantBy) if (!seen.has(k)) problems.push(`missing row ${w.join(' / ')}`);
  if (problems.length === 0) return '';
  return `${problems.length} difference(s) (${got.length} served, ${want.length} expected):\n  ${problems.slice(0, 8).join('\n  ')}`;
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** The kill count of a crash test: DOZER_CRASH_KILLS (the soak script sets it), else `fallback`. */
export function killCount(fallback: number): number {
  const n = Number(process.env.DOZER_CRASH_KILLS ?? fallback);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`DOZER_CRASH_KILLS must be a positive integer, got ${n}`);
  return n;
}

/** Seed of the kill schedule: DOZER_CRASH_SEED, else a random one (printed, to repeat a failure). */
export function crashSeed(): number {
  const env = process.env.DOZER_CRASH_SEED;
  return env !== undefined ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

/** How long a crash test may take for `kills` kills. */
export const crashTimeoutMs = (kills: number) => 240_000 + kills * 12_000;
