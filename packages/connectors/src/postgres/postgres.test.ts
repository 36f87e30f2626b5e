import { DateValue, Decimal, Duration, Json, Timestamp } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { formatConfigIssue } from '../connector.js';
import { pgError, splitTableName, walLevelProblem } from './catalog.js';
import { defaultObjectName, validatePostgresConfig } from './config.js';
import { comparePgPositions, formatPosition, type PgPosition, parsePosition } from './position.js';
import { mapPgType, PgOid, type PgTypeInfo, parseArray } from './types.js';

const ok = { host: 'db', user: 'u', database: 'd' };
const messages = (raw: unknown) => validatePostgresConfig(raw).map(formatConfigIssue);

describe('postgres config validation', () => {
  it('accepts a minimal and a full config', () => {
    expect(messages(ok)).toEqual([]);
    expect(
      messages({
        ...ok,
        port: 5433,
        password: 'p',
        ssl: { ca: 'PEM', reject_unauthorized: false },
        slot_name: 'my_slot',
        publication_name: 'MyPub',
        tables: ['orders', 'sales.items', '"Mixed"."Case"'],
        batch_size: 100,
        max_reconnect_attempts: 0,
        row_cache_memory_mb: 0,
        row_cache_dir: '/var/tmp/dozer',
      }),
    ).toEqual([]);
  });

  it('says what is wrong, where', () => {
    expect(messages(null)).toEqual(['(root): expected an object with host, user and database, got null']);
    expect(
      messages({ port: 'abc', user: 1, tables: ['a', 'a', ''], slot_name: 'Bad-Slot', sssl: true }),
    ).toEqual([
      'sssl: unknown option; expected one of: host, port, user, password, database, ssl, slot_name, publication_name, tables, batch_size, max_reconnect_attempts, row_cache_memory_mb, row_cache_dir',
      'host: required: the server host name or address',
      'user: expected a non-empty string, got 1',
      'database: required: the database to read',
      'port: expected an integer 1..65535, got "abc"',
      'slot_name: expected lower-case letters, digits and underscores (at most 63), got "Bad-Slot"',
      'tables[1]: table "a" is listed twice',
      'tables[2]: expected a table name such as "orders" or "sales.orders", got ""',
    ]);
    expect(
      messages({ ...ok, ssl: 'yes', batch_size: 0, row_cache_memory_mb: 1.5, row_cache_dir: '' }),
    ).toEqual([
      'batch_size: expected an integer 1..1000000, got 0',
      'row_cache_memory_mb: expected an integer 0..1048576, got 1.5',
      'row_cache_dir: expected a directory path, got ""',
      'ssl: expected true, false or an object with ca and reject_unauthorized, got "yes"',
    ]);
  });

  it('derives slot and publication names from the connection name', () => {
    expect(defaultObjectName('My-DB')).toBe('dozer_my_db');
  });

  it('splits and unquotes table names', () => {
    expect(splitTableName('orders')).toEqual(['public', 'orders']);
    expect(splitTableName('sales.orders')).toEqual(['sales', 'orders']);
    expect(splitTableName('"My.Schema"."Odd""Name"')).toEqual(['My.Schema', 'Odd"Name']);
  });
});

describe('an invalidated replication slot', () => {
  it('is reported as gone for good, with the statement that frees it, and is not retried', () => {
    // The error a walsender sends for a slot whose WAL was removed (Postgres 13+).
    const e = Object.assign(new Error('can no longer get changes from replication slot "dozer_shop"'), {
      code: '55000',
    });
    const err = pgError(e, 'connection "shop": replication connection', {
      host: 'db',
      user: 'u',
      database: 'd',
    });
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      `postgres connection "shop": replication connection: replication slot "dozer_shop" was invalidated by the server (it removed WAL the slot still needed, past max_slot_wal_keep_size), so the changes since its position are gone: drop it with SELECT pg_drop_replication_slot('dozer_shop') and ingest the tables again from scratch (dozer clean, then run); consider a larger max_slot_wal_keep_size`,
    );
    // Another 55000 keeps the server's words.
    const other = Object.assign(new Error('replication slot "x" is active for PID 7'), { code: '55000' });
    expect(pgError(other, 'w', { host: 'db', user: 'u', database: 'd' }).message).toBe(
      'postgres w: replication slot "x" is active for PID 7',
    );
  });
});

describe('wal_level check', () => {
  it('passes logical and tells how to fix anything else', () => {
    expect(walLevelProblem('logical')).toBeNull();
    expect(walLevelProblem('replica')).toBe(
      'the server\'s wal_level is "replica", but logical replication needs "logical": run ALTER SYSTEM SET wal_level = logical (as a superuser) and restart the server',
    );
  });
});

describe('postgres positions', () => {
  const p = (kind: PgPosition['kind'], lsn: bigint, count: number): PgPosition => ({ kind, lsn, count });

  it('round-trips and orders as strings do', () => {
    const list = [
      p('snapshot', 0x16b3748n, 0),
      p('snapshot', 0x16b3748n, 5000),
      p('stream', 0x16b3748n, 0),
      p('stream', 0x16b3748n, 1),
      // Inside change 2 (a TRUNCATE delivered in batches): 1 and 0x1388 of its deletes.
      { ...p('stream', 0x16b3748n, 1), rows: 1 },
      { ...p('stream', 0x16b3748n, 1), rows: 0x1388 },
      p('stream', 0x16b3748n, 2),
      p('stream', 0x16b3748n, 0x10),
      p('stream', 0x1_0000_0000n, 0),
    ];
    const texts = list.map(formatPosition);
    expect(texts[0]).toBe('00000000016B3748.000000000000');
    expect(texts[3]).toBe('00000000016B3748/00000001');
    expect(texts[5]).toBe('00000000016B3748/00000001+000000001388');
    expect(texts.map(parsePosition)).toEqual(list);
    for (let i = 1; i < list.length; i++) {
      expect(comparePgPositions(list[i - 1]!, list[i]!)).toBeLessThan(0);
      expect(texts[i - 1]! < texts[i]!).toBe(true);
    }
  });

  it('rejects what is not a position', () => {
    expect(() => parsePosition('16/B374D848')).toThrow(/not a postgres connector position/);
  });
});

describe('postgres type mapping', () => {
  const types = new Map<number, PgTypeInfo>([
    [5000, { oid: 5000, name: 'mood', typtype: 'e', elem: 0, base: 0 }],
    [5001, { oid: 5001, name: '_int8', typtype: 'b', elem: PgOid.int8, base: 0 }],
    [5002, { oid: 5002, name: 'posint', typtype: 'd', elem: 0, base: PgOid.int4 }],
  ]);
  const decode = (oid: number, text: string) => mapPgType(oid, (o) => types.get(o)).decode(text);

  it('decodes the text forms of the session settings exactly', () => {
    expect(decode(PgOid.int8, '-9223372036854775808')).toBe(-9223372036854775808n);
    expect(decode(PgOid.numeric, '0.000000000000000000001')).toEqual(
      Decimal.parse('0.000000000000000000001'),
    );
    expect(() => decode(PgOid.numeric, 'NaN')).toThrow(/no exact decimal form/);
    expect(decode(PgOid.float8, 'Infinity')).toBe(Number.POSITIVE_INFINITY);
    expect(decode(PgOid.timestamptz, '2024-06-01 12:00:00+00')).toEqual(
      Timestamp.parse('2024-06-01T12:00:00Z'),
    );
    expect(decode(PgOid.timestamp, '0001-01-01 00:00:00 BC')).toEqual(
      Timestamp.parse('0000-01-01T00:00:00Z'),
    );
    expect(() => decode(PgOid.timestamp, 'infinity')).toThrow(/no core equivalent/);
    expect(decode(PgOid.date, '2000-02-29')).toEqual(DateValue.parse('2000-02-29'));
    expect(decode(PgOid.time, '24:00:00')).toEqual(Duration.fromMicros(86_400_000_000n));
    expect(decode(PgOid.interval, '-1 years +2 mons -3 days +04:05:06.000007')).toEqual(
      new Duration(-10, -3, 14_706_000_007n),
    );
    expect(decode(PgOid.interval, '00:00:00')).toEqual(new Duration(0, 0, 0n));
    expect(decode(PgOid.interval, '-00:00:00.5')).toEqual(new Duration(0, 0, -500_000n));
    expect(decode(PgOid.bytea, '\\xdeadbeef')).toEqual(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    expect(decode(5000, 'happy')).toBe('happy');
    expect(decode(5002, '7')).toBe(7n);
  });

  it('turns arrays into JSON, keeping numbers JSON cannot hold exactly as text', () => {
    expect(decode(5001, '{1,NULL,9007199254740993}')).toEqual(new Json([1, null, '9007199254740993']));
    expect(parseArray('[0:1]={"a,b","\\\\"}', (t) => t)).toEqual(['a,b', '\\']);
    expect(parseArray('{{1,2},{3,4}}', Number)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(() => parseArray('{1,2', Number)).toThrow(/not an array literal/);
  });
});
