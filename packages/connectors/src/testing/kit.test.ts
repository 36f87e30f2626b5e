import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { OpBatch, Operation, Row } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import type { Connector, ConnectorFactory, IngestSink, StartRequest } from '../connector.js';
import { ConnectorError } from '../errors.js';
import type { GeneratorConfig } from '../generator/config.js';
import { generatorConnector } from '../generator/generator-connector.js';
import { type ConformanceFramework, type ConformanceOptions, runConnectorConformance } from './index.js';

const config: GeneratorConfig = {
  seed: 11,
  rate: 0,
  batch_size: 100,
  tables: [
    { name: 'trips', rows: 250 },
    { name: 'accounts', template: 'users', rows: 120, update_ratio: 0.4, delete_ratio: 0.2 },
  ],
};

const options: ConformanceOptions<GeneratorConfig> = {
  factory: generatorConnector,
  config,
  invalidConfigs: [
    {
      config: { tables: [{ name: 'trips', rows: -5 }] },
      expectIssueAt: ['tables', 0, 'rows'],
      message: 'expected a non-negative integer, got -5',
    },
    { config: { tables: ['trips'], speed: 3 }, expectIssueAt: ['speed'], message: /unknown option/ },
    { config: {}, expectIssueAt: ['tables'] },
  ],
  // The generator changes on its own: no makeChanges.
  liveOps: 300,
  snapshotRows: { trips: 250, accounts: 120 },
};

// The generator must pass every check, as a plugin author's connector would.
runConnectorConformance(options, { describe, it: (name, fn) => it(name, fn, 30_000) });

/** Registers the kit's checks without running them, so a test can run them against a broken connector. */
function collect(opts: ConformanceOptions<GeneratorConfig>): Map<string, () => Promise<void>> {
  const checks = new Map<string, () => Promise<void>>();
  const trail: string[] = [];
  const framework: ConformanceFramework = {
    describe(name, fn) {
      trail.push(name);
      fn();
      trail.pop();
    },
    it(name, fn) {
      checks.set([...trail.slice(1), name].join(' > '), fn);
    },
  };
  runConnectorConformance(opts, framework);
  return checks;
}

/** The generator with some of its behaviour replaced. */
function mutant(
  change: (inner: Connector) => Partial<Connector>,
  factoryChange: Partial<ConnectorFactory<GeneratorConfig>> = {},
): ConnectorFactory<GeneratorConfig> {
  return {
    kind: 'mutant',
    validateConfig: (raw) => generatorConnector.validateConfig(raw),
    create(c, ctx) {
      const inner = generatorConnector.create(c, ctx);
      const base: Connector = {
        listTables: () => inner.listTables(),
        comparePositions: (a, b) => inner.comparePositions(a, b),
        start: (r) => inner.start(r),
        close: () => inner.close(),
      };
      if (inner.lag !== undefined) base.lag = () => inner.lag!();
      return { ...base, ...change(inner) };
    },
    ...factoryChange,
  };
}

/** A connector whose sink calls pass through `wrap` first. */
function withSink(wrap: (sink: IngestSink) => IngestSink) {
  return mutant((inner) => ({ start: (r: StartRequest) => inner.start({ ...r, sink: wrap(r.sink) }) }));
}

const mapRows = (op: Operation, f: (r: Row) => Row): Operation =>
  op.kind === 'insert'
    ? { kind: 'insert', new: f(op.new) }
    : op.kind === 'delete'
      ? { kind: 'delete', old: f(op.old) }
      : { kind: 'update', old: f(op.old), new: f(op.new) };

/** Runs one check of the kit against `factory`; resolves with its failure message, or null when it passed. */
async function failureOf(
  factory: ConnectorFactory<GeneratorConfig>,
  check: string,
  timeoutMs = 10_000,
  more: Partial<ConformanceOptions<GeneratorConfig>> = {},
): Promise<string | null> {
  const checks = collect({ ...options, factory, timeoutMs, ...more });
  const run = checks.get(check);
  if (run === undefined) throw new Error(`no check "${check}"; checks: ${[...checks.keys()].join(' | ')}`);
  try {
    await run();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const SNAPSHOT =
  'snapshot and changes > snapshots every table, then follows changes, in rows of the schema at increasing positions';

describe('the conformance kit catches broken connectors', () => {
  it('passes the generator on every check it registers', async () => {
    const checks = collect(options);
    expect(checks.size).toBeGreaterThanOrEqual(18);
    for (const [name, run] of checks) await expect(run(), name).resolves.toBeUndefined();
  }, 60_000);

  it('a validateConfig that accepts anything', async () => {
    const f = { ...generatorConnector, kind: 'lax', validateConfig: () => [] };
    expect(await failureOf(f, 'config > reports tables[0].rows for invalid config 1')).toBe(
      'validateConfig reported no issue at tables[0].rows; it reported:\n  (none)',
    );
    expect(
      await failureOf(f, 'config > rejects a config that is not an object with issues instead of throwing'),
    ).toBe('validateConfig(null) returned no issues');
  });

  it('a validateConfig that throws, or reports another message', async () => {
    const throwing = {
      ...generatorConnector,
      validateConfig: (raw: unknown) => {
        if (raw === null) throw new TypeError('cannot read tables of null');
        return generatorConnector.validateConfig(raw);
      },
    };
    expect(
      await failureOf(
        throwing,
        'config > rejects a config that is not an object with issues instead of throwing',
      ),
    ).toMatch(/^validateConfig\(null\) threw instead of returning issues: TypeError \(not a DozerError\)/);
    const wrongMessage = {
      ...generatorConnector,
      validateConfig: (raw: unknown) =>
        generatorConnector.validateConfig(raw).map((i) => ({ ...i, message: 'bad' })),
    };
    expect(await failureOf(wrongMessage, 'config > reports tables[0].rows for invalid config 1')).toBe(
      'the issue at tables[0].rows does not say expected a non-negative integer, got -5; it reported:\n  tables[0].rows: bad',
    );
  });

  it('a create() that opens a watcher', async () => {
    const f = mutant(() => {
      const w = watch(tmpdir());
      return { close: async () => w.close() };
    });
    expect(
      await failureOf(f, 'create > opens nothing until listTables or start, and close may be called twice'),
    ).toMatch(/^create\(\) started I\/O \(FSEventWrap\); it must open nothing/);
  });

  it('positions that do not increase', async () => {
    let n = 0;
    let last = '0';
    const f = withSink((sink) => ({
      ...sink,
      write: (b) => {
        // Every third batch repeats the position before it.
        const position = ++n % 3 === 0 ? last : b.position!;
        last = b.position!;
        return sink.write({ ...b, position });
      },
    }));
    expect(await failureOf(f, SNAPSHOT)).toMatch(
      /batch \d+ of table "\w+": position "\d+" is not after the previous position "\d+" \(comparePositions gave 0\); positions must strictly increase per table/,
    );
  });

  it('values of the wrong type', async () => {
    const f = withSink((sink) => ({
      ...sink,
      write: (b: OpBatch) =>
        sink.write({ ...b, ops: b.ops.map((op) => mapRows(op, (r) => [Number(r[0]), ...r.slice(1)])) }),
    }));
    expect(await failureOf(f, SNAPSHOT)).toMatch(
      /batch 1 of table "trips", op 0, insert new row: field "id" \(int\) is the number 1, expected a bigint/,
    );
  });

  it('old rows that are not the rows as they were', async () => {
    const f = withSink((sink) => ({
      ...sink,
      write: (b: OpBatch) =>
        sink.write({
          ...b,
          ops: b.ops.map((op) => (op.kind === 'update' ? { kind: 'update', old: op.new, new: op.new } : op)),
        }),
    }));
    expect(await failureOf(f, SNAPSHOT)).toMatch(
      /op \d+ \(update key \["\d+"\]\): the old row \{.*\} is not the row as it was/,
    );
  });

  it('a missing snapshotDone', async () => {
    const f = withSink((sink) => ({ ...sink, snapshotDone: async () => {} }));
    expect(await failureOf(f, SNAPSHOT, 400)).toMatch(
      /^timed out after 400 ms waiting for snapshotDone of "trips", "accounts" \("trips": \d+ batches, \d+ ops, snapshotDone not called/,
    );
  });

  it('a snapshotDone before the last snapshot batch', async () => {
    const f = withSink((sink) => ({ ...sink, snapshotDone: (t) => sink.snapshotDone(t, '1') }));
    expect(await failureOf(f, SNAPSHOT)).toMatch(
      /snapshotDone\("trips", "1"\) is before the last snapshot batch's position "250"/,
    );
  });

  it('a resume that skips one op', async () => {
    const f = mutant((inner) => ({
      start: (r: StartRequest) =>
        inner.start({
          ...r,
          tables: r.tables.map((t) =>
            t.resumeFrom === null ? t : { ...t, resumeFrom: String(Number(t.resumeFrom) + 1) },
          ),
        }),
    }));
    expect(
      await failureOf(f, 'resume > resumes from a snapshot batch with exactly the ops that followed it'),
    ).toMatch(
      /^resuming "trips" from "100": op 0 differs from the first run:\n {4}first run: insert \{"id":"101",/,
    );
    expect(
      await failureOf(
        f,
        'resume > resumes from a batch after the snapshot with exactly the ops that followed it',
      ),
    ).toMatch(/op 0 differs from the first run/);
  });

  it('a connector that cannot resume inside a snapshot', async () => {
    const refusing = (error: Error) =>
      mutant((inner) => ({
        start: async (r: StartRequest) => {
          // The generator's snapshots have 250 and 120 rows.
          if (r.tables.some((t) => t.resumeFrom !== null && Number(t.resumeFrom) < 120)) throw error;
          return inner.start(r);
        },
      }));
    const refusal = new ConnectorError('cannot resume inside a snapshot; ingest the table again');
    expect(
      await failureOf(
        refusing(refusal),
        'resume > resumes from a snapshot batch with exactly the ops that followed it',
      ),
    ).toMatch(
      /^start\(\) rejected before the \d+ ops of "trips" after "100", \d+ ops of "accounts" after "100": ConnectorError/,
    );
    const mayRefuse =
      'resume > refuses to resume from a snapshot batch with a non-retryable DozerError, or resumes it exactly';
    expect(await failureOf(refusing(refusal), mayRefuse, 10_000, { resumeMidSnapshot: false })).toBeNull();
    expect(await failureOf(generatorConnector, mayRefuse, 10_000, { resumeMidSnapshot: false })).toBeNull();
    expect(
      await failureOf(refusing(new ConnectorError('busy', { retryable: true })), mayRefuse, 10_000, {
        resumeMidSnapshot: false,
      }),
    ).toMatch(/^start\(\) resuming inside a snapshot failed with retryable: true, expected false/);
    // A table that declares its snapshot resumable may not refuse.
    const claiming = mutant((inner) => ({
      listTables: async () => (await inner.listTables()).map((t) => ({ ...t, resumableSnapshot: true })),
      start: async (r: StartRequest) => {
        if (r.tables.some((t) => t.resumeFrom !== null && Number(t.resumeFrom) < 120)) throw refusal;
        return inner.start(r);
      },
    }));
    expect(await failureOf(claiming, mayRefuse, 10_000, { resumeMidSnapshot: false })).toMatch(
      /^tables "trips", "accounts" declare resumableSnapshot, but start\(\) refused to resume inside a snapshot/,
    );
  });

  it('a connector that ignores the abort signal', async () => {
    const f = mutant((inner) => ({
      start: (r: StartRequest) => inner.start({ ...r, signal: new AbortController().signal }),
    }));
    expect(
      await failureOf(f, 'stopping > resolves start promptly when the signal aborts while following', 400),
    ).toMatch(
      /^start\(\) did not settle within 400 ms after the signal aborted; a connector must stop promptly/,
    );
  });

  it('a connector that does not await its writes', async () => {
    const f = withSink((sink) => ({
      ...sink,
      write: async (b) => {
        void sink.write(b);
      },
    }));
    expect(await failureOf(f, 'backpressure > never has two writes of one table in flight')).toMatch(
      /batch 2 of table "trips": written while the previous write of that table was still pending; await each sink\.write before the next \(backpressure\)/,
    );
  });

  it('errors that are not DozerErrors', async () => {
    const f = mutant((inner) => ({
      start: async (r: StartRequest) => {
        const names = (await inner.listTables()).map((t) => t.name);
        const unknown = r.tables.find((t) => !names.includes(t.name));
        if (unknown !== undefined) throw new Error(`no table ${unknown.name}`);
        return inner.start(r);
      },
    }));
    expect(await failureOf(f, 'errors > rejects an unknown table with a non-retryable DozerError')).toBe(
      'start() for the unknown table "__dozer_conformance_no_such_table__" failed with Error (not a DozerError): no table __dozer_conformance_no_such_table__; a connector must fail with a ConnectorError (a DozerError) that says whether a retry may help',
    );
  });

  it('a resume position it does not check', async () => {
    const f = mutant((inner) => ({
      start: (r: StartRequest) =>
        inner.start({
          ...r,
          tables: r.tables.map((t) => (t.resumeFrom === null ? t : { ...t, resumeFrom: null })),
        }),
    }));
    expect(
      await failureOf(f, 'errors > rejects a malformed resume position with a non-retryable DozerError'),
    ).toBe(
      'start() accepted "\\u0000not a position" as a resume position; it must reject a position it did not write',
    );
  });
});

describe('the conformance kit under node:test', () => {
  it("registers and passes its checks with node:test's describe and it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dozer-kit-node-test-'));
    try {
      const file = join(dir, 'generator.test.ts');
      const kit = new URL('./index.ts', import.meta.url).href;
      const generator = new URL('../generator/generator-connector.ts', import.meta.url).href;
      writeFileSync(
        file,
        [
          "import { describe, it } from 'node:test';",
          `import { runConnectorConformance } from ${JSON.stringify(kit)};`,
          `import { generatorConnector } from ${JSON.stringify(generator)};`,
          'runConnectorConformance({',
          '  factory: generatorConnector,',
          "  config: { seed: 3, rate: 0, batch_size: 50, tables: [{ name: 'trips', rows: 120 }] },",
          "  invalidConfigs: [{ config: { tables: [{ name: 'trips', rows: -5 }] }, expectIssueAt: ['tables', 0, 'rows'] }],",
          '  liveOps: 100,',
          '}, { describe, it });',
        ].join('\n'),
      );
      const root = fileURLToPath(new URL('../../../../', import.meta.url));
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--conditions=@dozer/source', '--import', 'tsx', '--test', '--test-reporter=tap', file],
        { cwd: root },
      ).catch((e: { stdout?: string; stderr?: string }) => {
        throw new Error(`node --test failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
      });
      expect(stdout).toContain('# tests 18\n');
      expect(stdout).toContain('# pass 18\n');
      expect(stdout).toContain('ok 1 - resumes from a snapshot batch with exactly the ops that followed it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
