import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DateValue,
  Decimal,
  Duration,
  Json,
  Point,
  type Row,
  rowsEqual,
  type Schema,
  Timestamp,
  valueToJson,
} from '@dozer/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConnectorLogger, formatConfigIssue, silentLogger } from '../connector.js';
import { ConnectorError } from '../errors.js';
import type { ObjectStoreConfig, ObjectStoreTableConfig } from './config.js';
import { objectStoreConnector } from './index.js';
import { decodePosition } from './position.js';
import { type RecordingSink, recordingSink } from './test-sink.js';

const ctx = { name: 'files', logger: silentLogger };
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/parquet');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dozer-object-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a file the way producers should: to a hidden name, then renamed into place. */
function put(key: string, content: string | Uint8Array): void {
  const path = join(dir, key);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.tmp-${Math.random()}`);
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

function config(table: Partial<ObjectStoreTableConfig>, storagePath = dir): ObjectStoreConfig {
  return {
    storage: { kind: 'local', path: storagePath },
    tables: [{ name: 't', pattern: '*.csv', format: 'csv', poll_interval_ms: 0, ...table }],
  };
}

async function runOnce(
  cfg: ObjectStoreConfig,
  resumeFrom: string | null = null,
  sink: RecordingSink = recordingSink(),
  signal = new AbortController().signal,
): Promise<RecordingSink> {
  const c = objectStoreConnector.create(cfg, ctx);
  await c.start({ tables: [{ name: 't', resumeFrom }], sink, signal });
  await c.close();
  return sink;
}

const asJson = (schema: Schema, rows: Row[]) =>
  rows.map((r) => Object.fromEntries(schema.fields.map((f, i) => [f.name, valueToJson(f, r[i] ?? null)])));

async function schemaOf(cfg: ObjectStoreConfig): Promise<Schema> {
  const c = objectStoreConnector.create(cfg, ctx);
  const [t] = await c.listTables();
  await c.close();
  return t!.schema;
}

describe('object_store config validation', () => {
  const issues = (raw: unknown) => objectStoreConnector.validateConfig(raw).map(formatConfigIssue);

  it('accepts a minimal local config and a full S3 config', () => {
    expect(issues(config({}))).toEqual([]);
    expect(
      issues({
        storage: {
          kind: 's3',
          bucket: 'my-data',
          region: 'eu-west-1',
          endpoint: 'http://127.0.0.1:9000',
          access_key_id: 'k',
          secret_access_key: 's',
          force_path_style: true,
        },
        tables: [
          {
            name: 'events',
            prefix: 'events/',
            pattern: '**/*.jsonl',
            format: 'jsonl',
            schema: { columns: [{ name: 'id', type: 'int' }], primary_key: ['id'] },
            on_error: 'dead_letter',
            dead_letter_path: '/tmp/dead.jsonl',
            poll_interval_ms: 1000,
            batch_size: 500,
          },
        ],
      }),
    ).toEqual([]);
  });

  it('says what is wrong and where', () => {
    expect(issues({ storage: { kind: 's3', region: 'us-east-1' }, tables: [] })).toEqual([
      'storage.bucket: required: expected a bucket name',
      'tables: expected a non-empty list of tables, got a list',
    ]);
    expect(
      issues({ storage: { kind: 'gcs' }, tables: [{ name: 't', pattern: '*.csv', format: 'csv' }] }),
    ).toEqual(['storage.kind: expected "local" or "s3", got "gcs"']);
    expect(
      issues({
        storage: { kind: 's3', bucket: 'ab', region: 'us-east-1', access_key_id: 'x', endpoint: 'ftp://x' },
        tables: [
          {
            name: '1t',
            pattern: '[*.csv',
            format: 'xml',
            csv: { header: true },
            on_error: 'dead_letter',
            poll_interval_ms: -1,
            extra: 1,
          },
          {
            name: 'u',
            pattern: '*.csv',
            format: 'csv',
            csv: { delimiter: ';;', quote: '"' },
            schema: {
              columns: [{ name: 'id', type: 'integer', nullable: true }],
              primary_key: ['id', 'nope'],
            },
          },
        ],
      }),
    ).toEqual([
      'storage.bucket: expected a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens, got "ab"',
      'storage.endpoint: expected an http(s) URL such as "http://127.0.0.1:9000", got "ftp://x"',
      'storage.secret_access_key: give both access_key_id and secret_access_key, or neither (to use the AWS default credentials)',
      'tables[0].extra: unknown option; expected one of: name, prefix, pattern, format, csv, schema, on_error, dead_letter_path, poll_interval_ms, batch_size',
      'tables[0].name: expected a table name of letters, digits and underscores, not starting with a digit, got "1t"',
      'tables[0].pattern: unclosed "[" at character 1 of pattern "[*.csv"',
      'tables[0].format: expected one of: csv, jsonl, parquet, got "xml"',
      'tables[0].csv: only tables with format: csv take csv options',
      'tables[0].dead_letter_path: required: expected a local file path for malformed rows',
      'tables[0].poll_interval_ms: expected a non-negative number of milliseconds (0 = no polling), got -1',
      'tables[1].csv.delimiter: expected one character (not a line break), got ";;"',
      'tables[1].schema.columns[0].type: unknown type "integer"; types are: int, uint, float, boolean, string, text, binary, decimal, timestamp, date, json, duration, point',
      'tables[1].schema.columns[0].nullable: column "id" is in the primary key, so it cannot be nullable',
      'tables[1].schema.primary_key[1]: expected the name of a declared column (id), got "nope"',
    ]);
  });

  it('refuses to create a connector from an invalid config', () => {
    expect(() => objectStoreConnector.create({ storage: { kind: 'local' } } as never, ctx)).toThrow(
      /connection "files" \(object_store\): invalid config:\n {2}storage.path: required/,
    );
  });
});

describe('object_store CSV', () => {
  it('snapshots existing files in key order with an inferred schema', async () => {
    put('b.csv', 'id,price,ok,day,at,name\n3,2.5,true,2024-01-03,2024-01-03T10:00:00Z,c\n');
    put(
      'a.csv',
      'id,price,ok,day,at,name\n1,1.0,false,2024-01-01,2024-01-01 10:00:00,a\n2,,TRUE,2024-01-02,2024-01-02T10:00:00.5+01:00,\n',
    );
    put('notes.txt', 'not a table file\n');
    const cfg = config({});
    const schema = await schemaOf(cfg);
    expect(schema.fields.map((f) => [f.name, f.type, f.nullable])).toEqual([
      ['id', 'int', false],
      ['price', 'float', true],
      ['ok', 'boolean', false],
      ['day', 'date', false],
      ['at', 'timestamp', false],
      ['name', 'string', true],
    ]);
    const sink = await runOnce(cfg);
    expect(asJson(schema, sink.rows())).toEqual([
      { id: '1', price: 1, ok: false, day: '2024-01-01', at: '2024-01-01T10:00:00.000000Z', name: 'a' },
      { id: '2', price: null, ok: true, day: '2024-01-02', at: '2024-01-02T09:00:00.500000Z', name: null },
      { id: '3', price: 2.5, ok: true, day: '2024-01-03', at: '2024-01-03T10:00:00.000000Z', name: 'c' },
    ]);
    // Whole files are done: the snapshot ends after b.csv.
    expect(sink.snapshots).toEqual([['t', 'b.csv\u0000~']]);
    expect(sink.batches.every((b) => b.ops.every((op) => op.kind === 'insert'))).toBe(true);
  });

  it('reads quoting edge cases: delimiters, doubled quotes, line breaks, CRLF, a BOM, empty vs NULL', async () => {
    put(
      'q.csv',
      '\uFEFFid,text\r\n1,"a, b"\r\n2,"say ""hi"""\r\n3,"two\r\nlines"\r\n4,""\r\n5,\r\n6,plain "quote" inside\r\n7,"ünïcödé 😀"',
    );
    const cfg = config({});
    const schema = await schemaOf(cfg);
    expect(schema.fields.map((f) => f.name)).toEqual(['id', 'text']);
    const sink = await runOnce(cfg);
    expect(sink.rows().map((r) => r[1])).toEqual([
      'a, b',
      'say "hi"',
      'two\r\nlines',
      '',
      null,
      'plain "quote" inside',
      'ünïcödé 😀',
    ]);
  });

  it('converts every type of a declared schema exactly', async () => {
    put(
      'all.csv',
      [
        'i,u,f,b,s,x,bin,dec,ts,d,j,dur,p',
        '-9223372036854775808,18446744073709551615,-0.5,yes,s,t,AAH/,12.50,2024-01-02T03:04:05.123456Z,2024-02-29,"{""a"":[1,2]}",PT5M,"(1.5,2)"',
        '9223372036854775807,0,1e300,0,,,,-0.001,1969-12-31T23:59:59.999999Z,1900-01-01,null,P1M2D,"(0,-1)"',
      ].join('\n'),
    );
    const cfg = config({
      schema: {
        columns: [
          { name: 'i', type: 'int' },
          { name: 'u', type: 'uint' },
          { name: 'f', type: 'float' },
          { name: 'b', type: 'boolean' },
          { name: 's', type: 'string', nullable: false },
          { name: 'x', type: 'text' },
          { name: 'bin', type: 'binary' },
          { name: 'dec', type: 'decimal', precision: 10, scale: 3 },
          { name: 'ts', type: 'timestamp' },
          { name: 'd', type: 'date' },
          { name: 'j', type: 'json' },
          { name: 'dur', type: 'duration' },
          { name: 'p', type: 'point' },
        ],
        primary_key: ['i'],
      },
    });
    const schema = await schemaOf(cfg);
    expect(schema.primaryKey).toEqual([0]);
    expect(schema.fields[0]!.nullable).toBe(false);
    const rows = (await runOnce(cfg)).rows();
    const expected: Row[] = [
      [
        -(2n ** 63n),
        2n ** 64n - 1n,
        -0.5,
        true,
        's',
        't',
        new Uint8Array([0, 1, 255]),
        Decimal.parse('12.50'),
        Timestamp.parse('2024-01-02T03:04:05.123456Z'),
        DateValue.parse('2024-02-29'),
        new Json({ a: [1, 2] }),
        Duration.parse('PT5M'),
        new Point(1.5, 2),
      ],
      [
        2n ** 63n - 1n,
        0n,
        1e300,
        false,
        '',
        null,
        null,
        Decimal.parse('-0.001'),
        new Timestamp(-1n),
        DateValue.parse('1900-01-01'),
        new Json(null),
        new Duration(1, 2, 0n),
        new Point(0, -1),
      ],
    ];
    expect(rows.length).toBe(2);
    rows.forEach((r, i) => {
      expect(rowsEqual(schema, r, expected[i]!), `row ${i}: ${JSON.stringify(asJson(schema, [r]))}`).toBe(
        true,
      );
    });
    // Decimals keep the scale written in the file.
    expect((rows[0]![7] as Decimal).toString()).toBe('12.50');
  });

  it('reads files without a header by position, with another delimiter and quote', async () => {
    put('a.tsv', "1\t'x\ty'\n2\t\n");
    const cfg = config({ pattern: '*.tsv', csv: { header: false, delimiter: '\t', quote: "'" } });
    const schema = await schemaOf(cfg);
    expect(schema.fields.map((f) => [f.name, f.type, f.nullable])).toEqual([
      ['column_1', 'int', false],
      ['column_2', 'string', true],
    ]);
    expect((await runOnce(cfg)).rows()).toEqual([
      [1n, 'x\ty'],
      [2n, null],
    ]);
  });

  it('maps columns by header name in every file, whatever their order', async () => {
    put('1.csv', 'a,b\n1,x\n');
    put('2.csv', 'b,a\ny,2\n');
    expect((await runOnce(config({}))).rows()).toEqual([
      [1n, 'x'],
      [2n, 'y'],
    ]);
  });

  it('ingests only the columns a request asks for', async () => {
    put('a.csv', 'id,name,score\n1,a,0.5\n');
    const c = objectStoreConnector.create(config({}), ctx);
    const sink = recordingSink();
    await c.start({
      tables: [{ name: 't', columns: ['score', 'id'], resumeFrom: null }],
      sink,
      signal: new AbortController().signal,
    });
    expect(sink.rows()).toEqual([[0.5, 1n]]);
  });
});

describe('object_store paths', () => {
  it('reads a relative storage path and writes a relative dead-letter path against the context base directory', async () => {
    put('sub/a.csv', 'id,n\n1,2\nx,3\n');
    const cfg: ObjectStoreConfig = {
      storage: { kind: 'local', path: 'sub' },
      tables: [
        {
          name: 't',
          pattern: '*.csv',
          format: 'csv',
          poll_interval_ms: 0,
          schema: {
            columns: [
              { name: 'id', type: 'int' },
              { name: 'n', type: 'int' },
            ],
          },
          on_error: 'dead_letter',
          dead_letter_path: 'dead/t.jsonl',
        },
      ],
    };
    const c = objectStoreConnector.create(cfg, { ...ctx, baseDir: dir });
    const sink = recordingSink();
    await c.start({ tables: [{ name: 't', resumeFrom: null }], sink, signal: new AbortController().signal });
    await c.close();
    expect(sink.rows()).toEqual([[1n, 2n]]);
    expect(readFileSync(join(dir, 'dead', 't.jsonl'), 'utf8')).toMatch(/"line":3/);
  });
});

describe('object_store positions and restarts', () => {
  const lines = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => `${from + i},"row ${from + i} é😀\nsecond line"`).join(
      '\r\n',
    );

  it('resumes mid-file from any batch position without losing or repeating a row', async () => {
    put('a.csv', `id,text\r\n${lines(1, 7)}\r\n`);
    put('b.csv', `id,text\r\n${lines(8, 10)}`);
    const cfg = config({ batch_size: 2 });
    const full = await runOnce(cfg);
    const all = full.rows();
    expect(all.map((r) => r[0])).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
    expect(all[9]![1]).toBe('row 10 é😀\nsecond line');
    for (const batch of full.batches) {
      const resumed = await runOnce(cfg, batch.position);
      const before = full.batches.slice(0, full.batches.indexOf(batch) + 1).flatMap((b) => b.ops.length);
      const skipped = before.reduce((a, b) => a + b, 0);
      expect(resumed.rows(), `resume from ${JSON.stringify(batch.position)}`).toEqual(all.slice(skipped));
      // A resumed run does not redo the snapshot.
      expect(resumed.snapshots).toEqual([]);
    }
  });

  it('resumes JSON lines mid-file too', async () => {
    const body = Array.from({ length: 7 }, (_, i) => JSON.stringify({ id: i, s: `ü${'😀'.repeat(i)}` })).join(
      '\r\n\n',
    );
    put('a.jsonl', body);
    const cfg = config({ pattern: '*.jsonl', format: 'jsonl', batch_size: 3 });
    const full = await runOnce(cfg);
    expect(full.rows().map((r) => r[0])).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n]);
    const resumed = await runOnce(cfg, full.batches[0]!.position);
    expect(resumed.rows()).toEqual(full.rows().slice(3));
    // Reading resumes on line 6 (blank), so the next record is reported on line 7.
    expect(decodePosition(full.batches[0]!.position!)!.cursor.line).toBe(6);
  });

  it('stops on abort mid-file, and a restart from the last written position continues there', async () => {
    put('a.csv', `id,text\n${lines(1, 9)}\n`);
    const cfg = config({ batch_size: 3 });
    const ac = new AbortController();
    const first = await runOnce(
      cfg,
      null,
      recordingSink((_, sink) => {
        if (sink.batches.length === 2) ac.abort();
      }),
      ac.signal,
    );
    expect(first.batches.length).toBe(2);
    const position = first.batches[1]!.position!;
    expect(decodePosition(position)).toMatchObject({ key: 'a.csv', cursor: { row: 6, done: false } });
    const second = await runOnce(cfg, position);
    expect([...first.rows(), ...second.rows()].map((r) => r[0])).toEqual([
      1n,
      2n,
      3n,
      4n,
      5n,
      6n,
      7n,
      8n,
      9n,
    ]);
  });

  it('orders positions as strings, the order files and rows are read in', () => {
    const c = objectStoreConnector.create(config({}), ctx);
    const a = 'a.csv\u0000000000000000002:000000000000003:000000000000020';
    const aDone = 'a.csv\u0000~';
    const ab = 'a.csv.b\u0000000000000000001:000000000000002:000000000000010';
    expect(c.comparePositions('', a)).toBeLessThan(0);
    expect(c.comparePositions(a, aDone)).toBeLessThan(0);
    expect(c.comparePositions(aDone, ab)).toBeLessThan(0);
    expect(c.comparePositions(ab, ab)).toBe(0);
    expect(() => c.comparePositions('1500', a)).toThrow(/"1500" is not an object_store position/);
  });
});

describe('object_store polling', () => {
  it('picks up new files after the snapshot and ingests each exactly once', async () => {
    put('2024-01-01.csv', 'id\n1\n2\n');
    const c = objectStoreConnector.create(config({ poll_interval_ms: 10 }), ctx);
    const sink = recordingSink();
    const ac = new AbortController();
    const running = c.start({ tables: [{ name: 't', resumeFrom: null }], sink, signal: ac.signal });
    await sink.until(() => sink.snapshots.length === 1);
    expect(sink.snapshots[0]![1]).toBe('2024-01-01.csv\u0000~');
    put('2024-01-02.csv', 'id\n3\n');
    await sink.until(() => sink.rows().length === 3);
    put('2024-01-03.csv', 'id\n4\n5\n');
    await sink.until(() => sink.rows().length === 5);
    // Several polls have passed over the older files by now: none was read twice.
    put('2024-01-04.csv', 'id\n6\n');
    await sink.until(() => sink.rows().length === 6);
    ac.abort();
    await running;
    expect(sink.rows().map((r) => r[0])).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    const lag = await c.lag!();
    expect(lag.tables[0]).toMatchObject({ table: 't', position: '2024-01-04.csv\u0000~', behindMillis: 0 });
    await c.close();
  });

  it('stops polling when closed, and skips empty files', async () => {
    put('a.csv', 'id\n1\n');
    put('b.csv', '');
    put('c.csv', 'id\n');
    put('d.csv', 'id\n2\n');
    const c = objectStoreConnector.create(config({ poll_interval_ms: 60_000 }), ctx);
    const sink = recordingSink();
    const running = c.start({
      tables: [{ name: 't', resumeFrom: null }],
      sink,
      signal: new AbortController().signal,
    });
    await sink.until(() => sink.snapshots.length === 1);
    await c.close();
    await running;
    expect(sink.rows()).toEqual([[1n], [2n]]);
    expect(sink.snapshots).toEqual([['t', 'd.csv\u0000~']]);
  });

  it('reports a late file whose name sorts before files already read', async () => {
    put('b.csv', 'id\n1\n');
    const logged: string[] = [];
    const logger: ConnectorLogger = { ...silentLogger, error: (m, f) => logged.push(`${m} ${f?.file}`) };
    const c = objectStoreConnector.create(config({ poll_interval_ms: 10 }), { name: 'files', logger });
    const sink = recordingSink();
    const ac = new AbortController();
    const running = c.start({ tables: [{ name: 't', resumeFrom: null }], sink, signal: ac.signal });
    await sink.until(() => sink.snapshots.length === 1);
    put('a.csv', 'id\n0\n');
    put('c.csv', 'id\n2\n');
    await sink.until(() => sink.rows().length === 2);
    ac.abort();
    await running;
    expect(sink.rows()).toEqual([[1n], [2n]]);
    expect(logged).toEqual(['object_store file skipped: it arrived after later files were read a.csv']);
  });

  it('starts with an empty prefix and a declared schema, then ingests what arrives', async () => {
    const c = objectStoreConnector.create(
      config({ prefix: 'in/', poll_interval_ms: 10, schema: { columns: [{ name: 'id', type: 'int' }] } }),
      ctx,
    );
    const sink = recordingSink();
    const ac = new AbortController();
    const running = c.start({ tables: [{ name: 't', resumeFrom: null }], sink, signal: ac.signal });
    await sink.until(() => sink.snapshots.length === 1);
    expect(sink.snapshots).toEqual([['t', '']]);
    put('in/sub/x.csv', 'id\n1\n'); // "*" does not match across "/"
    put('in/y.csv', 'id\n2\n');
    await sink.until(() => sink.rows().length === 1);
    ac.abort();
    await running;
    expect(sink.rows()).toEqual([[2n]]);
  });
});

describe('object_store malformed rows', () => {
  const declared = {
    columns: [
      { name: 'id', type: 'int' as const },
      { name: 'name', type: 'string' as const },
    ],
  };

  it('sends malformed rows to the dead-letter file with file and line, and ingests the rest', async () => {
    put('a.csv', 'id,name\n1,a\nx,b\n3\n"4"x,d\n5,e\n');
    const deadLetter = join(dir, 'out', 'dead.jsonl');
    const sink = await runOnce(
      config({ schema: declared, on_error: 'dead_letter', dead_letter_path: deadLetter }),
    );
    expect(sink.rows()).toEqual([
      [1n, 'a'],
      [5n, 'e'],
    ]);
    const dead = readFileSync(deadLetter, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(dead.map(({ at: _, ...rest }) => rest)).toEqual([
      {
        table: 't',
        file: `local directory ${dir}/a.csv`,
        line: 3,
        error: 'column "id" (int): expected an integer, got "x"',
        raw: 'x,b',
      },
      {
        table: 't',
        file: `local directory ${dir}/a.csv`,
        line: 4,
        error: 'expected 2 fields, got 1',
        raw: '3',
      },
      {
        table: 't',
        file: `local directory ${dir}/a.csv`,
        line: 5,
        error:
          'unexpected text after the closing quote of field 1; a quote inside a quoted field must be doubled',
        raw: '"4"x,d',
      },
    ]);
  });

  it('stops at a malformed row with its file and line, after ingesting the rows before it', async () => {
    put('a.csv', 'id,name\n1,a\n2,b\nnope,c\n4,d\n');
    const cfg = config({ schema: declared, batch_size: 10 });
    const sink = recordingSink();
    const err = await runOnce(cfg, null, sink).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).retryable).toBe(false);
    expect((err as Error).message).toBe(
      `table "t": malformed row at local directory ${dir}/a.csv:4: column "id" (int): expected an integer, got "nope". The rows before it were ingested and a restart resumes at it: fix or remove the row, or set on_error: dead_letter (with dead_letter_path) to set such rows aside`,
    );
    expect(sink.rows()).toEqual([
      [1n, 'a'],
      [2n, 'b'],
    ]);
    // After the row is fixed, a restart continues with it.
    put('a.csv', 'id,name\n1,a\n2,b\n3,c\n4,d\n');
    const resumed = await runOnce(cfg, sink.batches.at(-1)!.position);
    expect(resumed.rows()).toEqual([
      [3n, 'c'],
      [4n, 'd'],
    ]);
  });

  it('reports a value that does not fit a non-nullable column', async () => {
    put('a.csv', 'id,name\n,a\n');
    const err = await runOnce(
      config({ schema: { columns: [{ name: 'id', type: 'int', nullable: false }] } }),
    ).catch((e: unknown) => e);
    expect((err as Error).message).toContain(
      `a.csv:2: column "id" (int) is not nullable but the field is empty`,
    );
  });
});

describe('object_store JSON lines', () => {
  it('infers a schema from the first file and reads values by key', async () => {
    put(
      'e1.jsonl',
      [
        '{"id": 1, "name": "a", "score": 1, "ok": true, "at": "2024-01-01T00:00:00Z", "tags": ["x"]}',
        '',
        '{"id": 2, "name": null, "score": 2.5, "ok": false, "at": "2024-01-02T00:00:00Z", "tags": {"k": 1}, "extra": "e"}',
      ].join('\n'),
    );
    put('e2.jsonl', '{"id": 3, "score": -1, "ok": true, "at": "2024-01-03", "tags": null, "name": "c"}\n');
    const cfg = config({ pattern: '*.jsonl', format: 'jsonl' });
    const schema = await schemaOf(cfg);
    expect(schema.fields.map((f) => [f.name, f.type, f.nullable])).toEqual([
      ['id', 'int', false],
      ['name', 'string', true],
      ['score', 'float', false],
      ['ok', 'boolean', false],
      ['at', 'timestamp', false],
      ['tags', 'json', false],
      ['extra', 'string', true],
    ]);
    const rows = (await runOnce(cfg)).rows();
    expect(asJson(schema, rows)).toEqual([
      { id: '1', name: 'a', score: 1, ok: true, at: '2024-01-01T00:00:00.000000Z', tags: ['x'], extra: null },
      {
        id: '2',
        name: null,
        score: 2.5,
        ok: false,
        at: '2024-01-02T00:00:00.000000Z',
        tags: { k: 1 },
        extra: 'e',
      },
      { id: '3', name: 'c', score: -1, ok: true, at: '2024-01-03T00:00:00.000000Z', tags: null, extra: null },
    ]);
  });

  it('converts declared types and dead-letters lines that are not objects or not JSON', async () => {
    put(
      'a.jsonl',
      '{"id": "9007199254740993", "d": "12.345"}\n[1]\n{"id": 2, "d": 1.5\n{"id": 3.5}\n{"id": 4}\n',
    );
    const deadLetter = join(dir, 'dead.jsonl');
    const sink = await runOnce(
      config({
        pattern: '*.jsonl',
        format: 'jsonl',
        schema: {
          columns: [
            { name: 'id', type: 'int' },
            { name: 'd', type: 'decimal' },
          ],
        },
        on_error: 'dead_letter',
        dead_letter_path: deadLetter,
      }),
    );
    expect(sink.rows()).toEqual([
      [9007199254740993n, Decimal.parse('12.345')],
      [4n, null],
    ]);
    const dead = readFileSync(deadLetter, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; error: string });
    expect(dead.map((d) => d.line)).toEqual([2, 3, 4]);
    expect(dead[0]!.error).toBe('expected a JSON object, got an array');
    expect(dead[1]!.error).toMatch(/^not valid JSON: /);
    expect(dead[2]!.error).toBe(
      'expected an integer or a string of digits for int field "id", got number 3.5',
    );
  });
});

describe('object_store Parquet', () => {
  it('reads every Parquet type exactly with the schema from the file', async () => {
    const cfg = config({ pattern: 'types.parquet', format: 'parquet' }, FIXTURES);
    const schema = await schemaOf(cfg);
    expect(
      schema.fields.map(
        (f) => `${f.name} ${f.type}${f.scale === undefined ? '' : `(${f.precision},${f.scale})`}`,
      ),
    ).toEqual([
      'i32 int',
      'i64 int',
      'u64 uint',
      'f64 float',
      'f32 float',
      'b boolean',
      's string',
      'bin binary',
      'dec decimal(10,2)',
      'dec_small decimal(4,1)',
      'dec_big decimal(38,10)',
      'd date',
      'ts timestamp',
      'tstz timestamp',
      'list json',
      'struct json',
      'tm duration',
    ]);
    const rows = (await runOnce(cfg)).rows();
    const expected: Row[] = [
      [
        1n,
        2n ** 63n - 1n,
        2n ** 64n - 1n,
        1.5,
        0.25,
        true,
        'héllo 😀',
        new Uint8Array([0, 255]),
        Decimal.parse('12.34'),
        Decimal.parse('123.4'),
        Decimal.parse('-12345678901234567890.1234567890'),
        DateValue.parse('2024-02-29'),
        Timestamp.parse('2024-01-02T03:04:05.123456Z'),
        Timestamp.parse('2024-01-02T01:04:05Z'),
        new Json([1, 2, 3]),
        new Json({ a: 1, b: 'x' }),
        Duration.parse('PT1H2M3.5S'),
      ],
      [
        2n,
        -(2n ** 63n),
        0n,
        -0,
        -1,
        false,
        '',
        new Uint8Array([]),
        Decimal.parse('-0.01'),
        Decimal.parse('-999.9'),
        Decimal.parse('0.0000000001'),
        DateValue.parse('1969-12-31'),
        Timestamp.parse('1969-12-31T23:59:59.999999Z'),
        Timestamp.parse('1970-01-01T00:00:00Z'),
        new Json([]),
        new Json({ a: null, b: 'y' }),
        Duration.parse('PT0S'),
      ],
      [3n, ...Array.from({ length: 16 }, () => null)],
    ];
    expect(rows.length).toBe(3);
    rows.forEach((r, i) => {
      expect(rowsEqual(schema, r, expected[i]!), `row ${i}: ${JSON.stringify(asJson(schema, [r]))}`).toBe(
        true,
      );
    });
    expect((rows[0]![10] as Decimal).toString()).toBe('-12345678901234567890.1234567890');
  });

  it('reads row group by row group and resumes inside a row group', async () => {
    const cfg = config({ pattern: 'rows-2500.parquet', format: 'parquet', batch_size: 700 }, FIXTURES);
    const full = await runOnce(cfg);
    const ids = full.rows().map((r) => r[0]);
    expect(ids).toEqual(Array.from({ length: 2500 }, (_, i) => BigInt(i)));
    // DuckDB wrote row groups of 2048 and 452 rows; batches never span two.
    expect(full.batches.map((b) => b.ops.length)).toEqual([700, 700, 648, 452]);
    expect(full.batches.at(-1)!.position).toBe('rows-2500.parquet\u0000~');
    const midGroup = await runOnce(cfg, full.batches[1]!.position);
    expect(midGroup.rows().map((r) => r[0])).toEqual(ids.slice(1400));
    expect(midGroup.rows()[0]).toEqual([1400n, 'name 1400', 700]);
    const nextGroup = await runOnce(cfg, full.batches[2]!.position);
    expect(nextGroup.rows().map((r) => r[0])).toEqual(ids.slice(2048));
  });
});

describe('object_store rows left', () => {
  /** Starts the connector with a sink that holds the first batch until released; its lag then. */
  async function heldAtFirstBatch(cfg: ObjectStoreConfig) {
    const c = objectStoreConnector.create(cfg, ctx);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const sink = recordingSink();
    const write = sink.write.bind(sink);
    sink.write = async (batch) => {
      await write(batch);
      if (sink.batches.length === 1) await gate;
    };
    const done = c.start({
      tables: [{ name: 't', resumeFrom: null }],
      sink,
      signal: new AbortController().signal,
    });
    await sink.until(() => sink.batches.length === 1);
    const [held] = (await c.lag!()).tables;
    release();
    await done;
    const [after] = (await c.lag!()).tables;
    await c.close();
    return { held: held!, after: after!, sink };
  }

  it('estimates the rows left of a CSV load from the bytes read, for this file and the ones after it', async () => {
    // 16 bytes a line: 2 files of 1,000 rows; batches of 100.
    const file = (from: number) =>
      `id,v\n${Array.from({ length: 1000 }, (_, i) => `${String(from + i).padStart(6, '0')},abcdefgh\n`).join('')}`;
    put('a.csv', file(0));
    put('b.csv', file(1000));
    const { held, after, sink } = await heldAtFirstBatch(config({ batch_size: 100 }));
    expect(sink.rows()).toHaveLength(2000);
    // 1,900 rows are left after the first batch; the header makes the estimate a little low.
    expect(held.behindOps).toBeGreaterThanOrEqual(1880);
    expect(held.behindOps).toBeLessThanOrEqual(1900);
    expect(after.behindOps).toBe(0);
  });

  it('counts the rows left of a Parquet file exactly, from its metadata', async () => {
    const cfg = config({ pattern: 'rows-2500.parquet', format: 'parquet', batch_size: 700 }, FIXTURES);
    const { held, after } = await heldAtFirstBatch(cfg);
    expect(held.behindOps).toBe(2500 - 700);
    expect(after.behindOps).toBe(0);
  });
});

describe('object_store errors', () => {
  it('says how to fix a table without files and without a declared schema', async () => {
    const c = objectStoreConnector.create(config({ prefix: 'nothing/' }), ctx);
    await expect(c.listTables()).rejects.toThrow(
      `table "t": no file under local directory ${dir}/nothing/ matches "*.csv", so its schema cannot be inferred; add a file or declare tables[].schema.columns`,
    );
  });

  it('says how to fix a storage directory that does not exist', async () => {
    const missing = join(dir, 'missing');
    const c = objectStoreConnector.create(config({}, missing), ctx);
    const err = await c.listTables().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^storage.path: ${missing} is not a readable directory \\(.*\\); create it or fix storage.path$`,
      ),
    );
  });

  it('says which Parquet file it cannot decompress', async () => {
    const err = await runOnce(config({ pattern: 'zstd.parquet', format: 'parquet' }, FIXTURES)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toMatch(/zstd\.parquet: cannot read rows 0\.\.0: .*ZSTD/);
  });

  it('says which column a file lacks', async () => {
    put('a.csv', 'id,name\n1,a\n');
    put('b.csv', 'id\n2\n');
    await expect(runOnce(config({}))).rejects.toThrow(
      `local directory ${dir}/b.csv: the CSV header has no column "name" (it has: id); every file of the table needs the columns of its schema`,
    );
  });
});
